//! The JSON shapes of the contract: replies (§4) and event envelopes (§5),
//! as typed views that both render the messages and describe them: the
//! OpenAPI document (`gateway`) and the AsyncAPI document
//! (`docs/asyncapi.yaml`, through [`esquemas`]) take their schemas from
//! these very types, so a document cannot drift from what goes on the wire.
//!
//! Every view borrows from the domain values it shows; the functions at the
//! bottom of each submodule build one, and [`ok`], [`error`] and
//! [`evento`] turn it into the JSON text that is sent, recorded for
//! idempotency and stored in the outbox — once, with no `Value` between.

use crate::domain::comando::CampoError;
use crate::domain::estado::{Estado, Operacion};
use crate::error::ErrorContrato;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::sync::Arc;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

mod catalogo;
mod conversacion;
mod datos;
mod documentos;
mod eventos;
mod informes;
mod tickets;

pub use catalogo::{
    Catalogo, EnUmbral, EstadoCatalogo, OperacionCatalogo, PasoCatalogo, PoliticaCatalogo, PrioridadCatalogo,
    SlaCatalogo, TransicionCatalogo, vista_catalogo,
};
pub use conversacion::{AdjuntoVista, AutorVista, MensajeVista};
pub use datos::{
    Anonimizado, DatosAnonimizado, EXPORTADO_BYTES_MAX, Exportado, TicketExportado, anonimizado, datos_anonimizado,
    exportado, peso,
};
pub use documentos::{asyncapi, esquema_evento, esquema_respuesta, esquemas};
pub use eventos::{
    ActorEvento, DatosAlerta, DatosEventoTicket, Evento, FuenteEventos, TipoDeContenido, VersionCloudEvents,
    datos_alerta, datos_evento_ticket, evento,
};
pub use informes::{Cumplimiento, EstadisticasVista, Tiempos, estadisticas};
pub use tickets::{
    Consulta, Creado, Detalle, HistorialVista, Listado, Respondido, SeguimientoRegistrado, SolicitanteVista,
    TicketVista, Transicion, consulta, creado, detalle, listado, respondido, seguimiento_registrado, transicion,
};

/// RFC 3339, UTC, milliseconds.
pub fn fecha(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A date-time as the contract writes it: RFC 3339, UTC, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fecha(pub DateTime<Utc>);

impl Serialize for Fecha {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&fecha(self.0))
    }
}

impl PartialSchema for Fecha {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339, UTC, milliseconds."))
            .examples(["2026-03-02T14:05:00.000Z"])
            .into()
    }
}

impl ToSchema for Fecha {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Fecha")
    }
}

/// An optional date: `null` when absent.
fn fecha_opt(t: Option<DateTime<Utc>>) -> Option<Fecha> {
    t.map(Fecha)
}

/// The request types (`tipo`), from the domain's list: a schema only, the
/// views carry the stored text.
pub struct TipoSolicitud;

impl PartialSchema for TipoSolicitud {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(crate::domain::estado::TIPOS))
            .description(Some("A request type (case-insensitive on input, upper case on output)."))
            .into()
    }
}

impl ToSchema for TipoSolicitud {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TipoSolicitud")
    }
}

/// A message as it goes on the wire and into its record: JSON text,
/// serialised once, straight from its typed view — never through a
/// `serde_json::Value`, whose maps cost an allocation per field to build and
/// another walk to print (#12). Shared, because a mutation's reply is both
/// sent and stored.
pub type Texto = Arc<str>;

/// `vista` as JSON text. A view is plain data (structs, strings, numbers,
/// maps with string keys), and writing to memory cannot fail, so
/// serialising one cannot fail either: the same assumption `json!` makes.
fn json(vista: &impl Serialize) -> String {
    serde_json::to_string(vista).expect("a view always serialises")
}

/// [`json`], shared.
fn texto(vista: &impl Serialize) -> Texto {
    json(vista).into()
}

/// The envelope of a success reply.
#[derive(Serialize)]
struct Exito<'a, D> {
    /// Always true.
    ok: bool,
    /// The operation's view.
    datos: &'a D,
}

