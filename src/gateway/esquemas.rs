//! The JSON shapes of the HTTP API as Rust types, for the OpenAPI document
//! (`/openapi.json`): request bodies (contract §3) and each operation's
//! reply `datos` (§4), as `crate::vistas` renders them. The gateway passes
//! bodies through unread; these types describe them, and the integration
//! suite validates the replies it sees against them
//! (`tests/api/gateway.rs`), so a drift from `vistas` fails a test.
//!
//! Constraints here are never stricter than the worker's validation (text is
//! trimmed there, an empty optional field is absent), so a request the
//! document calls invalid is refused.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

// A ticket's state and a clock's SLA state are the domain's own enums.
pub use crate::domain::estado::Estado as EstadoTicket;
pub use crate::domain::sla::SlaEstado;

/// A request type (case-insensitive on input).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TipoSolicitud {
    /// A formal request for a service.
    Peticion,
    /// A complaint.
    Queja,
    /// A claim.
    Reclamo,
    /// A suggestion.
    Sugerencia,
    /// An interruption of service.
    Incidente,
    /// A standard service request.
    Solicitud,
    /// A question.
    Consulta,
}

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
    pub tipo: TipoSolicitud,
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
    pub tipo: Option<TipoSolicitud>,
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

/// `datos` of `crear`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Creado {
    /// The ticket's id.
    pub ticket_uuid: Uuid,
    /// `TKT-<year>-<n>`.
    #[schema(example = "TKT-2026-00142")]
    pub ticket_label: String,
    /// Always `NUEVO`.
    pub estado: EstadoTicket,
    /// The request type.
    pub tipo: TipoSolicitud,
    /// The priority.
    pub prioridad: String,
    /// The resolution target in hours (may be fractional).
    pub sla_horas: f64,
    /// When it was created.
    pub fecha_creacion: DateTime<Utc>,
    /// The resolution deadline.
    pub fecha_limite_sla: DateTime<Utc>,
    /// `Su solicitud ha sido registrada exitosamente.`
    pub mensaje: String,
    /// The first-response deadline; null without a target (v1.1).
    pub fecha_limite_primera_respuesta: Option<DateTime<Utc>>,
    /// The first-response SLA state; null without a target (v1.1).
    pub sla_primera_respuesta: Option<SlaEstado>,
    /// The SLA policy's name; null for the defaults (v1.1).
    pub sla_politica: Option<String>,
}

/// `datos` of every mutation but `crear`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Transicion {
    /// The ticket's id.
    pub ticket_uuid: Uuid,
    /// `TKT-<year>-<n>`.
    pub ticket_label: String,
    /// The state before.
    pub estado_anterior: EstadoTicket,
    /// The state after.
    pub estado: EstadoTicket,
    /// The area after.
    pub area_asignada: String,
    /// The priority after.
    pub prioridad: String,
    /// The resolution deadline.
    pub fecha_limite_sla: DateTime<Utc>,
    /// The resolution SLA state.
    pub sla_estado: SlaEstado,
    /// Rises by one per change.
    pub version: i64,
    /// The first-response deadline; null without a target (v1.1).
    pub fecha_limite_primera_respuesta: Option<DateTime<Utc>>,
    /// The first-response SLA state; null without a target (v1.1).
    pub sla_primera_respuesta: Option<SlaEstado>,
    /// The SLA policy's name; null for the defaults (v1.1).
    pub sla_politica: Option<String>,
}

