//! The routes of contract §8, each one command on `P.comandos`; what a
//! request alone decides (400, 413, 415, 429) is answered before anything
//! is published. The `#[utoipa::path]` on each handler is where
//! `/openapi.json` comes from, so the document and the router cannot drift.

use super::EstadoGateway;
use super::error::ErrorGateway;
use super::esquemas::*;
use crate::amqp::{Comando, ErrorEnvio};
use crate::contrato::{HEADER_TRACEPARENT, MESSAGE_ID_MAX, MessageId, traceparent_valido};
use crate::domain::estado::Operacion;
use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use utoipa::IntoParams;

/// Largest request body (contract §8): 64 KiB.
pub const CUERPO_MAX_BYTES: usize = 64 * 1024;
/// `Idempotency-Key`, in and out.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The `message_id` a response was for, for the access log.
#[derive(Clone, Debug)]
pub(crate) struct IdDelComando(pub(crate) MessageId);

/// The refusals any command route may answer, besides the worker's own.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only its OpenAPI description is used
enum Rechazos {
    /// Malformed JSON, a body that is not an object, a bad `ticketId`,
    /// `Idempotency-Key` or query (SOLICITUD_INVALIDA).
    #[response(status = 400)]
    SolicitudInvalida(CuerpoError),
    /// Token missing, malformed, with a bad signature or expired (NO_AUTENTICADO).
    #[response(status = 401)]
    NoAutenticado(CuerpoError),
    /// Role not allowed, or an AREA actor outside its area (PROHIBIDO).
    #[response(status = 403)]
    Prohibido(CuerpoError),
    /// No such ticket, or (consultar) a wrong e-mail (NO_ENCONTRADO).
    #[response(status = 404)]
    NoEncontrado(CuerpoError),
    /// The operation is not legal from the ticket's state (TRANSICION_INVALIDA).
    #[response(status = 409)]
    TransicionInvalida(CuerpoError),
    /// The body did not arrive in time (SOLICITUD_INCOMPLETA); the connection closes.
    #[response(status = 408)]
    SolicitudIncompleta(CuerpoError),
    /// Body over 64 KiB (CUERPO_DEMASIADO_GRANDE).
    #[response(status = 413)]
    CuerpoDemasiadoGrande(CuerpoError),
    /// A body that is not `application/json` (TIPO_NO_SOPORTADO).
    #[response(status = 415)]
    TipoNoSoportado(CuerpoError),
    /// Field rules broken; `campos` lists every one (VALIDACION), or an
    /// `Idempotency-Key` already used for another request.
    #[response(status = 422)]
    Validacion(CuerpoError),
    /// The request head over `MESA__GATEWAY__MAX_CABECERAS_BYTES`, or
    /// `Authorization` over 8 KiB (CABECERAS_DEMASIADO_GRANDES).
    #[response(status = 431)]
    CabecerasDemasiadoGrandes(CuerpoError),
    /// Over the public routes' limit (DEMASIADAS_SOLICITUDES).
    #[response(status = 429, headers(("Retry-After" = u64, description = "Seconds to wait")))]
    DemasiadasSolicitudes(CuerpoError),
    /// The worker's reply could not be read (RESPUESTA_INVALIDA).
    #[response(status = 502)]
    RespuestaInvalida(CuerpoError),
    /// RabbitMQ unreachable (NO_DISPONIBLE); retrying with the same key is safe.
    #[response(status = 503, headers(("Idempotency-Key" = String, description = "The key used")))]
    NoDisponible(CuerpoError),
    /// No reply in time (TIEMPO_AGOTADO): the command may still be applied;
    /// retrying with the same key is safe.
    #[response(status = 504, headers(("Idempotency-Key" = String, description = "The key used")))]
    TiempoAgotado(CuerpoError),
}

