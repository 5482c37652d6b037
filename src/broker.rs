//! RabbitMQ adapter: connection, topology (contract §1), header extraction,
//! replies, and the reconnect-with-backoff loop every broker client shares.

use crate::procesador::{Mensaje, traceparent_valido};
use lapin::message::Delivery;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use rand::Rng;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Names of every exchange and queue, under one prefix.
#[derive(Debug, Clone)]
pub struct Topologia {
    pub prefijo: String,
    pub delivery_limit: u32,
}

impl Topologia {
    pub fn new(prefijo: &str, delivery_limit: u32) -> Self {
        Self { prefijo: prefijo.to_string(), delivery_limit }
    }
    /// Exchange and queue for commands share this name.
    pub fn comandos(&self) -> String {
        format!("{}.comandos", self.prefijo)
    }
    pub fn dlx(&self) -> String {
        format!("{}.comandos.dlx", self.prefijo)
    }
    pub fn rechazados(&self) -> String {
        format!("{}.comandos.rechazados", self.prefijo)
    }
    pub fn eventos(&self) -> String {
        format!("{}.eventos", self.prefijo)
    }
    pub fn alertas(&self) -> String {
        format!("{}.sla.alertas", self.prefijo)
    }
}

pub async fn conectar(url: &str, nombre: &str) -> lapin::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(LongString::from(nombre.to_string()));
    Connection::connect(url, props).await
}

fn quorum(args: &mut FieldTable) -> &mut FieldTable {
    args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()))
}

/// Declares the whole topology. Idempotent: every replica does it at start.
pub async fn declarar(canal: &Channel, topo: &Topologia) -> lapin::Result<()> {
    let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
    let queue = QueueDeclareOptions { durable: true, ..Default::default() };
    canal.exchange_declare(topo.comandos().into(), ExchangeKind::Topic, durable, FieldTable::default()).await?;
    canal.exchange_declare(topo.dlx().into(), ExchangeKind::Fanout, durable, FieldTable::default()).await?;
    canal.exchange_declare(topo.eventos().into(), ExchangeKind::Topic, durable, FieldTable::default()).await?;

    let mut args = FieldTable::default();
    quorum(&mut args)
        .insert("x-dead-letter-exchange".into(), AMQPValue::LongString(topo.dlx().into()))
        .insert("x-delivery-limit".into(), AMQPValue::LongInt(topo.delivery_limit as i32))
        // One consumer at a time keeps publish order across replicas; the
        // others stand by and take over when it goes away.
        .insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    canal.queue_declare(topo.comandos().into(), queue, args).await?;
    let bind = |q: String, x: String, key: &str| {
        let key = key.to_string();
        async move {
            canal.queue_bind(q.into(), x.into(), key.into(), QueueBindOptions::default(), FieldTable::default()).await
        }
    };
    bind(topo.comandos(), topo.comandos(), "ticket.*").await?;

    let mut args = FieldTable::default();
    canal.queue_declare(topo.rechazados().into(), queue, quorum(&mut args).clone()).await?;
    bind(topo.rechazados(), topo.dlx(), "").await?;

    let mut args = FieldTable::default();
    canal.queue_declare(topo.alertas().into(), queue, quorum(&mut args).clone()).await?;
    bind(topo.alertas(), topo.eventos(), "sla.#").await?;
    Ok(())
}

/// Removes the topology (tests use it to leave the broker clean).
pub async fn borrar(canal: &Channel, topo: &Topologia) -> lapin::Result<()> {
    for q in [topo.comandos(), topo.rechazados(), topo.alertas()] {
        canal.queue_delete(q.into(), QueueDeleteOptions::default()).await?;
    }
    for x in [topo.comandos(), topo.dlx(), topo.eventos()] {
        canal.exchange_delete(x.into(), ExchangeDeleteOptions::default()).await?;
    }
    Ok(())
}

