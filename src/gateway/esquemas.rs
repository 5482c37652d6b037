//! The JSON shapes of the HTTP API for the OpenAPI document
//! (`/openapi.json`): the request bodies (contract §3) here; each
//! operation's reply `datos` (§4) are the worker's own views
//! (`crate::vistas`), re-exported, so the document describes exactly what
//! the worker serialises. The integration suite validates the replies it
//! sees against them (`tests/api/gateway.rs`).
//!
//! Constraints here are never stricter than the worker's validation (text is
//! trimmed there, an empty optional field is absent), so a request the
//! document calls invalid is refused.

use serde::Serialize;
use utoipa::ToSchema;

pub use crate::vistas::{
    Anonimizado, Catalogo, Consulta, Creado, Detalle, DetalleError, EstadisticasVista, EstadoCatalogo, Exportado,
    Listado, Respondido, SeguimientoRegistrado, TipoSolicitud, Transicion,
};

/// Body of `POST /api/tickets/crear`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrearTicket {
    /// The requester's full name.
    #[schema(min_length = 3, max_length = 150, example = "Ana García")]
    pub nombre: String,
    /// Contact e-mail, also the key of `consultar`.
    #[schema(min_length = 3, max_length = 254, example = "ana.garcia@empresa.com")]
    pub email: String,
    /// The request type.
    #[schema(value_type = TipoSolicitud)]
    pub tipo: String,
    /// Primary category.
    #[schema(min_length = 2, max_length = 100, example = "Sistemas")]
    pub categoria: String,
    /// What happened.
    #[schema(min_length = 10, max_length = 10000)]
    pub descripcion: String,
    /// A priority of the catalogue (`CRITICA`, `ALTA`, `MEDIA`, `BAJA` by default), case-insensitive.
    #[schema(min_length = 1, max_length = 20, example = "ALTA")]
    pub prioridad: String,
    /// National ID or passport number.
    #[schema(max_length = 50)]
    pub documento: Option<String>,
    /// Phone number.
    #[schema(max_length = 30)]
    pub telefono: Option<String>,
    /// Whether the phone takes WhatsApp (default false).
    pub tiene_whatsapp: Option<bool>,
    /// Company or department.
    #[schema(max_length = 150)]
    pub empresa_departamento: Option<String>,
    /// Sub-category.
    #[schema(max_length = 100)]
    pub subcategoria: Option<String>,
    /// Subject line.
    #[schema(max_length = 200)]
    pub asunto: Option<String>,
    /// Initial area (default `MESA`).
    #[schema(max_length = 100)]
    pub area_asignada: Option<String>,
}

/// Body of `POST /api/tickets/consultar`.
#[derive(Serialize, ToSchema)]
pub struct ConsultarTicket {
    /// The ticket's label, `TKT-<year>-<n>`.
    #[schema(min_length = 1, max_length = 50, example = "TKT-2026-00142")]
    pub label: String,
    /// The e-mail the ticket was created with.
    #[schema(min_length = 1, max_length = 254, example = "ana.garcia@empresa.com")]
    pub email: String,
}

/// Body of `asignar` (all optional).
#[derive(Serialize, ToSchema)]
pub struct Asignar {
    /// The area (default: the current one).
    #[schema(max_length = 100)]
    pub area: Option<String>,
    /// The agent.
    #[schema(max_length = 150)]
    pub agente: Option<String>,
    /// Why.
    #[schema(max_length = 500)]
    pub motivo: Option<String>,
}

/// Body of `transferir`.
#[derive(Serialize, ToSchema)]
pub struct Transferir {
    /// The new area (differs from the current).
    #[schema(min_length = 2, max_length = 100)]
    pub area: String,
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    pub motivo: String,
}

/// Body of `reclasificar`: `motivo` and at least one of the others.
#[derive(Serialize, ToSchema)]
pub struct Reclasificar {
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    pub motivo: String,
    /// The new type.
    #[schema(value_type = Option<TipoSolicitud>)]
    pub tipo: Option<String>,
    /// The new category.
    #[schema(max_length = 100)]
    pub categoria: Option<String>,
    /// The new sub-category.
    #[schema(max_length = 100)]
    pub subcategoria: Option<String>,
    /// The new priority (recomputes the deadline).
    #[schema(max_length = 20)]
    pub prioridad: Option<String>,
}

/// Body of `pausar` and `cancelar`.
#[derive(Serialize, ToSchema)]
pub struct ConMotivo {
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    pub motivo: String,
}

/// Body of `reabrir` and `archivar` (may be empty).
#[derive(Serialize, ToSchema)]
pub struct MotivoOpcional {
    /// Why.
    #[schema(max_length = 500)]
    pub motivo: Option<String>,
}

