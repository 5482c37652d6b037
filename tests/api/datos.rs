//! Issue #27 (contract §11): the requesters' data — access (`exportar`),
//! erasure everywhere the worker put it (`anonimizar`), dead letters that
//! mention it, and retention — over the real Postgres and RabbitMQ.

use crate::gateway::{con_worker, es_error, respuesta, validar};
use crate::helpers::*;
use mesa_ayuda::auth::Verificador;
use mesa_ayuda::procesador::{Mensaje, Procesador};
use mesa_ayuda::rechazados::{Rechazados, Seleccion};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const EMAIL: &str = "ana.garcia@empresa.com";

/// What Ana García's tickets hold that is hers (`ana_garcia()` and what she writes below).
const SUYOS: &[&str] = &[
    "Ana García",
    "+573001234567",
    "12345678",
    "Recursos Humanos",
    "No puedo acceder a mi correo corporativo",
    "Desde esta mañana no puedo iniciar sesión en Outlook",
    "Le envío la captura que pidieron",
    "captura-ana.png",
    "archivos.empresa.com/ana",
];

/// Whether `texto` holds any of Ana's data (the e-mail in any case).
fn menciona_a_ana(texto: &str) -> Vec<&'static str> {
    let mut hallados: Vec<&str> = SUYOS.iter().copied().filter(|d| texto.contains(d)).collect();
    if texto.to_lowercase().contains(EMAIL) {
        hallados.push(EMAIL);
    }
    hallados
}

/// Every row of every table of the test's database, as `pg_dump --data-only` writes it.
fn volcado(app: &TestApp) -> String {
    let url = app.config.settings.database.url.expose_secret().to_string();
    let salida =
        std::process::Command::new("pg_dump").args(["--data-only", "--no-owner", &url]).output().expect("pg_dump");
    assert!(salida.status.success(), "{}", String::from_utf8_lossy(&salida.stderr));
    String::from_utf8(salida.stdout).expect("utf-8")
}

async fn ok(app: &mut TestApp, op: &str, cuerpo: Value, token: Option<&str>) -> Value {
    let r = app.enviar(op, cuerpo, token).await;
    assert_eq!(r["ok"], true, "{op}: {r}");
    r["datos"].clone()
}

