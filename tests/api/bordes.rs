//! The edges a hostile client pushes on (issue #11): replays, control
//! characters, other spellings of an id, sizes, headers, and what reaches
//! the log.

use crate::helpers::*;
use lapin::types::{AMQPValue, FieldTable};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::time::Duration;

fn codigo(r: &Value) -> &str {
    r["error"]["codigo"].as_str().unwrap_or("ok")
}

fn campos(r: &Value) -> Vec<String> {
    r["error"]["campos"].as_array().unwrap().iter().map(|c| c["campo"].as_str().unwrap().to_string()).collect()
}

async fn version(app: &TestApp, ticket: &str) -> i64 {
    sqlx::query_scalar("SELECT version FROM tickets WHERE uuid = $1::uuid")
        .bind(ticket)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_recorded_reply_goes_only_to_the_sender_that_passes_the_same_authentication() {
    let mut app = TestApp::spawn().await;
    let ticket = app.crear().await["ticketUuid"].as_str().unwrap().to_string();
    let carlos = token_de("carlos", "MESA", None, 3600, SECRETO);
    let cuerpo = json!({"ticketId": ticket});
    let original = app.cliente.enviar_con_id("asignar", cuerpo.clone(), Some(&carlos), "asig-1").await;
    assert_eq!(original["datos"]["estado"], "ASIGNADO");

    // Issue #11, item 3: the same message_id without a token got the stored reply.
    let sin_token = app.cliente.enviar_con_id("asignar", cuerpo.clone(), None, "asig-1").await;
    assert_eq!(codigo(&sin_token), "NO_AUTENTICADO", "{sin_token}");
    assert!(sin_token.get("datos").is_none());
    // Another valid identity, even ADMIN.
    let otra = token_de("intrusa", "ADMIN", None, 3600, SECRETO);
    let ajena = app.cliente.enviar_con_id("asignar", cuerpo.clone(), Some(&otra), "asig-1").await;
    assert_eq!(codigo(&ajena), "NO_AUTENTICADO", "{ajena}");
    // A forged signature naming the same sub.
    let forjado = token_de("carlos", "MESA", None, 3600, "otro-secreto-cualquiera-de-32-bytes");
    assert_eq!(
        codigo(&app.cliente.enviar_con_id("asignar", cuerpo.clone(), Some(&forjado), "asig-1").await),
        "NO_AUTENTICADO"
    );
    // A public operation reusing the id reveals nothing either.
    let publica = app.cliente.enviar_con_id("crear", ana_garcia(), None, "asig-1").await;
    assert_eq!(codigo(&publica), "NO_AUTENTICADO", "{publica}");
    // The sender itself, its token expired meanwhile: the recorded reply.
    let vencido = token_de("carlos", "MESA", None, -3600, SECRETO);
    let repetida = app.cliente.enviar_con_id("asignar", cuerpo, Some(&vencido), "asig-1").await;
    assert_eq!(repetida, original);
    // And nothing changed on the way.
    assert_eq!(version(&app, &ticket).await, 2, "CREACION and one ASIGNACION");
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 1);
    assert_eq!(app.contar("SELECT count(*) FROM historial").await, 2);
}

#[tokio::test]
async fn control_characters_get_a_validation_reply_and_nothing_is_parked() {
    let mut app = TestApp::spawn().await;
    let ticket = app.ticket_en("ASIGNADO").await;
    let mesa = token("MESA", None);
    // Issue #11, item 4: this nota reached Postgres and was dead-lettered unanswered.
    let r = app.enviar("actualizar", json!({"ticketId": ticket, "nota": "avance\u{0}"}), Some(&mesa)).await;
    assert_eq!((codigo(&r), campos(&r)), ("VALIDACION", vec!["nota".to_string()]), "{r}");
    let mut crear = ana_garcia();
    crear["nombre"] = json!("Ana\u{1b}[31m García");
    crear["descripcion"] = json!("Línea uno\r\n\tlínea dos: tab y saltos sí valen");
    let r = app.enviar("crear", crear, None).await;
    assert_eq!((codigo(&r), campos(&r)), ("VALIDACION", vec!["nombre".to_string()]), "{r}");
    let r =
        app.enviar("consultar", json!({"label": "TKT-2026-00001\u{0}", "email": "ana.garcia@empresa.com"}), None).await;
    assert_eq!(codigo(&r), "VALIDACION", "{r}");

    // A message_id with a control character cannot be recorded: 400, acked.
    let r = app.cliente.enviar_con_id("crear", ana_garcia(), None, "id\u{0}malo").await;
    assert_eq!(codigo(&r), "SOLICITUD_INVALIDA", "{r}");

    // A traceparent that is not W3C is dropped, never stored or forwarded.
    let mut h = FieldTable::default();
    h.insert("traceparent".into(), AMQPValue::LongString("ana\u{0}garcia".into()));
    let c =
        app.cliente.publicar_con_headers("ticket.crear", ana_garcia().to_string().as_bytes(), Some("tp-1"), h).await;
    assert_eq!(app.cliente.respuesta(&c).await["ok"], true);
    // Events until tp-1's: a loaded machine's relay may pause for seconds.
    let (props, evento) = loop {
        let (p, _, e) = app.cliente.evento(Duration::from_secs(10)).await.expect("tp-1's ticket.creado");
        if e["data"]["comandoId"] == "tp-1" {
            break (p, e);
        }
    };
    assert!(evento.get("traceparent").is_none(), "{evento}");
    assert!(props.headers().as_ref().is_none_or(|h| !h.inner().contains_key("traceparent")));

    assert_eq!(app.cliente.en_cola(app.topologia().rechazados()).await, 0, "nothing parked");
}

