//! Everything decided from a message alone: routing, decoding,
//! `message_id`, token, role and field validation. The result says what the
//! transaction has to do with it, in types: nothing (decided already), a
//! step of a run of mutations, or a query.

use super::consultas::Consulta;
use super::mutaciones::{Cambio, CambioTicket, MutacionPreparada, Paso, Rechazado};
use super::{Desenlace, Mensaje, Procesador};
use crate::domain::comando::{Peticion, validar};
use crate::domain::estado::{Acceso, Operacion};
use crate::domain::texto::es_imprimible;
use crate::error::ErrorContrato;
use serde_json::{Map, Value};

/// Longest accepted `message_id` (contract §3).
pub const MESSAGE_ID_MAX: usize = 200;

/// A `message_id` that passed the contract's checks: trimmed, not empty, at
/// most [`MESSAGE_ID_MAX`] characters, printable. Every mutation has one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(String);

impl MessageId {
    /// The id of a mutation, or why it is refused (SOLICITUD_INVALIDA).
    pub fn leer(crudo: Option<&str>) -> Result<Self, ErrorContrato> {
        match crudo.map(str::trim).filter(|id| !id.is_empty()) {
            None => Err(ErrorContrato::SolicitudInvalida("las mutaciones requieren message_id".into())),
            Some(id) if id.chars().count() > MESSAGE_ID_MAX => {
                Err(ErrorContrato::SolicitudInvalida(format!("message_id supera {MESSAGE_ID_MAX} caracteres")))
            }
            Some(id) if !es_imprimible(id) => {
                Err(ErrorContrato::SolicitudInvalida("message_id contiene caracteres de control".into()))
            }
            Some(id) => Ok(MessageId(id.to_string())),
        }
    }

    /// The id, trimmed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), or nothing: any
/// other text in that header is dropped, never logged or stored.
pub fn traceparent_valido(valor: Option<&str>) -> Option<&str> {
    let v = valor?.trim();
    let partes: Vec<&str> = v.split('-').collect();
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let valido = matches!(partes.as_slice(), [ver, traza, padre, banderas]
        if hex(ver, 2) && *ver != "ff" && hex(traza, 32) && hex(padre, 16) && hex(banderas, 2)
            && traza.bytes().any(|b| b != b'0') && padre.bytes().any(|b| b != b'0'));
    valido.then_some(v)
}

/// The operation a routing key names and the JSON object a body holds, or
/// why the message cannot be decoded at all (answered and dead-lettered).
/// With [`validar`], everything decided from a body alone.
pub fn decodificar(routing_key: &str, body: &[u8]) -> Result<(Operacion, Map<String, Value>), ErrorContrato> {
    let Some(op) = Operacion::from_routing_key(routing_key) else {
        return Err(ErrorContrato::SolicitudInvalida(format!("operación desconocida: {routing_key:?}")));
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(body)) => Ok((op, body)),
        Ok(_) => Err(ErrorContrato::SolicitudInvalida("el cuerpo debe ser un objeto JSON".into())),
        Err(e) => Err(ErrorContrato::SolicitudInvalida(format!("el cuerpo no es JSON válido: {e}"))),
    }
}

/// A message after the checks that need no database.
pub(super) enum Preparado {
    /// Part of a run of mutations: decided already, refused, or to apply.
    Paso(Paso),
    /// A query, answered where it stands in the batch.
    Consulta(Consulta),
}

impl Preparado {
    fn decidido(d: Desenlace) -> Self {
        Preparado::Paso(Paso::Listo(d))
    }

    /// Decided without the database.
    pub(super) fn es_listo(&self) -> bool {
        matches!(self, Preparado::Paso(Paso::Listo(_)))
    }

    /// The outcome, when decided without the database.
    pub(super) fn listo(self) -> Option<Desenlace> {
        match self {
            Preparado::Paso(Paso::Listo(d)) => Some(d),
            _ => None,
        }
    }
}

