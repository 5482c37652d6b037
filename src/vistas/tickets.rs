//! A ticket as replies and events show it: `crear`'s and the mutations'
//! `datos`, `consultar`'s lookup, and the `ticket`, `solicitante` and
//! `historial` objects of `detalle`, `listar` and events.

use super::conversacion::MensajeVista;
use super::{Fecha, TipoSolicitud, fecha_opt};
use crate::domain::conversacion::{AlVencer, Espera};
use crate::domain::estado::{Accion, Estado, RolActor};
use crate::domain::sla::{self, Meta, ReglasSla, SlaEstado};
use crate::domain::ticket::Ticket;
use crate::store::{Conversacion, HistorialLeido};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The message `crear` answers with (seed 001).
const MENSAJE_CREADO: &str = "Su solicitud ha sido registrada exitosamente.";

/// `datos` of `crear`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Creado<'a> {
    /// The ticket's id.
    pub ticket_uuid: Uuid,
    /// `TKT-<year>-<n>`.
    #[schema(example = "TKT-2026-00142")]
    pub ticket_label: &'a str,
    /// Always `NUEVO`.
    pub estado: Estado,
    /// The request type.
    #[schema(value_type = TipoSolicitud)]
    pub tipo: &'a str,
    /// The priority.
    pub prioridad: &'a str,
    /// The resolution target in hours (may be fractional).
    pub sla_horas: f64,
    /// When it was created.
    pub fecha_creacion: Fecha,
    /// The resolution deadline.
    pub fecha_limite_sla: Fecha,
    /// The first-response deadline; null without a target (v1.1).
    #[schema(required = true)]
    pub fecha_limite_primera_respuesta: Option<Fecha>,
    /// The SLA policy's name; null for the defaults (v1.1).
    #[schema(required = true)]
    pub sla_politica: Option<&'a str>,
    /// `Su solicitud ha sido registrada exitosamente.`
    pub mensaje: &'static str,
}

impl<'a> Creado<'a> {
    /// The view of a ticket just created.
    pub fn de(t: &'a Ticket) -> Self {
        Creado {
            ticket_uuid: t.uuid,
            ticket_label: &t.label,
            estado: t.estado,
            tipo: t.tipo.as_str(),
            prioridad: &t.prioridad,
            sla_horas: sla::horas(t.sla_objetivo),
            fecha_creacion: Fecha(t.creado_en),
            fecha_limite_sla: Fecha(t.fecha_limite_sla),
            fecha_limite_primera_respuesta: fecha_opt(t.fecha_limite(Meta::PrimeraRespuesta)),
            sla_politica: t.sla_politica.as_deref(),
            mensaje: MENSAJE_CREADO,
        }
    }
}

/// `datos` of every mutation but `crear`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transicion<'a> {
    /// The ticket's id.
    pub ticket_uuid: Uuid,
    /// `TKT-<year>-<n>`.
    pub ticket_label: &'a str,
    /// The state before.
    pub estado_anterior: Estado,
    /// The state after.
    pub estado: Estado,
    /// The area after.
    pub area_asignada: &'a str,
    /// The priority after.
    pub prioridad: &'a str,
    /// The resolution deadline.
    pub fecha_limite_sla: Fecha,
    /// The resolution SLA state.
    pub sla_estado: SlaEstado,
    /// The first-response deadline; null without a target (v1.1).
    #[schema(required = true)]
    pub fecha_limite_primera_respuesta: Option<Fecha>,
    /// The first-response SLA state; null without a target (v1.1).
    #[schema(required = true)]
    pub sla_primera_respuesta: Option<SlaEstado>,
    /// The SLA policy's name; null for the defaults (v1.1).
    #[schema(required = true)]
    pub sla_politica: Option<&'a str>,
    /// Rises by one per change.
    pub version: i64,
}

impl<'a> Transicion<'a> {
    /// The view of a change from `antes` to `t`, SLA states as of `ahora`
    /// under `reglas`.
    pub fn de(antes: &Ticket, t: &'a Ticket, ahora: DateTime<Utc>, reglas: &ReglasSla) -> Self {
        Transicion {
            ticket_uuid: t.uuid,
            ticket_label: &t.label,
            estado_anterior: antes.estado,
            estado: t.estado,
            area_asignada: &t.area_asignada,
            prioridad: &t.prioridad,
            fecha_limite_sla: Fecha(t.fecha_limite_sla),
            sla_estado: t.sla_estado(ahora, reglas),
            fecha_limite_primera_respuesta: fecha_opt(t.fecha_limite(Meta::PrimeraRespuesta)),
            sla_primera_respuesta: t.sla_primera_respuesta(ahora, reglas),
            sla_politica: t.sla_politica.as_deref(),
            version: t.version,
        }
    }
}

