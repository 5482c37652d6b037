//! `mesa-ayuda rechazados` (contract §9): dead letters listed without being
//! removed, re-driven with their routing key, id and headers and applied once,
//! purged by id and by age; `--dry-run` changes nothing.

use crate::helpers::{Proceso, SECRETO, TestApp, ana_garcia, token, token_de};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicNackOptions, BasicPublishOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use mesa_ayuda::amqp::{self, Topologia};
use mesa_ayuda::contrato::HEADER_AUTORIDAD;
use mesa_ayuda::rechazados::{RENOVAR_DESDE, Rechazado, Rechazados, Seleccion};
use secrecy::ExposeSecret;
use serde_json::Value;
use std::time::Duration;

async fn abrir(app: &TestApp) -> Rechazados {
    Rechazados::abrir(app.config.settings.amqp.url.expose_secret(), app.topologia()).await.expect("abrir rechazados")
}

/// Waits until `cola` holds `n` ready messages; panics after 15 s.
async fn esperar_en_cola(app: &TestApp, cola: String, n: i64) {
    for _ in 0..150 {
        if app.cliente.en_cola(cola.clone()).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{cola} never held {n} (holds {})", app.cliente.en_cola(cola.clone()).await);
}

async fn esperar_que(mut condicion: impl AsyncFnMut() -> bool, que: &str) {
    for _ in 0..150 {
        if condicion().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never: {que}");
}

fn ids(lista: &[Rechazado]) -> Vec<Option<String>> {
    lista.iter().map(|r| r.message_id.clone()).collect()
}

/// Parks undecodable commands through the worker (answered, dead-lettered).
async fn aparcar_indescifrables(app: &mut TestApp, ids: &[&str]) {
    for id in ids {
        let c = app.cliente.publicar("ticket.crear", format!("{{roto {id}").as_bytes(), Some(id), None).await;
        let r = app.cliente.respuesta(&c).await;
        assert_eq!(r["error"]["codigo"], "SOLICITUD_INVALIDA", "{r}");
    }
}

/// A dead letter published straight to the dead-letter exchange, with
/// whatever headers a test wants (hostile ones included).
async fn aparcar_a_mano(canal: &Channel, topo: &Topologia, rk: &str, id: &str, headers: FieldTable, cuerpo: &[u8]) {
    let props = BasicProperties::default().with_message_id(id.into()).with_headers(headers);
    canal
        .basic_publish(topo.dlx().into(), rk.into(), BasicPublishOptions::default(), cuerpo, props)
        .await
        .unwrap()
        .await
        .unwrap();
}

#[tokio::test]
async fn listing_leaves_every_dead_letter_where_it_was_however_often_it_is_repeated() {
    let mut app = TestApp::spawn().await;
    let nombres = ["r-1", "r-2", "r-3", "r-4", "r-5"];
    aparcar_indescifrables(&mut app, &nombres).await;
    let cola = app.topologia().rechazados();
    esperar_en_cola(&app, cola.clone(), 5).await;
    let rechazados = abrir(&app).await;

    let primera = rechazados.listar(100).await.unwrap();
    let esperados: Vec<Option<String>> = nombres.iter().map(|n| Some(n.to_string())).collect();
    assert_eq!(ids(&primera), esperados, "oldest first");
    for r in &primera {
        assert_eq!(r.routing_key, "ticket.crear");
        assert!(r.motivo.as_deref().unwrap_or("").contains("JSON"), "{:?}", r.motivo);
        assert!(r.fecha.is_some_and(|f| (chrono::Utc::now() - f).num_seconds() < 60), "{:?}", r.fecha);
        assert_eq!(r.bytes, "{roto r-1".len());
    }
    let dos = rechazados.listar(2).await.unwrap();
    assert_eq!(ids(&dos), esperados[..2], "--limite");

    // Far more listings than a delivery limit: every hand-back counts as a
    // delivery, and none may make the broker drop one. RabbitMQ 4 puts a
    // limit of 20 on every quorum queue; here a policy puts 15 on this one.
    let _politica = Politica::limite_de_entregas(&cola, 15);
    let mut max_entregas = 0;
    for vuelta in 0..30 {
        let lista = rechazados.listar(100).await.unwrap();
        // Handed back (or, reaching the renewal, all copied back) in order.
        assert_eq!(ids(&lista), esperados, "listing {vuelta}: every dead letter is still there, in order");
        max_entregas = max_entregas.max(lista.iter().map(|r| r.entregas).max().unwrap_or(0));
        assert_eq!(app.cliente.en_cola(cola.clone()).await, 5, "listing {vuelta} removed nothing");
    }
    println!("after 32 listings: highest x-delivery-count seen {max_entregas} (renewed from {RENOVAR_DESDE})");
    assert!(max_entregas > 0, "RabbitMQ counts a hand-back as a delivery: the renewal is needed");
    assert!(max_entregas <= RENOVAR_DESDE, "a dead letter's count stays bounded: {max_entregas}");

    // Showing one whole leaves it too.
    let vistos = rechazados.ver("r-3").await.unwrap();
    assert_eq!(vistos.len(), 1);
    assert_eq!(vistos[0].cuerpo, b"{roto r-3");
    assert!(vistos[0].headers.get("authorization").is_none());
    assert!(vistos[0].headers["x-mesa-motivo"].as_str().unwrap_or("").contains("JSON"), "{}", vistos[0].headers);
    assert!(rechazados.ver("no-existe").await.unwrap().is_empty());
    assert_eq!(app.cliente.en_cola(cola).await, 5);
    rechazados.cerrar().await;
}

#[tokio::test]
async fn a_command_parked_by_a_permanent_failure_is_applied_once_when_re_driven_twice() {
    let mut app = TestApp::spawn().await;
    // A "bug": every insert into tickets fails with an error retrying cannot fix.
    instalar_fallo(&app, "tickets").await;
    let auth = format!("Bearer {}", token("MESA", None));
    let cuerpo = ana_garcia().to_string();
    // The same command twice (a publisher's retry): both are parked, unanswered.
    let c1 = app.cliente.publicar("ticket.crear", cuerpo.as_bytes(), Some("bug-1"), Some(&auth)).await;
    let c2 = app.cliente.publicar("ticket.crear", cuerpo.as_bytes(), Some("bug-1"), Some(&auth)).await;
    let cola = app.topologia().rechazados();
    esperar_en_cola(&app, cola.clone(), 2).await;
    assert!(app.cliente.respuesta_en(&c1, Duration::from_millis(300)).await.is_none(), "a bug is not answered");
    let rechazados = abrir(&app).await;
    let lista = rechazados.listar(10).await.unwrap();
    assert_eq!(ids(&lista), [Some("bug-1".to_string()), Some("bug-1".to_string())]);
    assert!(lista[0].motivo.as_deref().unwrap_or("").contains("bug"), "{:?}", lista[0].motivo);

    // The bug is fixed.
    sqlx::raw_sql("DROP TRIGGER fallo ON tickets").execute(&app.pool).await.unwrap();

    // --dry-run says what it would do and changes nothing.
    let seleccion = Seleccion::Ids(vec!["bug-1".into(), "no-existe".into()]);
    let simulado = rechazados.reenviar(&seleccion, true).await.unwrap();
    assert_eq!((simulado.hechos.len(), simulado.no_encontrados.clone()), (2, vec!["no-existe".to_string()]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.cliente.en_cola(cola.clone()).await, 2);
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 0);

    // What reaches P.comandos: the original routing key, id and headers,
    // without the parking's bookkeeping.
    let (_conexion, mut tap) = escuchar_comandos(&app).await;
    let informe = rechazados.reenviar(&seleccion, false).await.unwrap();
    assert_eq!(informe.hechos.len(), 2, "{informe:?}");
    assert!(informe.fallidos.is_empty(), "{informe:?}");
    for _ in 0..2 {
        let d = tokio::time::timeout(Duration::from_secs(5), tap.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(d.routing_key.as_str(), "ticket.crear");
        assert_eq!(d.properties.message_id().as_ref().unwrap().as_str(), "bug-1");
        assert_eq!(d.data, cuerpo.as_bytes());
        let h = d.properties.headers().as_ref().unwrap().inner();
        assert!(h.contains_key("traceparent"), "the publisher's headers are kept");
        for quitada in ["x-mesa-motivo", "x-mesa-routing-key", "x-mesa-rechazado-en", "x-death", "authorization"] {
            assert!(!h.contains_key(quitada), "{quitada} is not re-driven");
        }
    }

    // Both copies are answered (reply_to kept), with one and the same ticket.
    let r1 = app.cliente.respuesta(&c1).await;
    let r2 = app.cliente.respuesta(&c2).await;
    assert_eq!(r1["ok"], true, "{r1}");
    assert_eq!(r1, r2, "the second re-drive replays the first's reply");
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 1, "applied once");
    assert_eq!(app.contar("SELECT count(*) FROM outbox").await, 1, "one event");
    let traza: Option<String> =
        sqlx::query_scalar("SELECT traceparent FROM outbox").fetch_one(&app.pool).await.unwrap();
    assert!(traza.is_some(), "the re-driven command kept its traceparent");
    esperar_en_cola(&app, cola.clone(), 0).await;

    // Re-driven again (say the tool died after the confirm, before the ack):
    // still one ticket.
    aparcar_a_mano(
        &app.cliente.canal,
        &app.topologia(),
        "ticket.crear",
        "bug-1",
        FieldTable::default(),
        cuerpo.as_bytes(),
    )
    .await;
    esperar_en_cola(&app, cola.clone(), 1).await;
    assert_eq!(rechazados.reenviar(&Seleccion::Todos, false).await.unwrap().hechos.len(), 1);
    esperar_en_cola(&app, cola, 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 1, "still applied once");
    assert_eq!(app.contar("SELECT count(*) FROM outbox").await, 1);
    rechazados.cerrar().await;
}

/// A "bug": every insert into `tabla` fails with an error retrying cannot
/// fix (the trigger `fallo`, dropped to fix it).
async fn instalar_fallo(app: &TestApp, tabla: &'static str) {
    let sql = format!(
        "CREATE FUNCTION fallo() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'bug'; END $$;
         CREATE TRIGGER fallo BEFORE INSERT ON {tabla} FOR EACH ROW EXECUTE FUNCTION fallo();"
    );
    // `tabla` is one of this file's literals.
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&app.pool).await.unwrap();
}

/// The `x-mesa-autoridad` header of a dead letter taken off `tap`.
fn sello_de(d: &lapin::message::Delivery) -> Option<String> {
    amqp::header(&d.properties, HEADER_AUTORIDAD)
}

#[tokio::test]
async fn a_staff_command_parked_by_a_bug_is_re_driven_with_its_senders_authority_and_only_for_itself() {
    let mut app = TestApp::spawn().await;
    let id = app.crear().await["ticketUuid"].as_str().unwrap().to_string();
    // A "bug": every history entry fails with an error retrying cannot fix.
    instalar_fallo(&app, "historial").await;
    let auth = format!("Bearer {}", token_de("carlos", "MESA", None, 3600, SECRETO));
    let cuerpo = serde_json::json!({"ticketId": id}).to_string();
    let c = app.cliente.publicar("ticket.asignar", cuerpo.as_bytes(), Some("asignar-1"), Some(&auth)).await;
    let cola = app.topologia().rechazados();
    esperar_en_cola(&app, cola.clone(), 1).await;
    assert!(app.cliente.respuesta_en(&c, Duration::from_millis(300)).await.is_none(), "a bug is not answered");

    // Parked without the token, with a seal; `ver` does not print the seal.
    let rechazados = abrir(&app).await;
    let visto = rechazados.ver("asignar-1").await.unwrap();
    assert_eq!(visto.len(), 1);
    assert!(visto[0].headers.get("authorization").is_none(), "{}", visto[0].headers);
    assert_eq!(visto[0].headers[HEADER_AUTORIDAD], "(autoridad sellada)", "{}", visto[0].headers);

    // The seal, as re-driving carries it.
    let (_conexion, mut tap) = escuchar_comandos(&app).await;
    sqlx::raw_sql("DROP TRIGGER fallo ON historial").execute(&app.pool).await.unwrap();
    let informe = rechazados.reenviar(&Seleccion::Todos, false).await.unwrap();
    assert_eq!((informe.hechos.len(), informe.fallidos.len()), (1, 0), "{informe:?}");
    let d = tokio::time::timeout(Duration::from_secs(5), tap.next()).await.unwrap().unwrap().unwrap();
    let sello = sello_de(&d).expect("the re-driven command carries its seal");
    assert!(amqp::header(&d.properties, "authorization").is_none());

    // Applied, by its sender, with a reply to the publisher still waiting.
    let r = app.cliente.respuesta(&c).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["datos"]["estado"], "ASIGNADO", "{r}");
    let (actor, rol): (Option<String>, String) =
        sqlx::query_as("SELECT actor_id, actor_rol FROM historial WHERE comando_id = 'asignar-1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((actor.as_deref(), rol.as_str()), (Some("carlos"), "MESA"));

    // The seal is good for that command only: on another body, another
    // operation or another id it is no identity at all.
    let mut headers = FieldTable::default();
    headers.insert(HEADER_AUTORIDAD.into(), AMQPValue::LongString(sello.clone().into()));
    let otro_cuerpo = serde_json::json!({"ticketId": id, "motivo": "otra cosa"}).to_string();
    for (rk, cuerpo, mid) in [
        ("ticket.pausar", otro_cuerpo.as_str(), "asignar-1"),
        ("ticket.asignar", otro_cuerpo.as_str(), "asignar-1"),
        ("ticket.asignar", cuerpo.as_str(), "asignar-2"),
    ] {
        let c = app.cliente.publicar_con_headers(rk, cuerpo.as_bytes(), Some(mid), headers.clone()).await;
        app.cliente.sin_esquema(&c);
        let r = app.cliente.respuesta(&c).await;
        assert_eq!(r["error"]["codigo"], "NO_AUTENTICADO", "{rk} {mid}: {r}");
    }
    // A forged one (signed with the users' HS256 secret itself) neither.
    let forjado = token_de("carlos", "ADMIN", None, 3600, SECRETO);
    let mut headers = FieldTable::default();
    headers.insert(HEADER_AUTORIDAD.into(), AMQPValue::LongString(forjado.into()));
    let c = app.cliente.publicar_con_headers("ticket.archivar", cuerpo.as_bytes(), Some("forjado"), headers).await;
    assert_eq!(app.cliente.respuesta(&c).await["error"]["codigo"], "NO_AUTENTICADO");

    // Re-driven again: the recorded reply, nothing applied twice.
    let mut headers = FieldTable::default();
    headers.insert(HEADER_AUTORIDAD.into(), AMQPValue::LongString(sello.into()));
    let c = app.cliente.publicar_con_headers("ticket.asignar", cuerpo.as_bytes(), Some("asignar-1"), headers).await;
    assert_eq!(app.cliente.respuesta(&c).await, r);
    assert_eq!(app.contar("SELECT count(*) FROM historial WHERE comando_id = 'asignar-1'").await, 1);
    assert_eq!(app.contar("SELECT count(*) FROM historial").await, 2, "creation and the one assignment");
    rechazados.cerrar().await;
}

#[tokio::test]
async fn a_permanent_database_failure_is_parked_naming_the_statement_and_no_personal_data() {
    let mut app = TestApp::spawn().await;
    // A constraint Ana García's row breaks: the batch's write is refused, and
    // Postgres's DETAIL ("Failing row contains (...)") quotes the whole row.
    sqlx::raw_sql("ALTER TABLE tickets ADD CONSTRAINT sin_ana CHECK (solicitante_email <> 'ana.garcia@empresa.com')")
        .execute(&app.pool)
        .await
        .unwrap();
    let cuerpo = ana_garcia();
    let c = app.cliente.publicar("ticket.crear", cuerpo.to_string().as_bytes(), Some("pii-1"), None).await;
    let cola = app.topologia().rechazados();
    esperar_en_cola(&app, cola, 1).await;
    assert!(app.cliente.respuesta_en(&c, Duration::from_millis(300)).await.is_none(), "a failure is not answered");
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 0);
    let rechazados = abrir(&app).await;
    let lista = rechazados.listar(10).await.unwrap();
    assert_eq!(ids(&lista), [Some("pii-1".to_string())]);
    let motivo = lista[0].motivo.clone().unwrap_or_default();
    assert!(motivo.starts_with("fallo permanente en escribir_cambios: "), "names the statement: {motivo}");
    assert!(motivo.contains("sin_ana"), "Postgres's message names the constraint: {motivo}");
    for campo in ["nombre", "email", "telefono", "documento", "asunto", "descripcion"] {
        let valor = cuerpo[campo].as_str().unwrap();
        assert!(!motivo.contains(valor), "the reason quotes the {campo}: {motivo}");
    }
    rechazados.cerrar().await;
}

