//! Issue #26 (contract §10): the conversation between requester and desk,
//! end to end over the gateway, the worker, Postgres and RabbitMQ — and the
//! hostile edges of the new operations.

use crate::gateway::{GatewayDePrueba, con_worker, es_error, respuesta, validar};
use crate::helpers::*;
use mesa_ayuda::startup::Aplicacion;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const EMAIL: &str = "ana.garcia@empresa.com";

fn adjunto() -> Value {
    json!({"nombre": "captura.png", "url": "https://archivos.empresa.com/t/1/captura.png",
        "tipo": "image/png", "bytes": 48213, "sha256": "ab".repeat(32)})
}

/// A ticket created and assigned through the gateway: (its id, its label).
async fn asignado(gw: &GatewayDePrueba, mesa: &str) -> (String, String) {
    let (_, creado, _) = respuesta(gw.post("/api/tickets/crear", &ana_garcia())).await;
    let id = creado["ticketUuid"].as_str().unwrap().to_string();
    let (estado, _, _) = respuesta(gw.post(&format!("/api/tickets/{id}/asignar"), &json!({})).bearer_auth(mesa)).await;
    assert_eq!(estado, StatusCode::OK);
    (id, creado["ticketLabel"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_whole_conversation_through_the_gateway_shows_the_requester_only_the_public_thread() {
    let (mut app, gw) = con_worker(|_| {}).await;
    let doc = gw.documento().await;
    let mesa = token("MESA", None);
    let (id, label) = asignado(&gw, &mesa).await;
    let ruta = |op: &str| format!("/api/tickets/{id}/{op}");

    // Staff ask for a screenshot and pause, waiting for the requester until tomorrow.
    let pedido = json!({"texto": "¿Nos envía una captura del error?"});
    let (estado, r, _) = respuesta(gw.post(&ruta("responder"), &pedido).bearer_auth(&mesa)).await;
    assert_eq!(estado, StatusCode::OK, "{r}");
    validar(&doc, "Respondido", &r);
    assert_eq!((r["estadoAnterior"].as_str(), r["estado"].as_str()), (Some("ASIGNADO"), Some("ASIGNADO")));
    assert!(r["mensajeId"].as_str().is_some_and(|m| uuid::Uuid::parse_str(m).is_ok()), "{r}");
    let hasta = (chrono::Utc::now() + chrono::TimeDelta::days(1)).to_rfc3339();
    let pausa = json!({"motivo": "esperando la captura", "espera": "SOLICITANTE", "hasta": hasta});
    let (estado, p, _) = respuesta(gw.post(&ruta("pausar"), &pausa).bearer_auth(&mesa)).await;
    assert_eq!((estado, p["estado"].as_str()), (StatusCode::OK, Some("PAUSADO")), "{p}");
    let (_, d, _) = respuesta(gw.get(&format!("/api/tickets/{id}"), Some(&mesa))).await;
    assert_eq!(
        (d["ticket"]["espera"].as_str(), d["ticket"]["al_vencer"].as_str()),
        (Some("SOLICITANTE"), Some("REABRIR"))
    );

    // The requester answers by seguimiento: the ticket is back in ASIGNADO, in that one command.
    let seguimiento = json!({"label": label, "email": EMAIL.to_uppercase(), "texto": "Adjunto la captura.",
        "adjuntos": [adjunto()]});
    let (estado, s, _) = respuesta(gw.post("/api/tickets/seguimiento", &seguimiento)).await;
    assert_eq!(estado, StatusCode::OK, "{s}");
    validar(&doc, "SeguimientoRegistrado", &s);
    assert_eq!((s["estado"].as_str(), s["mensaje"].as_str()), (Some("ASIGNADO"), Some("Su mensaje fue registrado.")));
    assert!(s.get("ticketUuid").is_none(), "no internal id for the requester: {s}");

    // Staff reply publicly, and leave a note for the team.
    let (estado, _, _) =
        respuesta(gw.post(&ruta("responder"), &json!({"texto": "Gracias, ya lo corregimos."})).bearer_auth(&mesa))
            .await;
    assert_eq!(estado, StatusCode::OK);
    let nota = json!({"texto": "Era la caché del proxy; no decírselo.", "interno": true});
    let (estado, _, _) = respuesta(gw.post(&ruta("responder"), &nota).bearer_auth(&mesa)).await;
    assert_eq!(estado, StatusCode::OK);

    // consultar: only the public thread; respuestaCliente is the desk's latest public answer.
    let (estado, c, _) = respuesta(gw.post("/api/tickets/consultar", &json!({"label": label, "email": EMAIL}))).await;
    assert_eq!(estado, StatusCode::OK, "{c}");
    validar(&doc, "Consulta", &c);
    let textos: Vec<&str> =
        c["conversacion"].as_array().unwrap().iter().map(|m| m["texto"].as_str().unwrap()).collect();
    assert_eq!(textos, ["¿Nos envía una captura del error?", "Adjunto la captura.", "Gracias, ya lo corregimos."]);
    assert!(!c.to_string().contains("caché del proxy"), "an INTERNO note reached the requester: {c}");
    assert_eq!(c["respuestaCliente"], "Gracias, ya lo corregimos.");
    assert_eq!(c["conversacion"][1]["autor"], json!({"nombre": "Ana García", "rol": "USUARIO"}));
    assert_eq!(c["conversacion"][1]["adjuntos"][0], adjunto());

    // detalle: every message, and the history of each step.
    let (_, d, _) = respuesta(gw.get(&format!("/api/tickets/{id}"), Some(&mesa))).await;
    validar(&doc, "Detalle", &d);
    assert_eq!(d["conversacion"].as_array().map(Vec::len), Some(4), "{d}");
    assert_eq!(d["conversacion"][3]["visibilidad"], "INTERNO");
    assert_eq!((d["ticket"]["estado"].as_str(), d["ticket"]["espera"].as_str()), (Some("ASIGNADO"), None));
    let historial: Vec<(&str, &str, &str)> = d["historial"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["accion"].as_str().unwrap(),
                h["estado_antes"].as_str().unwrap_or("-"),
                h["estado_despues"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        historial,
        [
            ("CREACION", "-", "NUEVO"),
            ("ASIGNACION", "NUEVO", "ASIGNADO"),
            ("RESPUESTA", "ASIGNADO", "ASIGNADO"),
            ("PAUSA", "ASIGNADO", "PAUSADO"),
            ("SEGUIMIENTO", "PAUSADO", "ASIGNADO"),
            ("RESPUESTA", "ASIGNADO", "ASIGNADO"),
            ("RESPUESTA", "ASIGNADO", "ASIGNADO"),
        ]
    );
    assert!(
        d["historial"][4]["motivo"].is_null() && d["historial"][2]["motivo"].is_null(),
        "texts stay out of history"
    );

    // Events: one per command, each with its message and visibility, versions rising by one.
    let eventos = app.cliente.eventos_hasta_silencio(Duration::from_secs(2)).await;
    let tipos: Vec<&str> = eventos.iter().map(|(_, t, _)| t.as_str()).collect();
    assert_eq!(
        tipos,
        [
            "ticket.creado",
            "ticket.asignado",
            "ticket.respondido",
            "ticket.pausado",
            "ticket.seguimiento",
            "ticket.respondido",
            "ticket.respondido"
        ]
    );
    let versiones: Vec<i64> =
        eventos.iter().map(|(_, _, e)| e["data"]["ticket"]["version"].as_i64().unwrap()).collect();
    assert_eq!(versiones, (1..=7).collect::<Vec<_>>());
    let visibilidad = |i: usize| eventos[i].2["data"]["mensaje"]["visibilidad"].as_str().map(str::to_string);
    assert_eq!(visibilidad(2).as_deref(), Some("PUBLICO"));
    assert_eq!(visibilidad(4).as_deref(), Some("PUBLICO"));
    assert_eq!(visibilidad(6).as_deref(), Some("INTERNO"), "a notifier can tell a note from a reply");
    assert_eq!(eventos[4].2["data"]["mensaje"]["adjuntos"][0]["sha256"], "ab".repeat(32));
    assert!(eventos[3].2["data"].get("mensaje").is_none(), "pausar writes no message");
}

#[tokio::test]
async fn hostile_conversation_commands_get_one_contract_reply_and_change_nothing() {
    let (mut app, gw) = con_worker(|_| {}).await;
    let doc = gw.documento().await;
    let mesa = token("MESA", None);
    let (id, label) = asignado(&gw, &mesa).await;
    let ruta = |op: &str| format!("/api/tickets/{id}/{op}");
    let antes = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    let version = antes["datos"]["ticket"]["version"].clone();

    // Wrong e-mail and unknown label: the very same refusal as consultar's.
    let mal_email = json!({"label": label, "email": "otra@empresa.com", "texto": "hola"});
    let (e1, b1, _) = respuesta(gw.post("/api/tickets/seguimiento", &mal_email)).await;
    let sin_label = json!({"label": "TKT-2026-99999", "email": EMAIL, "texto": "hola"});
    let (e2, b2, _) = respuesta(gw.post("/api/tickets/seguimiento", &sin_label)).await;
    let (e3, b3, _) =
        respuesta(gw.post("/api/tickets/consultar", &json!({"label": "TKT-2026-99999", "email": EMAIL}))).await;
    es_error(&doc, e1, &b1, StatusCode::NOT_FOUND, "NO_ENCONTRADO");
    assert_eq!((e1, &b1), (e2, &b2), "a wrong e-mail and an unknown label answer alike");
    assert_eq!((e2, &b2), (e3, &b3), "and as consultar does");
    let sql_comodin = json!({"label": label, "email": "%@empresa.com", "texto": "hola"});
    let (e, b, _) = respuesta(gw.post("/api/tickets/seguimiento", &sql_comodin)).await;
    assert_eq!((e, &b), (e1, &b1), "a wildcard matches nothing");

    let largo = "x".repeat(5001);
    let once: Vec<Value> = (0..11).map(|_| adjunto()).collect();
    let con = |campo: &str, valor: Value| {
        let mut a = adjunto();
        a[campo] = valor;
        json!({"texto": "ver adjunto", "adjuntos": [a]})
    };
    let malos: Vec<(&str, Value, &str)> = vec![
        ("responder", json!({"texto": "hola\u{0007}"}), "texto"),
        ("responder", json!({"texto": largo}), "texto"),
        ("responder", json!({"texto": "  "}), "texto"),
        ("responder", json!({"texto": 5}), "texto"),
        ("responder", json!({"texto": "ok", "interno": "sí"}), "interno"),
        ("responder", json!({"texto": "ok", "adjuntos": once}), "adjuntos"),
        ("responder", json!({"texto": "ok", "adjuntos": {"nombre": "x"}}), "adjuntos"),
        ("responder", con("url", json!("http://archivos.empresa.com/a.png")), "adjuntos[0].url"),
        ("responder", con("url", json!("javascript:alert(1)")), "adjuntos[0].url"),
        ("responder", con("url", json!("https://")), "adjuntos[0].url"),
        ("responder", con("sha256", json!("zz".repeat(32))), "adjuntos[0].sha256"),
        ("responder", con("sha256", json!("ab")), "adjuntos[0].sha256"),
        ("responder", con("bytes", json!(-1)), "adjuntos[0].bytes"),
        ("responder", con("tipo", json!("imagen")), "adjuntos[0].tipo"),
        ("responder", con("nombre", json!("")), "adjuntos[0].nombre"),
        ("responder", con("nombre", json!("factura\u{202E}fdp.exe")), "adjuntos[0].nombre"),
        ("responder", con("url", json!("https://banco.example@otro.example/a.png")), "adjuntos[0].url"),
        ("responder", con("url", json!("https://ñandú.example/a.png")), "adjuntos[0].url"),
        ("pausar", json!({"motivo": "m", "hasta": "2020-01-01T00:00:00Z"}), "hasta"),
        (
            "pausar",
            json!({"motivo": "m", "hasta": (chrono::Utc::now() + chrono::TimeDelta::days(91)).to_rfc3339()}),
            "hasta",
        ),
        ("pausar", json!({"motivo": "m", "alVencer": "ARCHIVAR"}), "hasta"),
        ("pausar", json!({"motivo": "m", "espera": "NADIE"}), "espera"),
        ("pausar", json!({"motivo": "m", "hasta": "mañana"}), "hasta"),
    ];
    for (op, cuerpo, campo) in malos {
        let (estado, b, _) = respuesta(gw.post(&ruta(op), &cuerpo).bearer_auth(&mesa)).await;
        es_error(&doc, estado, &b, StatusCode::UNPROCESSABLE_ENTITY, "VALIDACION");
        let campos: Vec<&str> =
            b["error"]["campos"].as_array().unwrap().iter().map(|c| c["campo"].as_str().unwrap()).collect();
        assert!(campos.contains(&campo), "{op} {cuerpo}: {b}");
    }
    let interno = json!({"label": label, "email": EMAIL, "texto": "hola", "interno": true});
    let (estado, b, _) = respuesta(gw.post("/api/tickets/seguimiento", &interno)).await;
    es_error(&doc, estado, &b, StatusCode::UNPROCESSABLE_ENTITY, "VALIDACION");

    // Roles and areas: a token of another area cannot write to this ticket; no token is 401.
    let otra_area = token("AREA", Some("FINANZAS"));
    let (estado, b, _) =
        respuesta(gw.post(&ruta("responder"), &json!({"texto": "hola"})).bearer_auth(&otra_area)).await;
    es_error(&doc, estado, &b, StatusCode::FORBIDDEN, "PROHIBIDO");
    let (estado, b, _) = respuesta(gw.post(&ruta("responder"), &json!({"texto": "hola"}))).await;
    es_error(&doc, estado, &b, StatusCode::UNAUTHORIZED, "NO_AUTENTICADO");

    // Nothing of the above changed the ticket or wrote a message.
    let despues = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    assert_eq!(despues["datos"]["ticket"]["version"], version);
    assert_eq!(app.contar("SELECT count(*) FROM mensajes").await, 0);

    // On a closed ticket the conversation is over: 409, by either side.
    respuesta(gw.post(&ruta("archivar"), &json!({})).bearer_auth(&mesa)).await;
    let (estado, b, _) = respuesta(gw.post(&ruta("responder"), &json!({"texto": "hola"})).bearer_auth(&mesa)).await;
    es_error(&doc, estado, &b, StatusCode::CONFLICT, "TRANSICION_INVALIDA");
    let (estado, b, _) =
        respuesta(gw.post("/api/tickets/seguimiento", &json!({"label": label, "email": EMAIL, "texto": "hola"}))).await;
    es_error(&doc, estado, &b, StatusCode::CONFLICT, "TRANSICION_INVALIDA");
    assert_eq!(app.contar("SELECT count(*) FROM mensajes").await, 0);
}

/// Issue #26, gap 5: `consultar`'s latest history entry (`ultimaAccion`,
/// `ultimoActorNombre`, ...) is never an INTERNO note's RESPUESTA — that
/// would tell the requester a note was written, and by whom.
#[tokio::test]
async fn consultar_never_shows_an_internal_note_as_the_latest_entry() {
    let mut app = TestApp::spawn().await;
    let mesa = token("MESA", None);
    let area = token("AREA", Some("MESA"));
    let id = app.ticket_en("ASIGNADO").await;
    let label = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await["datos"]["ticket"]["label"].clone();
    let consulta = json!({"label": label, "email": EMAIL});
    let ultimo = |c: &Value| {
        let d = &c["datos"];
        (d["ultimaAccion"].clone(), d["ultimoActorNombre"].clone(), d["ultimoActorRol"].clone())
    };

    app.adelantar(chrono::TimeDelta::minutes(1));
    let nota = json!({"ticketId": id, "texto": "Revisar el proxy", "interno": true});
    assert_eq!(app.enviar("responder", nota.clone(), Some(&area)).await["ok"], true);
    let c = app.enviar("consultar", consulta.clone(), None).await;
    assert_eq!(ultimo(&c), (json!("ASIGNACION"), json!("Agente MESA"), json!("MESA")), "{c}");
    assert!(!c.to_string().contains("Agente AREA"), "the note's author reached the requester: {c}");
    let asignado_en = c["datos"]["ultimaFechaHistorial"].clone();

    // A public reply is the latest entry; a note after it changes nothing.
    app.adelantar(chrono::TimeDelta::minutes(1));
    let publica = json!({"ticketId": id, "texto": "Ya lo estamos revisando"});
    assert_eq!(app.enviar("responder", publica, Some(&mesa)).await["ok"], true);
    let c = app.enviar("consultar", consulta.clone(), None).await;
    assert_eq!(ultimo(&c), (json!("RESPUESTA"), json!("Agente MESA"), json!("MESA")), "{c}");
    assert_ne!(c["datos"]["ultimaFechaHistorial"], asignado_en);
    let respondido_en = c["datos"]["ultimaFechaHistorial"].clone();
    app.adelantar(chrono::TimeDelta::minutes(1));
    assert_eq!(app.enviar("responder", nota, Some(&area)).await["ok"], true);
    let c = app.enviar("consultar", consulta, None).await;
    assert_eq!(ultimo(&c), (json!("RESPUESTA"), json!("Agente MESA"), json!("MESA")), "{c}");
    assert_eq!(c["datos"]["ultimaFechaHistorial"], respondido_en, "{c}");
    // Staff still see every entry.
    let d = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    assert_eq!(d["datos"]["historial"].as_array().map(Vec::len), Some(5), "{d}");
}

/// Issue #26, gap 6: a reply carries at most the latest 200 messages,
/// oldest first, and says how many older ones it left out — so a ticket with
/// thousands of messages never makes a reply outgrow the broker's limit.
#[tokio::test]
async fn the_conversation_in_a_reply_is_the_latest_two_hundred_messages_and_says_how_many_were_left_out() {
    let mut app = TestApp::spawn().await;
    let mesa = token("MESA", None);
    let id = app.ticket_en("ASIGNADO").await;
    let label = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await["datos"]["ticket"]["label"].clone();
    // 250 messages, one in five INTERNO: 200 PUBLICO ones.
    sqlx::query(
        "INSERT INTO mensajes (uuid, ticket_uuid, fecha, autor_nombre, autor_rol, visibilidad, texto) \
         SELECT gen_random_uuid(), $1::uuid, now() + i * interval '1 ms', 'Carlos Méndez', 'MESA', \
                CASE WHEN i % 5 = 0 THEN 'INTERNO' ELSE 'PUBLICO' END, 'm' || i \
         FROM generate_series(1, 250) i ORDER BY i",
    )
    .bind(&id)
    .execute(&app.pool)
    .await
    .unwrap();
    let textos = |v: &Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|m| m["texto"].as_str().unwrap().to_string()).collect()
    };

    let d = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    let t = textos(&d["datos"]["conversacion"]);
    assert_eq!((t.len(), t[0].as_str(), t[199].as_str()), (200, "m51", "m250"), "the latest, oldest first");
    assert_eq!(d["datos"]["mensajes_omitidos"], 50, "{}", d["datos"]["mensajes_omitidos"]);
    let consulta = json!({"label": label, "email": EMAIL});
    let c = app.enviar("consultar", consulta.clone(), None).await;
    assert_eq!((textos(&c["datos"]["conversacion"]).len(), &c["datos"]["mensajesOmitidos"]), (200, &json!(0)));

    // One more public reply: the requester's oldest public message leaves the reply.
    let r = app.enviar("responder", json!({"ticketId": id, "texto": "la última"}), Some(&mesa)).await;
    assert_eq!(r["ok"], true, "{r}");
    let c = app.enviar("consultar", consulta, None).await;
    let t = textos(&c["datos"]["conversacion"]);
    assert_eq!((t.len(), t[0].as_str(), t[199].as_str()), (200, "m2", "la última"));
    assert_eq!(c["datos"]["mensajesOmitidos"], 1);
    assert!(t.iter().all(|x| x.trim_start_matches('m').parse::<i32>().map_or(true, |i| i % 5 != 0)), "no INTERNO");
    let d = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    assert_eq!(d["datos"]["mensajes_omitidos"], 51);
}

/// Issue #26, gap 4: a `hasta` out of its window is a VALIDACION field
/// error like any other — listed with the other bad fields, and before the
/// state is looked at (a NUEVO ticket cannot be paused at all).
#[tokio::test]
async fn a_bad_hasta_is_a_field_error_beside_the_others_before_any_state_check() {
    let mut app = TestApp::spawn().await;
    let mesa = token("MESA", None);
    let nuevo = app.ticket_en("NUEVO").await;
    let asignado = app.ticket_en("ASIGNADO").await;
    let ayer = (app.ahora() - chrono::TimeDelta::days(1)).to_rfc3339();
    let lejos = (app.ahora() + chrono::TimeDelta::days(91)).to_rfc3339();
    for (id, hasta) in [(&nuevo, &ayer), (&nuevo, &lejos), (&asignado, &ayer)] {
        let cuerpo = json!({"ticketId": id, "motivo": "x".repeat(501), "hasta": hasta});
        let r = app.enviar("pausar", cuerpo, Some(&mesa)).await;
        assert_eq!(r["error"]["codigo"], "VALIDACION", "{hasta}: {r}");
        let mut campos: Vec<&str> =
            r["error"]["campos"].as_array().unwrap().iter().map(|c| c["campo"].as_str().unwrap()).collect();
        campos.sort();
        assert_eq!(campos, ["hasta", "motivo"], "{r}");
    }
    // The window follows the worker's clock, not the sender's.
    app.adelantar(chrono::TimeDelta::days(2));
    let r = app.enviar("pausar", json!({"ticketId": asignado, "motivo": "m", "hasta": lejos}), Some(&mesa)).await;
    assert_eq!(r["datos"]["estado"], "PAUSADO", "89 days ahead of the worker's clock: {r}");
}

#[tokio::test]
async fn waits_that_run_out_end_once_across_two_replicas_on_a_one_second_cron() {
    let mut app =
        TestApp::spawn_with(|s| s.scheduler.cron = mesa_ayuda::reloj::Cron::parse("* * * * * *").unwrap()).await;
    let segunda = Aplicacion::build(app.config.clone()).await.unwrap();
    let parar = CancellationToken::new();
    let replica = tokio::spawn(segunda.ejecutar(parar.clone()));
    let mesa = token("MESA", None);
    let mut pausar = async |al_vencer: &str, espera: &str| {
        let r = app.enviar("crear", ana_garcia(), None).await;
        let id = r["datos"]["ticketUuid"].as_str().unwrap().to_string();
        app.enviar("asignar", json!({"ticketId": id}), Some(&mesa)).await;
        let hasta = (chrono::Utc::now() + chrono::TimeDelta::seconds(2)).to_rfc3339();
        let p = json!({"ticketId": id, "motivo": "esperando", "espera": espera, "hasta": hasta, "alVencer": al_vencer});
        let r = app.enviar("pausar", p, Some(&mesa)).await;
        assert_eq!(r["datos"]["estado"], "PAUSADO", "{r}");
        id
    };
    let cierra = pausar("ARCHIVAR", "SOLICITANTE").await;
    let recuerda = pausar("REABRIR", "TERCERO").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    parar.cancel();
    replica.await.unwrap().unwrap();

    let eventos = app.cliente.eventos_hasta_silencio(Duration::from_secs(2)).await;
    let de = |id: &str| -> Vec<String> {
        eventos.iter().filter(|(_, _, e)| e["subject"] == id).map(|(_, t, _)| t.clone()).collect()
    };
    let pausado = ["ticket.creado", "ticket.asignado", "ticket.pausado"];
    assert_eq!(de(&cierra), [&pausado[..], &["ticket.reabierto", "ticket.archivado"]].concat(), "each event once");
    assert_eq!(de(&recuerda), [&pausado[..], &["ticket.reabierto"]].concat());

    let d = app.enviar("detalle", json!({"ticketId": cierra}), Some(&mesa)).await;
    let t = &d["datos"]["ticket"];
    assert_eq!((t["estado"].as_str(), t["version"].as_i64(), t["espera"].as_str()), (Some("ARCHIVADO"), Some(5), None));
    let ultimos: Vec<(&str, &str, &str, &str)> = d["datos"]["historial"].as_array().unwrap()[3..]
        .iter()
        .map(|h| {
            (
                h["accion"].as_str().unwrap(),
                h["actor_rol"].as_str().unwrap(),
                h["motivo"].as_str().unwrap(),
                h["estado_despues"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ultimos,
        [
            ("REAPERTURA", "SISTEMA", "recordatorio", "ASIGNADO"),
            ("ARCHIVO", "SISTEMA", "cierre automático: sin respuesta", "ARCHIVADO")
        ]
    );
    let d = app.enviar("detalle", json!({"ticketId": recuerda}), Some(&mesa)).await;
    assert_eq!(d["datos"]["ticket"]["estado"], "ASIGNADO");

    // A restarted scheduler finds nothing left to end: no event, no version moves.
    app.planificador.escanear(app.ahora() + chrono::TimeDelta::minutes(5)).await.unwrap();
    assert!(app.cliente.eventos_hasta_silencio(Duration::from_secs(1)).await.is_empty());
    assert_eq!(app.contar("SELECT sum(version)::int8 FROM tickets").await, 5 + 4, "ARCHIVAR's 5 and REABRIR's 4");
    assert_eq!(app.contar("SELECT count(*) FROM tickets WHERE espera_hasta IS NOT NULL").await, 0);
}

#[tokio::test]
async fn listar_is_the_desks_inbox_longest_waiting_first_and_filters_waits() {
    let mut app = TestApp::spawn().await;
    let mesa = token("MESA", None);
    let mut tickets = vec![];
    for _ in 0..3 {
        let r = app.enviar("crear", ana_garcia(), None).await;
        let id = r["datos"]["ticketUuid"].as_str().unwrap().to_string();
        app.enviar("asignar", json!({"ticketId": id}), Some(&mesa)).await;
        tickets.push((id, r["datos"]["ticketLabel"].as_str().unwrap().to_string()));
    }
    let seguir = |i: usize| json!({"label": tickets[i].1, "email": EMAIL, "texto": "¿Novedades?"});
    for i in [1, 0, 2] {
        let r = app.enviar("seguimiento", seguir(i), None).await;
        assert_eq!(r["ok"], true, "{r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let r = app.enviar("responder", json!({"ticketId": tickets[2].0, "texto": "Ya casi"}), Some(&mesa)).await;
    assert_eq!(r["ok"], true, "{r}");
    let pausa = json!({"ticketId": tickets[2].0, "motivo": "proveedor", "espera": "TERCERO"});
    assert_eq!(app.enviar("pausar", pausa, Some(&mesa)).await["ok"], true);

    let uuids = |r: &Value| -> Vec<String> {
        r["datos"]["items"].as_array().unwrap().iter().map(|t| t["uuid"].as_str().unwrap().to_string()).collect()
    };
    // Waiting for the desk, longest first, a page at a time.
    let r = app.enviar("listar", json!({"pendienteRespuesta": true, "limite": 1}), Some(&mesa)).await;
    assert_eq!(uuids(&r), [tickets[1].0.clone()], "{r}");
    let cursor = r["datos"]["siguienteCursor"].clone();
    assert!(cursor.as_str().is_some_and(|c| c.starts_with("p1.")), "{r}");
    let r =
        app.enviar("listar", json!({"pendienteRespuesta": "true", "limite": 1, "cursor": cursor}), Some(&mesa)).await;
    assert_eq!(uuids(&r), [tickets[0].0.clone()]);
    assert!(r["datos"]["siguienteCursor"].is_null(), "{r}");
    let r = app.enviar("listar", json!({"pendienteRespuesta": false}), Some(&mesa)).await;
    assert_eq!(uuids(&r), [tickets[2].0.clone()]);
    let r = app.enviar("listar", json!({"espera": "tercero"}), Some(&mesa)).await;
    assert_eq!(uuids(&r), [tickets[2].0.clone()]);
    assert_eq!(r["datos"]["items"][0]["espera"], "TERCERO");
    let r = app.enviar("listar", json!({"espera": "SOLICITANTE"}), Some(&mesa)).await;
    assert!(uuids(&r).is_empty());

    // A cursor of the other order, a bad flag, a bad espera: VALIDACION.
    for malo in [
        json!({"pendienteRespuesta": true, "cursor": "v1.2"}),
        json!({"cursor": cursor}),
        json!({"pendienteRespuesta": "quizá"}),
        json!({"espera": "NADIE"}),
        json!({"pendienteRespuesta": true, "cursor": "p1.zz.1"}),
    ] {
        let r = app.enviar("listar", malo.clone(), Some(&mesa)).await;
        assert_eq!(r["error"]["codigo"], "VALIDACION", "{malo}: {r}");
    }
}

/// A v1.1 database (migrations 1–6) upgraded in place: each stored
/// `respuestaCliente` becomes the first PUBLICO message of its ticket, by
/// the actor of its latest ACTUALIZACION, once.
#[tokio::test]
async fn a_v1_1_database_upgrades_its_respuesta_cliente_into_the_first_public_message() {
    let (settings, db) = settings_de_prueba();
    crear_base(&db).await;
    let _limpieza = Limpieza(Some((db.clone(), settings.clone())));
    let pool = sqlx::PgPool::connect(secrecy::ExposeSecret::expose_secret(&settings.database.url)).await.unwrap();
    migrar_hasta(&pool, &db, 6).await;
    let ahora = chrono::Utc::now();
    for (num, respuesta) in [(1, Some("Estamos en ello")), (2, None)] {
        sqlx::query(
            "INSERT INTO tickets (uuid, num, label, solicitante_nombre, solicitante_email, tipo, categoria, \
             descripcion, respuesta_cliente, area_asignada, prioridad, estado, sla_objetivo_ms, fecha_limite_sla, \
             fecha_aviso_sla, creado_en, actualizado_en, version) \
             VALUES (gen_random_uuid(), $1, 'TKT-2026-0000' || $1, 'Ana', 'ana@empresa.com', 'INCIDENTE', 'Sistemas', \
             'No puedo acceder', $2, 'MESA', 'ALTA', 'ACTUALIZADO', 14400000, $3, $3, $3, $3, 3)",
        )
        .bind(num)
        .bind(respuesta)
        .bind(ahora)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (actor, minutos) in [("Luis Pérez", 1), ("Carlos Méndez", 2)] {
        sqlx::query(
            "INSERT INTO historial (ticket_uuid, fecha, accion, actor_nombre, actor_rol, estado_antes, estado_despues) \
             SELECT uuid, $1, 'ACTUALIZACION', $2, 'MESA', 'ASIGNADO', 'ACTUALIZADO' FROM tickets WHERE num = 1",
        )
        .bind(ahora + chrono::TimeDelta::minutes(minutos))
        .bind(actor)
        .execute(&pool)
        .await
        .unwrap();
    }

    mesa_ayuda::store::migrate(&pool).await.unwrap();
    mesa_ayuda::store::migrate(&pool).await.unwrap();
    let filas: Vec<(i64, String, String, String, String)> = sqlx::query_as(
        "SELECT t.num, m.autor_nombre, m.autor_rol, m.visibilidad, m.texto FROM mensajes m \
         JOIN tickets t ON t.uuid = m.ticket_uuid ORDER BY m.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        filas,
        [(1, "Carlos Méndez".into(), "MESA".into(), "PUBLICO".into(), "Estamos en ello".into())],
        "once, by the latest ACTUALIZACION's actor; none where there was no answer"
    );
    let uuid: uuid::Uuid = sqlx::query_scalar("SELECT uuid FROM tickets WHERE num = 1").fetch_one(&pool).await.unwrap();
    let mut conn = pool.acquire().await.unwrap();
    let t = mesa_ayuda::store::ticket(&mut conn, uuid).await.unwrap().unwrap();
    assert_eq!((t.respuesta_cliente.as_deref(), t.pausa, t.pendiente_desde), (Some("Estamos en ello"), None, None));
}
