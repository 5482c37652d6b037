//! The SLA scheduler: driven step by step with an injected clock, across
//! concurrent scanners, and end to end on a one-second cron with two replicas.

use crate::helpers::*;
use chrono::TimeDelta;
use lapin::options::BasicGetOptions;
use mesa_ayuda::configuration::{EnSettings, PasoSettings, PausaDetieneRelojSettings, PoliticaSettings};
use mesa_ayuda::domain::sla::FinPrimeraRespuesta;
use mesa_ayuda::planificador::Planificador;
use mesa_ayuda::startup::Aplicacion;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn sla_eventos(eventos: &[(lapin::BasicProperties, String, Value)]) -> Vec<(String, Value)> {
    eventos.iter().filter(|(_, rk, _)| rk.starts_with("sla.")).map(|(_, rk, e)| (rk.clone(), e.clone())).collect()
}

#[tokio::test]
async fn one_warning_and_one_overdue_alert_per_deadline() {
    let mut app = TestApp::spawn().await;
    let mesa = token("MESA", None);
    let id = app.ticket_en("ASIGNADO").await; // ALTA: 4 h, warning at 3 h 12 min
    let escanear = |app: &TestApp| {
        let p = app.planificador.clone();
        let ahora = app.ahora();
        async move { p.escanear(ahora).await.unwrap() }
    };
    app.adelantar(TimeDelta::hours(3));
    assert_eq!(escanear(&app).await, 0, "30 % left: on time");
    app.adelantar(TimeDelta::minutes(15));
    assert_eq!(escanear(&app).await, 1);
    assert_eq!(escanear(&app).await, 0, "never twice");
    let r = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    assert_eq!(r["datos"]["ticket"]["sla_estado"], "POR_VENCER");
    app.adelantar(TimeDelta::minutes(46));
    assert_eq!(escanear(&app).await, 1);
    assert_eq!(escanear(&app).await, 0);
    app.adelantar(TimeDelta::hours(10));
    assert_eq!(escanear(&app).await, 0);

    let r = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    assert_eq!(r["datos"]["ticket"]["sla_estado"], "VENCIDO");
    let historial = r["datos"]["historial"].as_array().unwrap();
    let alertas: Vec<&Value> = historial.iter().filter(|h| h["accion"].as_str().unwrap().starts_with("SLA_")).collect();
    assert_eq!(alertas.len(), 2);
    assert_eq!(alertas[0]["accion"], "SLA_POR_VENCER");
    assert_eq!(alertas[1]["accion"], "SLA_VENCIDO");
    assert!(alertas.iter().all(|h| h["actor_rol"] == "SISTEMA" && h["estado_despues"] == "ASIGNADO"));

    let eventos = sla_eventos(&app.cliente.eventos_hasta_silencio(Duration::from_secs(1)).await);
    assert_eq!(eventos.iter().map(|(rk, _)| rk.as_str()).collect::<Vec<_>>(), ["sla.por_vencer", "sla.vencido"]);
    let d = &eventos[0].1["data"];
    assert_eq!(d["ticketUuid"], id.as_str());
    assert_eq!(d["nivel"], "POR_VENCER");
    assert_eq!(d["prioridad"], "ALTA");
    assert_eq!(d["areaAsignada"], "MESA");
    assert_eq!(d["estado"], "ASIGNADO");
    assert_eq!(d["asunto"], "No puedo acceder a mi correo corporativo");
    let restantes = d["minutosRestantes"].as_i64().unwrap();
    assert!((44..=45).contains(&restantes), "{restantes}");
    assert!(eventos[1].1["data"]["minutosRestantes"].as_i64().unwrap() < 0);
    assert_eq!(eventos[0].1["type"], "sla.por_vencer");
    assert_eq!(eventos[0].1["subject"], id.as_str());

    // They land on the operators' queue too.
    let topo = app.topologia();
    let mut en_cola = 0;
    while app.cliente.canal.basic_get(topo.alertas().into(), BasicGetOptions { no_ack: true }).await.unwrap().is_some()
    {
        en_cola += 1;
    }
    assert_eq!(en_cola, 2);
}

#[tokio::test]
async fn paused_and_closed_tickets_never_alert_and_a_moved_deadline_alerts_again() {
    let mut app = TestApp::spawn().await;
    let mesa = token("MESA", None);
    let pausado = app.ticket_en("PAUSADO").await;
    let cancelado = app.ticket_en("CANCELADO").await;
    let nuevo = app.ticket_en("NUEVO").await;
    app.adelantar(TimeDelta::hours(5));
    let n = app.planificador.escanear(app.ahora()).await.unwrap();
    assert_eq!(n, 2, "only the NUEVO ticket: POR_VENCER and VENCIDO");
    for (id, esperado) in [(&pausado, 0), (&cancelado, 0), (&nuevo, 2)] {
        let alertas = app
            .contar_de("SELECT count(*) FROM historial WHERE ticket_uuid = $1::uuid AND accion LIKE 'SLA_%'", id)
            .await;
        assert_eq!(alertas, esperado, "{id}");
    }
    let r = app.enviar("detalle", json!({"ticketId": cancelado}), Some(&mesa)).await;
    assert_eq!(r["datos"]["ticket"]["sla_estado"], "CUMPLIDO", "frozen at close");

    // Reopened after 5 h of pause: the deadline moves 5 h later, and may alert again.
    let r = app.enviar("reabrir", json!({"ticketId": pausado}), Some(&mesa)).await;
    assert_eq!(r["datos"]["slaEstado"], "EN_TIEMPO", "{r}");
    app.adelantar(TimeDelta::hours(4));
    assert_eq!(app.planificador.escanear(app.ahora()).await.unwrap(), 2, "the reopened ticket, now overdue");
    assert_eq!(app.planificador.escanear(app.ahora()).await.unwrap(), 0);
    // A new priority moves the deadline of the overdue NUEVO ticket too: once assigned and reclassified.
    app.enviar("asignar", json!({"ticketId": nuevo}), Some(&mesa)).await;
    let r =
        app.enviar("reclasificar", json!({"ticketId": nuevo, "motivo": "m", "prioridad": "BAJA"}), Some(&mesa)).await;
    assert_eq!(r["datos"]["slaEstado"], "EN_TIEMPO", "72 h from creation: {r}");
    // 59 h after creation: inside BAJA's warning window (the last 14.4 h of 72 h).
    app.adelantar(TimeDelta::hours(50));
    assert_eq!(app.planificador.escanear(app.ahora()).await.unwrap(), 1, "BAJA's warning for the new deadline");
    assert_eq!(app.contar("SELECT count(*) FROM sla_alertas").await, 5);
    assert_eq!(
        app.contar_de("SELECT count(*) FROM sla_alertas WHERE ticket_uuid = $1::uuid", &nuevo).await,
        3,
        "two for the first deadline, one for the moved one"
    );
}

