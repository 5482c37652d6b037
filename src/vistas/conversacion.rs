//! The conversation's views (contract §10): messages as `detalle`,
//! `consultar` and events show them, and the replies of `responder` and
//! `seguimiento`.

use super::Fecha;
use super::tickets::Transicion;
use crate::domain::conversacion::{Adjunto, MensajeConversacion, Visibilidad};
use crate::domain::estado::{Estado, RolActor};
use crate::domain::ticket::Ticket;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// What `seguimiento` answers the requester with.
const MENSAJE_REGISTRADO: &str = "Su mensaje fue registrado.";

/// Who wrote a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct AutorVista<'a> {
    /// Display name: the requester's `solicitanteNombre`, or the staff's.
    pub nombre: &'a str,
    /// USUARIO (the requester), ADMIN, MESA, AREA or SISTEMA.
    pub rol: RolActor,
}

/// An attachment reference, as stored: shown, never fetched.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdjuntoVista<'a> {
    /// File name.
    pub nombre: &'a str,
    /// Where it lives (`https://`).
    pub url: &'a str,
    /// Its media type.
    pub tipo: &'a str,
    /// Its size.
    pub bytes: u64,
    /// SHA-256 of its content, lower-case hex.
    pub sha256: &'a str,
}

impl<'a> AdjuntoVista<'a> {
    fn de(a: &'a Adjunto) -> Self {
        AdjuntoVista { nombre: &a.nombre, url: &a.url, tipo: &a.tipo, bytes: a.bytes, sha256: &a.sha256 }
    }
}

/// One message of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct MensajeVista<'a> {
    /// The message's id (`mensajeId` in replies).
    pub id: Uuid,
    /// When it was written.
    pub fecha: Fecha,
    /// Who wrote it.
    pub autor: AutorVista<'a>,
    /// PUBLICO or INTERNO.
    pub visibilidad: Visibilidad,
    /// The text.
    pub texto: &'a str,
    /// Attachment references, at most 10.
    pub adjuntos: Vec<AdjuntoVista<'a>>,
}

impl<'a> MensajeVista<'a> {
    /// The view of `m`.
    pub fn de(m: &'a MensajeConversacion) -> Self {
        MensajeVista {
            id: m.uuid,
            fecha: Fecha(m.fecha),
            autor: AutorVista { nombre: &m.autor_nombre, rol: m.autor_rol },
            visibilidad: m.visibilidad,
            texto: &m.texto,
            adjuntos: m.adjuntos.iter().map(AdjuntoVista::de).collect(),
        }
    }
}

/// `datos` of `responder`: as every other mutation's, plus `mensajeId`.
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
pub fn respondido<'a>(antes: &'a Ticket, t: &'a Ticket, ahora: DateTime<Utc>, mensaje: Uuid) -> Respondido<'a> {
    Respondido { transicion: Transicion::de(antes, t, ahora), mensaje_id: mensaje }
}

/// `datos` of `seguimiento`.
pub fn seguimiento_registrado(t: &Ticket, mensaje: Uuid) -> SeguimientoRegistrado<'_> {
    SeguimientoRegistrado { ticket_label: &t.label, estado: t.estado, mensaje_id: mensaje, mensaje: MENSAJE_REGISTRADO }
}
