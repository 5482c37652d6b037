//! The one way a command is put on `P.comandos`, whoever sends it: the
//! tests' [`Cliente`](crate::Cliente), the fault suite's reconnecting
//! publisher and the benchmark's publishers differ only in how they keep
//! their connection and collect replies.

use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation, Consumer};
use mesa_ayuda::amqp::Topologia;

/// A command's headers: its `authorization` (`Bearer …`) and trace context, when given.
pub fn cabeceras(authorization: Option<&str>, traceparent: Option<&str>) -> FieldTable {
    let mut h = FieldTable::default();
    if let Some(a) = authorization {
        h.insert("authorization".into(), AMQPValue::LongString(a.into()));
    }
    if let Some(t) = traceparent {
        h.insert("traceparent".into(), AMQPValue::LongString(t.into()));
    }
    h
}

/// A command's properties: persistent JSON, its `message_id` when given and,
/// when a reply is wanted, `(reply_to, correlation_id)`.
pub fn propiedades(message_id: Option<&str>, respuesta: Option<(&str, &str)>, headers: FieldTable) -> BasicProperties {
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_headers(headers);
    if let Some(id) = message_id {
        props = props.with_message_id(id.into());
    }
    if let Some((cola, correlacion)) = respuesta {
        props = props.with_reply_to(cola.into()).with_correlation_id(correlacion.into());
    }
    props
}

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