/// Issue #26, gap 2: with `sla.pausa_detiene_reloj = ["SOLICITANTE"]` a
/// pause waiting for a third party does not stop the clocks, so it behaves
/// like no pause — in replies, in `listar`'s and `estadisticas`' SQL, and for
/// the scheduler, whose alerts come while it is paused. A wait for the
/// requester stops both clocks (the first response's too, under "respuesta").
#[tokio::test]
async fn a_pause_whose_wait_does_not_stop_the_clock_behaves_like_no_pause() {
    let mut app = TestApp::spawn_with(|s| {
        s.sla.pausa_detiene_reloj = PausaDetieneRelojSettings::Esperas(vec!["SOLICITANTE".into()]);
        s.sla.primera_respuesta.insert("ALTA".into(), "1h".into());
        s.sla.primera_respuesta_termina = FinPrimeraRespuesta::Respuesta;
    })
    .await;
    let mesa = token("MESA", None);
    // ALTA: resolution 4 h (warning at 3 h 12 min), first response 1 h (warning at 48 min).
    let tercero = app.ticket_en("ASIGNADO").await;
    let solicitante = app.ticket_en("ASIGNADO").await;
    for (id, espera, sla) in [(&tercero, "TERCERO", "EN_TIEMPO"), (&solicitante, "SOLICITANTE", "PAUSADO")] {
        let r = app.enviar("pausar", json!({"ticketId": id, "motivo": "m", "espera": espera}), Some(&mesa)).await;
        assert_eq!(r["datos"]["estado"], "PAUSADO", "{r}");
        assert_eq!(
            (r["datos"]["slaEstado"].as_str(), r["datos"]["slaPrimeraRespuesta"].as_str()),
            (Some(sla), Some(sla)),
            "{espera}: {r}"
        );
    }
    let limite =
        app.enviar("detalle", json!({"ticketId": tercero}), Some(&mesa)).await["datos"]["ticket"]["fecha_limite_sla"]
            .clone();
    let ids = |r: &Value| -> Vec<String> {
        r["datos"]["items"].as_array().unwrap().iter().map(|t| t["uuid"].as_str().unwrap().to_string()).collect()
    };
    let r = app.enviar("listar", json!({"slaEstado": "PAUSADO"}), Some(&mesa)).await;
    assert_eq!(ids(&r), std::slice::from_ref(&solicitante), "{r}");
    let r = app.enviar("listar", json!({"slaPrimeraRespuesta": "PAUSADO"}), Some(&mesa)).await;
    assert_eq!(ids(&r), std::slice::from_ref(&solicitante), "{r}");

    // 50 min: the first-response warning of the ticket waiting for a third party, while it is paused.
    app.adelantar(TimeDelta::minutes(50));
    assert_eq!(app.planificador.escanear(app.ahora()).await.unwrap(), 1);
    // 3 h 20 min: its first response overdue, its resolution warning.
    app.adelantar(TimeDelta::minutes(150));
    assert_eq!(app.planificador.escanear(app.ahora()).await.unwrap(), 2);
    let d = app.enviar("detalle", json!({"ticketId": tercero}), Some(&mesa)).await;
    let t = &d["datos"]["ticket"];
    assert_eq!(
        (&t["estado"], &t["sla_estado"], &t["sla_primera_respuesta"]),
        (&json!("PAUSADO"), &json!("POR_VENCER"), &json!("VENCIDO")),
        "{d}"
    );
    let d = app.enviar("detalle", json!({"ticketId": solicitante}), Some(&mesa)).await;
    let t = &d["datos"]["ticket"];
    assert_eq!((&t["sla_estado"], &t["sla_primera_respuesta"]), (&json!("PAUSADO"), &json!("PAUSADO")), "{d}");
    let r = app.enviar("listar", json!({"slaEstado": "POR_VENCER"}), Some(&mesa)).await;
    assert_eq!(ids(&r), std::slice::from_ref(&tercero), "{r}");
    let r = app.enviar("listar", json!({"slaPrimeraRespuesta": "VENCIDO"}), Some(&mesa)).await;
    assert_eq!(ids(&r), std::slice::from_ref(&tercero), "{r}");
    let r = app.enviar("estadisticas", json!({}), Some(&mesa)).await;
    assert_eq!(r["datos"]["abiertosPorSlaEstado"], json!({"PAUSADO": 1, "POR_VENCER": 1}), "{r}");

    // Reopened: the wait for a third party moved no deadline; the wait for the requester moved both.
    let r = app.enviar("reabrir", json!({"ticketId": tercero}), Some(&mesa)).await;
    assert_eq!((&r["datos"]["fechaLimiteSla"], &r["datos"]["slaEstado"]), (&limite, &json!("POR_VENCER")), "{r}");
    let r = app.enviar("reabrir", json!({"ticketId": solicitante}), Some(&mesa)).await;
    assert_eq!(
        (&r["datos"]["slaEstado"], &r["datos"]["slaPrimeraRespuesta"]),
        (&json!("EN_TIEMPO"), &json!("EN_TIEMPO")),
        "{r}"
    );
    assert_eq!(app.contar_de("SELECT count(*) FROM sla_alertas WHERE ticket_uuid = $1::uuid", &tercero).await, 3);
    assert_eq!(app.contar_de("SELECT count(*) FROM sla_alertas WHERE ticket_uuid = $1::uuid", &solicitante).await, 0);
}