/// `GET /api/tickets` query (listar); empty values are absent.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)] // only its OpenAPI description is used
struct FiltroListar {
    /// A state.
    estado: Option<String>,
    /// An area.
    area: Option<String>,
    /// A priority.
    prioridad: Option<String>,
    /// A request type.
    tipo: Option<String>,
    /// A resolution SLA state.
    sla_estado: Option<String>,
    /// A first-response SLA state (v1.1).
    sla_primera_respuesta: Option<String>,
    /// Only paused tickets waiting for this: SOLICITANTE, TERCERO or OTRO (v1.2).
    espera: Option<String>,
    /// `true`: only the tickets where the requester waits for the desk,
    /// longest-waiting first; `false`: the others (v1.2).
    pendiente_respuesta: Option<bool>,
    /// Page size, 1–200 (default 50).
    limite: Option<i64>,
    /// `siguienteCursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /api/estadisticas` query; empty values are absent.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // only its OpenAPI description is used
struct FiltroEstadisticas {
    /// Window start, RFC 3339 (default: 30 days before `hasta`).
    desde: Option<String>,
    /// Window end, RFC 3339 (default: now).
    hasta: Option<String>,
    /// An area.
    area: Option<String>,
}

const LISTAR: &[&str] = &[
    "estado",
    "area",
    "prioridad",
    "tipo",
    "slaEstado",
    "slaPrimeraRespuesta",
    "espera",
    "pendienteRespuesta",
    "limite",
    "cursor",
];
const ESTADISTICAS: &[&str] = &["desde", "hasta", "area"];

/// The `Idempotency-Key` of a request, or a fresh one: the worker's
/// `message_id` rule ([`MessageId::leer`]) over what HTTP can carry, visible
/// ASCII (so it is always a valid header value to send back).
fn clave(cabeceras: &HeaderMap) -> Result<MessageId, ErrorGateway> {
    let Some(valor) = cabeceras.get(&IDEMPOTENCY_KEY) else { return Ok(MessageId::nuevo()) };
    let invalida = || {
        ErrorGateway::SolicitudInvalida(format!("Idempotency-Key: de 1 a {MESSAGE_ID_MAX} caracteres ASCII visibles"))
    };
    MessageId::leer(Some(valor.to_str().map_err(|_| invalida())?)).map_err(|_| invalida())
}

/// The context of the request's span when traces are on (a child of the
/// request's `traceparent`, or a new trace); else the request's
/// `traceparent` when valid, else a new trace.
fn traza(cabeceras: &HeaderMap) -> String {
    if let Some(propia) = crate::telemetry::traceparent(&tracing::Span::current()) {
        return propia;
    }
    let recibida = cabeceras.get(HEADER_TRACEPARENT).and_then(|v| v.to_str().ok());
    match traceparent_valido(recibida) {
        Some(tp) => tp.to_string(),
        None => {
            let traza = uuid::Uuid::new_v4().simple().to_string();
            let tramo = &uuid::Uuid::new_v4().simple().to_string()[..16];
            format!("00-{traza}-{tramo}-01")
        }
    }
}

/// The JSON object of a POST body: 415 unless `application/json` (an empty
/// body, typed JSON or untyped, is `{}`), 413 over 64 KiB, 408 when it has
/// not all come within `plazo`, 400 unless an object.
async fn cuerpo_json(partes: &Parts, cuerpo: Body, plazo: Duration) -> Result<Map<String, Value>, ErrorGateway> {
    let tipo = partes.headers.get(header::CONTENT_TYPE);
    let es_json = tipo.and_then(|v| v.to_str().ok()).is_some_and(|t| {
        t.split(';').next().is_some_and(|esencia| esencia.trim().eq_ignore_ascii_case("application/json"))
    });
    if tipo.is_some() && !es_json {
        return Err(ErrorGateway::TipoNoSoportado);
    }
    let declarado = partes.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declarado.is_some_and(|n| n > CUERPO_MAX_BYTES as u64) {
        return Err(ErrorGateway::CuerpoDemasiadoGrande(CUERPO_MAX_BYTES));
    }
    let leido = tokio::time::timeout(plazo, axum::body::to_bytes(cuerpo, CUERPO_MAX_BYTES))
        .await
        .map_err(|_| ErrorGateway::CuerpoIncompleto(plazo.as_secs()))?;
    let bytes = leido.map_err(|e| {
        if e.into_inner().is::<http_body_util::LengthLimitError>() {
            ErrorGateway::CuerpoDemasiadoGrande(CUERPO_MAX_BYTES)
        } else {
            ErrorGateway::SolicitudInvalida("no se pudo leer el cuerpo".into())
        }
    })?;
    // No body at all (`curl -X POST …/reabrir`) is the empty object.
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if tipo.is_none() {
        return Err(ErrorGateway::TipoNoSoportado);
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ErrorGateway::SolicitudInvalida("el cuerpo debe ser un objeto JSON".into())),
        Err(e) => Err(ErrorGateway::SolicitudInvalida(format!(
            "JSON mal formado (línea {}, columna {})",
            e.line(),
            e.column()
        ))),
    }
}

