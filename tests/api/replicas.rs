//! Several worker processes on one queue: per-ticket order holds, and a
//! standby takes over when the active consumer is killed with SIGKILL or
//! stopped with SIGTERM.

use crate::helpers::*;
use std::time::{Duration, Instant};

/// `n` worker processes on a fresh database (the in-process worker stopped):
/// the first is the active consumer, the others stand by. Plus 24 tickets.
async fn replicas(n: usize) -> (TestApp, Vec<Proceso>, Vec<String>) {
    let mut app = TestApp::spawn().await;
    app.detener().await;
    let mut procesos = vec![Proceso::iniciar(&app.config.settings)];
    esperar_worker(&mut app).await;
    procesos.extend((1..n).map(|_| Proceso::iniciar(&app.config.settings)));
    // Every standby subscribed (a takeover timed from a kill must not
    // include a standby still starting up).
    let limite = Instant::now() + Duration::from_secs(60);
    while !procesos.iter().all(|p| p.log().contains("consumiendo comandos")) {
        assert!(Instant::now() < limite, "a replica never subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut tickets = vec![];
    for _ in 0..24 {
        tickets.push(app.crear().await["ticketUuid"].as_str().unwrap().to_string());
    }
    (app, procesos, tickets)
}

#[tokio::test]
async fn three_replicas_keep_per_ticket_order_when_the_active_one_is_killed() {
    let (mut app, mut procesos, tickets) = replicas(3).await;
    let activo = &mut procesos[0];
    // Half the burst goes out, the active consumer is killed mid-flight, the rest follows.
    let pasos = 12;
    let (mut correlaciones, mut esperado) = publicar_pasos(&app.cliente, &tickets, 0..pasos / 2, pasos).await;
    activo.matar();
    let muerte = Instant::now();
    let (resto, esperado_resto) = publicar_pasos(&app.cliente, &tickets, pasos / 2..pasos, pasos).await;
    correlaciones.extend(resto);
    for (e, r) in esperado.iter_mut().zip(esperado_resto) {
        e.extend(r);
    }
    let mut primera_tras_muerte = None;
    for c in &correlaciones[correlaciones.len() / 2..] {
        let r = app.cliente.respuesta(c).await;
        primera_tras_muerte.get_or_insert(Instant::now());
        assert_eq!(r["ok"], true, "{r}");
    }
    for c in &correlaciones[..correlaciones.len() / 2] {
        // Replies of commands in flight at the kill come from the replica that
        // took over (replayed from the idempotency record).
        let r = app.cliente.respuesta(c).await;
        assert_eq!(r["ok"], true, "{r}");
    }
    let relevo = primera_tras_muerte.unwrap() - muerte;
    assert!(relevo < Duration::from_secs(10), "takeover took {relevo:?}");

    for (i, t) in tickets.iter().enumerate() {
        assert_eq!(motivos(&app.pool, t).await, esperado[i], "ticket {i}: every command once, in publish order");
        assert_eq!(app.fila(t).await["version"], 1 + pasos as i64);
    }
    assert_eq!(
        app.contar("SELECT count(*) FROM historial WHERE comando_id IS NOT NULL").await,
        app.contar("SELECT count(DISTINCT comando_id) FROM historial").await,
        "no command applied twice"
    );
    // Every change's event is published exactly once in the outbox's eyes
    // (the wait fails the test if some stay unpublished).
    esperar_outbox_publicado(&app.pool, Duration::from_secs(30)).await;
    assert_eq!(app.contar("SELECT count(*) FROM outbox").await, app.contar("SELECT count(*) FROM historial").await);
}

#[tokio::test]
async fn a_sigterm_handover_under_backlog_keeps_per_ticket_order() {
    let (mut app, mut procesos, tickets) = replicas(2).await;
    let activo = &mut procesos[0];
    // A backlog well past the prefetch: while the active worker drains, the
    // broker keeps handing it deliveries it will never start.
    let pasos = 30;
    let (correlaciones, esperado) = publicar_rafaga(&app.cliente, &tickets, pasos).await;
    while app.contar("SELECT count(*) FROM historial WHERE accion <> 'CREACION'").await < 50 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let estado = activo.terminar();
    assert!(estado.success(), "exit status {estado:?}");
    for c in &correlaciones {
        let r = app.cliente.respuesta(c).await;
        assert_eq!(r["ok"], true, "{r}");
    }
    for (i, t) in tickets.iter().enumerate() {
        assert_eq!(motivos(&app.pool, t).await, esperado[i], "ticket {i}: every command once, in publish order");
    }
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let mut app = TestApp::spawn().await;
    app.detener().await;
    let mut p = Proceso::iniciar(&app.config.settings);
    esperar_worker(&mut app).await;
    let id = app.crear().await["ticketUuid"].as_str().unwrap().to_string();
    let estado = p.terminar();
    assert!(estado.success(), "exit status {estado:?}");
    assert_eq!(app.fila(&id).await["estado"], "NUEVO");
}
