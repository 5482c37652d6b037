//! Events (§5): the CloudEvents 1.0 envelope and the `data` of ticket events
//! and SLA alerts.

use super::{Fecha, HistorialVista, MensajeVista, TicketVista};
use crate::domain::conversacion::MensajeConversacion;
use crate::domain::estado::{Estado, RolActor};
use crate::domain::sla::{self, Meta, NivelSla, ReglasSla};
use crate::domain::ticket::{Alerta, Ticket};
use crate::store::HistorialLeido;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// `specversion`: the CloudEvents version.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum VersionCloudEvents {
    /// 1.0.
    #[serde(rename = "1.0")]
    V1,
}

/// `source`: who publishes the events.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum FuenteEventos {
    /// This worker.
    #[serde(rename = "mesa-ayuda")]
    MesaAyuda,
}

/// `datacontenttype`: how `data` is encoded.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum TipoDeContenido {
    /// JSON.
    #[serde(rename = "application/json")]
    Json,
}

/// A CloudEvents 1.0 envelope (structured mode) around `data`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Evento<'a, D> {
    /// The CloudEvents version.
    pub specversion: VersionCloudEvents,
    /// The event's id, also its AMQP `message_id`: de-duplicate by it.
    pub id: Uuid,
    /// The publisher.
    pub source: FuenteEventos,
    /// The event type, also its routing key on `P.eventos`.
    #[schema(value_type = String, example = "ticket.creado")]
    pub r#type: &'a str,
    /// The ticket's id.
    pub subject: Uuid,
    /// When it happened.
    pub time: Fecha,
    /// How `data` is encoded.
    pub datacontenttype: TipoDeContenido,
    /// The command's W3C trace context (CloudEvents distributed-tracing
    /// extension), when it carried one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<&'a str>,
    /// The payload.
    pub data: D,
}

/// A CloudEvents 1.0 envelope around `data` (a view), as the JSON text the
/// outbox stores and the relay publishes: serialised once, envelope and all.
pub fn evento(
    id: Uuid,
    tipo: &str,
    sujeto: Uuid,
    ahora: DateTime<Utc>,
    traceparent: Option<&str>,
    data: impl Serialize,
) -> String {
    super::json(&Evento {
        specversion: VersionCloudEvents::V1,
        id,
        source: FuenteEventos::MesaAyuda,
        r#type: tipo,
        subject: sujeto,
        time: Fecha(ahora),
        datacontenttype: TipoDeContenido::Json,
        traceparent,
        data,
    })
}

/// Who made a ticket event's change: the history entry's actor.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorEvento<'a> {
    /// The token's `sub`; null but for staff.
    #[schema(required = true)]
    pub id: Option<&'a str>,
    /// The actor's name.
    pub nombre: &'a str,
    /// The actor's role.
    pub rol: RolActor,
}

/// `data` of a ticket event (`ticket.*`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatosEventoTicket<'a> {
    /// The ticket after the change, as `detalle` shows it.
    pub ticket: TicketVista<'a>,
    /// The change's history entry.
    pub historial: HistorialVista<'a>,
    /// The command's `message_id`; null for the scheduler's changes (`ticket.escalado`).
    #[schema(required = true)]
    pub comando_id: Option<&'a str>,
    /// Who made the change.
    pub actor: ActorEvento<'a>,
    /// The message the change wrote, with its `visibilidad` (v1.2:
    /// `ticket.respondido`, `ticket.seguimiento`, `ticket.actualizado` with
    /// `respuestaCliente`): a notifier sends the requester PUBLICO ones only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mensaje: Option<MensajeVista<'a>>,
}

/// `data` of a ticket event; its actor is the history entry's (none has an
/// id but staff). `comando_id` is none for the scheduler's changes (escalations).
pub fn datos_evento_ticket<'a>(
    t: &'a Ticket,
    entrada: &'a HistorialLeido,
    mensaje: Option<&'a MensajeConversacion>,
    comando_id: Option<&'a str>,
    ahora: DateTime<Utc>,
    reglas: &ReglasSla,
) -> DatosEventoTicket<'a> {
    DatosEventoTicket {
        ticket: TicketVista::de(t, ahora, reglas),
        historial: HistorialVista::de(entrada),
        comando_id,
        actor: ActorEvento { id: entrada.actor_id.as_deref(), nombre: &entrada.actor_nombre, rol: entrada.actor_rol },
        mensaje: mensaje.map(MensajeVista::de),
    }
}

/// `data` of an SLA alert (`sla.por_vencer`, `sla.vencido`): the v1 fields,
/// `fechaLimiteSla` and `minutosRestantes` those of the alert's meta, plus
/// `meta`, `umbral` and `slaPolitica` (v1.1).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatosAlerta<'a> {
    /// The ticket's id.
    pub ticket_uuid: Uuid,
    /// `TKT-<year>-<n>`.
    pub ticket_label: &'a str,
    /// POR_VENCER or VENCIDO.
    pub nivel: NivelSla,
    /// The clock the alert is about (v1.1).
    pub meta: Meta,
    /// The threshold (remaining % of the target); null for VENCIDO (v1.1).
    #[schema(required = true, minimum = 1, maximum = 99)]
    pub umbral: Option<u8>,
    /// The ticket's SLA policy; null for the defaults (v1.1).
    #[schema(required = true)]
    pub sla_politica: Option<&'a str>,
    /// The deadline of the alert's meta.
    pub fecha_limite_sla: Fecha,
    /// Whole minutes to that deadline, rounded down: negative once overdue.
    pub minutos_restantes: i64,
    /// The priority.
    pub prioridad: &'a str,
    /// The area.
    pub area_asignada: &'a str,
    /// The state.
    pub estado: Estado,
    /// The subject.
    #[schema(required = true)]
    pub asunto: Option<&'a str>,
}

/// `data` of an SLA event.
pub fn datos_alerta<'a>(t: &'a Ticket, alerta: &Alerta, ahora: DateTime<Utc>) -> DatosAlerta<'a> {
    DatosAlerta {
        ticket_uuid: t.uuid,
        ticket_label: &t.label,
        nivel: alerta.umbral.nivel(),
        meta: alerta.meta,
        umbral: alerta.umbral.porcentaje(),
        sla_politica: t.sla_politica.as_deref(),
        fecha_limite_sla: Fecha(alerta.fecha_limite),
        minutos_restantes: sla::minutos_restantes(ahora, alerta.fecha_limite),
        prioridad: &t.prioridad,
        area_asignada: &t.area_asignada,
        estado: t.estado,
        asunto: t.asunto.as_deref(),
    }
}