#[tokio::test]
async fn anonimizar_erases_a_requester_everywhere_and_tells_every_subscriber() {
    // The relay polls rarely: only the worker's own commits wake it, so an
    // event written by a processor of the test's stays unsent until then.
    let mut app = TestApp::spawn_with(|s| s.outbox.poll_interval = Duration::from_secs(3600)).await;
    let (admin, mesa) = (token("ADMIN", None), token("MESA", None));

    // 1. A closed ticket.
    let cerrado = app.ticket_en("ARCHIVADO").await;
    // 2. One with a conversation: the desk asks, Ana answers with an attachment, the desk replies.
    let conversado = app.ticket_en("ASIGNADO").await;
    let label = app.fila(&conversado).await["label"].as_str().unwrap().to_string();
    ok(&mut app, "responder", json!({"ticketId": conversado, "texto": "¿Nos envía una captura?"}), Some(&mesa)).await;
    let seguimiento = json!({"label": label, "email": EMAIL, "texto": "Le envío la captura que pidieron.",
        "adjuntos": [{"nombre": "captura-ana.png", "url": "https://archivos.empresa.com/ana/captura.png",
            "tipo": "image/png", "bytes": 1234, "sha256": "cd".repeat(32)}]});
    ok(&mut app, "seguimiento", seguimiento, None).await;
    ok(&mut app, "responder", json!({"ticketId": conversado, "texto": "Gracias, quedó resuelto."}), Some(&mesa)).await;
    // Another requester, whose tickets must stay as they are.
    let mut otra = ana_garcia();
    otra["nombre"] = json!("Beatriz Gómez");
    otra["email"] = json!("ana_garcia@empresa.com.co");
    otra["telefono"] = json!("+573009999999");
    otra["documento"] = json!("87654321");
    otra["empresaDepartamento"] = json!("Compras");
    otra["asunto"] = json!("La impresora no imprime");
    otra["descripcion"] = json!("La impresora del tercer piso no responde desde ayer.");
    let ajeno = ok(&mut app, "crear", otra, None).await["ticketUuid"].as_str().unwrap().to_string();
    let mut ajeno_fila = app.fila(&ajeno).await;
    // A dead letter that mentions the e-mail (an undecodable command).
    let c = app
        .cliente
        .publicar(
            "ticket.no_existe",
            format!(r#"{{"email":"{}"}}"#, EMAIL.to_uppercase()).as_bytes(),
            Some("veneno-1"),
            None,
        )
        .await;
    app.cliente.respuesta(&c).await;
    app.cliente.eventos_hasta_silencio(Duration::from_millis(800)).await;

    // 3. One whose creation event is still unsent: written by a processor
    // that wakes no relay.
    let s = app.config.settings.clone();
    let verificador = Verificador::new(&s.auth).await.unwrap();
    let reloj: mesa_ayuda::reloj::Reloj = Arc::new(chrono::Utc::now);
    let aparte = Procesador::new(app.pool.clone(), app.config.reglas.clone(), verificador, reloj, Arc::default());
    let m = Mensaje {
        routing_key: "ticket.crear".into(),
        message_id: Some("sin-enviar-1".into()),
        body: ana_garcia().to_string().into_bytes(),
        ..Default::default()
    };
    let d = aparte.procesar(&m).await.unwrap().json();
    let sin_enviar = d["datos"]["ticketUuid"].as_str().unwrap().to_string();
    assert_eq!(
        app.contar_de("SELECT count(*) FROM outbox WHERE ticket_uuid = $1::uuid AND publicado_en IS NULL", &sin_enviar)
            .await,
        1
    );

    // exportar before: every ticket, oldest first, paged.
    let p1 = ok(&mut app, "exportar", json!({"email": EMAIL.to_uppercase(), "limite": 2}), Some(&admin)).await;
    let ids = |p: &Value| -> Vec<String> {
        p["tickets"].as_array().unwrap().iter().map(|t| t["ticket"]["uuid"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&p1), [cerrado.clone(), conversado.clone()]);
    let cursor = p1["siguienteCursor"].as_str().expect("a second page").to_string();
    let p2 = ok(&mut app, "exportar", json!({"email": EMAIL, "limite": 2, "cursor": cursor}), Some(&admin)).await;
    assert_eq!((ids(&p2), &p2["siguienteCursor"]), (vec![sin_enviar.clone()], &Value::Null));
    let conversacion = &p1["tickets"][1]["conversacion"];
    assert_eq!(conversacion.as_array().unwrap().len(), 3, "{conversacion}");
    assert_eq!(p1["tickets"][1]["solicitante"]["documento"], "12345678");

    let estadisticas_antes = ok(&mut app, "estadisticas", json!({}), Some(&admin)).await;

    // Refused for MESA and AREA, unknown e-mails erase nothing, wildcards match nothing else.
    for t in [&mesa, &token("AREA", Some("MESA"))] {
        let r = app.enviar("anonimizar", json!({"email": EMAIL, "motivo": "supresión"}), Some(t)).await;
        assert_eq!(r["error"]["codigo"], "PROHIBIDO", "{r}");
    }
    for email in ["nadie@empresa.com", "%@empresa.com", "ana_garcia@empresa.com", "%", "ana.garcia@empresa.co_"] {
        let r = ok(&mut app, "anonimizar", json!({"email": email, "motivo": "prueba"}), Some(&admin)).await;
        assert_eq!(r["tickets"], 0, "{email}: {r}");
    }
    ajeno_fila["version"] = app.fila(&ajeno).await["version"].clone();
    assert_eq!(app.fila(&ajeno).await, ajeno_fila, "another requester's ticket changed");

    // anonimizar, by e-mail in another case.
    let cuerpo = json!({"email": "Ana.Garcia@EMPRESA.com", "motivo": "supresión pedida por ana.garcia@empresa.com"});
    let r = app.cliente.enviar_con_id("anonimizar", cuerpo.clone(), Some(&admin), "borrar-ana").await;
    assert_eq!(r["ok"], true, "{r}");
    let mut borrados: Vec<String> =
        r["datos"]["ticketUuids"].as_array().unwrap().iter().map(|u| u.as_str().unwrap().to_string()).collect();
    borrados.sort();
    let mut esperados = vec![cerrado.clone(), conversado.clone(), sin_enviar.clone()];
    esperados.sort();
    assert_eq!((r["datos"]["tickets"].as_u64(), borrados), (Some(3), esperados.clone()));
    assert_eq!(r["datos"]["rechazados"], 1, "the dead letter that mentions her: {r}");

    // Subscribers: one ticket.anonimizado per ticket, and nothing of hers in
    // anything published from now on (the unsent creation included).
    let eventos = app.cliente.eventos_hasta_silencio(Duration::from_millis(1500)).await;
    let mut anonimizados: Vec<String> = eventos
        .iter()
        .filter(|(_, tipo, _)| tipo == "ticket.anonimizado")
        .map(|(_, _, e)| e["data"]["ticketUuid"].as_str().unwrap().to_string())
        .collect();
    anonimizados.sort();
    assert_eq!(anonimizados, esperados, "one ticket.anonimizado per ticket");
    let creado = eventos.iter().find(|(_, t, e)| t == "ticket.creado" && e["subject"] == json!(sin_enviar));
    let (_, _, creado) = creado.expect("the unsent creation was published after the erasure");
    assert_eq!(creado["data"]["ticket"]["descripcion"], "[anonimizado]");
    for (_, tipo, e) in &eventos {
        assert!(menciona_a_ana(&e.to_string()).is_empty(), "{tipo} carries {:?}: {e}", menciona_a_ana(&e.to_string()));
    }

    // The database: nothing of hers in any row of any table.
    let dump = volcado(&app);
    assert!(menciona_a_ana(&dump).is_empty(), "pg_dump still holds {:?}", menciona_a_ana(&dump));
    assert!(dump.contains("Beatriz Gómez"), "the search looks where the data is");
    // One ANONIMIZACION per ticket, by the ADMIN, quoting none of her data.
    let entradas: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT ticket_uuid::text, actor_rol, motivo FROM historial WHERE accion = 'ANONIMIZACION' ORDER BY ticket_uuid",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(entradas.iter().map(|e| e.0.clone()).collect::<Vec<_>>(), esperados);
    assert!(entradas.iter().all(|e| e.1 == "ADMIN" && !e.2.as_deref().unwrap_or("").contains(EMAIL)), "{entradas:?}");

    // consultar with the old e-mail finds nothing, exactly as an unknown label.
    let c = app.enviar("consultar", json!({"label": label, "email": EMAIL}), None).await;
    let desconocido = app.enviar("consultar", json!({"label": "TKT-2000-99999", "email": EMAIL}), None).await;
    assert_eq!((c["error"]["codigo"].as_str(), &c), (Some("NO_ENCONTRADO"), &desconocido));
    // Statistics are unchanged.
    let estadisticas = ok(&mut app, "estadisticas", json!({}), Some(&admin)).await;
    let sin_ventana = |mut v: Value| {
        v.as_object_mut().unwrap().remove("hasta");
        v.as_object_mut().unwrap().remove("desde");
        v
    };
    assert_eq!(sin_ventana(estadisticas), sin_ventana(estadisticas_antes));
    // exportar now: nothing. A second anonimizar erases nothing; a replay gets the same reply.
    let vacio = ok(&mut app, "exportar", json!({"email": EMAIL}), Some(&admin)).await;
    assert_eq!((vacio["tickets"].as_array().unwrap().len(), &vacio["siguienteCursor"]), (0, &Value::Null));
    let otra_vez = ok(&mut app, "anonimizar", json!({"email": EMAIL, "motivo": "otra vez"}), Some(&admin)).await;
    assert_eq!(otra_vez["tickets"], 0);
    let por_ticket = ok(&mut app, "anonimizar", json!({"ticketId": cerrado, "motivo": "otra vez"}), Some(&admin)).await;
    assert_eq!(
        (&por_ticket["tickets"], &por_ticket["rechazados"]),
        (&json!(0), &Value::Null),
        "no e-mail left to count"
    );
    let repetido = app.cliente.enviar_con_id("anonimizar", cuerpo, Some(&admin), "borrar-ana").await;
    assert_eq!(repetido, r, "a replay gets the recorded reply");
    assert_eq!(app.contar("SELECT count(*) FROM historial WHERE accion = 'ANONIMIZACION'").await, 3);
    assert!(app.cliente.eventos_hasta_silencio(Duration::from_millis(500)).await.is_empty(), "nothing more published");

    // The dead letter is the operators' to purge, by e-mail.
    let rechazados = Rechazados::abrir(s.amqp.url.expose_secret(), app.topologia()).await.unwrap();
    let seleccion = Seleccion::Email(EMAIL.into());
    assert_eq!(rechazados.contar(&seleccion).await.unwrap(), 1);
    assert_eq!(rechazados.contar(&Seleccion::Email("%@empresa.com".into())).await.unwrap(), 0);
    let purgados = rechazados.purgar(&seleccion, false).await.unwrap();
    assert_eq!(
        purgados.hechos.iter().map(|r| r.message_id.clone()).collect::<Vec<_>>(),
        [Some("veneno-1".to_string())]
    );
    assert_eq!(rechazados.contar(&seleccion).await.unwrap(), 0);
    rechazados.cerrar().await;
}

#[tokio::test]
async fn anonimizar_by_ticket_erases_that_ticket_only_and_an_unknown_one_is_not_found() {
    let mut app = TestApp::spawn().await;
    let admin = token("ADMIN", None);
    let uno = app.ticket_en("ASIGNADO").await;
    let otro = app.ticket_en("PAUSADO").await;
    let r = ok(&mut app, "anonimizar", json!({"ticketId": uno, "motivo": "pedido del titular"}), Some(&admin)).await;
    assert_eq!((&r["tickets"], &r["ticketUuids"], &r["rechazados"]), (&json!(1), &json!([uno]), &json!(0)));
    let fila = app.fila(&uno).await;
    assert_eq!(
        (&fila["solicitante_nombre"], &fila["solicitante_email"]),
        (&json!("Solicitante anonimizado"), &Value::Null)
    );
    assert_eq!(
        (&fila["estado"], &fila["area_asignada"]),
        (&json!("ASIGNADO"), &json!("MESA")),
        "what statistics need stays"
    );
    assert_eq!(app.fila(&otro).await["solicitante_email"], EMAIL, "the other ticket keeps its data");
    // The ticket still works: staff go on with it.
    let mesa = token("MESA", None);
    ok(&mut app, "actualizar", json!({"ticketId": uno, "nota": "sigue"}), Some(&mesa)).await;
    let falta = app.enviar("anonimizar", json!({"ticketId": uuid::Uuid::new_v4(), "motivo": "m"}), Some(&admin)).await;
    assert_eq!(falta["error"]["codigo"], "NO_ENCONTRADO", "{falta}");
    let ambos = app.enviar("anonimizar", json!({"ticketId": uno, "email": EMAIL, "motivo": "m"}), Some(&admin)).await;
    assert_eq!(ambos["error"]["codigo"], "VALIDACION", "{ambos}");
}

#[tokio::test]
async fn retention_erases_each_closed_ticket_once_across_replicas_and_leaves_open_ones() {
    let mut app = TestApp::spawn_with(|s| s.scheduler.lote = 2).await;
    let mut cerrados = Vec::new();
    for estado in ["ARCHIVADO", "CANCELADO", "ARCHIVADO", "CANCELADO", "ARCHIVADO"] {
        cerrados.push(app.ticket_en(estado).await);
    }
    let abierto = app.ticket_en("ASIGNADO").await;
    let edad = chrono::TimeDelta::days(365);
    // Not old enough yet: nothing.
    assert_eq!(app.planificador.anonimizar_cerrados(app.ahora(), edad).await.unwrap(), 0);
    // A year and a day later, two replicas at once, in batches of two.
    let despues = app.ahora() + chrono::TimeDelta::days(366);
    // Two replicas: two schedulers of their own (a clone shares its
    // process's turn: a second pass there is skipped, asserted below).
    let (pool, reglas) = (app.pool.clone(), app.config.reglas.clone());
    let replica = |lote: usize| {
        mesa_ayuda::planificador::Planificador::new(
            pool.clone(),
            reglas.clone(),
            Arc::new(chrono::Utc::now),
            Arc::default(),
            Arc::default(),
            lote,
        )
    };
    let (a, b) = (replica(2), replica(2));
    let (na, nb) = tokio::join!(a.anonimizar_cerrados(despues, edad), b.anonimizar_cerrados(despues, edad));
    assert_eq!(na.unwrap() + nb.unwrap(), cerrados.len(), "each closed ticket once");
    assert_eq!(app.planificador.anonimizar_cerrados(despues, edad).await.unwrap(), 0, "a later pass finds nothing");
    // Within one process a pass never joins one still running (a cron
    // shorter than a pass): the second finds the turn taken and does nothing.
    let mas = [app.ticket_en("ARCHIVADO").await, app.ticket_en("CANCELADO").await];
    let mas_tarde = despues + chrono::TimeDelta::days(400);
    // Batches of one: two passes at once would each take one.
    let p = replica(1);
    let (n1, n2) = tokio::join!(p.anonimizar_cerrados(mas_tarde, edad), p.anonimizar_cerrados(mas_tarde, edad));
    assert_eq!((n1.unwrap(), n2.unwrap()), (mas.len(), 0));
    cerrados.extend(mas);
    for id in &cerrados {
        assert_eq!(app.contar_de("SELECT count(*) FROM historial WHERE ticket_uuid = $1::uuid AND accion = 'ANONIMIZACION' AND actor_rol = 'SISTEMA'", id).await, 1);
        assert_eq!(app.fila(id).await["solicitante_email"], Value::Null);
    }
    assert_eq!(app.fila(&abierto).await["solicitante_email"], EMAIL, "an open ticket is kept");
    let eventos = app.cliente.eventos_hasta_silencio(Duration::from_millis(800)).await;
    let n =
        eventos.iter().filter(|(_, t, e)| t == "ticket.anonimizado" && e["data"]["actor"]["rol"] == "SISTEMA").count();
    assert_eq!(n, cerrados.len(), "one event per ticket");
}

#[tokio::test]
async fn the_gateway_serves_exportar_and_anonimizar_to_admin_only() {
    let (mut app, gw) = con_worker(|_| {}).await;
    let doc = gw.documento().await;
    let (admin, mesa) = (token("ADMIN", None), token("MESA", None));
    app.ticket_en("ARCHIVADO").await;
    let (estado, e, _) =
        respuesta(gw.post("/api/solicitantes/exportar", &json!({"email": EMAIL})).bearer_auth(&admin)).await;
    assert_eq!(estado, StatusCode::OK, "{e}");
    validar(&doc, "Exportado", &e);
    assert_eq!(e["tickets"].as_array().unwrap().len(), 1);
    let (estado, r, _) =
        respuesta(gw.post("/api/solicitantes/exportar", &json!({"email": EMAIL})).bearer_auth(&mesa)).await;
    es_error(&doc, estado, &r, StatusCode::FORBIDDEN, "PROHIBIDO");
    let (estado, r, _) =
        respuesta(gw.post("/api/solicitantes/anonimizar", &json!({"email": EMAIL, "motivo": "m"}))).await;
    es_error(&doc, estado, &r, StatusCode::UNAUTHORIZED, "NO_AUTENTICADO");
    let cuerpo = json!({"email": EMAIL, "motivo": "supresión"});
    let (estado, a, clave) = respuesta(gw.post("/api/solicitantes/anonimizar", &cuerpo).bearer_auth(&admin)).await;
    assert_eq!(estado, StatusCode::OK, "{a}");
    validar(&doc, "Anonimizado", &a);
    assert_eq!(a["tickets"], 1);
    // The same key again: the recorded reply, nothing more erased.
    let clave = clave.expect("the key used");
    let otra = gw.post("/api/solicitantes/anonimizar", &cuerpo).bearer_auth(&admin).header("idempotency-key", &clave);
    let (estado, b, _) = respuesta(otra).await;
    assert_eq!((estado, &b), (StatusCode::OK, &a));
    let (estado, r, _) =
        respuesta(gw.post("/api/solicitantes/anonimizar", &json!({"motivo": "m"})).bearer_auth(&admin)).await;
    es_error(&doc, estado, &r, StatusCode::UNPROCESSABLE_ENTITY, "VALIDACION");
}

#[tokio::test]
async fn an_export_page_ends_before_it_outgrows_a_broker_message() {
    let mut app = TestApp::spawn().await;
    let admin = token("ADMIN", None);
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(app.crear().await["ticketUuid"].as_str().unwrap().to_string());
    }
    // 200 messages of 5,000 characters each per ticket (about 1 MB a bundle):
    // ten tickets outweigh one page.
    sqlx::query(
        "INSERT INTO mensajes (uuid, ticket_uuid, fecha, autor_nombre, autor_rol, visibilidad, texto) \
         SELECT gen_random_uuid(), t.uuid, now(), 'Ana García', 'USUARIO', 'PUBLICO', repeat('x', 5000) \
         FROM tickets t, generate_series(1, 200)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let (mut vistos, mut cursor, mut paginas) = (Vec::new(), None::<String>, 0);
    loop {
        let c = app
            .cliente
            .publicar(
                "ticket.exportar",
                json!({"email": EMAIL, "cursor": cursor}).to_string().as_bytes(),
                None,
                Some(&format!("Bearer {admin}")),
            )
            .await;
        let r = app.cliente.respuesta(&c).await;
        assert_eq!(r["ok"], true, "{}", &r.to_string()[..200.min(r.to_string().len())]);
        let bytes = r.to_string().len();
        assert!(bytes <= 9 * 1024 * 1024, "a page of {bytes} bytes");
        paginas += 1;
        let d = &r["datos"];
        vistos
            .extend(d["tickets"].as_array().unwrap().iter().map(|t| t["ticket"]["uuid"].as_str().unwrap().to_string()));
        match d["siguienteCursor"].as_str() {
            Some(s) => cursor = Some(s.to_string()),
            None => break,
        }
    }
    assert!(paginas > 1, "ten 1-MB bundles in one reply");
    assert_eq!(vistos, ids, "every ticket once, oldest first, across the pages");
}

#[tokio::test]
async fn a_dead_letter_queue_that_cannot_be_walked_leaves_the_count_null_and_the_erasure_goes_on() {
    let mut app = TestApp::spawn().await;
    let admin = token("ADMIN", None);
    let id = app.ticket_en("ASIGNADO").await;
    // An operator deleted the dead-letter queue: the walk fails at once.
    let cola = app.topologia().rechazados();
    app.cliente.canal.queue_delete(cola.into(), Default::default()).await.unwrap();
    let r = ok(&mut app, "anonimizar", json!({"email": EMAIL, "motivo": "supresión"}), Some(&admin)).await;
    assert_eq!((&r["tickets"], &r["ticketUuids"], &r["rechazados"]), (&json!(1), &json!([id]), &Value::Null), "{r}");
    assert_eq!(app.fila(&id).await["solicitante_email"], Value::Null);
}