/// The query's known parameters as a command body; empty values are
/// absent, a repeated one is refused, `limite` goes as a number when it is one.
fn cuerpo_de_consulta(partes: &Parts, conocidos: &[&str]) -> Result<Map<String, Value>, ErrorGateway> {
    let mut m = Map::new();
    let consulta = partes.uri.query().unwrap_or_default();
    for (k, v) in form_urlencoded::parse(consulta.as_bytes()) {
        let Some(nombre) = conocidos.iter().find(|c| **c == k) else { continue };
        if m.contains_key(*nombre) {
            return Err(ErrorGateway::SolicitudInvalida(format!("el parámetro {nombre} se repite")));
        }
        if v.trim().is_empty() {
            continue;
        }
        let valor = match (*nombre, v.trim().parse::<i64>()) {
            ("limite", Ok(n)) => Value::from(n),
            _ => Value::String(v.into_owned()),
        };
        m.insert(nombre.to_string(), valor);
    }
    Ok(m)
}

/// A path's `ticketId`: the hyphenated 36-character UUID (any case).
fn ticket_id(ruta: Result<Path<String>, PathRejection>) -> Result<String, ErrorGateway> {
    let invalido = || ErrorGateway::SolicitudInvalida("ticketId debe ser un UUID (8-4-4-4-12)".into());
    let Path(id) = ruta.map_err(|_| invalido())?;
    if id.len() != 36 || uuid::Uuid::try_parse(&id).is_err() {
        return Err(invalido());
    }
    Ok(id)
}

/// Where the worker's reply leads: 200 with `datos`, or its `error.http`
/// with `{"error": ...}`.
fn desde_respuesta(bytes: &[u8]) -> Result<(StatusCode, Value), ErrorGateway> {
    let mut v: Value = serde_json::from_slice(bytes).map_err(|_| ErrorGateway::RespuestaInvalida)?;
    match v.get("ok") {
        Some(Value::Bool(true)) => Ok((StatusCode::OK, v.get_mut("datos").map(Value::take).unwrap_or(Value::Null))),
        Some(Value::Bool(false)) => {
            let error = v.get_mut("error").map(Value::take).ok_or(ErrorGateway::RespuestaInvalida)?;
            let estado = error
                .get("http")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
                .and_then(|n| StatusCode::from_u16(n).ok())
                .filter(|s| s.is_client_error() || s.is_server_error())
                .ok_or(ErrorGateway::RespuestaInvalida)?;
            Ok((estado, serde_json::json!({"error": error})))
        }
        _ => Err(ErrorGateway::RespuestaInvalida),
    }
}

/// What a successful reply must be about: a key reused for another
/// request gets that request's recorded reply from the worker (§3), which
/// this tells apart where it can.
#[derive(Clone, Copy)]
enum Destino<'a> {
    /// A query: nothing is recorded by key.
    Consulta,
    /// `crear`: a new ticket's `datos`, not a transition's.
    Creacion,
    /// A mutation of this ticket.
    Ticket(&'a str),
    /// `seguimiento`: a registered message, by label.
    Seguimiento,
    /// `anonimizar`: a count of erased tickets.
    Anonimizacion,
}

impl Destino<'_> {
    /// Whether `datos` answers this request rather than another sent with the same key.
    fn corresponde(self, datos: &Value) -> bool {
        match self {
            Destino::Consulta => true,
            Destino::Creacion => datos.get("estadoAnterior").is_none() && datos.get("mensajeId").is_none(),
            Destino::Seguimiento => datos.get("mensajeId").is_some() && datos.get("estadoAnterior").is_none(),
            Destino::Anonimizacion => datos.get("ticketUuids").is_some(),
            Destino::Ticket(id) => {
                datos.get("ticketUuid").and_then(Value::as_str).is_some_and(|u| u.eq_ignore_ascii_case(id))
                    && datos.get("estadoAnterior").is_some()
            }
        }
    }
}