/// A success reply: `{"ok": true, "datos": datos}`.
pub fn ok(datos: &impl Serialize) -> Texto {
    texto(&Exito { ok: true, datos })
}

/// The error of a refusal (contract §4), or of one the gateway decided (§8).
#[derive(Debug, Serialize, ToSchema)]
pub struct DetalleError<'a> {
    /// SOLICITUD_INVALIDA, NO_AUTENTICADO, PROHIBIDO, NO_ENCONTRADO,
    /// VALIDACION, TRANSICION_INVALIDA; the gateway's TIEMPO_AGOTADO,
    /// NO_DISPONIBLE, METODO_NO_PERMITIDO, CUERPO_DEMASIADO_GRANDE,
    /// TIPO_NO_SOPORTADO, DEMASIADAS_SOLICITUDES, RESPUESTA_INVALIDA.
    pub codigo: &'static str,
    /// The HTTP status.
    pub http: u16,
    /// A message for people.
    pub mensaje: String,
    /// Every broken field (VALIDACION), else empty.
    pub campos: &'a [CampoError],
    /// The ticket's state (TRANSICION_INVALIDA only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estado: Option<Estado>,
    /// The operation refused (TRANSICION_INVALIDA only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operacion: Option<Operacion>,
}

impl<'a> DetalleError<'a> {
    /// The error part of the worker's reply to a refused command.
    pub fn de(e: &'a ErrorContrato) -> Self {
        let (campos, estado, operacion) = match e {
            ErrorContrato::Validacion(campos) => (campos.as_slice(), None, None),
            ErrorContrato::TransicionInvalida { estado, operacion } => (&[][..], Some(*estado), Some(*operacion)),
            _ => (&[][..], None, None),
        };
        DetalleError { codigo: e.codigo(), http: e.http(), mensaje: e.to_string(), campos, estado, operacion }
    }
}

/// The worker's reply to a refused command: `{"ok": false, "error": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RespuestaError<'a> {
    /// Always false.
    #[schema(value_type = bool)]
    pub ok: bool,
    /// What went wrong.
    pub error: DetalleError<'a>,
}

/// The reply to a refused command (contract §4): `campos` is always there
/// (empty unless VALIDACION), `estado` and `operacion` for TRANSICION_INVALIDA.
pub fn error(e: &ErrorContrato) -> Texto {
    texto(&RespuestaError { ok: false, error: DetalleError::de(e) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::estado::{Estado, Operacion};

    #[test]
    fn codes_and_statuses_follow_the_contract() {
        let cases = [
            (ErrorContrato::SolicitudInvalida("x".into()), "SOLICITUD_INVALIDA", 400),
            (ErrorContrato::NoAutenticado("x".into()), "NO_AUTENTICADO", 401),
            (ErrorContrato::Prohibido("x".into()), "PROHIBIDO", 403),
            (ErrorContrato::NoEncontrado("x".into()), "NO_ENCONTRADO", 404),
            (ErrorContrato::Validacion(vec![]), "VALIDACION", 422),
            (
                ErrorContrato::TransicionInvalida { operacion: Operacion::Pausar, estado: Estado::Nuevo },
                "TRANSICION_INVALIDA",
                409,
            ),
        ];
        for (e, codigo, http) in cases {
            let r: serde_json::Value = serde_json::from_str(&error(&e)).unwrap();
            assert_eq!(r["ok"], false);
            assert_eq!(r["error"]["codigo"], codigo);
            assert_eq!(r["error"]["http"], http);
            assert!(r["error"]["campos"].is_array());
        }
    }

    #[test]
    fn transition_error_names_the_state() {
        let e = ErrorContrato::TransicionInvalida { operacion: Operacion::Pausar, estado: Estado::Nuevo };
        let r: serde_json::Value = serde_json::from_str(&error(&e)).unwrap();
        assert_eq!(r["error"]["estado"], "NUEVO");
        assert!(e.to_string().contains("NUEVO"));
    }
}
