//! The conversation's views (contract §10): messages as `detalle`,
//! `consultar` and events show them.

use super::Fecha;
use crate::domain::conversacion::{Adjunto, MensajeConversacion, Visibilidad};
use crate::domain::estado::RolActor;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

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