/// 422 for an `Idempotency-Key` already used for another request.
fn clave_reutilizada() -> Response {
    let cuerpo = serde_json::json!({"error": {
        "codigo": "VALIDACION",
        "http": 422,
        "mensaje": "la Idempotency-Key ya se usó para otra solicitud",
        "campos": [{"campo": "Idempotency-Key", "mensaje": "ya se usó para otra solicitud: use una nueva"}],
    }});
    (StatusCode::UNPROCESSABLE_ENTITY, Json(cuerpo)).into_response()
}

/// Publishes `operacion` with `cuerpo` and turns the reply into the
/// response; `datos` goes through `adaptar` on success.
async fn atender(
    e: &EstadoGateway,
    operacion: Operacion,
    cuerpo: Map<String, Value>,
    cabeceras: &HeaderMap,
    destino: Destino<'_>,
    adaptar: fn(Value) -> Value,
) -> Response {
    let message_id = match clave(cabeceras) {
        Ok(c) => c,
        Err(error) => return error.into_response(),
    };
    let comando = Comando {
        routing_key: format!("ticket.{}", operacion.as_str()),
        message_id: message_id.as_str().to_string(),
        cuerpo: Value::Object(cuerpo).to_string().into_bytes(),
        authorization: cabeceras.get(header::AUTHORIZATION).map(|v| v.as_bytes().to_vec()),
        traceparent: Some(traza(cabeceras)),
    };
    let limite = tokio::time::Instant::now() + e.timeout;
    let mut respuesta = match e.cliente.enviar(comando, limite).await {
        Ok(bytes) => match desde_respuesta(&bytes) {
            Ok((StatusCode::OK, datos)) if destino.corresponde(&datos) => {
                (StatusCode::OK, Json(adaptar(datos))).into_response()
            }
            Ok((StatusCode::OK, _)) => clave_reutilizada(),
            Ok((estado, error)) => (estado, Json(error)).into_response(),
            Err(error) => error.into_response(),
        },
        Err(ErrorEnvio::TiempoAgotado) => {
            e.metricas.tiempos_agotados.inc();
            ErrorGateway::TiempoAgotado.into_response()
        }
        // The session is gone or broke under the command, or the broker
        // did not take it: retrying with the same key is safe.
        Err(ErrorEnvio::NoDisponible | ErrorEnvio::Broker(_) | ErrorEnvio::RespuestasCerradas) => {
            ErrorGateway::NoDisponible.into_response()
        }
        Err(ErrorEnvio::DemasiadoGrande) => {
            ErrorGateway::CabecerasDemasiadoGrandes("el comando no cabe en una trama del broker".into()).into_response()
        }
    };
    // Read above from visible ASCII: always a valid header value.
    if let Ok(v) = HeaderValue::from_str(message_id.as_str()) {
        respuesta.headers_mut().insert(IDEMPOTENCY_KEY.clone(), v);
    }
    respuesta.extensions_mut().insert(IdDelComando(message_id));
    respuesta
}

fn sin_cambios(datos: Value) -> Value {
    datos
}

/// `catalogo`'s states, as a list.
fn estados(mut datos: Value) -> Value {
    datos.get_mut("estados").map(Value::take).unwrap_or_else(|| Value::Array(vec![]))
}

/// The rate limit of the public routes; `Err` is the 429.
fn limitar(e: &EstadoGateway, partes: &Parts) -> Result<(), ErrorGateway> {
    let par = partes
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let cliente = e.limite.cliente(par, &partes.headers);
    e.limite.comprobar(cliente).map_err(ErrorGateway::DemasiadasSolicitudes)
}

