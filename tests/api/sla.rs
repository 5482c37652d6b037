//! The SLA scheduler: driven step by step with an injected clock, across
//! concurrent scanners, and end to end on a one-second cron with two replicas.

use crate::helpers::*;
use chrono::TimeDelta;
use lapin::options::BasicGetOptions;
use mesa_ayuda::planificador::Planificador;
use mesa_ayuda::startup::Aplicacion;
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
        s.scheduler.cron = "* * * * * *".into();
    })
    .await;
    let segunda = Aplicacion::build(app.settings.clone()).await.unwrap();
    let parar = CancellationToken::new();
    let replica = tokio::spawn(segunda.run(parar.clone()));

    let mut c = ana_garcia();
    c["prioridad"] = json!("relampago");
    let r = app.enviar("crear", c, None).await;
    assert_eq!(r["datos"]["slaHoras"].as_f64().unwrap(), 5.0 / 3600.0);
    let id = r["datos"]["ticketUuid"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(8)).await;

    let topo = app.topologia();
    let mut niveles = vec![];
    for _ in 0..30 {
        match app.cliente.canal.basic_get(topo.alertas().into(), BasicGetOptions { no_ack: true }).await.unwrap() {
            Some(m) => {
                let e: Value = serde_json::from_slice(&m.delivery.data).unwrap();
                assert_eq!(e["data"]["ticketUuid"], id.as_str());
                niveles.push(e["data"]["nivel"].as_str().unwrap().to_string());
            }
            None if niveles.len() >= 2 => break,
            None => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    while let Some(m) =
        app.cliente.canal.basic_get(topo.alertas().into(), BasicGetOptions { no_ack: true }).await.unwrap()
    {
        let e: Value = serde_json::from_slice(&m.delivery.data).unwrap();
        niveles.push(e["data"]["nivel"].as_str().unwrap().to_string());
    }
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
    let reglas = app.settings.reglas_sla().unwrap();
    let r = app.enviar("crear", ana_garcia(), None).await;
    let creado = fecha(&r["datos"]["fechaCreacion"]);
    let limite = fecha(&r["datos"]["fechaLimiteSla"]);
    assert_eq!(limite, reglas.calendario().sumar(creado, TimeDelta::hours(4)));
    assert_eq!(reglas.calendario().entre(creado, limite), TimeDelta::hours(4));
    assert_eq!(r["datos"]["slaHoras"], 4.0);
}