/// The `ticket` object of `detalle`, `listar` and events (snake_case).
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketVista<'a> {
    /// The ticket's id.
    pub uuid: Uuid,
    /// `TKT-<year>-<n>`.
    pub label: &'a str,
    /// The ticket number.
    pub num: i64,
    /// The request type.
    #[schema(value_type = TipoSolicitud)]
    pub tipo_solicitud: &'a str,
    /// Category.
    pub categoria: &'a str,
    /// Sub-category.
    #[schema(required = true)]
    pub subcategoria: Option<&'a str>,
    /// Subject.
    #[schema(required = true)]
    pub asunto: Option<&'a str>,
    /// Description.
    pub descripcion: &'a str,
    /// The text of the latest PUBLICO message written by staff (v1.2;
    /// before, the last `respuestaCliente` of `actualizar`).
    #[schema(required = true)]
    pub respuesta_cliente: Option<&'a str>,
    /// The state.
    pub estado: Estado,
    /// The priority.
    pub prioridad: &'a str,
    /// The area.
    pub area_asignada: &'a str,
    /// The agent, once assigned.
    #[schema(required = true)]
    pub agente_asignado: Option<&'a str>,
    /// The resolution target in hours.
    pub sla_horas: f64,
    /// The resolution deadline.
    pub fecha_limite_sla: Fecha,
    /// The resolution SLA state.
    pub sla_estado: SlaEstado,
    /// The first-response deadline; null without a target (v1.1).
    #[schema(required = true)]
    pub fecha_limite_primera_respuesta: Option<Fecha>,
    /// The first-response SLA state; null without a target (v1.1).
    #[schema(required = true)]
    pub sla_primera_respuesta: Option<SlaEstado>,
    /// The SLA policy's name; null for the defaults (v1.1).
    #[schema(required = true)]
    pub sla_politica: Option<&'a str>,
    /// Created.
    pub creado_en: Fecha,
    /// Last changed.
    pub actualizado_en: Fecha,
    /// Closed (CANCELADO or ARCHIVADO).
    #[schema(required = true)]
    pub cerrado_en: Option<Fecha>,
    /// Rises by one per change.
    pub version: i64,
    /// What a paused ticket waits for: SOLICITANTE, TERCERO or OTRO; null
    /// when not paused (v1.2, §10).
    #[schema(required = true)]
    pub espera: Option<Espera>,
    /// When the wait ends by itself; null without one (v1.2).
    #[schema(required = true)]
    pub espera_hasta: Option<Fecha>,
    /// What the wait's end by `espera_hasta` does: REABRIR or ARCHIVAR;
    /// null when not paused (v1.2).
    #[schema(required = true)]
    pub al_vencer: Option<AlVencer>,
    /// Since when the requester waits for the desk (the latest PUBLICO
    /// message is theirs); null otherwise (v1.2).
    #[schema(required = true)]
    pub pendiente_respuesta_desde: Option<Fecha>,
}

impl<'a> TicketVista<'a> {
    /// The view of `t`, SLA states as of `ahora` under `reglas`.
    pub fn de(t: &'a Ticket, ahora: DateTime<Utc>, reglas: &ReglasSla) -> Self {
        TicketVista {
            uuid: t.uuid,
            label: &t.label,
            num: t.num,
            tipo_solicitud: t.tipo.as_str(),
            categoria: &t.categoria,
            subcategoria: t.subcategoria.as_deref(),
            asunto: t.asunto.as_deref(),
            descripcion: &t.descripcion,
            respuesta_cliente: t.respuesta_cliente.as_deref(),
            estado: t.estado,
            prioridad: &t.prioridad,
            area_asignada: &t.area_asignada,
            agente_asignado: t.agente_asignado.as_deref(),
            sla_horas: sla::horas(t.sla_objetivo),
            fecha_limite_sla: Fecha(t.fecha_limite_sla),
            sla_estado: t.sla_estado(ahora, reglas),
            fecha_limite_primera_respuesta: fecha_opt(t.fecha_limite(Meta::PrimeraRespuesta)),
            sla_primera_respuesta: t.sla_primera_respuesta(ahora, reglas),
            sla_politica: t.sla_politica.as_deref(),
            creado_en: Fecha(t.creado_en),
            actualizado_en: Fecha(t.actualizado_en),
            cerrado_en: fecha_opt(t.cerrado_en),
            version: t.version,
            espera: t.pausa.map(|p| p.espera),
            espera_hasta: fecha_opt(t.pausa.and_then(|p| p.hasta)),
            al_vencer: t.pausa.map(|p| p.al_vencer),
            pendiente_respuesta_desde: fecha_opt(t.pendiente_desde),
        }
    }
}