/// A public POST: rate limit, then as [`con_cuerpo`].
async fn publica(e: EstadoGateway, operacion: Operacion, req: Request) -> Response {
    let (partes, cuerpo) = req.into_parts();
    if let Err(error) = limitar(&e, &partes) {
        return error.into_response();
    }
    con_cuerpo(e, operacion, partes, cuerpo).await
}

/// A POST whose JSON body is the command's: body, command.
async fn con_cuerpo(e: EstadoGateway, operacion: Operacion, partes: Parts, cuerpo: Body) -> Response {
    match cuerpo_json(&partes, cuerpo, e.tiempo_cuerpo).await {
        Ok(m) => {
            let destino = match operacion {
                Operacion::Crear => Destino::Creacion,
                Operacion::Seguimiento => Destino::Seguimiento,
                Operacion::Anonimizar => Destino::Anonimizacion,
                _ => Destino::Consulta,
            };
            atender(&e, operacion, m, &partes.headers, destino, sin_cambios).await
        }
        Err(error) => error.into_response(),
    }
}

/// Erases a requester's data everywhere the worker put it, by e-mail or
/// ticket (ADMIN, v1.2 §11); subscribers get one `ticket.anonimizado` per ticket.
#[utoipa::path(post, path = "/api/solicitantes/anonimizar", tag = "solicitantes", operation_id = "anonimizar",
    request_body = Anonimizar,
    params(("Idempotency-Key" = Option<String>, Header, description = "1–200 characters; the command's message_id")),
    responses((status = 200, description = "Erased (a count, 0 when nothing was left)", body = Anonimizado,
        headers(("Idempotency-Key" = String, description = "The key used"))), Rechazos),
    security(("bearer" = [])))]
pub(super) async fn anonimizar(State(e): State<EstadoGateway>, req: Request) -> Response {
    let (partes, cuerpo) = req.into_parts();
    con_cuerpo(e, Operacion::Anonimizar, partes, cuerpo).await
}

/// Every ticket of a requester with its detail bundle and conversation,
/// oldest first, paged (ADMIN, v1.2 §11).
#[utoipa::path(post, path = "/api/solicitantes/exportar", tag = "solicitantes", operation_id = "exportar",
    request_body = Exportar,
    responses((status = 200, description = "One page", body = Exportado), Rechazos),
    security(("bearer" = [])))]
pub(super) async fn exportar(State(e): State<EstadoGateway>, req: Request) -> Response {
    let (partes, cuerpo) = req.into_parts();
    con_cuerpo(e, Operacion::Exportar, partes, cuerpo).await
}

/// Opens a ticket (public, rate-limited).
#[utoipa::path(post, path = "/api/tickets/crear", tag = "tickets", operation_id = "crear",
    request_body = CrearTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "1–200 characters; the command's message_id")),
    responses((status = 200, description = "Created", body = Creado,
        headers(("Idempotency-Key" = String, description = "The key used"))), Rechazos))]
pub(super) async fn crear(State(e): State<EstadoGateway>, req: Request) -> Response {
    publica(e, Operacion::Crear, req).await
}

/// Looks a ticket up by label and e-mail (public, rate-limited).
#[utoipa::path(post, path = "/api/tickets/consultar", tag = "tickets", operation_id = "consultar",
    request_body = ConsultarTicket,
    responses((status = 200, description = "The ticket", body = Consulta), Rechazos))]
pub(super) async fn consultar(State(e): State<EstadoGateway>, req: Request) -> Response {
    publica(e, Operacion::Consultar, req).await
}

/// The requester writes to the desk, by label and e-mail (public,
/// rate-limited, v1.2); a ticket waiting for them is reopened.
#[utoipa::path(post, path = "/api/tickets/seguimiento", tag = "tickets", operation_id = "seguimiento",
    request_body = Seguimiento,
    params(("Idempotency-Key" = Option<String>, Header, description = "1–200 characters; the command's message_id")),
    responses((status = 200, description = "Registered", body = SeguimientoRegistrado,
        headers(("Idempotency-Key" = String, description = "The key used"))), Rechazos))]
pub(super) async fn seguimiento(State(e): State<EstadoGateway>, req: Request) -> Response {
    publica(e, Operacion::Seguimiento, req).await
}