#[tokio::test]
async fn a_ticket_id_has_one_spelling() {
    let mut app = TestApp::spawn().await;
    let ticket = app.crear().await["ticketUuid"].as_str().unwrap().to_string();
    let id: uuid::Uuid = ticket.parse().unwrap();
    let mesa = token("MESA", None);
    // Issue #11, item 7: these were accepted, each with an order key of its own.
    for otra in [id.braced().to_string(), id.urn().to_string(), id.simple().to_string()] {
        let r = app.enviar("asignar", json!({"ticketId": otra}), Some(&mesa)).await;
        assert_eq!((codigo(&r), campos(&r)), ("VALIDACION", vec!["ticketId".to_string()]), "{otra}: {r}");
    }
    let r = app.enviar("asignar", json!({"ticketId": ticket.to_uppercase()}), Some(&mesa)).await;
    assert_eq!(r["datos"]["estado"], "ASIGNADO", "any case: {r}");
}

#[tokio::test]
async fn descripcion_and_bodies_have_upper_bounds() {
    let mut app = TestApp::spawn_with(|s| s.amqp.max_cuerpo_bytes = 64 * 1024).await;
    // Issue #11, item 8: descripcion had no upper bound.
    let mut larga = ana_garcia();
    larga["descripcion"] = json!("x".repeat(10_001));
    let r = app.enviar("crear", larga, None).await;
    assert_eq!((codigo(&r), campos(&r)), ("VALIDACION", vec!["descripcion".to_string()]), "{r}");
    let mut justa = ana_garcia();
    justa["descripcion"] = json!("ñ".repeat(10_000));
    assert_eq!(app.enviar("crear", justa, None).await["ok"], true);
    // Over the size limit: refused unread, answered, parked with its reason.
    let enorme = json!({"nota": "x".repeat(70 * 1024)}).to_string();
    let c = app.cliente.publicar("ticket.crear", enorme.as_bytes(), Some("enorme"), None).await;
    assert_eq!(codigo(&app.cliente.respuesta(&c).await), "SOLICITUD_INVALIDA");
}