/// A private tap on the command exchange: what a re-drive publishes.
async fn escuchar_comandos(app: &TestApp) -> (lapin::Connection, lapin::Consumer) {
    let conexion = amqp::conectar(app.config.settings.amqp.url.expose_secret(), "tap").await.unwrap();
    let canal = conexion.create_channel().await.unwrap();
    let tap = amqp::escuchar(&canal, &app.topologia().comandos(), "#").await.unwrap();
    (conexion, tap)
}

#[tokio::test]
async fn re_driving_all_and_purging_by_id_and_by_age() {
    let mut app = TestApp::spawn().await;
    let cola = app.topologia().rechazados();
    aparcar_indescifrables(&mut app, &["viejo-1", "viejo-2", "viejo-3"]).await;
    esperar_en_cola(&app, cola.clone(), 3).await;
    let rechazados = abrir(&app).await;

    // Still undecodable: re-driven, answered again, parked again, and the
    // walk ends (it never chases the ones it re-parks).
    let informe = rechazados.reenviar(&Seleccion::Todos, false).await.unwrap();
    assert_eq!(informe.hechos.len(), 3, "{informe:?}");
    esperar_en_cola(&app, cola.clone(), 3).await;
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 0);

    tokio::time::sleep(Duration::from_millis(50)).await;
    let corte = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    aparcar_indescifrables(&mut app, &["nuevo-1", "nuevo-2"]).await;
    esperar_en_cola(&app, cola.clone(), 5).await;

    // --dry-run: the old ones, and nothing removed.
    let simulado = rechazados.purgar(&Seleccion::Antes(corte), true).await.unwrap();
    let mut simulados = ids(&simulado.hechos);
    simulados.sort();
    assert_eq!(simulados, [Some("viejo-1".into()), Some("viejo-2".into()), Some("viejo-3".into())]);
    assert_eq!(app.cliente.en_cola(cola.clone()).await, 5);

    let purgados = rechazados.purgar(&Seleccion::Antes(corte), false).await.unwrap();
    assert_eq!(purgados.hechos.len(), 3);
    esperar_en_cola(&app, cola.clone(), 2).await;
    assert_eq!(ids(&rechazados.listar(10).await.unwrap()), [Some("nuevo-1".into()), Some("nuevo-2".into())]);

    let por_id = rechazados.purgar(&Seleccion::Ids(vec!["nuevo-2".into(), "otro".into()]), false).await.unwrap();
    assert_eq!((por_id.hechos.len(), por_id.no_encontrados.clone()), (1, vec!["otro".to_string()]));
    esperar_en_cola(&app, cola.clone(), 1).await;
    assert_eq!(ids(&rechazados.listar(10).await.unwrap()), [Some("nuevo-1".into())]);

    // Many at once: every ack lands before the channel closes.
    for i in 0..200 {
        aparcar_a_mano(
            &app.cliente.canal,
            &app.topologia(),
            "ticket.crear",
            &format!("m-{i}"),
            FieldTable::default(),
            b"x",
        )
        .await;
    }
    esperar_en_cola(&app, cola.clone(), 201).await;
    assert_eq!(rechazados.purgar(&Seleccion::Todos, false).await.unwrap().hechos.len(), 201);
    esperar_en_cola(&app, cola.clone(), 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.cliente.en_cola(cola).await, 0, "nothing purged came back");
    rechazados.cerrar().await;
}