/// The requester, in `detalle`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SolicitanteVista<'a> {
    /// Name.
    pub nombre: &'a str,
    /// E-mail; null once the requester's data was erased (§11).
    #[schema(required = true)]
    pub email: Option<&'a str>,
    /// Phone.
    #[schema(required = true)]
    pub telefono: Option<&'a str>,
    /// Whether the phone takes WhatsApp.
    pub tiene_whatsapp: bool,
    /// ID document.
    #[schema(required = true)]
    pub documento: Option<&'a str>,
    /// Company or department.
    #[schema(required = true)]
    pub empresa_departamento: Option<&'a str>,
}

impl<'a> SolicitanteVista<'a> {
    /// The requester of `t`.
    pub fn de(t: &'a Ticket) -> Self {
        let s = &t.solicitante;
        SolicitanteVista {
            nombre: &s.nombre,
            email: s.email.as_deref(),
            telefono: s.telefono.as_deref(),
            tiene_whatsapp: s.tiene_whatsapp,
            documento: s.documento.as_deref(),
            empresa_departamento: s.empresa_departamento.as_deref(),
        }
    }
}

/// One history entry (snake_case).
#[derive(Debug, Serialize, ToSchema)]
pub struct HistorialVista<'a> {
    /// When.
    pub fecha: Fecha,
    /// What happened.
    #[schema(value_type = Accion)]
    pub accion: &'a str,
    /// Why.
    #[schema(required = true)]
    pub motivo: Option<&'a str>,
    /// The actor's name.
    pub actor_nombre: &'a str,
    /// The actor's role.
    pub actor_rol: RolActor,
    /// State before (null on CREACION).
    #[schema(required = true, value_type = Option<Estado>)]
    pub estado_antes: Option<&'a str>,
    /// State after.
    #[schema(value_type = Estado)]
    pub estado_despues: &'a str,
    /// Priority before, when it changed.
    #[schema(required = true)]
    pub prioridad_antes: Option<&'a str>,
    /// Priority after, when it changed.
    #[schema(required = true)]
    pub prioridad_despues: Option<&'a str>,
    /// Area before, when it changed.
    #[schema(required = true)]
    pub area_antes: Option<&'a str>,
    /// Area after, when it changed.
    #[schema(required = true)]
    pub area_despues: Option<&'a str>,
}

impl<'a> HistorialVista<'a> {
    /// The view of one entry.
    pub fn de(h: &'a HistorialLeido) -> Self {
        HistorialVista {
            fecha: Fecha(h.fecha),
            accion: &h.accion,
            motivo: h.motivo.as_deref(),
            actor_nombre: &h.actor_nombre,
            actor_rol: h.actor_rol,
            estado_antes: h.estado_antes.as_deref(),
            estado_despues: &h.estado_despues,
            prioridad_antes: h.prioridad_antes.as_deref(),
            prioridad_despues: h.prioridad_despues.as_deref(),
            area_antes: h.area_antes.as_deref(),
            area_despues: h.area_despues.as_deref(),
        }
    }
}

/// `datos` of `detalle`: the ticket-detail bundle of the Mesa de Ayuda docs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Detalle<'a> {
    /// The ticket.
    pub ticket: TicketVista<'a>,
    /// Its requester.
    pub solicitante: SolicitanteVista<'a>,
    /// Its history, oldest first.
    pub historial: Vec<HistorialVista<'a>>,
    /// Its conversation, every message, oldest first (v1.2) — the latest
    /// 200 of them at most.
    pub conversacion: Vec<MensajeVista<'a>>,
    /// How many older messages `conversacion` left out (v1.2; 0 but for a
    /// conversation of over 200 messages).
    pub mensajes_omitidos: u64,
}

/// `datos` of `listar`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Listado<'a> {
    /// One page of tickets, newest first.
    pub items: Vec<TicketVista<'a>>,
    /// The `cursor` of the next page; null on the last.
    #[schema(required = true)]
    pub siguiente_cursor: Option<String>,
}

