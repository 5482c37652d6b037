//! Messages: reading a delivery's headers and command, replying, and
//! parking a delivery on the dead-letter exchange with why.

use super::{ErrorAmqp, Topologia, en_paso};
use crate::contrato::{
    HEADER_AUTHORIZATION, HEADER_AUTORIDAD, HEADER_FECHA, HEADER_MOTIVO, HEADER_ROUTING_KEY, HEADER_TRACEPARENT,
    traceparent_valido,
};
use crate::domain::estado::Operacion;
use crate::procesador::{Desenlace, Mensaje};
use lapin::message::Delivery;
use lapin::options::BasicPublishOptions;
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel};

/// A header as text, whether sent as a long or a short string.
pub fn header(props: &BasicProperties, nombre: &str) -> Option<String> {
    let headers = props.headers().as_ref()?;
    match headers.inner().get(nombre)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// The command a delivery carries, or how it ends unread: a body larger
/// than `max_cuerpo` (never copied or parsed), or a `reply_to` naming a
/// queue of `topologia` (never applied, never answered there). The body
/// moves into the `Mensaje` (the delivery keeps the rest): it is held once,
/// and parked from there if it must be; a refused one stays in the delivery.
pub fn mensaje(delivery: &mut Delivery, max_cuerpo: usize, topologia: &Topologia) -> Result<Mensaje, Desenlace> {
    let p = &delivery.properties;
    if let Some(reply_to) = p.reply_to().as_ref().map(|r| r.as_str())
        && topologia.es_propia(reply_to)
    {
        return Err(Desenlace::reply_to_propio(Operacion::from_routing_key(delivery.routing_key.as_str()), reply_to));
    }
    if delivery.data.len() > max_cuerpo {
        return Err(Desenlace::demasiado_grande(max_cuerpo));
    }
    Ok(Mensaje {
        routing_key: delivery.routing_key.as_str().to_string(),
        message_id: p.message_id().as_ref().map(|s| s.as_str().to_string()),
        authorization: header(p, HEADER_AUTHORIZATION),
        autoridad: header(p, HEADER_AUTORIDAD),
        traceparent: traceparent_valido(header(p, HEADER_TRACEPARENT).as_deref()).map(str::to_string),
        body: std::mem::take(&mut delivery.data),
    })
}

/// Publishes a reply to `reply_to` on the default exchange.
pub async fn responder(
    canal: &Channel,
    reply_to: &ShortString,
    correlation_id: Option<&ShortString>,
    cuerpo: &[u8],
) -> lapin::Result<()> {
    let mut props = BasicProperties::default().with_content_type("application/json".into());
    if let Some(c) = correlation_id {
        props = props.with_correlation_id(c.clone());
    }
    canal.basic_publish("".into(), reply_to.clone(), BasicPublishOptions::default(), cuerpo, props).await?;
    Ok(())
}

/// What a delivery is parked with.
pub struct Aparcado<'a> {
    /// Its body as published.
    pub cuerpo: &'a [u8],
    /// Why (`x-mesa-motivo`).
    pub motivo: &'a str,
    /// The sealed authority of its sender (`x-mesa-autoridad`), for a staff
    /// command parked by a failure of the worker's own.
    pub autoridad: Option<String>,
}

/// Parks a delivery (its `cuerpo` as published) on the dead-letter exchange
/// with why, where it was going and its original properties; returns once
/// the broker confirmed it.
pub async fn rechazar(
    canal: &Channel,
    dlx: &str,
    delivery: &Delivery,
    aparcado: Aparcado<'_>,
) -> Result<(), ErrorAmqp> {
    let Aparcado { cuerpo, motivo, autoridad } = aparcado;
    let mut headers = FieldTable::default();
    for (k, v) in delivery.properties.headers().as_ref().map(|h| h.inner().clone()).unwrap_or_default() {
        // A credential has no business sitting in a queue operators browse;
        // nor does a seal the publisher brought (only the worker's own goes).
        if k.as_str() != HEADER_AUTHORIZATION && k.as_str() != HEADER_AUTORIDAD {
            headers.insert(k, v);
        }
    }
    if let Some(sello) = autoridad {
        headers.insert(HEADER_AUTORIDAD.into(), AMQPValue::LongString(sello.into()));
    }
    // The reason may quote user input: keep it bounded.
    let motivo: String = motivo.chars().take(500).collect();
    headers.insert(HEADER_MOTIVO.into(), AMQPValue::LongString(motivo.into()));
    headers.insert(HEADER_ROUTING_KEY.into(), AMQPValue::LongString(delivery.routing_key.as_str().to_string().into()));
    // When, for `mesa-ayuda rechazados` (`purgar --antes`): the worker's own
    // parking leaves no `x-death` behind.
    let ahora = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    headers.insert(HEADER_FECHA.into(), AMQPValue::LongString(ahora.into()));
    let props = delivery.properties.clone().with_headers(headers);
    let confirmacion = canal
        .basic_publish(
            dlx.to_string().into(),
            delivery.routing_key.clone(),
            BasicPublishOptions::default(),
            cuerpo,
            props,
        )
        .await
        .map_err(en_paso("publicar el rechazo"))?
        .await
        .map_err(en_paso("confirmar el rechazo"))?;
    if !confirmacion.is_ack() {
        return Err(ErrorAmqp::SinConfirmar("el rechazo".into()));
    }
    Ok(())
}