#[tokio::test]
async fn a_command_dead_lettered_at_the_delivery_limit_is_re_driven_with_its_token_and_applied() {
    // No worker runs while a client keeps failing the command (as a crashing
    // worker would) until the queue dead-letters it; RabbitMQ keeps its headers.
    let mut app = TestApp::spawn_with(|s| s.topology.delivery_limit = 2).await;
    app.detener().await;
    let topo = app.topologia();
    let ticket_body = ana_garcia().to_string();
    let auth = format!("Bearer {}", token("MESA", None));
    let c = app.cliente.publicar("ticket.crear", ticket_body.as_bytes(), Some("vuelve"), Some(&auth)).await;
    let canal = &app.cliente.canal;
    let mut consumidor = canal
        .basic_consume(topo.comandos().into(), "rebote".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    let cola = topo.rechazados();
    while app.cliente.en_cola(cola.clone()).await == 0 {
        if let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_millis(300), consumidor.next()).await {
            d.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await.unwrap();
        }
    }
    drop(consumidor);
    let rechazados = abrir(&app).await;
    let lista = rechazados.listar(10).await.unwrap();
    assert_eq!(lista.len(), 1);
    assert_eq!(lista[0].motivo.as_deref(), Some("delivery_limit"), "the broker's reason, from x-death");
    assert_eq!(lista[0].routing_key, "ticket.crear");
    assert!(lista[0].fecha.is_some(), "the time of the broker's x-death");

    // A worker again (a process on the same database and prefix).
    let _worker = Proceso::iniciar_con(&app.config.settings, &[("MESA__TOPOLOGY__DELIVERY_LIMIT", "2")]);
    let informe = rechazados.reenviar(&Seleccion::Ids(vec!["vuelve".into()]), false).await.unwrap();
    assert_eq!(informe.hechos.len(), 1, "{informe:?}");
    let r = app.cliente.respuesta_en(&c, Duration::from_secs(30)).await.expect("the re-driven command is answered");
    assert_eq!(r["ok"], true, "{r}");
    esperar_que(async || app.contar("SELECT count(*) FROM tickets").await == 1, "the ticket exists").await;
    assert_eq!(app.cliente.en_cola(cola).await, 0);
    rechazados.cerrar().await;
}