/// Issue #11, item 5: with an unroutable event lapin logged the ticket whole.
/// Now no `RUST_LOG` filter lets a body or personal data through.
#[tokio::test]
async fn no_log_filter_lets_personal_data_through() {
    let (settings, db) = settings_de_prueba();
    crear_base(&db).await;
    let topo = mesa_ayuda::amqp::Topologia::de(&settings.topology);
    let amqp = settings.amqp.url.expose_secret().to_string();
    let _limpieza = Limpieza(Some((db, topo, amqp)));
    let proceso = Proceso::iniciar_con(&settings, &[("RUST_LOG", "trace")]);
    // No event tap here: every ticket event is unroutable and returned.
    // A probe waits 2 s (it is sent again); a command, 15 s (a loaded machine).
    let enviar = async |op: &str, cuerpo: &Value, id: &str, espera: Duration| {
        mesa_ayuda::cli::enviar(&settings, op, cuerpo.to_string().as_bytes(), None, Some(id.into()), espera).await
    };
    let (sonda, espera) = (Duration::from_secs(2), Duration::from_secs(15));
    let mut listo = false;
    for i in 0..30 {
        if enviar("consultar", &json!({"label": "TKT-1", "email": "x@y.z"}), &format!("sonda-{i}"), sonda).await.is_ok()
        {
            listo = true;
            break;
        }
        // Until the process has declared the topology a probe fails at once
        // (no exchange): 30 of them used to be spent before a loaded machine
        // had started it.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(listo, "the worker never answered:\n{}", proceso.log());
    let r = enviar("crear", &ana_garcia(), "pii-1", espera).await.unwrap();
    assert_eq!(r["ok"], true, "{r}");
    let label = r["datos"]["ticketLabel"].as_str().unwrap().to_string();
    enviar("consultar", &json!({"label": label, "email": "ana.garcia@empresa.com"}), "pii-2", espera).await.unwrap();
    let mut malo = ana_garcia();
    malo["email"] = json!("ana.garcia@empresa");
    enviar("crear", &malo, "pii-3", espera).await.unwrap();
    // The conversation (v1.2): free text and attachment references, accepted and refused.
    let seguimiento = json!({"label": label, "email": "ana.garcia@empresa.com", "texto": "Mi clave es Girasol-42",
        "adjuntos": [{"nombre": "pasaporte-ana.pdf", "url": "https://archivos.empresa.com/pasaporte-ana.pdf",
            "tipo": "application/pdf", "bytes": 1, "sha256": "ab".repeat(32)}]});
    let r = enviar("seguimiento", &seguimiento, "pii-4", espera).await.unwrap();
    assert_eq!(r["ok"], true, "{r}");
    let mut otra = seguimiento.clone();
    otra["email"] = json!("intruso@empresa.com");
    enviar("seguimiento", &otra, "pii-5", espera).await.unwrap();
    // The requesters' data (v1.2): exported, then erased (the dead-letter
    // count walks the queue), with an ADMIN token.
    let admin = token("ADMIN", None);
    let exportar = json!({"email": "ana.garcia@empresa.com"});
    let r = mesa_ayuda::cli::enviar(&settings, "exportar", exportar.to_string().as_bytes(), Some(&admin), None, espera)
        .await
        .unwrap();
    assert_eq!(r["ok"], true, "{r}");
    let anonimizar = json!({"email": "ana.garcia@empresa.com", "motivo": "pedido por ana.garcia@empresa.com"});
    let r = mesa_ayuda::cli::enviar(
        &settings,
        "anonimizar",
        anonimizar.to_string().as_bytes(),
        Some(&admin),
        Some("pii-6".into()),
        espera,
    )
    .await
    .unwrap();
    assert_eq!(r["datos"]["tickets"], 1, "{r}");
    // A routing key that tries to forge a log line.
    let forjada = mesa_ayuda::cli::enviar(&settings, "x\nLINEA FALSA", b"{}", None, None, espera).await;
    assert!(forjada.is_ok());
    // Let the relay publish the unroutable event and lapin see it returned.
    let fin = tokio::time::Instant::now() + Duration::from_secs(60);
    while !proceso.log().contains("evento sin cola suscrita") && tokio::time::Instant::now() < fin {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = proceso.log();
    assert!(log.contains("evento sin cola suscrita"), "the event was never returned:\n{log}");
    assert!(log.contains("comando atendido"));
    for dato in [
        "ana.garcia@empresa",
        "+573001234567",
        "12345678",
        "Ana García",
        "Ana Garc",
        "Outlook",
        "No puedo acceder",
        "Recursos Humanos",
        "Girasol-42",
        "pasaporte-ana",
        "intruso@empresa",
    ] {
        assert!(!log.contains(dato), "{dato} leaked into the log:\n{log}");
        // lapin printed bodies as byte arrays: `[65, 110, 97, ...]`.
        let bytes = format!("{:?}", dato.as_bytes());
        assert!(!log.contains(bytes.trim_matches(['[', ']'])), "{dato} leaked as bytes into the log:\n{log}");
    }
    assert!(!log.lines().any(|l| l.starts_with("LINEA FALSA")), "a forged line:\n{log}");
}

/// `mesa-ayuda send` shares the gateway's reply client, not its session:
/// it declares nothing, so a prefix no worker declared fails at once in the
/// broker's words; with the topology there and no worker, the command
/// waits in the queue and `send` says what to check.
#[tokio::test]
async fn send_declares_nothing_and_says_why_no_reply_came() {
    let (settings, db) = settings_de_prueba();
    let topo = mesa_ayuda::amqp::Topologia::de(&settings.topology);
    let amqp = settings.amqp.url.expose_secret().to_string();
    let _limpieza = Limpieza(Some((db, topo.clone(), amqp.clone())));
    let enviar = |espera| mesa_ayuda::cli::enviar(&settings, "catalogo", b"{}", None, None, espera);

    let inicio = std::time::Instant::now();
    let e = enviar(Duration::from_secs(10)).await.unwrap_err();
    assert!(format!("{e:#}").contains(&format!("no exchange '{}'", topo.comandos())), "{e:#}");
    assert!(inicio.elapsed() < Duration::from_secs(5), "at once, not at the timeout: {:?}", inicio.elapsed());
    let conexion = mesa_ayuda::amqp::conectar(&amqp, "mesa tests").await.unwrap();
    let canal = conexion.create_channel().await.unwrap();
    let pasiva = lapin::options::ExchangeDeclareOptions { passive: true, ..Default::default() };
    let declarado =
        canal.exchange_declare(topo.comandos().into(), lapin::ExchangeKind::Topic, pasiva, FieldTable::default()).await;
    assert!(declarado.is_err(), "send declared the topology");

    // Declared as a worker declares it, and no worker.
    let cliente = Cliente::new(&amqp, &topo).await;
    let e = enviar(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(e.to_string(), "no llegó respuesta a tiempo: ¿está corriendo `mesa-ayuda run` con el mismo prefijo?");
    assert_eq!(cliente.en_cola(topo.comandos()).await, 1, "the command waits for a worker");
}

/// Drops a test's database and topology, even when the test panicked.
struct Limpieza(Option<(String, mesa_ayuda::amqp::Topologia, String)>);

impl Drop for Limpieza {
    fn drop(&mut self) {
        if let Some((db, topo, amqp)) = self.0.take() {
            limpiar(db, topo, amqp);
        }
    }
}