/// Staff write to the conversation, PUBLICO or INTERNO (ADMIN, MESA, AREA
/// of its area, v1.2); the state is unchanged.
#[utoipa::path(post, path = "/api/tickets/{ticketId}/responder", tag = "tickets", operation_id = "responder",
    request_body = Responder,
    params(("ticketId" = Uuid, Path, description = "The ticket's UUID"),
        ("Idempotency-Key" = Option<String>, Header, description = "1–200 characters; the command's message_id")),
    responses((status = 200, description = "Written", body = Respondido,
        headers(("Idempotency-Key" = String, description = "The key used"))), Rechazos),
    security(("bearer" = [])))]
pub(super) async fn responder(
    State(e): State<EstadoGateway>,
    ruta: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    mutacion(e, Operacion::Responder, ruta, req).await
}

/// The ticket-detail bundle (ADMIN, MESA, AREA of its area).
#[utoipa::path(get, path = "/api/tickets/{ticketId}", tag = "tickets", operation_id = "detalle",
    params(("ticketId" = Uuid, Path, description = "The ticket's UUID")),
    responses((status = 200, description = "The ticket, its requester and history", body = Detalle), Rechazos),
    security(("bearer" = [])))]
pub(super) async fn detalle(
    State(e): State<EstadoGateway>,
    ruta: Result<Path<String>, PathRejection>,
    cabeceras: HeaderMap,
) -> Response {
    match ticket_id(ruta) {
        Ok(id) => {
            let cuerpo = Map::from_iter([("ticketId".to_string(), Value::String(id))]);
            atender(&e, Operacion::Detalle, cuerpo, &cabeceras, Destino::Consulta, sin_cambios).await
        }
        Err(error) => error.into_response(),
    }
}

/// A mutation on the path's ticket: the path's `ticketId` wins over the body's.
async fn mutacion(
    e: EstadoGateway,
    operacion: Operacion,
    ruta: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    let (partes, cuerpo) = req.into_parts();
    let resultado = async {
        let id = ticket_id(ruta)?;
        let mut m = cuerpo_json(&partes, cuerpo, e.tiempo_cuerpo).await?;
        m.insert("ticketId".into(), Value::String(id.clone()));
        Ok::<_, ErrorGateway>((id, m))
    };
    match resultado.await {
        Ok((id, m)) => atender(&e, operacion, m, &partes.headers, Destino::Ticket(&id), sin_cambios).await,
        Err(error) => error.into_response(),
    }
}

/// One handler per mutation route, each with its body's schema.
macro_rules! ruta_de_mutacion {
    ($nombre:ident, $operacion:expr, $ruta:literal, $cuerpo:ty, $resumen:literal) => {
        #[doc = $resumen]
        #[utoipa::path(post, path = $ruta, tag = "tickets", operation_id = stringify!($nombre),
            request_body = $cuerpo,
            params(("ticketId" = Uuid, Path, description = "The ticket's UUID"),
                ("Idempotency-Key" = Option<String>, Header, description = "1–200 characters; the command's message_id")),
            responses((status = 200, description = "Applied", body = Transicion,
                headers(("Idempotency-Key" = String, description = "The key used"))), Rechazos),
            security(("bearer" = [])))]
        pub(super) async fn $nombre(
            State(e): State<EstadoGateway>,
            ruta: Result<Path<String>, PathRejection>,
            req: Request,
        ) -> Response {
            mutacion(e, $operacion, ruta, req).await
        }
    };
}