/// `datos` of `consultar`: the ConsultarTicketOut of the Mesa de Ayuda docs plus SLA fields.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consulta {
    /// The ticket's id.
    pub ticket_uuid: Uuid,
    /// `TKT-<year>-<n>`.
    pub ticket_label: String,
    /// The ticket number.
    pub ticket_num: i64,
    /// The requester's name.
    pub solicitante_nombre: String,
    /// The requester's e-mail.
    pub solicitante_email: String,
    /// The requester's phone.
    #[schema(required = true)]
    pub solicitante_tel: Option<String>,
    /// Whether the phone takes WhatsApp.
    pub tiene_whatsapp: bool,
    /// ID document.
    #[schema(required = true)]
    pub documento: Option<String>,
    /// Company or department.
    #[schema(required = true)]
    pub empresa_departamento: Option<String>,
    /// The request type.
    pub tipo_solicitud: TipoSolicitud,
    /// Category.
    pub categoria: String,
    /// Sub-category.
    #[schema(required = true)]
    pub subcategoria: Option<String>,
    /// Subject.
    #[schema(required = true)]
    pub asunto: Option<String>,
    /// Description.
    pub descripcion_problema: String,
    /// The staff's answer to the requester.
    #[schema(required = true)]
    pub respuesta_cliente: Option<String>,
    /// The area.
    pub area_asignada: String,
    /// The priority.
    pub prioridad_nombre: String,
    /// The state.
    pub estado_nombre: EstadoTicket,
    /// Created.
    pub creado_en: DateTime<Utc>,
    /// Last changed.
    pub actualizado_en: DateTime<Utc>,
    /// The last history entry's date.
    #[schema(required = true)]
    pub ultima_fecha_historial: Option<DateTime<Utc>>,
    /// The last history entry's `accion`.
    #[schema(required = true)]
    pub ultima_accion: Option<String>,
    /// The last history entry's `motivo`.
    #[schema(required = true)]
    pub ultimo_motivo: Option<String>,
    /// The last history entry's actor.
    #[schema(required = true)]
    pub ultimo_actor_nombre: Option<String>,
    /// The last history entry's actor role (USUARIO, ADMIN, MESA, AREA, SISTEMA).
    #[schema(required = true)]
    pub ultimo_actor_rol: Option<String>,
    /// The resolution target in hours.
    pub sla_horas: f64,
    /// The resolution deadline.
    pub fecha_limite_sla: DateTime<Utc>,
    /// The resolution SLA state.
    pub sla_estado: SlaEstado,
    /// The first-response deadline; null without a target (v1.1).
    pub fecha_limite_primera_respuesta: Option<DateTime<Utc>>,
    /// The first-response SLA state; null without a target (v1.1).
    pub sla_primera_respuesta: Option<SlaEstado>,
    /// The SLA policy's name; null for the defaults (v1.1).
    pub sla_politica: Option<String>,
}

/// A ticket object as `detalle`, `listar` and events carry it (snake_case).
#[derive(Serialize, ToSchema)]
pub struct TicketVista {
    /// The ticket's id.
    pub uuid: Uuid,
    /// `TKT-<year>-<n>`.
    pub label: String,
    /// The ticket number.
    pub num: i64,
    /// The request type.
    pub tipo_solicitud: TipoSolicitud,
    /// Category.
    pub categoria: String,
    /// Sub-category.
    #[schema(required = true)]
    pub subcategoria: Option<String>,
    /// Subject.
    #[schema(required = true)]
    pub asunto: Option<String>,
    /// Description.
    pub descripcion: String,
    /// The staff's answer to the requester.
    #[schema(required = true)]
    pub respuesta_cliente: Option<String>,
    /// The state.
    pub estado: EstadoTicket,
    /// The priority.
    pub prioridad: String,
    /// The area.
    pub area_asignada: String,
    /// The agent, once assigned.
    #[schema(required = true)]
    pub agente_asignado: Option<String>,
    /// The resolution target in hours.
    pub sla_horas: f64,
    /// The resolution deadline.
    pub fecha_limite_sla: DateTime<Utc>,
    /// The resolution SLA state.
    pub sla_estado: SlaEstado,
    /// Created.
    pub creado_en: DateTime<Utc>,
    /// Last changed.
    pub actualizado_en: DateTime<Utc>,
    /// Closed (CANCELADO or ARCHIVADO).
    #[schema(required = true)]
    pub cerrado_en: Option<DateTime<Utc>>,
    /// Rises by one per change.
    pub version: i64,
    /// The first-response deadline; null without a target (v1.1).
    pub fecha_limite_primera_respuesta: Option<DateTime<Utc>>,
    /// The first-response SLA state; null without a target (v1.1).
    pub sla_primera_respuesta: Option<SlaEstado>,
    /// The SLA policy's name; null for the defaults (v1.1).
    pub sla_politica: Option<String>,
}