/// `datos` of `consultar`: the ConsultarTicketOut of the Mesa de Ayuda docs
/// plus SLA fields.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consulta<'a> {
    /// The ticket's id.
    pub ticket_uuid: Uuid,
    /// `TKT-<year>-<n>`.
    pub ticket_label: &'a str,
    /// The ticket number.
    pub ticket_num: i64,
    /// The requester's name.
    pub solicitante_nombre: &'a str,
    /// The requester's e-mail.
    pub solicitante_email: &'a str,
    /// The requester's phone.
    #[schema(required = true)]
    pub solicitante_tel: Option<&'a str>,
    /// Whether the phone takes WhatsApp.
    pub tiene_whatsapp: bool,
    /// ID document.
    #[schema(required = true)]
    pub documento: Option<&'a str>,
    /// Company or department.
    #[schema(required = true)]
    pub empresa_departamento: Option<&'a str>,
    /// The request type.
    #[schema(value_type = TipoSolicitud)]
    pub tipo_solicitud: &'a str,
    /// Category.
    pub categoria: &'a str,
    /// Sub-category.
    #[schema(required = true)]
    pub subcategoria: Option<&'a str>,
    /// Subject.
    #[schema(required = true)]
    pub asunto: Option<&'a str>,
    /// Description.
    pub descripcion_problema: &'a str,
    /// The staff's answer to the requester.
    #[schema(required = true)]
    pub respuesta_cliente: Option<&'a str>,
    /// The area.
    pub area_asignada: &'a str,
    /// The priority.
    pub prioridad_nombre: &'a str,
    /// The state.
    pub estado_nombre: Estado,
    /// Created.
    pub creado_en: Fecha,
    /// Last changed.
    pub actualizado_en: Fecha,
    /// The last history entry's date. The last entry the requester may
    /// know of: never an INTERNO note's RESPUESTA (v1.2).
    #[schema(required = true)]
    pub ultima_fecha_historial: Option<Fecha>,
    /// The last history entry's `accion`.
    #[schema(required = true, value_type = Option<Accion>)]
    pub ultima_accion: Option<&'a str>,
    /// The last history entry's `motivo`.
    #[schema(required = true)]
    pub ultimo_motivo: Option<&'a str>,
    /// The last history entry's actor.
    #[schema(required = true)]
    pub ultimo_actor_nombre: Option<&'a str>,
    /// The last history entry's actor role.
    #[schema(required = true)]
    pub ultimo_actor_rol: Option<RolActor>,
    /// The resolution target in hours.
    pub sla_horas: f64,
    /// The resolution deadline.
    pub fecha_limite_sla: Fecha,
    /// The resolution SLA state.
    pub sla_estado: SlaEstado,
    /// The first-response deadline; null without a target (v1.1).
    #[schema(required = true)]
    pub fecha_limite_primera_respuesta: Option<Fecha>,
    /// The first-response SLA state; null without a target (v1.1).
    #[schema(required = true)]
    pub sla_primera_respuesta: Option<SlaEstado>,
    /// The SLA policy's name; null for the defaults (v1.1).
    #[schema(required = true)]
    pub sla_politica: Option<&'a str>,
    /// The conversation's PUBLICO messages, oldest first (v1.2): never an
    /// INTERNO one — the latest 200 of them at most.
    pub conversacion: Vec<MensajeVista<'a>>,
    /// How many older PUBLICO messages `conversacion` left out (v1.2; 0 but
    /// for a conversation of over 200 public messages).
    pub mensajes_omitidos: u64,
}

impl<'a> Consulta<'a> {
    /// The public view of `t`, found by its requester's `email`, its last
    /// history entry `ultimo` (never an INTERNO note's:
    /// `store::ultimo_historial`), its PUBLICO messages `publicos`, SLA
    /// states as of `ahora` under `reglas`.
    pub fn de(
        t: &'a Ticket,
        email: &'a str,
        ultimo: Option<&'a HistorialLeido>,
        publicos: &'a Conversacion,
        ahora: DateTime<Utc>,
        reglas: &ReglasSla,
    ) -> Self {
        let s = &t.solicitante;
        Consulta {
            ticket_uuid: t.uuid,
            ticket_label: &t.label,
            ticket_num: t.num,
            solicitante_nombre: &s.nombre,
            solicitante_email: email,
            solicitante_tel: s.telefono.as_deref(),
            tiene_whatsapp: s.tiene_whatsapp,
            documento: s.documento.as_deref(),
            empresa_departamento: s.empresa_departamento.as_deref(),
            tipo_solicitud: t.tipo.as_str(),
            categoria: &t.categoria,
            subcategoria: t.subcategoria.as_deref(),
            asunto: t.asunto.as_deref(),
            descripcion_problema: &t.descripcion,
            respuesta_cliente: t.respuesta_cliente.as_deref(),
            area_asignada: &t.area_asignada,
            prioridad_nombre: &t.prioridad,
            estado_nombre: t.estado,
            creado_en: Fecha(t.creado_en),
            actualizado_en: Fecha(t.actualizado_en),
            ultima_fecha_historial: ultimo.map(|h| Fecha(h.fecha)),
            ultima_accion: ultimo.map(|h| h.accion.as_str()),
            ultimo_motivo: ultimo.and_then(|h| h.motivo.as_deref()),
            ultimo_actor_nombre: ultimo.map(|h| h.actor_nombre.as_str()),
            ultimo_actor_rol: ultimo.map(|h| h.actor_rol),
            sla_horas: sla::horas(t.sla_objetivo),
            fecha_limite_sla: Fecha(t.fecha_limite_sla),
            sla_estado: t.sla_estado(ahora, reglas),
            fecha_limite_primera_respuesta: fecha_opt(t.fecha_limite(Meta::PrimeraRespuesta)),
            sla_primera_respuesta: t.sla_primera_respuesta(ahora, reglas),
            sla_politica: t.sla_politica.as_deref(),
            // Filtered again here: whatever the caller read, the requester
            // never sees an INTERNO message.
            conversacion: publicos.mensajes.iter().filter(|m| m.es_publico()).map(MensajeVista::de).collect(),
            mensajes_omitidos: publicos.omitidos,
        }
    }
}

