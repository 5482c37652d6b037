//! Everything decided from a message alone: routing, decoding,
//! `message_id`, token, role and field validation. The result says what the
//! transaction has to do with it, in types: nothing (decided already), a
//! step of a run of mutations, or a query.

use super::consultas::Consulta;
use super::mutaciones::{Cambio, CambioAnonimizacion, CambioTicket, MutacionPreparada, Paso, Rechazado};
use super::{Desenlace, Mensaje, Procesador};
use crate::contrato::{MessageId, traceparent_valido};
use crate::domain::comando::{Peticion, validar};
use crate::domain::estado::{Acceso, Operacion};
use crate::error::ErrorContrato;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

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
    /// Everything decided without the database, at `ahora` (the batch's instant).
    pub(super) async fn preparar(&self, m: &Mensaje, ahora: DateTime<Utc>) -> Preparado {
        let (op, body) = match decodificar(&m.routing_key, &m.body) {
            Ok(decodificado) => decodificado,
            Err(e) => return Preparado::decidido(Desenlace::veneno(&e)),
        };
        let message_id = if op.es_mutacion() {
            match MessageId::leer(m.message_id.as_deref()) {
                Ok(id) => Some(id),
                Err(e) => {
                    let e = ErrorContrato::SolicitudInvalida(e.to_string());
                    return Preparado::decidido(Desenlace::rechazo(Some(op), &e));
                }
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
        let peticion = match validar(op, &body, &self.reglas, ahora) {
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
            (Peticion::Seguimiento(datos), _, Some(message_id)) => Preparado::Paso(Paso::Mutacion(MutacionPreparada {
                message_id,
                traceparent,
                cambio: Cambio::Seguimiento(datos),
            })),
            (Peticion::Anonimizar(datos), Some(actor), Some(message_id)) => {
                Preparado::Paso(Paso::Mutacion(MutacionPreparada {
                    message_id,
                    traceparent,
                    cambio: Cambio::Anonimizar(Box::new(CambioAnonimizacion {
                        datos: *datos,
                        actor,
                        rechazados: None,
                    })),
                }))
            }
            (Peticion::Exportar(filtro), Some(_), _) => Preparado::Consulta(Consulta::Exportar { filtro }),
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
