//! Idempotency, exactly one event per change, the outbox surviving a broker
//! outage, poison messages, ordering and graceful shutdown.

use crate::helpers::*;
use lapin::options::BasicGetOptions;
use mesa_ayuda::procesador::Mensaje;
use mesa_ayuda::startup::Aplicacion;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long the relay may take to publish what is committed before the
/// event tap is drained: a loaded machine can pause it for seconds, longer
/// than any silence window, so the drains below wait for the outbox first.
const PUBLICADO: Duration = Duration::from_secs(60);

#[tokio::test]
async fn resending_crear_with_the_same_message_id_creates_one_ticket() {
    let mut app = TestApp::spawn().await;
    let id = uuid::Uuid::new_v4().to_string();
    let r1 = app.cliente.enviar_con_id("crear", ana_garcia(), None, &id).await;
    let r2 = app.cliente.enviar_con_id("crear", ana_garcia(), None, &id).await;
    assert_eq!(r1["ok"], true);
    assert_eq!(r1, r2, "the original reply is sent again");
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 1);
    assert_eq!(app.contar("SELECT count(*) FROM historial").await, 1);
    esperar_outbox_publicado(&app.pool, PUBLICADO).await;
    let eventos = app.cliente.eventos_hasta_silencio(Duration::from_secs(1)).await;
    assert_eq!(eventos.len(), 1, "one event for one change");
}

#[tokio::test]
async fn resending_a_transition_changes_nothing_the_second_time() {
    let mut app = TestApp::spawn().await;
    let mesa = token("MESA", None);
    let ticket = app.crear().await["ticketUuid"].as_str().unwrap().to_string();
    let id = uuid::Uuid::new_v4().to_string();
    let r1 = app.cliente.enviar_con_id("asignar", json!({"ticketId": ticket}), Some(&mesa), &id).await;
    let fila = app.fila(&ticket).await;
    let r2 = app.cliente.enviar_con_id("asignar", json!({"ticketId": ticket}), Some(&mesa), &id).await;
    assert_eq!(r1["ok"], true);
    assert_eq!(r1, r2);
    assert_eq!(app.fila(&ticket).await, fila);
    assert_eq!(app.contar("SELECT count(*) FROM historial").await, 2);
    esperar_outbox_publicado(&app.pool, PUBLICADO).await;
    let eventos = app.cliente.eventos_hasta_silencio(Duration::from_secs(1)).await;
    let tipos: Vec<&str> = eventos.iter().map(|(_, rk, _)| rk.as_str()).collect();
    assert_eq!(tipos, ["ticket.creado", "ticket.asignado"]);

    // A refusal is remembered too: once refused, always refused with the same answer.
    let pausa = uuid::Uuid::new_v4().to_string();
    let r1 = app.cliente.enviar_con_id("reabrir", json!({"ticketId": ticket}), Some(&mesa), &pausa).await;
    assert_eq!(r1["error"]["codigo"], "TRANSICION_INVALIDA");
    app.enviar("pausar", json!({"ticketId": ticket, "motivo": "m"}), Some(&mesa)).await;
    let r2 = app.cliente.enviar_con_id("reabrir", json!({"ticketId": ticket}), Some(&mesa), &pausa).await;
    assert_eq!(r1, r2);
    assert_eq!(app.fila(&ticket).await["estado"], "PAUSADO");
}

#[tokio::test]
async fn a_command_committed_but_never_acked_is_not_applied_twice() {
    // What a worker killed between commit and ack leaves behind: the change is
    // committed, the delivery comes back. The redelivery must only re-answer.
    let mut app = TestApp::spawn().await;
    let id = uuid::Uuid::new_v4().to_string();
    let mensaje = mensaje("crear", ana_garcia(), Some(&id), None);
    let primero = app.procesador.procesar(&mensaje).await.unwrap();
    let r = app.cliente.enviar_con_id("crear", ana_garcia(), None, &id).await;
    assert_eq!(r, primero.json());
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 1);
    esperar_outbox_publicado(&app.pool, PUBLICADO).await;
    let eventos = app.cliente.eventos_hasta_silencio(Duration::from_secs(1)).await;
    assert_eq!(eventos.len(), 1);
}

