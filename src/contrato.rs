//! The wire contract of a command (contract §3), in one room on the bottom
//! floor: its `message_id`, its headers and properties, the `traceparent`
//! rule, the dead-letter headers. The worker, the gateway, the CLI, the
//! test kit and the benchmark all read and write commands through it.

use crate::domain::texto::es_imprimible;
use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable, LongString};

/// Longest accepted `message_id` (contract §3), in characters.
pub const MESSAGE_ID_MAX: usize = 200;

/// The header a command's token comes in: `Bearer <JWT>`.
pub const HEADER_AUTHORIZATION: &str = "authorization";
/// The W3C trace context of a command, carried to its events.
pub const HEADER_TRACEPARENT: &str = "traceparent";
/// The authority the worker sealed on a staff command it parked
/// (`auth::autoridad`).
pub const HEADER_AUTORIDAD: &str = "x-mesa-autoridad";
/// Header the worker parks a dead letter with: why.
pub const HEADER_MOTIVO: &str = "x-mesa-motivo";
/// Header the worker parks a dead letter with: the routing key it came with.
pub const HEADER_ROUTING_KEY: &str = "x-mesa-routing-key";
/// Header the worker parks a dead letter with: when (RFC 3339, UTC).
pub const HEADER_FECHA: &str = "x-mesa-rechazado-en";

/// A command's `content_type`.
pub const TIPO_DE_CONTENIDO: &str = "application/json";

/// RabbitMQ's pseudo-queue for direct reply-to.
pub const RESPUESTA_DIRECTA: &str = "amq.rabbitmq.reply-to";

/// A `message_id` that passed the contract's checks: trimmed, 1–200
/// characters, no control characters at all. Every mutation has one, and
/// the gateway's `Idempotency-Key` is read by the same rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(String);

/// Why a `message_id` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageIdInvalido {
    /// None, or only blanks.
    #[error("las mutaciones requieren message_id")]
    Falta,
    /// Over [`MESSAGE_ID_MAX`] characters.
    #[error("message_id supera {MESSAGE_ID_MAX} caracteres")]
    Largo,
    /// A control character (tab and line breaks too: an id is one line).
    #[error("message_id contiene caracteres de control")]
    Control,
}

impl MessageId {
    /// The id, or why it is refused.
    pub fn leer(crudo: Option<&str>) -> Result<Self, MessageIdInvalido> {
        match crudo.map(str::trim).filter(|id| !id.is_empty()) {
            None => Err(MessageIdInvalido::Falta),
            Some(id) if id.chars().count() > MESSAGE_ID_MAX => Err(MessageIdInvalido::Largo),
            Some(id) if !es_imprimible(id) || id.contains(['\t', '\n', '\r']) => Err(MessageIdInvalido::Control),
            Some(id) => Ok(MessageId(id.to_string())),
        }
    }

    /// A fresh one (a UUID), for a request that brought none.
    pub fn nuevo() -> Self {
        MessageId(uuid::Uuid::new_v4().to_string())
    }

    /// The id, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A W3C `traceparent` of version 00 (`00-<32 hex>-<16 hex>-<2 hex>`, hex
/// in lower case, neither id all zeros), or nothing: any other text in that
/// header is dropped, never logged or stored. Only version 00 is kept: it
/// is passed on as it came, into events and the trace it continues, and
/// 00 is the format every reader of those knows.
pub fn traceparent_valido(valor: Option<&str>) -> Option<&str> {
    let v = valor?.trim();
    let partes: Vec<&str> = v.split('-').collect();
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let valido = matches!(partes.as_slice(), ["00", traza, padre, banderas]
        if hex(traza, 32) && hex(padre, 16) && hex(banderas, 2)
            && traza.bytes().any(|b| b != b'0') && padre.bytes().any(|b| b != b'0'));
    valido.then_some(v)
}

/// A command's headers: its `authorization` (`Bearer …`, bytes as they
/// came) and trace context, when given.
pub fn cabeceras(authorization: Option<&[u8]>, traceparent: Option<&str>) -> FieldTable {
    let mut h = FieldTable::default();
    if let Some(a) = authorization {
        h.insert(HEADER_AUTHORIZATION.into(), AMQPValue::LongString(LongString::from(a.to_vec())));
    }
    if let Some(t) = traceparent {
        h.insert(HEADER_TRACEPARENT.into(), AMQPValue::LongString(t.into()));
    }
    h
}

/// A command's properties: persistent JSON, its `message_id` when given and,
/// when a reply is wanted, `(reply_to, correlation_id)`.
pub fn propiedades(message_id: Option<&str>, respuesta: Option<(&str, &str)>, headers: FieldTable) -> BasicProperties {
    let mut props = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type(TIPO_DE_CONTENIDO.into())
        .with_headers(headers);
    if let Some(id) = message_id {
        props = props.with_message_id(id.into());
    }
    if let Some((cola, correlacion)) = respuesta {
        props = props.with_reply_to(cola.into()).with_correlation_id(correlacion.into());
    }
    props
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_w3c_traceparents_are_kept() {
        let bueno = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(traceparent_valido(Some(bueno)), Some(bueno));
        for malo in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // Found by the fuzz target `gateway_comando`: W3C wants lower
            // case, and `FF` slipped past a case-sensitive `ff` check.
            "FF-FFFFFFFFFFFFFFFFFFD802C3C3C3E2DF-2CA6C5C5C500FF20-EF",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            "6e-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473\u{0}-00f067aa0ba902b7-01",
            "ana.garcia@empresa.com",
        ] {
            assert_eq!(traceparent_valido(Some(malo)), None, "{malo:?}");
        }
    }

    #[test]
    fn a_message_id_is_trimmed_bounded_and_one_printable_line() {
        assert_eq!(MessageId::leer(Some("  abc ")).unwrap().as_str(), "abc");
        assert_eq!(MessageId::leer(Some("ñandú 😀")).unwrap().as_str(), "ñandú 😀", "characters, not bytes");
        let largo = "ñ".repeat(MESSAGE_ID_MAX);
        assert_eq!(MessageId::leer(Some(&largo)).unwrap().as_str(), largo);
        assert_eq!(MessageId::leer(Some(&format!("{largo}x"))), Err(MessageIdInvalido::Largo));
        for falta in [None, Some(""), Some("   ")] {
            assert_eq!(MessageId::leer(falta), Err(MessageIdInvalido::Falta), "{falta:?}");
        }
        for control in ["a\u{0}b", "a\u{1b}b", "a\tb", "a\nb", "a\rb", "a\u{85}b"] {
            assert_eq!(MessageId::leer(Some(control)), Err(MessageIdInvalido::Control), "{control:?}");
        }
        assert_ne!(MessageId::nuevo(), MessageId::nuevo());
    }
}