#[tokio::test]
async fn concurrent_scanners_emit_each_alert_exactly_once() {
    let mut app = TestApp::spawn().await;
    let cuerpos: Vec<String> = (0..120).map(|_| ana_garcia().to_string()).collect();
    let mut correlaciones = vec![];
    for c in &cuerpos {
        let id = uuid::Uuid::new_v4().to_string();
        correlaciones.push(app.cliente.publicar("ticket.crear", c.as_bytes(), Some(&id), None).await);
    }
    for c in correlaciones {
        assert_eq!(app.cliente.respuesta(&c).await["ok"], true);
    }
    app.adelantar(TimeDelta::hours(5));
    let ahora = app.ahora();
    // Four scanners as four replicas would run them: separate instances, small batches.
    let metricas = Arc::new(mesa_ayuda::metrics::Metricas::default());
    let mut tareas = vec![];
    for _ in 0..4 {
        let p = Planificador::new(
            app.pool.clone(),
            app.planificador.reglas.clone(),
            Arc::new(move || ahora),
            Arc::new(tokio::sync::Notify::new()),
            metricas.clone(),
            7,
        );
        tareas.push(tokio::spawn(async move {
            let mut total = 0;
            for _ in 0..3 {
                total += p.escanear(ahora).await.unwrap();
            }
            total
        }));
    }
    let mut total = 0;
    for t in tareas {
        total += t.await.unwrap();
    }
    assert_eq!(total, 240);
    assert_eq!(app.contar("SELECT count(*) FROM sla_alertas").await, 240);
    assert_eq!(app.contar("SELECT count(*) FROM historial WHERE accion LIKE 'SLA_%'").await, 240);
    assert_eq!(app.contar("SELECT count(*) FROM outbox WHERE tipo LIKE 'sla.%'").await, 240);
}