/// The requester, in `detalle`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SolicitanteVista {
    /// Name.
    pub nombre: String,
    /// E-mail.
    pub email: String,
    /// Phone.
    #[schema(required = true)]
    pub telefono: Option<String>,
    /// Whether the phone takes WhatsApp.
    pub tiene_whatsapp: bool,
    /// ID document.
    #[schema(required = true)]
    pub documento: Option<String>,
    /// Company or department.
    #[schema(required = true)]
    pub empresa_departamento: Option<String>,
}

/// One history entry (snake_case).
#[derive(Serialize, ToSchema)]
pub struct HistorialVista {
    /// When.
    pub fecha: DateTime<Utc>,
    /// CREACION, ASIGNACION, …, SLA_POR_VENCER, SLA_VENCIDO, ESCALAMIENTO.
    pub accion: String,
    /// Why.
    #[schema(required = true)]
    pub motivo: Option<String>,
    /// The actor's name.
    pub actor_nombre: String,
    /// The actor's role (USUARIO, ADMIN, MESA, AREA, SISTEMA).
    pub actor_rol: String,
    /// State before (null on CREACION).
    #[schema(required = true)]
    pub estado_antes: Option<String>,
    /// State after.
    pub estado_despues: String,
    /// Priority before, when it changed.
    #[schema(required = true)]
    pub prioridad_antes: Option<String>,
    /// Priority after, when it changed.
    #[schema(required = true)]
    pub prioridad_despues: Option<String>,
    /// Area before, when it changed.
    #[schema(required = true)]
    pub area_antes: Option<String>,
    /// Area after, when it changed.
    #[schema(required = true)]
    pub area_despues: Option<String>,
}

/// `datos` of `detalle`: the ticket-detail bundle of the Mesa de Ayuda docs.
#[derive(Serialize, ToSchema)]
pub struct Detalle {
    /// The ticket.
    pub ticket: TicketVista,
    /// Its requester.
    pub solicitante: SolicitanteVista,
    /// Its history, oldest first.
    pub historial: Vec<HistorialVista>,
}

/// `datos` of `listar`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Listado {
    /// One page of tickets.
    pub items: Vec<TicketVista>,
    /// The `cursor` of the next page; null on the last.
    #[schema(required = true)]
    pub siguiente_cursor: Option<String>,
}

/// SLA compliance over closed tickets.
#[derive(Serialize, ToSchema)]
pub struct Cumplimiento {
    /// Tickets closed.
    pub cerrados: i64,
    /// Of them, closed in time.
    pub cumplidos: i64,
    /// `cumplidos` over `cerrados`, in percent; null with none closed.
    #[schema(required = true)]
    pub porcentaje: Option<f64>,
}

/// A time distribution.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tiempos {
    /// How many tickets were measured.
    pub muestras: i64,
    /// Median, in seconds; null without samples.
    #[schema(required = true)]
    pub mediana_segundos: Option<f64>,
    /// 90th percentile, in seconds; null without samples.
    #[schema(required = true)]
    pub p90_segundos: Option<f64>,
}

/// `datos` of `estadisticas`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EstadisticasVista {
    /// Window start.
    pub desde: DateTime<Utc>,
    /// Window end.
    pub hasta: DateTime<Utc>,
    /// The area filter, if any.
    #[schema(required = true)]
    pub area: Option<String>,
    /// Tickets created in the window.
    pub total: i64,
    /// Counts by state.
    pub por_estado: BTreeMap<String, i64>,
    /// Counts by type.
    pub por_tipo: BTreeMap<String, i64>,
    /// Counts by priority.
    pub por_prioridad: BTreeMap<String, i64>,
    /// Counts by area.
    pub por_area: BTreeMap<String, i64>,
    /// Open tickets by SLA state.
    pub abiertos_por_sla_estado: BTreeMap<String, i64>,
    /// Resolution SLA compliance.
    pub cumplimiento_sla: Cumplimiento,
    /// From creation to the first assignment.
    pub tiempo_hasta_asignacion: Tiempos,
    /// From creation to close.
    pub tiempo_hasta_cierre: Tiempos,
}

