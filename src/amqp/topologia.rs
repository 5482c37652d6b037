//! The topology of contract §1: names under one prefix, declared idempotently.

use lapin::options::{
    BasicConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

/// Names of every exchange and queue, under one prefix.
#[derive(Debug, Clone)]
pub struct Topologia {
    /// Prefix of every name (`P` in the contract).
    pub prefijo: String,
    /// Deliveries of one command before the quorum queue dead-letters it.
    pub delivery_limit: u32,
}

impl Topologia {
    /// The topology under `prefijo`.
    pub fn new(prefijo: &str, delivery_limit: u32) -> Self {
        Self { prefijo: prefijo.to_string(), delivery_limit }
    }
    /// The topology `[topology]` describes.
    pub fn de(ajustes: &crate::configuration::TopologySettings) -> Self {
        Self::new(&ajustes.prefix, ajustes.delivery_limit)
    }
    /// Exchange and queue for commands share this name.
    pub fn comandos(&self) -> String {
        format!("{}.comandos", self.prefijo)
    }
    /// Dead-letter exchange of the command queue.
    pub fn dlx(&self) -> String {
        format!("{}.comandos.dlx", self.prefijo)
    }
    /// Queue that keeps dead-lettered commands.
    pub fn rechazados(&self) -> String {
        format!("{}.comandos.rechazados", self.prefijo)
    }
    /// Exchange events are published to.
    pub fn eventos(&self) -> String {
        format!("{}.eventos", self.prefijo)
    }
    /// Whether `nombre` is one of this topology's (starts with `P.`): a
    /// `reply_to` there is never published to (contract §3, v1.2).
    pub fn es_propia(&self, nombre: &str) -> bool {
        nombre.strip_prefix(self.prefijo.as_str()).is_some_and(|resto| resto.starts_with('.'))
    }
    /// Exchange SLA alerts are published to.
    pub fn alertas(&self) -> String {
        format!("{}.sla.alertas", self.prefijo)
    }
    /// The quorum queue the gateway probes its quorum on ([`declarar_sonda`]).
    pub fn sonda(&self) -> String {
        format!("{}.gateway.sonda", self.prefijo)
    }
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

/// Declares the gateway's probe queue, beside §1's topology: a quorum queue
/// bound to nothing and published to by no one, so it is always empty and a
/// consumer registered on it takes nothing from anyone. The gateway cannot
/// probe `P.comandos` as the worker does: with no worker registered, its
/// probe would become the queue's active consumer and take (and hand back,
/// raising its delivery count) the head command. Idempotent.
pub async fn declarar_sonda(canal: &Channel, topo: &Topologia) -> lapin::Result<()> {
    let queue = QueueDeclareOptions { durable: true, ..Default::default() };
    let mut args = FieldTable::default();
    canal.queue_declare(topo.sonda().into(), queue, quorum(&mut args).clone()).await?;
    Ok(())
}

/// Removes the topology (tests use it to leave the broker clean).
pub async fn borrar(canal: &Channel, topo: &Topologia) -> lapin::Result<()> {
    for q in [topo.comandos(), topo.rechazados(), topo.alertas(), topo.sonda()] {
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
}
