//! The requesters' data (§11): `anonimizar`'s reply and its event, and
//! `exportar`'s pages.

use super::{ActorEvento, Detalle};
use crate::domain::sla::ReglasSla;
use crate::domain::ticket::Ticket;
use crate::store::{Conversacion, HistorialLeido};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// `datos` of `anonimizar`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Anonimizado {
    /// How many tickets this command erased (0 when none was left to erase).
    pub tickets: usize,
    /// Their ids, by ticket number.
    pub ticket_uuids: Vec<Uuid>,
    /// Dead letters of `P.comandos.rechazados` whose body still mentions the
    /// requester's e-mail, counted when the command was applied: the
    /// operators' to purge (`mesa-ayuda rechazados purgar --email`). Null
    /// when the erasure named a ticket without an e-mail left.
    #[schema(required = true)]
    pub rechazados: Option<u64>,
}

/// `datos` of `anonimizar`: `ticket_uuids` erased, `rechazados` dead letters still mentioning the e-mail.
pub fn anonimizado(ticket_uuids: Vec<Uuid>, rechazados: Option<u64>) -> Anonimizado {
    Anonimizado { tickets: ticket_uuids.len(), ticket_uuids, rechazados }
}

/// `data` of `ticket.anonimizado`: which ticket, never whose. A subscriber
/// erases its own copies of that ticket's requester's data.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatosAnonimizado<'a> {
    /// The ticket's id.
    pub ticket_uuid: Uuid,
    /// `TKT-<year>-<n>`.
    pub ticket_label: &'a str,
    /// The ticket's version after the erasure.
    pub version: i64,
    /// The command's `message_id`; null for the retention pass.
    #[schema(required = true)]
    pub comando_id: Option<&'a str>,
    /// Who erased it: an ADMIN, or SISTEMA (retention).
    pub actor: ActorEvento<'a>,
}

/// `data` of `ticket.anonimizado` for `t` (erased), recorded by `entrada`.
pub fn datos_anonimizado<'a>(
    t: &'a Ticket,
    entrada: &'a HistorialLeido,
    comando_id: Option<&'a str>,
) -> DatosAnonimizado<'a> {
    DatosAnonimizado {
        ticket_uuid: t.uuid,
        ticket_label: &t.label,
        version: t.version,
        comando_id,
        actor: ActorEvento { id: entrada.actor_id.as_deref(), nombre: &entrada.actor_nombre, rol: entrada.actor_rol },
    }
}

/// `datos` of `exportar`: one page of a requester's tickets, oldest first,
/// each as `detalle` shows it (its latest messages, and how many are left out).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Exportado<'a> {
    /// The e-mail asked for, as given.
    pub email: &'a str,
    /// At most 100 tickets.
    pub tickets: Vec<Detalle<'a>>,
    /// The `cursor` of the next page; null on the last.
    #[schema(required = true)]
    pub siguiente_cursor: Option<String>,
}

/// The most an `exportar` page's tickets weigh as JSON: 8 MiB, half of
/// RabbitMQ 4's default largest message (16 MiB), whatever `limite` says;
/// a page holds one ticket at least.
pub const EXPORTADO_BYTES_MAX: usize = 8 * 1024 * 1024;

/// How many bytes a view weighs as JSON.
pub fn peso(vista: &impl Serialize) -> usize {
    super::json(vista).len()
}

/// One exported ticket: the ticket, its history and its conversation, read back.
pub type TicketExportado = (Ticket, Vec<HistorialLeido>, Conversacion);

/// `datos` of `exportar`: `pagina` as `detalle` bundles, SLA states as of
/// `ahora` under `reglas`.
pub fn exportado<'a>(
    email: &'a str,
    pagina: &'a [TicketExportado],
    siguiente_cursor: Option<String>,
    ahora: DateTime<Utc>,
    reglas: &ReglasSla,
) -> Exportado<'a> {
    Exportado {
        email,
        tickets: pagina.iter().map(|(t, h, m)| super::detalle(t, h, m, ahora, reglas)).collect(),
        siguiente_cursor,
    }
}