/// `datos` of `crear`.
pub fn creado(t: &Ticket) -> Creado<'_> {
    Creado::de(t)
}

/// `datos` of every mutation but `crear`.
pub fn transicion<'a>(antes: &'a Ticket, t: &'a Ticket, ahora: DateTime<Utc>, reglas: &ReglasSla) -> Transicion<'a> {
    Transicion::de(antes, t, ahora, reglas)
}

/// `datos` of `detalle`.
pub fn detalle<'a>(
    t: &'a Ticket,
    entradas: &'a [HistorialLeido],
    conversacion: &'a Conversacion,
    ahora: DateTime<Utc>,
    reglas: &ReglasSla,
) -> Detalle<'a> {
    Detalle {
        ticket: TicketVista::de(t, ahora, reglas),
        solicitante: SolicitanteVista::de(t),
        historial: entradas.iter().map(HistorialVista::de).collect(),
        conversacion: conversacion.mensajes.iter().map(MensajeVista::de).collect(),
        mensajes_omitidos: conversacion.omitidos,
    }
}

/// `datos` of `consultar`.
pub fn consulta<'a>(
    t: &'a Ticket,
    email: &'a str,
    ultimo: Option<&'a HistorialLeido>,
    publicos: &'a Conversacion,
    ahora: DateTime<Utc>,
    reglas: &ReglasSla,
) -> Consulta<'a> {
    Consulta::de(t, email, ultimo, publicos, ahora, reglas)
}

/// `datos` of `listar`.
pub fn listado<'a>(
    tickets: &'a [Ticket],
    siguiente: Option<String>,
    ahora: DateTime<Utc>,
    reglas: &ReglasSla,
) -> Listado<'a> {
    Listado { items: tickets.iter().map(|t| TicketVista::de(t, ahora, reglas)).collect(), siguiente_cursor: siguiente }
}

/// What `seguimiento` answers the requester with.
const MENSAJE_REGISTRADO: &str = "Su mensaje fue registrado.";

/// `datos` of `responder` (v1.2): as every other mutation's, plus `mensajeId`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Respondido<'a> {
    /// The change, as other mutations answer it.
    #[serde(flatten)]
    pub transicion: Transicion<'a>,
    /// The new message's id.
    pub mensaje_id: Uuid,
}

/// `datos` of `seguimiento`: what the requester may know, never internal
/// ids or staff-only data.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeguimientoRegistrado<'a> {
    /// `TKT-<year>-<n>`.
    pub ticket_label: &'a str,
    /// The state after it (ASIGNADO when it ended a wait for the requester).
    pub estado: Estado,
    /// The new message's id.
    pub mensaje_id: Uuid,
    /// `Su mensaje fue registrado.`
    pub mensaje: &'static str,
}

/// `datos` of `responder`.
pub fn respondido<'a>(
    antes: &'a Ticket,
    t: &'a Ticket,
    ahora: DateTime<Utc>,
    reglas: &ReglasSla,
    mensaje: Uuid,
) -> Respondido<'a> {
    Respondido { transicion: Transicion::de(antes, t, ahora, reglas), mensaje_id: mensaje }
}

/// `datos` of `seguimiento`.
pub fn seguimiento_registrado(t: &Ticket, mensaje: Uuid) -> SeguimientoRegistrado<'_> {
    SeguimientoRegistrado { ticket_label: &t.label, estado: t.estado, mensaje_id: mensaje, mensaje: MENSAJE_REGISTRADO }
}