ruta_de_mutacion!(asignar, Operacion::Asignar, "/api/tickets/{ticketId}/asignar", Asignar, "Assigns (ADMIN, MESA).");
ruta_de_mutacion!(
    transferir,
    Operacion::Transferir,
    "/api/tickets/{ticketId}/transferir",
    Transferir,
    "Transfers to another area (ADMIN, MESA)."
);
ruta_de_mutacion!(
    reclasificar,
    Operacion::Reclasificar,
    "/api/tickets/{ticketId}/reclasificar",
    Reclasificar,
    "Reclassifies (ADMIN, MESA)."
);
ruta_de_mutacion!(pausar, Operacion::Pausar, "/api/tickets/{ticketId}/pausar", Pausar, "Pauses (ADMIN, MESA, AREA).");
ruta_de_mutacion!(
    reabrir,
    Operacion::Reabrir,
    "/api/tickets/{ticketId}/reabrir",
    MotivoOpcional,
    "Reopens a paused ticket (ADMIN, MESA)."
);
ruta_de_mutacion!(
    actualizar,
    Operacion::Actualizar,
    "/api/tickets/{ticketId}/actualizar",
    Actualizar,
    "Records progress (ADMIN, MESA, AREA)."
);
ruta_de_mutacion!(
    cancelar,
    Operacion::Cancelar,
    "/api/tickets/{ticketId}/cancelar",
    ConMotivo,
    "Cancels (ADMIN, MESA, AREA)."
);
ruta_de_mutacion!(
    archivar,
    Operacion::Archivar,
    "/api/tickets/{ticketId}/archivar",
    MotivoOpcional,
    "Archives (ADMIN, MESA, AREA)."
);

/// A query whose body is the URL's query string.
async fn consulta(e: EstadoGateway, operacion: Operacion, conocidos: &[&str], partes: Parts) -> Response {
    match cuerpo_de_consulta(&partes, conocidos) {
        Ok(m) => atender(&e, operacion, m, &partes.headers, Destino::Consulta, sin_cambios).await,
        Err(error) => error.into_response(),
    }
}

/// Lists tickets, newest first (ADMIN, MESA; AREA sees its area).
#[utoipa::path(get, path = "/api/tickets", tag = "tickets", operation_id = "listar", params(FiltroListar),
    responses((status = 200, description = "One page", body = Listado), Rechazos),
    security(("bearer" = [])))]
pub(super) async fn listar(State(e): State<EstadoGateway>, req: Request) -> Response {
    consulta(e, Operacion::Listar, LISTAR, req.into_parts().0).await
}

/// Counts and SLA figures of a window (ADMIN, MESA; AREA sees its area).
#[utoipa::path(get, path = "/api/estadisticas", tag = "informes", operation_id = "estadisticas",
    params(FiltroEstadisticas),
    responses((status = 200, description = "The figures", body = EstadisticasVista), Rechazos),
    security(("bearer" = [])))]
pub(super) async fn estadisticas(State(e): State<EstadoGateway>, req: Request) -> Response {
    consulta(e, Operacion::Estadisticas, ESTADISTICAS, req.into_parts().0).await
}

/// States, transitions, operations with roles, types, priorities (any valid token).
#[utoipa::path(get, path = "/api/catalogo", tag = "informes", operation_id = "catalogo",
    responses((status = 200, description = "The catalogue", body = Catalogo), Rechazos),
    security(("bearer" = [])))]
pub(super) async fn catalogo(State(e): State<EstadoGateway>, cabeceras: HeaderMap) -> Response {
    atender(&e, Operacion::Catalogo, Map::new(), &cabeceras, Destino::Consulta, sin_cambios).await
}

/// The states of the catalogue, as a list (for clients of Zammad-style APIs).
#[utoipa::path(get, path = "/api/ticket_states", tag = "informes", operation_id = "ticket_states",
    responses((status = 200, description = "The states", body = Vec<EstadoCatalogo>), Rechazos),
    security(("bearer" = [])))]
pub(super) async fn ticket_states(State(e): State<EstadoGateway>, cabeceras: HeaderMap) -> Response {
    atender(&e, Operacion::Catalogo, Map::new(), &cabeceras, Destino::Consulta, estados).await
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operacion", operation_id = "openapi",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
pub(super) async fn openapi(State(e): State<EstadoGateway>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], e.openapi.as_ref().clone()).into_response()
}

/// Liveness.
#[utoipa::path(get, path = "/health", tag = "operacion", operation_id = "health",
    responses((status = 200, description = "Alive", body = Salud)))]
pub(super) async fn health() -> Response {
    Json(serde_json::json!({"estado": "ok"})).into_response()
}

/// Readiness: 503 while RabbitMQ is unreachable, or does not confirm what
/// the gateway publishes (a node without its cluster's majority).
#[utoipa::path(get, path = "/ready", tag = "operacion", operation_id = "ready",
    responses((status = 200, description = "Ready", body = Listo), (status = 503, description = "Not ready", body = Listo)))]
