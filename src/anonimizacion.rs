//! Erasure as a batch stages it (contract §11), for `anonimizar` and the
//! retention pass alike: the erased ticket, its ANONIMIZACION entry, its
//! `ticket.anonimizado` event and the values its copies must lose
//! (`store::borrar_copias`, after the batch statement).

use crate::domain::anonimizacion::Anonimizador;
use crate::domain::ticket::Ticket;
use crate::store::{self, HistorialLeido};
use crate::vistas;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What an erasure is traced to: the command's `message_id` and trace
/// context, none for the retention pass.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origen<'a> {
    /// The `anonimizar` command's `message_id`.
    pub comando_id: Option<&'a str>,
    /// Its W3C `traceparent`.
    pub traceparent: Option<&'a str>,
}

/// Stages the erasure of `actual` by `quien` in `cambios`; the ticket's id,
/// or none when its data was erased already (erasure happens once).
pub fn registrar(
    cambios: &mut store::Cambios,
    actual: &Ticket,
    quien: Anonimizador<'_>,
    origen: Origen<'_>,
    ahora: DateTime<Utc>,
) -> Option<Uuid> {
    let (ticket, entrada, datos) = actual.anonimizar(quien, ahora)?;
    let leida = HistorialLeido::from(&entrada);
    let evento_id = Uuid::new_v4();
    let tipo = entrada.accion.tipo_evento();
    let data = vistas::datos_anonimizado(&ticket, &leida, origen.comando_id);
    let cuerpo = vistas::evento(evento_id, tipo, ticket.uuid, ahora, origen.traceparent, data);
    cambios.historial_leido(ticket.uuid, leida, origen.comando_id);
    cambios.evento(store::EventoNuevo {
        evento_id,
        tipo,
        ticket: Some(ticket.uuid),
        cuerpo,
        traceparent: origen.traceparent.map(str::to_string),
    });
    cambios.anonimizado(datos);
    let uuid = ticket.uuid;
    cambios.ticket_cambiado(ticket);
    Some(uuid)
}