#[tokio::test]
async fn end_to_end_two_replicas_one_second_cron_five_second_target() {
    let mut app = TestApp::spawn_with(|s| {
        s.sla.prioridades.insert("RELAMPAGO".into(), "5s".into());
        s.scheduler.cron = mesa_ayuda::reloj::Cron::parse("* * * * * *").unwrap();
    })
    .await;
    let segunda = Aplicacion::build(app.config.clone()).await.unwrap();
    let parar = CancellationToken::new();
    let replica = tokio::spawn(segunda.ejecutar(parar.clone()));

    let mut c = ana_garcia();
    c["prioridad"] = json!("relampago");
    let r = app.enviar("crear", c, None).await;
    assert_eq!(r["datos"]["slaHoras"].as_f64().unwrap(), 5.0 / 3600.0);
    let id = r["datos"]["ticketUuid"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(8)).await;

    let topo = app.topologia();
    let mut eventos = vec![];
    for _ in 0..30 {
        match app.cliente.canal.basic_get(topo.alertas().into(), BasicGetOptions { no_ack: true }).await.unwrap() {
            Some(m) => {
                let e: Value = serde_json::from_slice(&m.delivery.data).unwrap();
                assert_eq!(e["data"]["ticketUuid"], id.as_str());
                eventos.push(e);
            }
            None if eventos.len() >= 2 => break,
            None => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    while let Some(m) =
        app.cliente.canal.basic_get(topo.alertas().into(), BasicGetOptions { no_ack: true }).await.unwrap()
    {
        eventos.push(serde_json::from_slice(&m.delivery.data).unwrap());
    }
    let niveles: Vec<_> =
        por_escaneo(eventos).iter().map(|e| e["data"]["nivel"].as_str().unwrap().to_string()).collect();
    assert_eq!(niveles, ["POR_VENCER", "VENCIDO"]);
    parar.cancel();
    replica.await.unwrap().unwrap();
}

#[tokio::test]
async fn business_hours_calendar_sets_the_deadline() {
    let mut app = TestApp::spawn_with(|s| {
        s.sla.calendario = Some(mesa_ayuda::configuration::CalendarioSettings {
            zona: "America/Bogota".into(),
            horario: [
                ("lunes", "08:00-17:00"),
                ("martes", "08:00-17:00"),
                ("miercoles", "08:00-17:00"),
                ("jueves", "08:00-17:00"),
                ("viernes", "08:00-17:00"),
            ]
            .into_iter()
            .map(|(d, v)| (d.to_string(), vec![v.to_string()]))
            .collect(),
            feriados: vec![],
        });
    })
    .await;
    let reglas = (*app.config.reglas).clone();
    let r = app.enviar("crear", ana_garcia(), None).await;
    let creado = fecha(&r["datos"]["fechaCreacion"]);
    let limite = fecha(&r["datos"]["fechaLimiteSla"]);
    assert_eq!(limite, reglas.calendario().sumar(creado, TimeDelta::hours(4)));
    assert_eq!(reglas.calendario().entre(creado, limite), TimeDelta::hours(4));
    assert_eq!(r["datos"]["slaHoras"], 4.0);
}

/// A policy with both metas, thresholds [50, 20] and two escalation steps,
/// for INCIDENTE tickets of priority `prioridad`.
fn politica_de_prueba(prioridad: &str, resolucion: &str, primera_respuesta: &str) -> PoliticaSettings {
    PoliticaSettings {
        nombre: "Incidentes relámpago".into(),
        tipos: Some(vec!["INCIDENTE".into()]),
        prioridades: Some(vec![prioridad.into()]),
        areas: None,
        categorias: None,
        resolucion: resolucion.into(),
        primera_respuesta: Some(primera_respuesta.into()),
        avisos: Some(vec![50, 20]),
        calendario: None,
        escalado: vec![
            PasoSettings {
                meta: "PRIMERA_RESPUESTA".into(),
                en: EnSettings::Texto("VENCIDO".into()),
                area: Some("SUPERVISION".into()),
                prioridad: None,
            },
            PasoSettings {
                meta: "RESOLUCION".into(),
                en: EnSettings::Umbral(20),
                area: None,
                prioridad: Some("CRITICA".into()),
            },
        ],
    }
}

fn alerta(e: &Value) -> (String, String, Value) {
    let d = &e["data"];
    (d["meta"].as_str().unwrap().to_string(), d["nivel"].as_str().unwrap().to_string(), d["umbral"].clone())
}

/// Alerts in the order their scans made them (`time`, the scan's moment).
/// Two replicas' relays publish apart, so one stalled past a cron second
/// may publish an earlier scan's alerts after a later one's; within a scan
/// (one `time`) the order they came in, which is by due moment, is kept.
fn por_escaneo(mut eventos: Vec<Value>) -> Vec<Value> {
    eventos.sort_by_key(|e| chrono::DateTime::parse_from_rfc3339(e["time"].as_str().unwrap()).unwrap());
    eventos
}

#[tokio::test]
async fn both_metas_alert_at_every_threshold_and_escalate_once() {
    let mut app = TestApp::spawn_with(|s| {
        s.sla.politicas.push(politica_de_prueba("ALTA", "10h", "1h"));
    })
    .await;
    let mesa = token("MESA", None);
    let r = app.enviar("crear", ana_garcia(), None).await;
    let d = &r["datos"];
    assert_eq!(d["slaPolitica"], "Incidentes relámpago", "{r}");
    assert_eq!(d["slaHoras"], 10.0);
    let creado = fecha(&d["fechaCreacion"]);
    assert_eq!(fecha(&d["fechaLimitePrimeraRespuesta"]) - creado, TimeDelta::hours(1));
    let id = d["ticketUuid"].as_str().unwrap().to_string();
    let otro = app.crear().await["ticketUuid"].as_str().unwrap().to_string();
    app.cliente.eventos_hasta_silencio(Duration::from_millis(500)).await;

    // 45 min: the first response is past its 50 % threshold.
    app.adelantar(TimeDelta::minutes(45));
    assert_eq!(app.planificador.escanear(app.ahora()).await.unwrap(), 2, "one per ticket");
    let r = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    let t = &r["datos"]["ticket"];
    assert_eq!((&t["sla_primera_respuesta"], &t["sla_estado"]), (&json!("POR_VENCER"), &json!("EN_TIEMPO")), "{t}");
    assert_eq!(t["sla_politica"], "Incidentes relámpago");
    // The other ticket is assigned: its first-response clock stops, CUMPLIDO.
    let r = app.enviar("asignar", json!({"ticketId": otro}), Some(&mesa)).await;
    assert_eq!(r["datos"]["slaPrimeraRespuesta"], "CUMPLIDO", "{r}");

    // 6 h: first response overdue (escalated to SUPERVISION), resolution past 50 %.
    app.adelantar(TimeDelta::hours(5) + TimeDelta::minutes(15));
    assert_eq!(app.planificador.escanear(app.ahora()).await.unwrap(), 4, "PR 20 % and VENCIDO, RES 50 % twice");
    let r = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    let t = &r["datos"]["ticket"];
    assert_eq!(
        (&t["area_asignada"], &t["prioridad"], &t["estado"]),
        (&json!("SUPERVISION"), &json!("ALTA"), &json!("NUEVO"))
    );
    assert_eq!(t["sla_primera_respuesta"], "VENCIDO");
    assert_eq!(fecha(&t["fecha_limite_sla"]) - creado, TimeDelta::hours(10), "escalation never moves a deadline");
    // 9 h: resolution at 20 % → CRITICA; 11 h: VENCIDO.
    app.adelantar(TimeDelta::hours(3));
    assert_eq!(app.planificador.escanear(app.ahora()).await.unwrap(), 2);
    app.adelantar(TimeDelta::hours(2));
    assert_eq!(app.planificador.escanear(app.ahora()).await.unwrap(), 2);
    for _ in 0..3 {
        assert_eq!(app.planificador.escanear(app.ahora() + TimeDelta::days(3)).await.unwrap(), 0, "never twice");
    }

    let r = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    let t = &r["datos"]["ticket"];
    assert_eq!((&t["area_asignada"], &t["prioridad"]), (&json!("SUPERVISION"), &json!("CRITICA")));
    let historial = r["datos"]["historial"].as_array().unwrap();
    let acciones: Vec<&str> = historial.iter().map(|h| h["accion"].as_str().unwrap()).collect();
    assert_eq!(
        acciones,
        [
            "CREACION",
            "SLA_POR_VENCER",
            "SLA_POR_VENCER",
            "SLA_VENCIDO",
            "ESCALAMIENTO",
            "SLA_POR_VENCER",
            "SLA_POR_VENCER",
            "ESCALAMIENTO",
            "SLA_VENCIDO",
        ]
    );
    let escalamientos: Vec<&Value> = historial.iter().filter(|h| h["accion"] == "ESCALAMIENTO").collect();
    assert_eq!(
        (&escalamientos[0]["area_antes"], &escalamientos[0]["area_despues"]),
        (&json!("MESA"), &json!("SUPERVISION"))
    );
    assert_eq!(
        (&escalamientos[1]["prioridad_antes"], &escalamientos[1]["prioridad_despues"]),
        (&json!("ALTA"), &json!("CRITICA"))
    );
    assert!(escalamientos.iter().all(|h| h["actor_rol"] == "SISTEMA" && h["estado_despues"] == "NUEVO"));
    assert!(historial.iter().filter(|h| h["accion"].as_str().unwrap().starts_with("SLA_")).all(|h| {
        let m = h["motivo"].as_str().unwrap();
        m.contains("resolución") || m.contains("primera respuesta")
    }));

    let eventos = app.cliente.eventos_hasta_silencio(Duration::from_secs(1)).await;
    let del_ticket: Vec<&(lapin::BasicProperties, String, Value)> =
        eventos.iter().filter(|(_, _, e)| e["subject"] == id.as_str()).collect();
    let tipos: Vec<&str> = del_ticket.iter().map(|(_, rk, _)| rk.as_str()).collect();
    assert_eq!(
        tipos,
        [
            "sla.por_vencer",
            "sla.por_vencer",
            "sla.vencido",
            "ticket.escalado",
            "sla.por_vencer",
            "sla.por_vencer",
            "ticket.escalado",
            "sla.vencido"
        ]
    );
    let alertas: Vec<_> =
        del_ticket.iter().filter(|(_, rk, _)| rk.starts_with("sla.")).map(|(_, _, e)| alerta(e)).collect();
    let pr = |n: &str, u: Value| ("PRIMERA_RESPUESTA".to_string(), n.to_string(), u);
    let res = |n: &str, u: Value| ("RESOLUCION".to_string(), n.to_string(), u);
    assert_eq!(
        alertas,
        [
            pr("POR_VENCER", json!(50)),
            pr("POR_VENCER", json!(20)),
            pr("VENCIDO", json!(null)),
            res("POR_VENCER", json!(50)),
            res("POR_VENCER", json!(20)),
            res("VENCIDO", json!(null)),
        ]
    );
    let vencido_pr = &del_ticket[2].2["data"];
    assert_eq!(fecha(&vencido_pr["fechaLimiteSla"]) - creado, TimeDelta::hours(1), "the alert's meta's deadline");
    assert_eq!(vencido_pr["slaPolitica"], "Incidentes relámpago");
    let escalado = &del_ticket[3].2["data"];
    assert_eq!(escalado["ticket"]["area_asignada"], "SUPERVISION");
    assert_eq!(escalado["historial"]["accion"], "ESCALAMIENTO");
    assert_eq!((&escalado["comandoId"], &escalado["actor"]["rol"]), (&json!(null), &json!("SISTEMA")));
    let versiones: Vec<i64> = del_ticket
        .iter()
        .filter(|(_, rk, _)| rk == "ticket.escalado")
        .map(|(_, _, e)| e["data"]["ticket"]["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versiones, [2, 3], "version rises by one per escalation");
    assert_eq!(app.contar("SELECT count(*) FROM sla_alertas WHERE meta = 'PRIMERA_RESPUESTA'").await, 4);
    let metricas = app.metricas.texto();
    // The other ticket escalates too, at its resolution's 20 %.
    for linea in [
        r#"mesa_escalamientos_sla_total{meta="PRIMERA_RESPUESTA"} 1"#,
        r#"mesa_escalamientos_sla_total{meta="RESOLUCION"} 2"#,
        r#"mesa_alertas_sla_total{nivel="VENCIDO",meta="PRIMERA_RESPUESTA"} 1"#,
        r#"mesa_alertas_sla_total{nivel="POR_VENCER",meta="RESOLUCION"} 4"#,
    ] {
        assert!(metricas.lines().any(|l| l == linea), "falta {linea}:\n{metricas}");
    }
}

#[tokio::test]
async fn first_response_reports_filter_and_catalog() {
    let mut app = TestApp::spawn_with(|s| {
        s.sla.politicas.push(politica_de_prueba("ALTA", "10h", "1h"));
    })
    .await;
    let mesa = token("MESA", None);
    let a_tiempo = app.crear().await["ticketUuid"].as_str().unwrap().to_string();
    let tarde = app.crear().await["ticketUuid"].as_str().unwrap().to_string();
    let mut baja = ana_garcia();
    baja["prioridad"] = json!("BAJA");
    let sin_meta = app.enviar("crear", baja, None).await["datos"]["ticketUuid"].as_str().unwrap().to_string();
    app.enviar("asignar", json!({"ticketId": a_tiempo}), Some(&mesa)).await;
    app.adelantar(TimeDelta::hours(2));
    app.enviar("asignar", json!({"ticketId": tarde}), Some(&mesa)).await;

    let filtro = |v: &str| json!({"slaPrimeraRespuesta": v});
    let ids = |r: &Value| -> Vec<String> {
        r["datos"]["items"].as_array().unwrap().iter().map(|t| t["uuid"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&app.enviar("listar", filtro("CUMPLIDO"), Some(&mesa)).await), std::slice::from_ref(&a_tiempo));
    assert_eq!(ids(&app.enviar("listar", filtro("incumplido"), Some(&mesa)).await), std::slice::from_ref(&tarde));
    assert!(ids(&app.enviar("listar", filtro("EN_TIEMPO"), Some(&mesa)).await).is_empty());
    let todos = app.enviar("listar", json!({}), Some(&mesa)).await;
    let sin = todos["datos"]["items"].as_array().unwrap().iter().find(|t| t["uuid"] == sin_meta.as_str()).unwrap();
    assert_eq!((&sin["sla_primera_respuesta"], &sin["fecha_limite_primera_respuesta"]), (&json!(null), &json!(null)));
    // Under "asignar" no first response is ever paused (the clock stops before any pause).
    assert!(ids(&app.enviar("listar", filtro("PAUSADO"), Some(&mesa)).await).is_empty());

    let r = app.enviar("estadisticas", json!({}), Some(&mesa)).await;
    let c = &r["datos"]["cumplimientoPrimeraRespuesta"];
    assert_eq!((&c["cerrados"], &c["cumplidos"], &c["porcentaje"]), (&json!(2), &json!(1), &json!(50.0)), "{r}");
    let area = token("AREA", Some("TI"));
    let r = app.enviar("estadisticas", json!({}), Some(&area)).await;
    assert_eq!(r["datos"]["cumplimientoPrimeraRespuesta"]["cerrados"], 0, "an AREA actor sees its area only");

    let r = app.enviar("catalogo", json!({}), Some(&mesa)).await;
    let p = &r["datos"]["politicasSla"][0];
    assert_eq!(p["nombre"], "Incidentes relámpago");
    assert_eq!((&p["resolucionHoras"], &p["primeraRespuestaHoras"]), (&json!(10.0), &json!(1.0)));
    assert_eq!(p["avisos"], json!([50, 20]));
    assert_eq!(
        p["escalado"][0],
        json!({"meta": "PRIMERA_RESPUESTA", "en": "VENCIDO", "area": "SUPERVISION", "prioridad": null})
    );
    assert_eq!(p["escalado"][1]["en"], 20);
    assert_eq!(r["datos"]["sla"]["avisos"], json!([20]), "the defaults: v1's single threshold");
}

/// Issue #26, gap 3: `cumplimientoPrimeraRespuesta` counts the tickets whose
/// first-response clock stopped in the window — under "respuesta" the first
/// PUBLICO reply of staff, whenever the ticket was assigned, or never.
#[tokio::test]
async fn first_response_compliance_counts_tickets_by_when_their_clock_stopped() {
    let mut app = TestApp::spawn_with(|s| {
        s.sla.primera_respuesta.insert("ALTA".into(), "1h".into());
        s.sla.primera_respuesta_termina = FinPrimeraRespuesta::Respuesta;
    })
    .await;
    let mesa = token("MESA", None);
    // Assigned today and answered ten days later; answered without ever being
    // assigned; assigned and never answered (its clock still runs).
    let asignado = app.ticket_en("ASIGNADO").await;
    let sin_asignar = app.ticket_en("NUEVO").await;
    let sin_respuesta = app.ticket_en("ASIGNADO").await;
    app.adelantar(TimeDelta::days(10));
    let respondido = app.ahora();
    for id in [&asignado, &sin_asignar] {
        let r = app.enviar("responder", json!({"ticketId": id, "texto": "Hola Ana"}), Some(&mesa)).await;
        assert_eq!(r["datos"]["slaPrimeraRespuesta"], "INCUMPLIDO", "{r}");
    }
    let ventana = |desde: chrono::DateTime<chrono::Utc>, hasta: chrono::DateTime<chrono::Utc>| json!({"desde": desde.to_rfc3339(), "hasta": hasta.to_rfc3339()});
    let r = app
        .enviar(
            "estadisticas",
            ventana(respondido - TimeDelta::days(1), respondido + TimeDelta::minutes(1)),
            Some(&mesa),
        )
        .await;
    let c = &r["datos"]["cumplimientoPrimeraRespuesta"];
    assert_eq!((&c["cerrados"], &c["cumplidos"]), (&json!(2), &json!(0)), "the replies' window: {r}");
    let r = app
        .enviar("estadisticas", ventana(respondido - TimeDelta::days(11), respondido - TimeDelta::days(9)), Some(&mesa))
        .await;
    assert_eq!(r["datos"]["cumplimientoPrimeraRespuesta"]["cerrados"], 0, "not the assignment's window: {r}");
    let sql = "SELECT count(*) FROM tickets WHERE uuid = $1::uuid AND primera_respuesta_en IS NOT NULL";
    assert_eq!(app.contar_de(sql, &asignado).await, 1);
    assert_eq!(app.contar_de(sql, &sin_respuesta).await, 0, "its clock still runs");
}

/// A v1.2 database (migrations 1–7) upgraded in place: each stopped
/// first-response clock gets the date it stopped — the first assignment,
/// else the first PUBLICO message of staff — and a running one none; the
/// RESPUESTA of an INTERNO note is marked so (`consultar` hides it).
#[tokio::test]
async fn an_upgrade_dates_each_stopped_first_response_clock() {
    let (settings, db) = settings_de_prueba();
    crear_base(&db).await;
    let _limpieza = Limpieza(Some((db.clone(), settings.clone())));
    let pool = sqlx::PgPool::connect(settings.database.url.expose_secret()).await.unwrap();
    migrar_hasta(&pool, &db, 7).await;
    // Whole milliseconds, as stored.
    let ahora = chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis()).unwrap();
    let hace = |h: i64| ahora - TimeDelta::hours(h);
    // num, estado, first-response target?, result, first assignment.
    let filas = [
        (1, "ASIGNADO", true, Some("CUMPLIDO"), Some(hace(3))),
        (2, "NUEVO", true, Some("INCUMPLIDO"), None),
        (3, "ASIGNADO", true, None, Some(hace(3))),
        (4, "ASIGNADO", false, None, Some(hace(3))),
    ];
    for (num, estado, meta, resultado, asignado) in filas {
        sqlx::query(
            "INSERT INTO tickets (uuid, num, label, solicitante_nombre, solicitante_email, tipo, categoria, \
             descripcion, area_asignada, prioridad, estado, sla_objetivo_ms, fecha_limite_sla, fecha_aviso_sla, \
             creado_en, actualizado_en, version, primera_asignacion_en, primera_respuesta_objetivo_ms, \
             fecha_limite_primera_respuesta, fecha_aviso_primera_respuesta, primera_respuesta_final) \
             VALUES (gen_random_uuid(), $1, 'TKT-2026-0000' || $1, 'Ana', 'ana@empresa.com', 'INCIDENTE', 'Sistemas', \
             'No puedo acceder', 'MESA', 'ALTA', $2, 14400000, $3, $3, $4, $3, 3, $5, \
             CASE WHEN $6 THEN 3600000 END, CASE WHEN $6 THEN $4 END, CASE WHEN $6 THEN $4 END, $7)",
        )
        .bind(num)
        .bind(estado)
        .bind(ahora)
        .bind(hace(5))
        .bind(asignado)
        .bind(meta)
        .bind(resultado)
        .execute(&pool)
        .await
        .unwrap();
    }
    // Ticket 2's conversation: the requester first, then the desk's first public reply.
    for (rol, visibilidad, h) in [("USUARIO", "PUBLICO", 4), ("MESA", "INTERNO", 3), ("MESA", "PUBLICO", 2)] {
        sqlx::query(
            "INSERT INTO mensajes (uuid, ticket_uuid, fecha, autor_nombre, autor_rol, visibilidad, texto) \
             SELECT gen_random_uuid(), uuid, $1, 'x', $2, $3, 'hola' FROM tickets WHERE num = 2",
        )
        .bind(hace(h))
        .bind(rol)
        .bind(visibilidad)
        .execute(&pool)
        .await
        .unwrap();
        if rol == "MESA" {
            sqlx::query(
                "INSERT INTO historial (ticket_uuid, fecha, accion, actor_nombre, actor_rol, estado_antes, \
                 estado_despues) SELECT uuid, $1, 'RESPUESTA', 'x', 'MESA', 'NUEVO', 'NUEVO' FROM tickets WHERE num = 2",
            )
            .bind(hace(h))
            .execute(&pool)
            .await
            .unwrap();
        }
    }

    mesa_ayuda::store::migrate(&pool).await.unwrap();
    let fechas: Vec<(i64, Option<chrono::DateTime<chrono::Utc>>)> =
        sqlx::query_as("SELECT num, primera_respuesta_en FROM tickets ORDER BY num").fetch_all(&pool).await.unwrap();
    assert_eq!(fechas, [(1, Some(hace(3))), (2, Some(hace(2))), (3, None), (4, None)]);
    let entradas: Vec<(chrono::DateTime<chrono::Utc>, bool)> =
        sqlx::query_as("SELECT fecha, interno FROM historial ORDER BY id").fetch_all(&pool).await.unwrap();
    assert_eq!(entradas, [(hace(3), true), (hace(2), false)], "the note's entry, not the public reply's");
    let uuid: uuid::Uuid = sqlx::query_scalar("SELECT uuid FROM tickets WHERE num = 2").fetch_one(&pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let t = mesa_ayuda::store::ticket(&mut conn, uuid).await.unwrap().unwrap();
    let v = t.primera_respuesta.and_then(|p| p.resultado).map(|v| (v.estado.as_str(), v.en));
    assert_eq!(v, Some(("INCUMPLIDO", hace(2))), "read back as one value");
    drop(conn);
    pool.close().await;
}

#[tokio::test]
async fn end_to_end_two_replicas_policy_with_both_metas_on_a_one_second_cron() {
    let mut app = TestApp::spawn_with(|s| {
        s.sla.prioridades.insert("RELAMPAGO".into(), "1h".into());
        s.sla.politicas.push(politica_de_prueba("RELAMPAGO", "6s", "4s"));
        s.scheduler.cron = mesa_ayuda::reloj::Cron::parse("* * * * * *").unwrap();
    })
    .await;
    let segunda = Aplicacion::build(app.config.clone()).await.unwrap();
    let parar = CancellationToken::new();
    let replica = tokio::spawn(segunda.ejecutar(parar.clone()));
    let mesa = token("MESA", None);

    let mut c = ana_garcia();
    c["prioridad"] = json!("relampago");
    let r = app.enviar("crear", c.clone(), None).await;
    assert_eq!(r["datos"]["slaPolitica"], "Incidentes relámpago", "{r}");
    let id = r["datos"]["ticketUuid"].as_str().unwrap().to_string();
    // A second ticket, assigned and paused at once: it must never alert
    // once paused (nor before, when the pause comes within the 2 s its
    // first alert is due at — not a given on a loaded machine).
    let creado = std::time::Instant::now();
    let pausado = app.enviar("crear", c, None).await["datos"]["ticketUuid"].as_str().unwrap().to_string();
    app.enviar("asignar", json!({"ticketId": pausado}), Some(&mesa)).await;
    let r = app.enviar("pausar", json!({"ticketId": pausado, "motivo": "espera"}), Some(&mesa)).await;
    assert_eq!(r["datos"]["estado"], "PAUSADO", "{r}");
    let a_tiempo = creado.elapsed() < Duration::from_millis(1900);
    tokio::time::sleep(Duration::from_secs(9)).await;

    let topo = app.topologia();
    let mut eventos = vec![];
    let mut del_pausado = 0;
    let mut silencio = 0;
    while silencio < 10 {
        match app.cliente.canal.basic_get(topo.alertas().into(), BasicGetOptions { no_ack: true }).await.unwrap() {
            Some(m) => {
                let e: Value = serde_json::from_slice(&m.delivery.data).unwrap();
                if e["data"]["ticketUuid"] == pausado.as_str() {
                    del_pausado += 1;
                } else {
                    assert_eq!(e["data"]["ticketUuid"], id.as_str(), "{e}");
                    eventos.push(e);
                }
                silencio = 0;
            }
            None => {
                silencio += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let vistas: Vec<_> = por_escaneo(eventos).iter().map(alerta).collect();
    let pr = |n: &str, u: Value| ("PRIMERA_RESPUESTA".to_string(), n.to_string(), u);
    let res = |n: &str, u: Value| ("RESOLUCION".to_string(), n.to_string(), u);
    // Due at 2 s, 3 s, 3.2 s, past 4 s, 4.8 s, past 6 s: each once, in that order.
    assert_eq!(
        vistas,
        [
            pr("POR_VENCER", json!(50)),
            res("POR_VENCER", json!(50)),
            pr("POR_VENCER", json!(20)),
            pr("VENCIDO", json!(null)),
            res("POR_VENCER", json!(20)),
            res("VENCIDO", json!(null)),
        ]
    );
    let escalamientos = app
        .contar_de("SELECT count(*) FROM historial WHERE ticket_uuid = $1::uuid AND accion = 'ESCALAMIENTO'", &id)
        .await;
    assert_eq!(escalamientos, 2, "each step once, across both replicas");
    assert_eq!(app.contar("SELECT count(*) FROM outbox WHERE tipo = 'ticket.escalado'").await, 2);
    let fila = app.fila(&id).await;
    assert_eq!((&fila["area_asignada"], &fila["prioridad"]), (&json!("SUPERVISION"), &json!("CRITICA")));
    let tras_la_pausa = app
        .contar_de(
            "SELECT count(*) FROM historial WHERE ticket_uuid = $1::uuid AND accion LIKE 'SLA_%' \
             AND id > (SELECT id FROM historial WHERE ticket_uuid = $1::uuid AND accion = 'PAUSA')",
            &pausado,
        )
        .await;
    assert_eq!(tras_la_pausa, 0, "a paused ticket alerted");
    let antes = app
        .contar_de("SELECT count(*) FROM historial WHERE ticket_uuid = $1::uuid AND accion LIKE 'SLA_%'", &pausado)
        .await;
    assert_eq!(del_pausado, antes, "each of the paused ticket's alerts is one it had before the pause");
    if a_tiempo {
        assert_eq!(antes, 0, "paused before its first alert was due, yet it alerted");
    }
    parar.cancel();
    replica.await.unwrap().unwrap();
}

/// A database of v1 tickets (migrations 1–5, rows as the v1 worker wrote
/// them) upgraded in place: no alert already sent is sent again, none is lost.
#[tokio::test]
async fn a_v1_database_upgrades_in_place_without_repeating_or_losing_alerts() {
    let (settings, db) = settings_de_prueba();
    crear_base(&db).await;
    let _limpieza = Limpieza(Some((db.clone(), settings.clone())));
    let pool = sqlx::PgPool::connect(settings.database.url.expose_secret()).await.unwrap();
    // The v1 schema: the first five migrations, as the v1 worker applied them.
    migrar_hasta(&pool, &db, 5).await;

    // Created 5 h ago with ALTA (4 h, warning at 3 h 12 min), 24x7:
    // `avisado` got its warning, `callado` none, `completo` both.
    let ahora = chrono::Utc::now();
    let creado = ahora - TimeDelta::hours(5);
    for (num, alerta) in [(1, Some("POR_VENCER")), (2, None), (3, Some("VENCIDO"))] {
        sqlx::query(
            "INSERT INTO tickets (uuid, num, label, solicitante_nombre, solicitante_email, tipo, categoria, \
             descripcion, area_asignada, prioridad, estado, sla_objetivo_ms, fecha_limite_sla, fecha_aviso_sla, \
             sla_alerta, proxima_alerta_sla, creado_en, actualizado_en, version) \
             VALUES (gen_random_uuid(), $1, 'TKT-2026-0000' || $1, 'Ana', 'ana@empresa.com', 'INCIDENTE', 'Sistemas', \
             'No puedo acceder', 'MESA', 'ALTA', 'ASIGNADO', 14400000, $2, $3, $4, \
             CASE WHEN $4 IS NULL THEN $3 WHEN $4 = 'POR_VENCER' THEN $2 END, $5, $5, 2)",
        )
        .bind(num)
        .bind(creado + TimeDelta::hours(4))
        .bind(creado + TimeDelta::minutes(192))
        .bind(alerta)
        .bind(creado)
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO sla_alertas (ticket_uuid, nivel, fecha_limite_sla, evento_id) \
         SELECT uuid, n, fecha_limite_sla, gen_random_uuid() FROM tickets, unnest(ARRAY['POR_VENCER', 'VENCIDO']) n \
         WHERE num = 3 OR (num = 1 AND n = 'POR_VENCER')",
    )
    .execute(&pool)
    .await
    .unwrap();

    // The v1.1 worker upgrades the database and scans with a v1 configuration.
    mesa_ayuda::store::migrate(&pool).await.unwrap();
    let planificador = Planificador::new(
        pool.clone(),
        mesa_ayuda::configuration::Config::desde(settings.clone()).unwrap().reglas,
        Arc::new(move || ahora),
        Arc::new(tokio::sync::Notify::new()),
        Arc::new(mesa_ayuda::metrics::Metricas::default()),
        500,
    );
    assert_eq!(planificador.escanear(ahora).await.unwrap(), 3, "VENCIDO for the warned one, both for the silent one");
    assert_eq!(planificador.escanear(ahora + TimeDelta::days(1)).await.unwrap(), 0, "never again");
    let enviadas: Vec<(i64, String, String, i16)> = sqlx::query_as(
        "SELECT t.num, a.meta, a.nivel, a.umbral FROM sla_alertas a JOIN tickets t ON t.uuid = a.ticket_uuid \
         ORDER BY t.num, a.nivel",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let r = |num: i64, nivel: &str, umbral: i16| (num, "RESOLUCION".to_string(), nivel.to_string(), umbral);
    assert_eq!(
        enviadas,
        [
            r(1, "POR_VENCER", 0),
            r(1, "VENCIDO", 0),
            r(2, "POR_VENCER", 20),
            r(2, "VENCIDO", 0),
            r(3, "POR_VENCER", 0),
            r(3, "VENCIDO", 0),
        ],
        "the v1 warning is not repeated, VENCIDO still comes; the silent ticket gets both"
    );
    let eventos: Vec<(String, i64)> =
        sqlx::query_as("SELECT tipo, count(*) FROM outbox GROUP BY tipo ORDER BY tipo").fetch_all(&pool).await.unwrap();
    assert_eq!(eventos, [("sla.por_vencer".to_string(), 1), ("sla.vencido".to_string(), 2)]);
    pool.close().await;
}