pub(super) async fn ready(State(e): State<EstadoGateway>) -> Response {
    let (broker, confirmaciones) = (e.cliente.conectado(), e.cliente.confirma());
    let listo = broker && confirmaciones;
    let estado = if listo { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (estado, Json(Listo { listo, broker, confirmaciones })).into_response()
}

/// Prometheus metrics: OpenMetrics 1.0 to a scraper that accepts it, else the text format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "operacion", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text 0.0.4, or OpenMetrics 1.0 when accepted",
        content((String = "text/plain"), (String = "application/openmetrics-text")))))]
pub(super) async fn metrics(State(e): State<EstadoGateway>, cabeceras: HeaderMap) -> Response {
    crate::metrics::exposicion::responder(&cabeceras, e.metricas.texto())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partes(uri: &str) -> Parts {
        axum::http::Request::get(uri).body(()).map(|r| r.into_parts().0).unwrap_or_else(|_| panic!("{uri}"))
    }

    #[test]
    fn idempotency_keys_are_checked_before_anything_is_published() {
        let mut h = HeaderMap::new();
        assert_eq!(clave(&h).map(|c| c.as_str().len()), Ok(36), "a fresh UUID");
        h.insert(&IDEMPOTENCY_KEY, HeaderValue::from_static("pedido-42"));
        assert_eq!(clave(&h).map(|c| c.as_str().to_string()), Ok("pedido-42".into()));
        for malo in ["".to_string(), "x".repeat(201), "ñ".to_string(), "a\tb".to_string()] {
            h.insert(&IDEMPOTENCY_KEY, HeaderValue::from_bytes(malo.as_bytes()).unwrap());
            assert!(matches!(clave(&h), Err(ErrorGateway::SolicitudInvalida(_))), "{malo:?}");
        }
        h.insert(&IDEMPOTENCY_KEY, HeaderValue::from_str(&"x".repeat(200)).unwrap());
        assert!(clave(&h).is_ok());
    }

    #[test]
    fn query_values_become_the_body_with_limite_as_a_number() {
        let m = cuerpo_de_consulta(&partes("/api/tickets?estado=NUEVO&limite=10&x=1&area=&cursor=v1.a"), LISTAR);
        assert_eq!(Value::Object(m.unwrap()), serde_json::json!({"estado": "NUEVO", "limite": 10, "cursor": "v1.a"}));
        let m = cuerpo_de_consulta(&partes("/api/tickets?limite=diez"), LISTAR).unwrap();
        assert_eq!(m["limite"], "diez", "the worker answers VALIDACION");
        assert!(cuerpo_de_consulta(&partes("/api/tickets?estado=A&estado=B"), LISTAR).is_err());
    }

    #[test]
    fn only_the_hyphenated_uuid_is_a_ticket_id() {
        let id = |s: &str| ticket_id(Ok(Path(s.to_string())));
        assert!(id("AF97F0CB-C6F9-4437-AF07-0FF3452F21BD").is_ok());
        for malo in ["af97f0cbc6f94437af070ff3452f21bd", "{af97f0cb-c6f9-4437-af07-0ff3452f21bd}", "x", ""] {
            assert!(id(malo).is_err(), "{malo}");
        }
    }

    #[test]
    fn replies_map_to_status_and_body() {
        let ok = desde_respuesta(br#"{"ok":true,"datos":{"a":1}}"#).unwrap();
        assert_eq!(ok, (StatusCode::OK, serde_json::json!({"a": 1})));
        let no = desde_respuesta(br#"{"ok":false,"error":{"codigo":"PROHIBIDO","http":403}}"#).unwrap();
        assert_eq!(no.0, StatusCode::FORBIDDEN);
        assert_eq!(no.1["error"]["codigo"], "PROHIBIDO");
        for malo in [&b"nada"[..], br#"{"ok":false,"error":{"http":200}}"#, br#"{"ok":false,"error":{"http":70000}}"#] {
            assert_eq!(desde_respuesta(malo), Err(ErrorGateway::RespuestaInvalida));
        }
    }
}
