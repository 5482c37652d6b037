//! `carga --eco`'s worker: the broker half of a command and nothing else.
//!
//! It consumes `P.comandos` as the worker does (same client, connection
//! layout, prefetch, reply path and gathering window `worker.juntar`),
//! answers each delivery with a fixed `ok` reply, acks it, and publishes one event per command through a
//! second connection with publisher confirms, gathered the way the relay
//! gathers them. No database, no validation, no token. Its CPU per command
//! at a given rate is the floor the AMQP client puts under the real worker's
//! (docs/performance.md, "The broker's floor").

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use mesa_ayuda::amqp::{self, Topologia};
use mesa_ayuda::configuration::Config;
use secrecy::ExposeSecret;
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long the event publisher lets events gather after the first one, as
/// the relay's default `outbox.juntar`.
const JUNTAR_EVENTOS: Duration = Duration::from_millis(10);

/// Runs until the process is killed.
pub(crate) async fn ejecutar() -> anyhow::Result<()> {
    let settings = Config::load()?.settings;
    let topo = Topologia::de(&settings.topology);
    let url = settings.amqp.url.expose_secret().to_string();
    let conexion = amqp::conectar(&url, "mesa-bench eco consumidor").await?;
    let canal = conexion.create_channel().await?;
    let respuestas = conexion.create_channel().await?;
    amqp::declarar(&canal, &topo).await?;
    canal.basic_qos(settings.amqp.prefetch, BasicQosOptions::default()).await?;
    let mut entregas = canal
        .basic_consume(
            topo.comandos().as_str().into(),
            "mesa-bench-eco".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;

    let relay = amqp::conectar(&url, "mesa-bench eco relay").await?;
    let eventos = relay.create_channel().await?;
    eventos.confirm_select(ConfirmSelectOptions::default()).await?;
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(publicar_eventos(eventos, topo.eventos(), rx));

    // Batched as the lanes batch: what arrives within `worker.juntar` of
    // the first delivery is answered and acked together.
    let juntar = settings.worker.juntar;
    while let Some(entrega) = entregas.next().await {
        let mut lote = vec![entrega?];
        let hasta = tokio::time::Instant::now() + juntar;
        while let Ok(Some(otra)) = tokio::time::timeout_at(hasta, entregas.next()).await {
            lote.push(otra?);
        }
        let respuestas = &respuestas;
        let finales = lote.iter().map(|delivery| async move {
            let respuesta = json!({"ok": true, "datos": {"ticketUuid": uuid::Uuid::new_v4()}}).to_string();
            if let Some(reply_to) = delivery.properties.reply_to() {
                let correlacion = delivery.properties.correlation_id().as_ref();
                amqp::responder(respuestas, reply_to, correlacion, respuesta.as_bytes()).await?;
            }
            delivery.acker.ack(BasicAckOptions::default()).await?;
            anyhow::Ok(())
        });
        for r in futures_util::future::join_all(finales).await {
            r?;
        }
        for delivery in &lote {
            let comando = delivery.properties.message_id().as_ref().map(|m| m.as_str().to_string()).unwrap_or_default();
            let _ = tx.send(comando);
        }
    }
    Ok(())
}

/// The relay's shape: wait for a first event, let others gather, publish
/// them all, then wait for every confirm.
async fn publicar_eventos(canal: Channel, exchange: String, mut rx: mpsc::UnboundedReceiver<String>) {
    while let Some(primero) = rx.recv().await {
        tokio::time::sleep(JUNTAR_EVENTOS).await;
        let mut lote = vec![primero];
        while let Ok(otro) = rx.try_recv() {
            lote.push(otro);
        }
        let mut confirmaciones = Vec::with_capacity(lote.len());
        for comando in lote {
            let cuerpo = json!({"type": "ticket.eco", "data": {"comandoId": comando}}).to_string();
            let props = BasicProperties::default().with_content_type("application/json".into());
            match canal
                .basic_publish(
                    exchange.as_str().into(),
                    "ticket.eco".into(),
                    BasicPublishOptions::default(),
                    cuerpo.as_bytes(),
                    props,
                )
                .await
            {
                Ok(c) => confirmaciones.push(c),
                Err(e) => {
                    eprintln!("eco: no se pudo publicar un evento: {e}");
                    return;
                }
            }
        }
        for c in futures_util::future::join_all(confirmaciones).await {
            if let Err(e) = c {
                eprintln!("eco: evento sin confirmar: {e}");
                return;
            }
        }
    }
}