/// Body of `actualizar`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Actualizar {
    /// The progress note.
    #[schema(min_length = 1, max_length = 5000)]
    pub nota: String,
    /// An answer shown to the requester by `consultar`.
    #[schema(max_length = 5000)]
    pub respuesta_cliente: Option<String>,
}

/// Body of `pausar` (v1.2: the wait it starts).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pausar {
    /// Why.
    #[schema(min_length = 1, max_length = 500)]
    pub motivo: String,
    /// What it waits for (default OTRO).
    pub espera: Option<crate::domain::conversacion::Espera>,
    /// When the wait ends by itself: RFC 3339, in the future, at most 90 days ahead.
    #[schema(format = DateTime)]
    pub hasta: Option<String>,
    /// What that end does (default REABRIR; ARCHIVAR needs `hasta`).
    pub al_vencer: Option<crate::domain::conversacion::AlVencer>,
}

/// An attachment reference (v1.2): shown, never fetched.
#[derive(Serialize, ToSchema)]
pub struct AdjuntoEntrada {
    /// File name.
    #[schema(min_length = 1, max_length = 200)]
    pub nombre: String,
    /// Where it lives: `https://`.
    #[schema(min_length = 9, max_length = 2000, pattern = "^[Hh][Tt][Tt][Pp][Ss]://")]
    pub url: String,
    /// Its media type (`image/png`).
    #[schema(min_length = 3, max_length = 100)]
    pub tipo: String,
    /// Its size.
    #[schema(minimum = 0)]
    pub bytes: u64,
    /// SHA-256 of its content, 64 hex digits.
    #[schema(min_length = 64, max_length = 64, pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: String,
}

/// Body of `responder` (v1.2).
#[derive(Serialize, ToSchema)]
pub struct Responder {
    /// The message, 1–5000 characters.
    #[schema(min_length = 1, max_length = 5000)]
    pub texto: String,
    /// Staff only (default false: PUBLICO, the requester sees it).
    pub interno: Option<bool>,
    /// At most 10 references.
    #[schema(max_items = 10)]
    pub adjuntos: Option<Vec<AdjuntoEntrada>>,
}

/// Body of `seguimiento` (v1.2): the requester's message, by label and e-mail.
#[derive(Serialize, ToSchema)]
pub struct Seguimiento {
    /// The ticket's label, `TKT-<year>-<n>`.
    #[schema(min_length = 1, max_length = 50, example = "TKT-2026-00142")]
    pub label: String,
    /// The e-mail the ticket was created with.
    #[schema(min_length = 1, max_length = 254, example = "ana.garcia@empresa.com")]
    pub email: String,
    /// The message, 1–5000 characters.
    #[schema(min_length = 1, max_length = 5000)]
    pub texto: String,
    /// At most 10 references.
    #[schema(max_items = 10)]
    pub adjuntos: Option<Vec<AdjuntoEntrada>>,
}

/// Body of `anonimizar` (v1.2, §11; ADMIN): whose data, by e-mail or by
/// ticket (exactly one of the two), and why.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Anonimizar {
    /// Every ticket of the requester with this e-mail (compared as
    /// `consultar` compares it: case-insensitive, whole).
    #[schema(min_length = 1, max_length = 254, example = "ana.garcia@empresa.com")]
    pub email: Option<String>,
    /// Or this one ticket.
    pub ticket_id: Option<uuid::Uuid>,
    /// Why (kept in the ANONIMIZACION entry, without any of the erased values).
    #[schema(min_length = 1, max_length = 500, example = "solicitud de supresión del titular")]
    pub motivo: String,
}

/// Body of `exportar` (v1.2, §11; ADMIN): one page of a requester's tickets.
#[derive(Serialize, ToSchema)]
pub struct Exportar {
    /// The requester's e-mail (compared as `consultar` compares it).
    #[schema(min_length = 1, max_length = 254, example = "ana.garcia@empresa.com")]
    pub email: String,
    /// Tickets a page, 1–100 (default 100).
    #[schema(minimum = 1, maximum = 100)]
    pub limite: Option<i64>,
    /// `siguienteCursor` of the page before.
    pub cursor: Option<String>,
}

/// A refusal's body: `{"error": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct CuerpoError {
    /// What went wrong.
    #[schema(value_type = DetalleError)]
    pub error: DetalleError<'static>,
}

/// `GET /health`.
#[derive(Serialize, ToSchema)]
pub struct Salud {
    /// Always `ok`.
    pub estado: String,
}

/// `GET /ready`.
#[derive(Serialize, ToSchema)]
pub struct Listo {
    /// Whether the gateway can take requests.
    pub listo: bool,
    /// Whether a session with RabbitMQ is up.
    pub broker: bool,
    /// Whether RabbitMQ confirms what the gateway publishes: false while a
    /// command is unconfirmed past its request's deadline (no quorum).
    pub confirmaciones: bool,
}
