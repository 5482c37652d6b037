//! Putting a command on `P.comandos` with the headers and properties of
//! `mesa_ayuda::contrato`, whoever sends it: the tests'
//! [`Cliente`](crate::Cliente), the fault suite's reconnecting publisher and
//! the benchmark's publishers differ only in how they keep their connection
//! and collect replies.

use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Consumer};
use mesa_ayuda::amqp::Topologia;

/// Publishes a command and waits for the broker's confirm (immediate on a
/// channel not in confirm mode).
pub async fn publicar(
    canal: &Channel,
    topo: &Topologia,
    routing_key: &str,
    cuerpo: &[u8],
    props: BasicProperties,
) -> Result<Confirmation, lapin::Error> {
    canal
        .basic_publish(topo.comandos().into(), routing_key.into(), BasicPublishOptions::default(), cuerpo, props)
        .await?
        .await
}

/// A private reply queue (exclusive, deleted with the connection) and its consumer.
pub async fn cola_de_respuestas(canal: &Channel) -> Result<(String, Consumer), lapin::Error> {
    let exclusiva = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
    let q = canal.queue_declare("".into(), exclusiva, FieldTable::default()).await?;
    let no_ack = BasicConsumeOptions { no_ack: true, ..Default::default() };
    let consumidor = canal.basic_consume(q.name().clone(), "".into(), no_ack, FieldTable::default()).await?;
    Ok((q.name().as_str().to_string(), consumidor))
}
