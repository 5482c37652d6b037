//! The worker's AMQP edges (contract §3, v1.2): what a publisher sets on a
//! command never makes the worker write where that publisher could not.

use crate::helpers::{TestApp, ana_garcia, propiedades, publicar, valor_metrica};
use lapin::types::FieldTable;
use mesa_ayuda::rechazados::Rechazados;
use secrecy::ExposeSecret;
use std::time::Duration;

/// Issue #25, item 3: a command whose `reply_to` was `P.sla.alertas` or
/// `P.comandos.rechazados` got its reply published there, so a publisher
/// allowed to write only to `P.comandos` could write into the operators'
/// alert stream and the dead-letter queue.
#[tokio::test]
async fn a_reply_to_into_the_workers_own_topology_is_parked_and_nothing_is_published_there() {
    let app = TestApp::spawn().await;
    let topo = app.topologia();
    let destinos = [topo.alertas(), topo.rechazados(), topo.comandos(), format!("{}.otra", topo.prefijo)];
    for (i, destino) in destinos.iter().enumerate() {
        let props = propiedades(Some(&format!("rt-{i}")), Some((destino, "c")), FieldTable::default());
        let cuerpo = ana_garcia().to_string();
        publicar(&app.cliente.canal, &topo, "ticket.crear", cuerpo.as_bytes(), props).await.unwrap();
    }
    let mut en_rechazados = 0;
    for _ in 0..150 {
        en_rechazados = app.cliente.en_cola(topo.rechazados()).await;
        if en_rechazados >= destinos.len() as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A moment more: a reply published into a queue would be there by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.cliente.en_cola(topo.rechazados()).await, destinos.len() as i64, "one dead letter each, no reply");
    assert_eq!(app.cliente.en_cola(topo.alertas()).await, 0, "nothing in the alert stream");
    assert_eq!(app.cliente.en_cola(topo.comandos()).await, 0, "nothing fed back as a command");
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 0, "none applied");
    let rechazados = Rechazados::abrir(app.config.settings.amqp.url.expose_secret(), topo.clone()).await.unwrap();
    let lista = rechazados.listar(10).await.unwrap();
    rechazados.cerrar().await;
    assert_eq!(lista.len(), destinos.len(), "{lista:?}");
    for r in &lista {
        let motivo = r.motivo.as_deref().unwrap_or_default();
        assert!(motivo.contains("reply_to") && motivo.contains("topología"), "{motivo}");
        assert_eq!(r.routing_key, "ticket.crear");
    }
    let texto = app.metricas.texto();
    let muestra = "mesa_comandos_total{operacion=\"crear\",resultado=\"reply_to_propio\"}";
    assert_eq!(valor_metrica(&texto, muestra), Some(destinos.len() as f64), "{texto}");
    assert!(en_rechazados > 0);
}

/// The rule is the prefix and its dot, nothing looser: a queue of another
/// topology, or one whose name merely starts with the same letters, still
/// gets its reply.
#[tokio::test]
async fn a_reply_to_outside_the_topology_is_answered_as_before() {
    let app = TestApp::spawn().await;
    let topo = app.topologia();
    let vecina = format!("{}x.respuestas", topo.prefijo);
    let opciones = lapin::options::QueueDeclareOptions { auto_delete: true, ..Default::default() };
    app.cliente.canal.queue_declare(vecina.clone().into(), opciones, FieldTable::default()).await.unwrap();
    let props = propiedades(Some("vecina-1"), Some((&vecina, "c")), FieldTable::default());
    publicar(&app.cliente.canal, &topo, "ticket.crear", ana_garcia().to_string().as_bytes(), props).await.unwrap();
    let mut en_vecina = 0;
    for _ in 0..150 {
        en_vecina = app.cliente.en_cola(vecina.clone()).await;
        if en_vecina == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(en_vecina, 1, "the reply went to {vecina}");
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 1);
}