/// A private tap: an exclusive, auto-deleted queue bound to `exchange` with
/// `patron`, consumed without acks. It sees every matching message from now
/// on and takes nothing from anyone else; it vanishes with the connection.
pub async fn escuchar(canal: &Channel, exchange: &str, patron: &str) -> lapin::Result<lapin::Consumer> {
    let privada = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
    let q = canal.queue_declare("".into(), privada, FieldTable::default()).await?;
    canal
        .queue_bind(
            q.name().clone(),
            exchange.to_string().into(),
            patron.to_string().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    canal
        .basic_consume(
            q.name().clone(),
            "".into(),
            BasicConsumeOptions { no_ack: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
}

/// A header as text, whether sent as a long or a short string.
pub fn header(props: &BasicProperties, nombre: &str) -> Option<String> {
    let headers = props.headers().as_ref()?;
    match headers.inner().get(nombre)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// The command a delivery carries, or `None` when its body is larger than
/// `max_cuerpo`: such a body is refused unread, never copied or parsed.
pub fn mensaje(delivery: &Delivery, max_cuerpo: usize) -> Option<Mensaje> {
    if delivery.data.len() > max_cuerpo {
        return None;
    }
    let p = &delivery.properties;
    Some(Mensaje {
        routing_key: delivery.routing_key.as_str().to_string(),
        message_id: p.message_id().as_ref().map(|s| s.as_str().to_string()),
        authorization: header(p, "authorization"),
        traceparent: traceparent_valido(header(p, "traceparent").as_deref()).map(str::to_string),
        body: delivery.data.clone(),
    })
}

/// Publishes a reply to `reply_to` on the default exchange.
pub async fn responder(
    canal: &Channel,
    reply_to: &ShortString,
    correlation_id: Option<&ShortString>,
    cuerpo: &serde_json::Value,
) -> lapin::Result<()> {
    let mut props = BasicProperties::default().with_content_type("application/json".into());
    if let Some(c) = correlation_id {
        props = props.with_correlation_id(c.clone());
    }
    let payload = serde_json::to_vec(cuerpo).expect("JSON values serialize");
    canal.basic_publish("".into(), reply_to.clone(), BasicPublishOptions::default(), &payload, props).await?;
    Ok(())
}

/// Parks a delivery on the dead-letter exchange with why, where it was going
/// and its original properties; returns once the broker confirmed it.
pub async fn rechazar(canal: &Channel, dlx: &str, delivery: &Delivery, motivo: &str) -> anyhow::Result<()> {
    let mut headers = FieldTable::default();
    for (k, v) in delivery.properties.headers().as_ref().map(|h| h.inner().clone()).unwrap_or_default() {
        // A credential has no business sitting in a queue operators browse.
        if k.as_str() != "authorization" {
            headers.insert(k, v);
        }
    }
    // The reason may quote user input: keep it bounded.
    let motivo: String = motivo.chars().take(500).collect();
    headers.insert("x-mesa-motivo".into(), AMQPValue::LongString(motivo.into()));
    headers
        .insert("x-mesa-routing-key".into(), AMQPValue::LongString(delivery.routing_key.as_str().to_string().into()));
    let props = delivery.properties.clone().with_headers(headers);
    let confirmacion = canal
        .basic_publish(
            dlx.to_string().into(),
            delivery.routing_key.clone(),
            BasicPublishOptions::default(),
            &delivery.data,
            props,
        )
        .await?
        .await?;
    anyhow::ensure!(confirmacion.is_ack(), "el broker no confirmó el rechazo");
    Ok(())
}

/// Capped exponential backoff with full jitter.
pub fn espera(intento: u32) -> Duration {
    let tope = Duration::from_millis(200u64.saturating_mul(1 << intento.min(6))).min(Duration::from_secs(10));
    let ms = rand::rng().random_range(tope.as_millis() as u64 / 2..=tope.as_millis() as u64);
    Duration::from_millis(ms)
}

/// Runs `sesion` until it ends cleanly (shutdown), reconnecting with backoff
/// whenever it fails. `conectado` mirrors whether a session is up.
pub async fn con_reconexion<F, Fut>(
    componente: &'static str,
    shutdown: &CancellationToken,
    conectado: Arc<AtomicBool>,
    reconexiones: impl Fn(),
    mut sesion: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut intento = 0u32;
    while !shutdown.is_cancelled() {
        let inicio = std::time::Instant::now();
        let resultado = sesion().await;
        conectado.store(false, Ordering::SeqCst);
        match resultado {
            Ok(()) => break,
            Err(e) => {
                // A session that ran a while was healthy: start the backoff over.
                if inicio.elapsed() > Duration::from_secs(30) {
                    intento = 0;
                }
                let pausa = espera(intento);
                tracing::warn!(componente, error = %format!("{e:#}"), reintento_en_ms = pausa.as_millis() as u64, "sesión con RabbitMQ perdida");
                reconexiones();
                intento = intento.saturating_add(1);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pausa) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_contract() {
        let t = Topologia::new("mesa", 20);
        assert_eq!(
            [t.comandos(), t.dlx(), t.rechazados(), t.eventos(), t.alertas()],
            ["mesa.comandos", "mesa.comandos.dlx", "mesa.comandos.rechazados", "mesa.eventos", "mesa.sla.alertas"]
        );
    }

    #[test]
    fn backoff_is_capped() {
        for i in 0..50 {
            assert!(espera(i) <= Duration::from_secs(10));
        }
        assert!(espera(0) <= Duration::from_millis(200));
    }
}