/// A state in the catalogue (and in `GET /api/ticket_states`).
#[derive(Serialize, ToSchema)]
pub struct EstadoCatalogo {
    /// The state.
    pub nombre: EstadoTicket,
    /// Whether nothing leaves it.
    pub terminal: bool,
}

/// A legal transition.
#[derive(Serialize, ToSchema)]
pub struct TransicionCatalogo {
    /// From (null for `crear`).
    #[schema(required = true)]
    pub desde: Option<EstadoTicket>,
    /// The operation.
    pub operacion: String,
    /// To.
    pub hacia: EstadoTicket,
}

/// An operation and who may run it.
#[derive(Serialize, ToSchema)]
pub struct OperacionCatalogo {
    /// The operation.
    pub nombre: String,
    /// Whether it changes a ticket.
    pub mutacion: bool,
    /// Whether it needs no token.
    pub publica: bool,
    /// The roles allowed.
    pub roles: Vec<String>,
    /// The event it emits, if any.
    #[schema(required = true)]
    pub evento: Option<String>,
}

/// A priority and its resolution target.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrioridadCatalogo {
    /// The priority.
    pub nombre: String,
    /// Its target in hours.
    pub sla_horas: f64,
}

/// The SLA rules in the catalogue.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlaCatalogo {
    /// The default warning share, in percent.
    pub aviso_porcentaje: u32,
    /// Whether the clock stops while PAUSADO.
    pub pausa_detiene_reloj: bool,
}

/// `datos` of `catalogo`.
#[derive(Serialize, ToSchema)]
pub struct Catalogo {
    /// The states.
    pub estados: Vec<EstadoCatalogo>,
    /// The legal transitions.
    pub transiciones: Vec<TransicionCatalogo>,
    /// The operations with their roles.
    pub operaciones: Vec<OperacionCatalogo>,
    /// The request types.
    pub tipos: Vec<TipoSolicitud>,
    /// The priorities with their targets.
    pub prioridades: Vec<PrioridadCatalogo>,
    /// The SLA rules.
    pub sla: SlaCatalogo,
}

/// A broken field of a VALIDACION refusal.
#[derive(Serialize, ToSchema)]
pub struct CampoInvalido {
    /// The field.
    pub campo: String,
    /// What is wrong with it.
    pub mensaje: String,
}

/// The error of a refusal (contract §4), or one the gateway decided (§8).
#[derive(Serialize, ToSchema)]
pub struct DetalleError {
    /// SOLICITUD_INVALIDA, NO_AUTENTICADO, PROHIBIDO, NO_ENCONTRADO,
    /// VALIDACION, TRANSICION_INVALIDA; the gateway's TIEMPO_AGOTADO,
    /// NO_DISPONIBLE, METODO_NO_PERMITIDO, CUERPO_DEMASIADO_GRANDE,
    /// TIPO_NO_SOPORTADO, DEMASIADAS_SOLICITUDES, RESPUESTA_INVALIDA.
    pub codigo: String,
    /// The HTTP status.
    pub http: u16,
    /// A message for people.
    pub mensaje: String,
    /// Every broken field (VALIDACION), else empty.
    pub campos: Vec<CampoInvalido>,
    /// The ticket's state (TRANSICION_INVALIDA).
    pub estado: Option<EstadoTicket>,
    /// The operation refused (TRANSICION_INVALIDA).
    pub operacion: Option<String>,
}

/// A refusal's body: `{"error": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct CuerpoError {
    /// What went wrong.
    pub error: DetalleError,
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
}