fn mesa_ayuda(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mesa-ayuda"))
        .args(args)
        .env("MESA__AMQP__URL", app.config.settings.amqp.url.expose_secret())
        .env("MESA__TOPOLOGY__PREFIX", &app.config.settings.topology.prefix)
        .env("MESA__DATABASE__URL", app.config.settings.database.url.expose_secret())
        .output()
        .expect("mesa-ayuda")
}

#[tokio::test]
async fn the_command_line_lists_as_json_and_never_prints_a_dead_letters_control_characters() {
    let app = TestApp::spawn().await;
    let topo = app.topologia();
    let mut h = FieldTable::default();
    h.insert("x-mesa-motivo".into(), AMQPValue::LongString("motivo \u{1b}[2J borrado".into()));
    h.insert("x-mesa-routing-key".into(), AMQPValue::LongString("ticket.\u{1b}]0;titulo\u{7}".into()));
    aparcar_a_mano(&app.cliente.canal, &topo, "ticket.crear", "hostil-\u{1b}[31m", h, b"{\"a\": \"\x1b[2J\"}\n\x07")
        .await;
    aparcar_a_mano(&app.cliente.canal, &topo, "ticket.crear", "sencillo", FieldTable::default(), &[0xff, 0x00]).await;
    esperar_en_cola(&app, topo.rechazados(), 2).await;

    // A forged routing key nothing is bound to, or too long to be one: not
    // re-driven, kept, and the exit code says so.
    let rechazados = abrir(&app).await;
    for (id, rk) in [("sin-ruta", "otra.cosa".to_string()), ("larga", format!("ticket.{}", "x".repeat(300)))] {
        let mut h = FieldTable::default();
        h.insert("x-mesa-routing-key".into(), AMQPValue::LongString(rk.into()));
        aparcar_a_mano(&app.cliente.canal, &topo, "ticket.crear", id, h, b"{}").await;
    }
    esperar_en_cola(&app, topo.rechazados(), 4).await;
    let informe = rechazados.reenviar(&Seleccion::Ids(vec!["sin-ruta".into(), "larga".into()]), false).await.unwrap();
    assert_eq!((informe.hechos.len(), informe.fallidos.len()), (0, 2), "{informe:?}");
    esperar_en_cola(&app, topo.rechazados(), 4).await;
    assert_eq!(mesa_ayuda(&app, &["rechazados", "reenviar", "sin-ruta"]).status.code(), Some(1));
    assert_eq!(
        rechazados.purgar(&Seleccion::Ids(vec!["sin-ruta".into(), "larga".into()]), false).await.unwrap().hechos.len(),
        2
    );
    esperar_en_cola(&app, topo.rechazados(), 2).await;
    rechazados.cerrar().await;

    for args in [
        &["rechazados", "listar"][..],
        &["rechazados", "ver", "hostil-\u{1b}[31m"],
        &["rechazados", "ver", "sencillo"],
        &["rechazados", "reenviar", "--dry-run", "--todos"],
    ] {
        let salida = mesa_ayuda(&app, args);
        assert!(salida.status.success(), "{args:?}: {}", String::from_utf8_lossy(&salida.stderr));
        let texto = String::from_utf8(salida.stdout).unwrap();
        assert!(!texto.chars().any(|c| c.is_control() && c != '\n'), "{args:?} printed a control character: {texto:?}");
        assert!(texto.contains("sencillo") || texto.contains("hostil"), "{texto}");
    }

    let salida = mesa_ayuda(&app, &["rechazados", "listar", "--json", "--limite", "1"]);
    assert!(salida.status.success());
    let lista: Value = serde_json::from_slice(&salida.stdout).unwrap();
    assert_eq!(lista.as_array().unwrap().len(), 1, "{lista}");
    assert_eq!(lista[0]["messageId"], "hostil-\u{1b}[31m");
    assert_eq!(lista[0]["routingKey"], "ticket.\u{1b}]0;titulo\u{7}");
    let salida = mesa_ayuda(&app, &["rechazados", "ver", "--json", "sencillo"]);
    let visto: Value = serde_json::from_slice(&salida.stdout).unwrap();
    assert_eq!(visto["cuerpoHex"], "ff00");

    // Wrong usage is refused before anything connects; so is a wrong prefix.
    for args in [
        &["rechazados", "reenviar"][..],
        &["rechazados", "purgar", "--todos", "--antes", "2026-01-01T00:00:00Z"],
        &["rechazados", "purgar", "--antes", "ayer"],
        &["rechazados", "listar", "--limite", "-1"],
    ] {
        let salida = mesa_ayuda(&app, args);
        assert_eq!(salida.status.code(), Some(2), "{args:?}");
    }
    let salida = std::process::Command::new(env!("CARGO_BIN_EXE_mesa-ayuda"))
        .args(["rechazados", "listar"])
        .env("MESA__AMQP__URL", app.config.settings.amqp.url.expose_secret())
        .env("MESA__TOPOLOGY__PREFIX", "no-existe-este-prefijo")
        .output()
        .unwrap();
    assert_eq!(salida.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&salida.stderr).contains("no existe"),
        "{}",
        String::from_utf8_lossy(&salida.stderr)
    );
    // Nothing above removed a dead letter.
    assert_eq!(app.cliente.en_cola(topo.rechazados()).await, 2);
}

/// A RabbitMQ policy on one test queue, removed on drop (even after a panic).
struct Politica(String);

impl Politica {
    fn limite_de_entregas(cola: &str, limite: u32) -> Politica {
        let nombre = format!("{cola}-limite");
        let patron = format!("^{}$", cola.replace('.', "\\."));
        let definicion = format!("{{\"delivery-limit\": {limite}}}");
        let ok = std::process::Command::new("rabbitmqctl")
            .args(["-q", "set_policy", &nombre, &patron, &definicion, "--apply-to", "queues"])
            .status()
            .expect("rabbitmqctl");
        assert!(ok.success(), "set_policy");
        Politica(nombre)
    }
}

impl Drop for Politica {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl").args(["-q", "clear_policy", &self.0]).status();
    }
}