impl Procesador {
    /// Everything decided without the database.
    pub(super) async fn preparar(&self, m: &Mensaje) -> Preparado {
        let (op, body) = match decodificar(&m.routing_key, &m.body) {
            Ok(decodificado) => decodificado,
            Err(e) => return Preparado::decidido(Desenlace::veneno(&e)),
        };
        let message_id = if op.es_mutacion() {
            match MessageId::leer(m.message_id.as_deref()) {
                Ok(id) => Some(id),
                Err(e) => return Preparado::decidido(Desenlace::rechazo(Some(op), &e)),
            }
        } else {
            None
        };
        let rechazo = |error, firmante: Option<String>| {
            Preparado::Paso(Paso::Rechazado(Rechazado { op, error, message_id: message_id.clone(), firmante }))
        };
        let (actor, firmante) = match op.acceso() {
            Acceso::Publico => (None, None),
            acceso => {
                let identidad = self
                    .verificador
                    .identificar_comando(m.authorization.as_deref(), m.autoridad.as_deref(), m.vinculo())
                    .await;
                match identidad.actor {
                    Ok(actor) => {
                        if let Acceso::Roles(roles) = acceso
                            && !roles.contains(&actor.rol)
                        {
                            let texto = format!("el rol {} no puede {}", actor.rol.as_str(), op.as_str());
                            return rechazo(ErrorContrato::Prohibido(texto), identidad.firmante);
                        }
                        (Some(actor), identidad.firmante)
                    }
                    Err(e) => return rechazo(e, identidad.firmante),
                }
            }
        };
        let peticion = match validar(op, &body, &self.reglas) {
            Ok(peticion) => peticion,
            Err(campos) => return rechazo(ErrorContrato::Validacion(campos), firmante),
        };
        let traceparent = traceparent_valido(m.traceparent.as_deref()).map(str::to_string);
        match (peticion, actor, message_id.clone()) {
            (Peticion::Crear(datos), _, Some(message_id)) => Preparado::Paso(Paso::Mutacion(MutacionPreparada {
                message_id,
                traceparent,
                cambio: Cambio::Crear(datos),
            })),
            (Peticion::Ticket(cmd), Some(actor), Some(message_id)) => {
                Preparado::Paso(Paso::Mutacion(MutacionPreparada {
                    message_id,
                    traceparent,
                    cambio: Cambio::Ticket(Box::new(CambioTicket { cmd, actor })),
                }))
            }
            (Peticion::Consultar { label, email }, _, _) => Preparado::Consulta(Consulta::Consultar { label, email }),
            (Peticion::Detalle { ticket_id }, Some(actor), _) => {
                Preparado::Consulta(Consulta::Detalle { ticket_id, actor })
            }
            (Peticion::Listar(filtro), Some(actor), _) => Preparado::Consulta(Consulta::Listar { filtro, actor }),
            (Peticion::Estadisticas(filtro), Some(actor), _) => {
                Preparado::Consulta(Consulta::Estadisticas { filtro, actor })
            }
            (Peticion::Catalogo, _, _) => Preparado::Consulta(Consulta::Catalogo),
            // The checks above give every mutation its id and every staff
            // operation its actor; should that ever break, the command is
            // answered as the contract says, never a panic.
            (_, None, _) => rechazo(ErrorContrato::NoAutenticado("falta el token".into()), firmante),
            (_, Some(_), None) => {
                rechazo(ErrorContrato::SolicitudInvalida("las mutaciones requieren message_id".into()), firmante)
            }
        }
    }
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
            "00-4bf92f3577b34da6a3ce929d0e0e473\u{0}-00f067aa0ba902b7-01",
            "ana.garcia@empresa.com",
        ] {
            assert_eq!(traceparent_valido(Some(malo)), None, "{malo:?}");
        }
    }

    #[test]
    fn a_message_id_is_trimmed_bounded_and_printable() {
        assert_eq!(MessageId::leer(Some("  abc ")).unwrap().as_str(), "abc");
        assert_eq!(MessageId::leer(Some(&"x".repeat(MESSAGE_ID_MAX))).unwrap().as_str().len(), MESSAGE_ID_MAX);
        for malo in [None, Some(""), Some("   "), Some("a\u{0}b"), Some("a\u{1b}b")] {
            assert_eq!(MessageId::leer(malo).unwrap_err().codigo(), "SOLICITUD_INVALIDA", "{malo:?}");
        }
        assert!(MessageId::leer(Some(&"x".repeat(MESSAGE_ID_MAX + 1))).is_err());
    }
}