#[tokio::test]
async fn each_mutation_publishes_exactly_one_cloudevent() {
    let mut app = TestApp::spawn().await;
    let mesa = token("MESA", None);
    let ticket = app.crear().await["ticketUuid"].as_str().unwrap().to_string();
    let ops: [(&str, Value); 8] = [
        ("asignar", json!({})),
        ("actualizar", json!({"nota": "n"})),
        ("pausar", json!({"motivo": "m"})),
        ("reabrir", json!({})),
        ("reclasificar", json!({"motivo": "m", "categoria": "Redes"})),
        ("asignar", json!({})),
        ("transferir", json!({"area": "TI", "motivo": "m"})),
        ("asignar", json!({})),
    ];
    let mut ids = vec![];
    for (op, mut cuerpo) in ops.clone() {
        cuerpo["ticketId"] = json!(ticket);
        let id = uuid::Uuid::new_v4().to_string();
        let r = app.cliente.enviar_con_id(op, cuerpo, Some(&mesa), &id).await;
        assert_eq!(r["ok"], true, "{op}: {r}");
        ids.push(id);
    }
    let r = app.enviar("archivar", json!({"ticketId": ticket}), Some(&mesa)).await;
    assert_eq!(r["ok"], true);
    esperar_outbox_publicado(&app.pool, PUBLICADO).await;
    let eventos = app.cliente.eventos_hasta_silencio(Duration::from_secs(2)).await;
    let tipos: Vec<&str> = eventos.iter().map(|(_, rk, _)| rk.as_str()).collect();
    assert_eq!(
        tipos,
        [
            "ticket.creado",
            "ticket.asignado",
            "ticket.actualizado",
            "ticket.pausado",
            "ticket.reabierto",
            "ticket.reclasificado",
            "ticket.asignado",
            "ticket.transferido",
            "ticket.asignado",
            "ticket.archivado"
        ]
    );
    for (i, (props, rk, e)) in eventos.iter().enumerate() {
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["source"], "mesa-ayuda");
        assert_eq!(e["type"], rk.as_str());
        assert_eq!(e["subject"], ticket.as_str());
        assert_eq!(e["datacontenttype"], "application/json");
        fecha(&e["time"]);
        assert_eq!(props.message_id().as_ref().unwrap().as_str(), e["id"].as_str().unwrap());
        assert_eq!(props.content_type().as_ref().unwrap().as_str(), "application/cloudevents+json");
        assert_eq!(*props.delivery_mode(), Some(2), "persistent");
        let data = &e["data"];
        assert_eq!(data["ticket"]["version"], (i + 1) as i64, "version rises by one per change");
        assert_eq!(data["ticket"]["uuid"], ticket.as_str());
        assert_eq!(data["historial"]["estado_despues"], data["ticket"]["estado"]);
        if (1..=8).contains(&i) {
            assert_eq!(data["comandoId"], ids[i - 1].as_str());
            assert_eq!(data["actor"]["rol"], "MESA");
            assert_eq!(data["actor"]["id"], "mesa-1");
        }
    }
    assert_eq!(eventos[0].2["data"]["actor"]["rol"], "USUARIO");
    assert_eq!(eventos[1].2["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    assert_eq!(app.contar("SELECT count(*) FROM outbox WHERE publicado_en IS NULL").await, 0);
}

#[tokio::test]
async fn events_committed_while_the_broker_is_unreachable_are_delivered_later() {
    let (mut settings, db) = settings_de_prueba();
    let real = settings.amqp.url.expose_secret().to_string();
    settings.amqp.url = SecretString::from("amqp://guest:guest@127.0.0.1:1/%2f");
    crear_base(&db).await;
    let caida = Aplicacion::build(mesa_ayuda::configuration::Config::desde(settings.clone()).unwrap()).await.unwrap();
    let topo = caida.topologia();
    let _limpieza = Limpieza(Some((db.clone(), topo.clone(), real.clone())));
    mesa_ayuda::store::migrate(&caida.pool).await.unwrap();
    let procesador = caida.procesador.clone();
    let pool = caida.pool.clone();
    let parar_caida = CancellationToken::new();
    let h = tokio::spawn(caida.ejecutar(parar_caida.clone()));

    // Commands applied while no broker answers (as a worker whose broker just vanished would).
    let mut ids = vec![];
    for _ in 0..3 {
        let id = uuid::Uuid::new_v4().to_string();
        let m = mensaje("crear", ana_garcia(), Some(&id), None);
        assert_eq!(procesador.procesar(&m).await.unwrap().json()["ok"], true);
        ids.push(id);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pendientes: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE publicado_en IS NULL").fetch_one(&pool).await.unwrap();
    assert_eq!(pendientes, 3, "nothing can be published yet");
    parar_caida.cancel();
    h.await.unwrap().unwrap();

    // The broker is back (a worker that reaches it): every event goes out once.
    let mut cliente = Cliente::new(&real, &topo).await;
    settings.amqp.url = SecretString::from(real.clone());
    let app = Aplicacion::build(mesa_ayuda::configuration::Config::desde(settings).unwrap()).await.unwrap();
    let pool = app.pool.clone();
    let parar = CancellationToken::new();
    let h = tokio::spawn(app.ejecutar(parar.clone()));
    // The new worker connects and its relay publishes all three (the wait
    // fails the test if it does not); then the tap is drained.
    esperar_outbox_publicado(&pool, PUBLICADO).await;
    let eventos = cliente.eventos_hasta_silencio(Duration::from_secs(2)).await;
    let mut comandos: Vec<String> =
        eventos.iter().map(|(_, _, e)| e["data"]["comandoId"].as_str().unwrap().to_string()).collect();
    comandos.sort();
    ids.sort();
    assert_eq!(comandos, ids);
    parar.cancel();
    h.await.unwrap().unwrap();
}

struct Limpieza(Option<(String, mesa_ayuda::amqp::Topologia, String)>);
impl Drop for Limpieza {
    fn drop(&mut self) {
        if let Some((db, topo, url)) = self.0.take() {
            limpiar(db, topo, url);
        }
    }
}

#[tokio::test]
async fn undecodable_commands_are_answered_and_dead_lettered() {
    let mut app = TestApp::spawn_with(|s| s.amqp.max_cuerpo_bytes = 4096).await;
    let grande = format!("{{\"nombre\": \"{}\"}}", "x".repeat(5000));
    let casos: [(&str, &[u8], &str); 5] = [
        ("ticket.crear", b"{no es json", "JSON"),
        ("ticket.crear", b"[1, 2, 3]", "objeto"),
        ("ticket.borrar", b"{}", "desconocida"),
        ("ticket.crear", &[0xff, 0xfe, 0x00], "JSON"),
        ("ticket.crear", grande.as_bytes(), "4096"),
    ];
    for (rk, cuerpo, _) in casos {
        let c = app.cliente.publicar(rk, cuerpo, Some("id-1"), Some("Bearer secreto")).await;
        let r = app.cliente.respuesta(&c).await;
        assert_eq!(r["error"]["codigo"], "SOLICITUD_INVALIDA", "{rk}: {r}");
        assert_eq!(r["error"]["http"], 400);
    }
    let topo = app.topologia();
    let mut rechazados = vec![];
    for _ in 0..50 {
        match app.cliente.canal.basic_get(topo.rechazados().into(), BasicGetOptions { no_ack: true }).await.unwrap() {
            Some(m) => rechazados.push(m),
            None if rechazados.len() == casos.len() => break,
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(rechazados.len(), casos.len());
    for (m, (rk, cuerpo, motivo)) in rechazados.iter().zip(casos) {
        let h = m.delivery.properties.headers().as_ref().unwrap().inner();
        let texto = |k: &str| match h.get(k) {
            Some(lapin::types::AMQPValue::LongString(s)) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
            otro => panic!("{k}: {otro:?}"),
        };
        assert!(texto("x-mesa-motivo").contains(motivo), "{}", texto("x-mesa-motivo"));
        assert_eq!(texto("x-mesa-routing-key"), rk);
        assert_eq!(m.delivery.data, cuerpo, "parked as published");
        assert!(h.get("authorization").is_none(), "credentials are not parked");
        assert!(h.get("traceparent").is_some(), "other headers are kept");
    }

    // A well-formed mutation without message_id is refused and acked, not dead-lettered.
    let c = app.cliente.publicar("ticket.crear", ana_garcia().to_string().as_bytes(), None, None).await;
    let r = app.cliente.respuesta(&c).await;
    assert_eq!(r["error"]["codigo"], "SOLICITUD_INVALIDA", "{r}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        app.cliente
            .canal
            .basic_get(topo.rechazados().into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 0);

    // And the worker goes on.
    app.crear().await;
}

#[tokio::test]
async fn back_to_back_commands_on_one_ticket_apply_in_publish_order() {
    let mut app = TestApp::spawn().await;
    let mut tickets = vec![];
    for _ in 0..4 {
        tickets.push(app.crear().await["ticketUuid"].as_str().unwrap().to_string());
    }
    // Per ticket: asignar, 11 notes, pausar; tickets interleaved; no waiting.
    let (correlaciones, esperado) = publicar_rafaga(&app.cliente, &tickets, 13).await;
    for c in correlaciones {
        let r = app.cliente.respuesta(&c).await;
        assert_eq!(r["ok"], true, "{r}");
    }
    for (i, t) in tickets.iter().enumerate() {
        assert_eq!(motivos(&app.pool, t).await, esperado[i]);
        assert_eq!(app.fila(t).await["version"], 14);
    }
}

/// Lanes take tickets by load (`amqp/reparto.rs`): a ticket's commands stay
/// in the lane that holds some of them, and move on only once that lane is
/// done with them. Many small batches over four lanes, published in parts
/// while earlier parts are still being applied, so tickets keep leaving one
/// lane and landing in another mid-stream: every ticket's history is still
/// in publish order.
#[tokio::test]
async fn tickets_handed_between_lanes_mid_stream_keep_publish_order() {
    let mut app = TestApp::spawn_with(|s| {
        s.worker.lanes = 4;
        s.worker.lote = 3;
        s.worker.juntar = Duration::ZERO;
    })
    .await;
    let mut tickets = vec![];
    for _ in 0..24 {
        tickets.push(app.crear().await["ticketUuid"].as_str().unwrap().to_string());
    }
    let pasos = 15;
    let mut esperado: Vec<Vec<String>> = vec![vec![]; tickets.len()];
    let mut pendientes = vec![];
    for parte in [0..5, 5..10, 10..15] {
        let (correlaciones, motivos_parte) = publicar_pasos(&app.cliente, &tickets, parte, pasos).await;
        for (e, m) in esperado.iter_mut().zip(motivos_parte) {
            e.extend(m);
        }
        pendientes.extend(correlaciones);
        // Half of what is out is answered before the next part goes: the
        // rest is still queued or in a batch when it arrives.
        let mitad = pendientes.len() / 2;
        for c in pendientes.drain(..mitad) {
            assert_eq!(app.cliente.respuesta(&c).await["ok"], true);
        }
    }
    for c in pendientes {
        assert_eq!(app.cliente.respuesta(&c).await["ok"], true);
    }
    for (i, t) in tickets.iter().enumerate() {
        assert_eq!(motivos(&app.pool, t).await, esperado[i], "ticket {i}");
        assert_eq!(app.fila(t).await["version"], pasos as i64 + 1);
    }
}

#[tokio::test]
async fn shutdown_finishes_in_flight_work_and_loses_nothing() {
    // The drain applies what was prefetched (up to the whole burst), waits
    // for its acks and flushes the relay: 5 s is not enough on a loaded
    // machine. 15 s stays inside `detener`'s 20 s, which still requires
    // `Cierre::Completo`.
    let mut app = TestApp::spawn_with(|s| s.worker.shutdown_grace = Duration::from_secs(15)).await;
    // Enough for acks to pile up past a quorum queue's 32 in flight.
    let n = 200;
    for _ in 0..n {
        app.cliente
            .publicar(
                "ticket.crear",
                ana_garcia().to_string().as_bytes(),
                Some(&uuid::Uuid::new_v4().to_string()),
                None,
            )
            .await;
    }
    // Stop while the burst is being worked through.
    while app.contar("SELECT count(*) FROM tickets").await == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    app.detener().await;
    let aplicados = app.contar("SELECT count(*) FROM tickets").await;
    let topo = app.topologia();
    // Deliveries the stopped worker held unacked go back to the queue when its
    // connection closes; the broker settles them asynchronously.
    let fin = std::time::Instant::now() + Duration::from_secs(30);
    let mut en_cola = app.cliente.en_cola(topo.comandos()).await;
    while aplicados + en_cola != n && std::time::Instant::now() < fin {
        tokio::time::sleep(Duration::from_millis(100)).await;
        en_cola = app.cliente.en_cola(topo.comandos()).await;
    }
    // More than n: a command was applied but its ack did not land before exit.
    assert_eq!(aplicados + en_cola, n, "applied {aplicados} + queued {en_cola}");
    // Every applied command's event was flushed before exit.
    assert_eq!(app.contar("SELECT count(*) FROM outbox WHERE publicado_en IS NULL").await, 0);

    // A new worker finishes the rest, each exactly once.
    let otra = Aplicacion::build(app.config.clone()).await.unwrap();
    let parar = CancellationToken::new();
    let h = tokio::spawn(otra.ejecutar(parar.clone()));
    esperar_conteo(&app.pool, "SELECT count(*) FROM tickets", n, Duration::from_secs(60)).await;
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, n);
    assert_eq!(app.contar("SELECT count(DISTINCT comando_id) FROM historial").await, n);
    parar.cancel();
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_shutdown_during_a_database_outage_hands_everything_back_in_order() {
    // The worker reaches Postgres through a relay this test cuts.
    let corte = Corte::hacia_postgres().await;
    let mut app = TestApp::spawn_with(|s| {
        s.database.url = SecretString::from(corte.url(s.database.url.expose_secret()));
    })
    .await;
    let mut tickets = vec![];
    for _ in 0..16 {
        tickets.push(app.crear().await["ticketUuid"].as_str().unwrap().to_string());
    }
    let pasos = 30;
    let (correlaciones, esperado) = publicar_rafaga(&app.cliente, &tickets, pasos).await;
    while app.contar("SELECT count(*) FROM historial WHERE accion <> 'CREACION'").await < 20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    corte.cortar();
    // The lanes hit the outage and retry; then the worker is told to stop.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.detener().await;
    corte.restablecer();
    let total = (tickets.len() * pasos) as i64;
    let aplicados = app.contar("SELECT count(*) FROM historial WHERE accion <> 'CREACION'").await;
    assert!(aplicados < total, "the outage came after the burst was done: nothing tested");
    let rechazados = app.cliente.en_cola(app.topologia().rechazados()).await;
    assert_eq!(rechazados, 0, "a command not applied during the outage was parked as refused");

    // A new worker finishes the rest: every command once, in publish order.
    let otra = Aplicacion::build(app.config.clone()).await.unwrap();
    let parar = CancellationToken::new();
    let h = tokio::spawn(otra.ejecutar(parar.clone()));
    for c in &correlaciones {
        let r = app.cliente.respuesta(c).await;
        assert_eq!(r["ok"], true, "{r}");
    }
    for (i, t) in tickets.iter().enumerate() {
        assert_eq!(motivos(&app.pool, t).await, esperado[i], "ticket {i}: every command once, in publish order");
    }
    parar.cancel();
    h.await.unwrap().unwrap();
}

#[tokio::test]
async fn retention_prunes_old_published_events_and_idempotency_records_only() {
    // No relay runs here (the processor alone), so the outbox rows stay as the test sets them.
    let (settings, db) = settings_de_prueba();
    crear_base(&db).await;
    let app = Aplicacion::build(mesa_ayuda::configuration::Config::desde(settings.clone()).unwrap()).await.unwrap();
    let _limpieza = Limpieza(Some((db, app.topologia(), settings.amqp.url.expose_secret().to_string())));
    mesa_ayuda::store::migrate(&app.pool).await.unwrap();
    let crear = |id: &str| mensaje("crear", ana_garcia(), Some(id), None);
    let contar = |sql: &'static str| {
        let pool = app.pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await.unwrap() }
    };
    let ids: Vec<String> = (0..4).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    for id in &ids {
        assert_eq!(app.procesador.procesar(&crear(id)).await.unwrap().json()["ok"], true);
    }
    // Two commands are 40 days old; events 1–2 were published 8 days ago,
    // event 3 today, event 4 is 9 days old and was never published.
    sqlx::query("UPDATE comandos SET procesado_en = now() - interval '40 days' WHERE message_id = ANY($1)")
        .bind(&ids[..2])
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE outbox SET publicado_en = CASE WHEN r <= 2 THEN now() - interval '8 days' WHEN r = 3 THEN now() END, \
         creado_en = now() - interval '9 days' \
         FROM (SELECT id AS oid, row_number() OVER (ORDER BY id) AS r FROM outbox) o WHERE o.oid = outbox.id",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let p = mesa_ayuda::retencion::podar(
        &app.pool,
        chrono::Utc::now(),
        chrono::TimeDelta::days(7),
        chrono::TimeDelta::days(30),
    )
    .await
    .unwrap();
    assert_eq!((p.eventos, p.comandos), (2, 2));
    assert_eq!(contar("SELECT count(*) FROM outbox").await, 2);
    assert_eq!(contar("SELECT count(*) FROM outbox WHERE publicado_en IS NULL").await, 1, "unsent events stay");
    assert_eq!(contar("SELECT count(*) FROM comandos").await, 2);

    // The duplicate window: inside it a re-send is recognised, past it the id is new.
    app.procesador.procesar(&crear(&ids[3])).await.unwrap();
    assert_eq!(contar("SELECT count(*) FROM tickets").await, 4);
    app.procesador.procesar(&crear(&ids[0])).await.unwrap();
    assert_eq!(contar("SELECT count(*) FROM tickets").await, 5);
}

#[tokio::test]
async fn a_command_that_keeps_coming_back_is_dead_lettered_at_the_delivery_limit() {
    // No worker consumes; a client that fails the command every time (as a
    // crashing worker would, by never acking it) returns it to the queue.
    let mut app = TestApp::spawn_with(|s| s.topology.delivery_limit = 3).await;
    app.detener().await;
    let topo = app.topologia();
    app.cliente.publicar("ticket.crear", ana_garcia().to_string().as_bytes(), Some("vuelve-siempre"), None).await;
    let canal = &app.cliente.canal;
    let mut consumidor = canal
        .basic_consume(topo.comandos().into(), "rebote".into(), Default::default(), Default::default())
        .await
        .unwrap();
    let mut entregas = 0;
    for _ in 0..50 {
        match tokio::time::timeout(Duration::from_millis(300), futures_util::StreamExt::next(&mut consumidor)).await {
            Ok(Some(Ok(d))) => {
                entregas += 1;
                d.acker.nack(lapin::options::BasicNackOptions { requeue: true, ..Default::default() }).await.unwrap();
            }
            _ => {
                if let Some(m) =
                    canal.basic_get(topo.rechazados().into(), BasicGetOptions { no_ack: true }).await.unwrap()
                {
                    assert_eq!(m.delivery.properties.message_id().as_ref().unwrap().as_str(), "vuelve-siempre");
                    assert!(entregas <= 4, "dead-lettered after the limit, not later ({entregas} deliveries)");
                    return;
                }
            }
        }
    }
    panic!("never dead-lettered after {entregas} deliveries");
}

#[tokio::test]
async fn a_batch_commits_together_and_keeps_each_commands_own_answer() {
    let mut app = TestApp::spawn().await;
    let ticket = app.crear().await["ticketUuid"].as_str().unwrap().to_string();
    let auth = format!("Bearer {}", token("MESA", None));
    let vencido = format!("Bearer {}", token_con("MESA", None, -3600, SECRETO));
    let lote = [
        mensaje("asignar", json!({"ticketId": ticket}), Some("l-1"), Some(&auth)),
        mensaje("asignar", json!({"ticketId": ticket}), Some("l-1"), Some(&auth)), // the same command twice
        mensaje("reabrir", json!({"ticketId": ticket}), Some("l-2"), Some(&auth)), // illegal from ASIGNADO
        mensaje("pausar", json!({"ticketId": ticket, "motivo": "m"}), Some("l-3"), None), // no token
        mensaje("crear", ana_garcia(), Some("l-4"), None),
        mensaje("pausar", json!({"ticketId": ticket, "motivo": "espera"}), Some("l-5"), Some(&auth)),
        mensaje("detalle", json!({"ticketId": ticket}), None, Some(&auth)), // sees the batch's own writes
        mensaje("crear", json!(42), Some("l-6"), None),                     // a body that is not an object
        mensaje("asignar", json!({"ticketId": ticket}), Some("l-1"), None), // a copy with no token
        mensaje("reabrir", json!({"ticketId": ticket}), Some("l-7"), Some(&auth)), // after the query: sees PAUSADO
        mensaje("asignar", json!({"ticketId": ticket}), Some("l-1"), Some(&vencido)), // same sender, token expired
    ];
    let refs: Vec<&Mensaje> = lote.iter().collect();
    let d = app.procesador.procesar_lote(&refs).await.unwrap();
    let codigo = |i: usize| d[i].json()["error"]["codigo"].as_str().unwrap_or("ok").to_string();
    assert_eq!(d.len(), lote.len());
    assert_eq!(d[0].json()["datos"]["estado"], "ASIGNADO");
    assert_eq!(d[1].respuesta, d[0].respuesta, "a duplicate in the same batch replays the first reply");
    assert_eq!(codigo(2), "TRANSICION_INVALIDA");
    assert_eq!(codigo(3), "NO_AUTENTICADO");
    assert_eq!(d[4].json()["datos"]["estado"], "NUEVO");
    assert_eq!(d[5].json()["datos"]["estado"], "PAUSADO");
    let detalle = d[6].json();
    let historial = detalle["datos"]["historial"].as_array().unwrap();
    assert_eq!(historial.len(), 3, "CREACION, ASIGNACION, PAUSA");
    assert_eq!(codigo(7), "SOLICITUD_INVALIDA");
    assert!(matches!(d[7].disposicion, mesa_ayuda::error::Disposicion::DeadLetter { .. }));
    assert_eq!(codigo(8), "NO_AUTENTICADO", "a recorded reply only for its signer (§3)");
    assert_eq!(d[9].json()["datos"]["estado"], "ASIGNADO", "{}", d[9].respuesta);
    assert_eq!(d[10].respuesta, d[0].respuesta, "the same signer with an expired token gets its reply");
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 2);
    let tipos: Vec<String> =
        sqlx::query_scalar("SELECT tipo FROM outbox ORDER BY id").fetch_all(&app.pool).await.unwrap();
    let esperados = ["ticket.creado", "ticket.asignado", "ticket.creado", "ticket.pausado", "ticket.reabierto"];
    assert_eq!(tipos, esperados, "events in delivery order");
    let acciones: Vec<String> =
        sqlx::query_scalar("SELECT accion FROM historial WHERE ticket_uuid = $1::uuid ORDER BY id")
            .bind(&ticket)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(acciones, ["CREACION", "ASIGNACION", "PAUSA", "REAPERTURA"]);
    let (estado, version): (String, i64) = sqlx::query_as("SELECT estado, version FROM tickets WHERE uuid = $1::uuid")
        .bind(&ticket)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!((estado.as_str(), version), ("ASIGNADO", 4), "the last state of the batch is the one stored");

    // Replayed whole (as after a crash before the acks): nothing changes twice.
    let again = app.procesador.procesar_lote(&refs).await.unwrap();
    for i in [0, 2, 4, 5, 8, 9] {
        assert_eq!(again[i].respuesta, d[i].respuesta, "command {i}");
    }
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 2);
    assert_eq!(app.contar("SELECT count(*) FROM historial").await, 5, "four on the first ticket, one on the second");
    assert_eq!(app.contar("SELECT count(*) FROM outbox").await, 5);
}
