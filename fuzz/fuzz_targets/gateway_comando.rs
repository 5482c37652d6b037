//! The HTTP gateway's request → command translation: an `arbitrary` HTTP
//! request (method, a path of §8's routes or any, query, headers of every
//! size, a body raw, JSON, oversized or never finished) through the real
//! `gateway::router`, whose broker client is an in-memory fake that records
//! every `Comando` and answers as the input says (by default
//! `{"ok":true,"datos":{}}`).
//!
//! Checked: the status is one of the contract's, the body JSON, an error the
//! §4 shape with its `http` equal to the status; a command is produced only
//! by a route of §8 with its method, is the route's operation, has a
//! `message_id` of 1–200 visible ASCII characters, a body the worker decodes
//! (and validates as `comando_estructurado` does), the path's `ticketId`, the
//! client's own fields unchanged, an `authorization` of at most 8 KiB, a W3C
//! `traceparent` and an AMQP content header that fits a frame; a head over
//! the limit, or an `Authorization` over 8 KiB, is 431 and publishes nothing.
#![no_main]

use arbitrary::Arbitrary;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use libfuzzer_sys::fuzz_target;
use mesa_ayuda::amqp::{Comando, ErrorEnvio};
use mesa_ayuda::configuration::{Config, GatewaySettings};
use mesa_ayuda::domain::estado::Operacion;
use mesa_ayuda::gateway::{self, AUTHORIZATION_MAX_BYTES, Enviar, LimitePublico, MetricasGateway};
use mesa_ayuda::procesador::decodificar;
use mesa_ayuda_fuzz::comprobar_comando;
use serde_json::{Map, Value, json};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tokio::time::Instant;
use tower::ServiceExt;

/// The largest AMQP frame RabbitMQ negotiates by default (`frame_max`).
const TRAMA_MAX: usize = 131_072;

/// The statuses the contract gives an answer (§4's codes, §8's gateway
/// answers and 502 RESPUESTA_INVALIDA, the gateway's own).
const ESTADOS: [u16; 15] = [200, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 431, 503, 504];
const RESPUESTA_INVALIDA: u16 = 502;

/// Every error code an answer may carry: §4's and the gateway's own (§8).
const CODIGOS: [&str; 14] = [
    "SOLICITUD_INVALIDA",
    "NO_AUTENTICADO",
    "PROHIBIDO",
    "NO_ENCONTRADO",
    "VALIDACION",
    "TRANSICION_INVALIDA",
    "METODO_NO_PERMITIDO",
    "CUERPO_DEMASIADO_GRANDE",
    "TIPO_NO_SOPORTADO",
    "CABECERAS_DEMASIADO_GRANDES",
    "SOLICITUD_INCOMPLETA",
    "DEMASIADAS_SOLICITUDES",
    "NO_DISPONIBLE",
    "TIEMPO_AGOTADO",
];

/// §4's refusals, as the fake worker may answer them.
const RECHAZOS: [(&str, u16); 6] = [
    ("SOLICITUD_INVALIDA", 400),
    ("NO_AUTENTICADO", 401),
    ("PROHIBIDO", 403),
    ("NO_ENCONTRADO", 404),
    ("VALIDACION", 422),
    ("TRANSICION_INVALIDA", 409),
];

/// The mutation routes' last segment.
const MUTACIONES: [&str; 8] =
    ["asignar", "transferir", "reclasificar", "pausar", "reabrir", "actualizar", "cancelar", "archivar"];

/// Other last segments worth trying: v1.2's `responder`, the queries' names, case games.
const OTRAS_OPERACIONES: [&str; 6] = ["responder", "detalle", "crear", "ASIGNAR", "asignar/", ""];

/// Paths of §8 (v1.2 included) that are not `/api/tickets/...`.
const RUTAS_FIJAS: [&str; 13] = [
    "/api/tickets",
    "/api/tickets/crear",
    "/api/tickets/consultar",
    "/api/estadisticas",
    "/api/catalogo",
    "/api/ticket_states",
    "/openapi.json",
    "/health",
    "/ready",
    "/metrics",
    "/api/tickets/seguimiento",
    "/api/solicitantes/anonimizar",
    "/api/solicitantes/exportar",
];

const PARAMETROS: [&str; 16] = [
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
    "desde",
    "hasta",
    "espera",
    "pendienteRespuesta",
    "x",
    "",
];
const LISTAR: &[&str] =
    &["estado", "area", "prioridad", "tipo", "slaEstado", "slaPrimeraRespuesta", "limite", "cursor"];
const ESTADISTICAS: &[&str] = &["desde", "hasta", "area"];

const CAMPOS: [&str; 24] = [
    "ticketId",
    "label",
    "email",
    "nombre",
    "telefono",
    "tieneWhatsapp",
    "documento",
    "empresaDepartamento",
    "tipo",
    "categoria",
    "subcategoria",
    "asunto",
    "descripcion",
    "prioridad",
    "areaAsignada",
    "area",
    "agente",
    "motivo",
    "nota",
    "respuestaCliente",
    "estado",
    "limite",
    "cursor",
    "ticket_id",
];

const TEXTOS: [&str; 14] = [
    "",
    " ",
    "INCIDENTE",
    "ALTA",
    "MESA",
    "Ana García",
    "ana.garcia@empresa.com",
    "TKT-2026-00001",
    "La impresora del piso 3 no imprime",
    "0b5d6a2e-4f1c-4c1e-9b8a-2f3d4e5f6a7b",
    "0B5D6A2E-4F1C-4C1E-9B8A-2F3D4E5F6A7B",
    "a\u{0}b",
    "\u{1b}[31m",
    "línea\r\n\tdos",
];

const TIPOS_DE_CONTENIDO: [&str; 7] = [
    "application/json",
    "application/json; charset=utf-8",
    " APPLICATION/JSON ",
    "application/json-patch+json",
    "text/plain",
    "multipart/form-data; boundary=x",
    "",
];

const TRAZAS: [&str; 6] = [
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ",
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
];

#[derive(Arbitrary, Debug)]
struct Entrada {
    metodo: Metodo,
    ruta: Ruta,
    consulta: Option<Consulta>,
    cabeceras: Vec<Cabecera>,
    /// A filler header that brings the head to the limit plus this many bytes.
    relleno: Option<i8>,
    cuerpo: Cuerpo,
    respuesta: Respuesta,
    /// Through the router whose public routes are rate-limited, from this peer.
    limitada: Option<Par>,
}

#[derive(Arbitrary, Debug)]
enum Metodo {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
    Otro(String),
}

#[derive(Arbitrary, Debug)]
enum Ruta {
    Fija(u8),
    Detalle(Id),
    Mutacion(Id, u8),
    OtraOperacion(Id, u8),
    OperacionCruda(Id, String),
    Cruda(String),
}

#[derive(Arbitrary, Debug)]
enum Id {
    Uuid { bytes: [u8; 16], mayusculas: bool },
    /// A UUID with the characters the mask picks percent-encoded.
    UuidCodificado { bytes: [u8; 16], mascara: u64 },
    Simple([u8; 16]),
    Texto(String),
    Codificado(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Consulta {
    Cruda(String),
    Campos(Vec<(u8, Texto)>),
}

#[derive(Arbitrary, Debug)]
enum Texto {
    Conocido(u8),
    Libre(String),
    Numero(i64),
}

#[derive(Arbitrary, Debug)]
enum Cabecera {
    Authorization(Valor),
    IdempotencyKey(Valor),
    Traceparent(Traza),
    ContentType(Tipo),
    ContentLength(Option<String>),
    XForwardedFor(String),
    Accept(String),
    Otra(String, Valor),
}

#[derive(Arbitrary, Debug)]
enum Valor {
    Bytes(Vec<u8>),
    Repetido { byte: u8, veces: u16 },
    /// `Bearer ` and `x`s, `AUTHORIZATION_MAX_BYTES + delta` bytes in all.
    EnElLimite(i8),
    Conocido(u8),
}

#[derive(Arbitrary, Debug)]
enum Traza {
    Cruda(Vec<u8>),
    Conocida(u8),
    Armada { version: u8, traza: [u8; 16], padre: [u8; 8], banderas: u8, mayusculas: bool, espacios: bool },
}

#[derive(Arbitrary, Debug)]
enum Tipo {
    Conocido(u8),
    Otro(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Cuerpo {
    Nada,
    Crudo(Vec<u8>),
    Json(Vec<(Campo, ValorJson)>),
    /// A JSON object whose one text is `veces` copies: at and past 64 KiB.
    Grande { veces: u16, extra: u8 },
    /// These bytes, then nothing more, ever: 408 once `tiempo_cuerpo` passes.
    Incompleto(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Campo {
    DelContrato(u8),
    Otro(String),
}

#[derive(Arbitrary, Debug)]
enum ValorJson {
    Conocido(u8),
    Texto(String),
    Entero(i64),
    Real(f64),
    Booleano(bool),
    Nulo,
    Lista(Vec<String>),
    Objeto(Vec<(String, i64)>),
}

/// What the fake worker answers.
#[derive(Arbitrary, Debug, Clone)]
enum Respuesta {
    /// `{"ok":true,"datos":{}}`.
    Vacia,
    /// Success `datos` about the command's ticket (so a mutation gets 200).
    Correspondiente,
    /// One of §4's refusals.
    Rechazo(u8),
    /// A refusal with any `http`.
    RechazoRaro(u16),
    Basura(Vec<u8>),
    NoDisponible,
    /// No reply until the deadline.
    TiempoAgotado,
    DemasiadoGrande,
    /// `/ready` with no session.
    Desconectado,
}

impl Respuesta {
    /// Whether the fake's answers keep to the contract (so must the gateway's).
    fn del_contrato(&self) -> bool {
        !matches!(self, Respuesta::RechazoRaro(_) | Respuesta::Basura(_))
    }
}

#[derive(Arbitrary, Debug)]
enum Par {
    V4([u8; 4]),
    /// In `10.0.0.0/8`, the trusted proxies: `X-Forwarded-For` is believed.
    Proxy([u8; 3]),
    V6([u8; 16]),
}

/// The in-memory broker client.
struct Falso {
    estado: Mutex<EstadoFalso>,
}

struct EstadoFalso {
    respuesta: Respuesta,
    recibidos: Vec<Comando>,
}

impl Falso {
    fn estado(&self) -> std::sync::MutexGuard<'_, EstadoFalso> {
        self.estado.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Enviar for Falso {
    fn enviar(&self, comando: Comando, limite: Instant) -> BoxFuture<'_, Result<Vec<u8>, ErrorEnvio>> {
        let respuesta = {
            let mut e = self.estado();
            e.recibidos.push(comando.clone());
            e.respuesta.clone()
        };
        Box::pin(async move {
            match respuesta {
                Respuesta::Vacia | Respuesta::Desconectado => Ok(br#"{"ok":true,"datos":{}}"#.to_vec()),
                Respuesta::Correspondiente => Ok(correspondiente(&comando)),
                Respuesta::Rechazo(i) => {
                    let (codigo, http) = RECHAZOS[usize::from(i) % RECHAZOS.len()];
                    let campos = if codigo == "VALIDACION" {
                        json!([{"campo": "motivo", "mensaje": "es obligatorio"}])
                    } else {
                        json!([])
                    };
                    Ok(json!({"ok": false, "error": {"codigo": codigo, "http": http, "mensaje": "rechazado", "campos": campos}})
                        .to_string()
                        .into_bytes())
                }
                Respuesta::RechazoRaro(http) => {
                    Ok(json!({"ok": false, "error": {"codigo": "RARO", "http": http, "mensaje": "raro", "campos": []}})
                        .to_string()
                        .into_bytes())
                }
                Respuesta::Basura(b) => Ok(b),
                Respuesta::NoDisponible => Err(ErrorEnvio::NoDisponible),
                Respuesta::TiempoAgotado => {
                    // The clock is paused: this ends as soon as nothing else can run.
                    tokio::time::sleep_until(limite).await;
                    Err(ErrorEnvio::TiempoAgotado)
                }
                Respuesta::DemasiadoGrande => Err(ErrorEnvio::DemasiadoGrande),
            }
        })
    }

    fn conectado(&self) -> bool {
        !matches!(self.estado().respuesta, Respuesta::Desconectado)
    }

    fn confirma(&self) -> bool {
        !matches!(self.estado().respuesta, Respuesta::TiempoAgotado)
    }
}

/// A success reply about the command's own ticket, as the worker gives it.
fn correspondiente(c: &Comando) -> Vec<u8> {
    let cuerpo: Value = serde_json::from_slice(&c.cuerpo).unwrap_or_default();
    let id = cuerpo.get("ticketId").cloned().unwrap_or(Value::Null);
    let datos = match c.routing_key.as_str() {
        "ticket.crear" => json!({"ticketUuid": "0b5d6a2e-4f1c-4c1e-9b8a-2f3d4e5f6a7b", "ticketLabel": "TKT-2026-00001", "estado": "NUEVO"}),
        "ticket.catalogo" => json!({"estados": [{"codigo": "NUEVO"}]}),
        r if MUTACIONES.iter().any(|m| r == format!("ticket.{m}")) => {
            json!({"ticketUuid": id, "estadoAnterior": "NUEVO", "estado": "ASIGNADO"})
        }
        _ => json!({"items": []}),
    };
    json!({"ok": true, "datos": datos}).to_string().into_bytes()
}

struct Banco {
    rt: tokio::runtime::Runtime,
    falso: Arc<Falso>,
    /// Public routes unlimited: every input reaches its command.
    libre: axum::Router,
    /// The default `limite_publico`, with 10.0.0.0/8 as trusted proxies.
    limitada: axum::Router,
    max_cabeceras: usize,
}

fn banco() -> &'static Banco {
    static B: OnceLock<Banco> = OnceLock::new();
    B.get_or_init(|| {
        // The built-in defaults (config/default.toml), no file, no environment.
        let settings: GatewaySettings = Config::load_from(std::path::Path::new("/nonexistent-config-dir"), Vec::<(String, String)>::new())
            .expect("the default settings load")
            .config
            .settings
            .gateway;
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("runtime");
        let falso = Arc::new(Falso { estado: Mutex::new(EstadoFalso { respuesta: Respuesta::Vacia, recibidos: vec![] }) });
        let cliente: Arc<dyn Enviar> = falso.clone();
        let (libre, limitada) = {
            let _g = rt.enter();
            let metricas = Arc::new(MetricasGateway::default());
            let libre = gateway::router(cliente.clone(), &settings, Arc::new(LimitePublico::new(0, vec![])), metricas.clone());
            let confiables = vec!["10.0.0.0/8".parse().expect("a network")];
            let limite = Arc::new(LimitePublico::new(settings.limite_publico, confiables));
            let limitada = gateway::router(cliente, &settings, limite, metricas);
            (libre, limitada)
        };
        Banco { rt, falso, libre, limitada, max_cabeceras: settings.max_cabeceras_bytes }
    })
}

/// Bytes a header value may hold (RFC 9110: no control character but tab).
fn valor_de_cabecera(mut b: Vec<u8>) -> HeaderValue {
    for x in &mut b {
        if (*x < 0x20 && *x != b'\t') || *x == 0x7f {
            *x = b'_';
        }
    }
    HeaderValue::from_bytes(&b).expect("sanitized")
}

fn bytes_de_valor(v: Valor) -> Vec<u8> {
    match v {
        Valor::Bytes(b) => b,
        Valor::Repetido { byte, veces } => vec![byte; usize::from(veces)],
        Valor::EnElLimite(delta) => {
            let n = (AUTHORIZATION_MAX_BYTES as isize + isize::from(delta)) as usize;
            let mut b = b"Bearer ".to_vec();
            b.resize(n, b'x');
            b
        }
        Valor::Conocido(i) => [
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.firma",
            "pedido-42",
            "  con-espacios  ",
            "con espacio",
            "",
            "ñandú",
            "x\ty",
        ][usize::from(i) % 7]
            .as_bytes()
            .to_vec(),
    }
}

/// Everything but unreserved characters, sub-delims, `:`, `@` (and `/`
/// when `barra`) percent-encoded, `%` itself kept.
fn codificar_ruta(b: &[u8], barra: bool) -> String {
    let mut s = String::new();
    for &x in b {
        let libre = x.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@%".contains(&x) || (barra && x == b'/');
        if libre {
            s.push(x as char);
        } else {
            s.push_str(&format!("%{x:02X}"));
        }
    }
    s
}

fn codificar_todo(b: &[u8]) -> String {
    b.iter().map(|x| format!("%{x:02X}")).collect()
}

/// A path segment as axum's `Path` reads it: `%XX` decoded, then UTF-8.
fn decodificar_segmento(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn segmento(id: Id) -> String {
    match id {
        Id::Uuid { bytes, mayusculas } => {
            let s = uuid::Uuid::from_bytes(bytes).hyphenated().to_string();
            if mayusculas { s.to_uppercase() } else { s }
        }
        Id::UuidCodificado { bytes, mascara } => uuid::Uuid::from_bytes(bytes)
            .hyphenated()
            .to_string()
            .bytes()
            .enumerate()
            .map(|(i, c)| if mascara >> (i % 64) & 1 == 1 { format!("%{c:02x}") } else { (c as char).to_string() })
            .collect(),
        Id::Simple(bytes) => uuid::Uuid::from_bytes(bytes).simple().to_string(),
        Id::Texto(s) => codificar_ruta(s.as_bytes(), false),
        Id::Codificado(b) => codificar_todo(&b),
    }
}

fn ruta(r: Ruta) -> String {
    match r {
        Ruta::Fija(i) => RUTAS_FIJAS[usize::from(i) % RUTAS_FIJAS.len()].to_string(),
        Ruta::Detalle(id) => format!("/api/tickets/{}", segmento(id)),
        Ruta::Mutacion(id, i) => format!("/api/tickets/{}/{}", segmento(id), MUTACIONES[usize::from(i) % MUTACIONES.len()]),
        Ruta::OtraOperacion(id, i) => {
            format!("/api/tickets/{}/{}", segmento(id), OTRAS_OPERACIONES[usize::from(i) % OTRAS_OPERACIONES.len()])
        }
        Ruta::OperacionCruda(id, op) => format!("/api/tickets/{}/{}", segmento(id), codificar_ruta(op.as_bytes(), true)),
        Ruta::Cruda(s) => format!("/{}", codificar_ruta(s.as_bytes(), true)),
    }
}

fn consulta(c: Consulta) -> String {
    match c {
        Consulta::Cruda(s) => {
            let mut q = String::new();
            for &x in s.as_bytes() {
                if x.is_ascii_graphic() && x != b'#' {
                    q.push(x as char);
                } else {
                    q.push_str(&format!("%{x:02X}"));
                }
            }
            q
        }
        Consulta::Campos(campos) => {
            let mut f = form_urlencoded::Serializer::new(String::new());
            for (i, t) in campos {
                let valor = match t {
                    Texto::Conocido(j) => TEXTOS[usize::from(j) % TEXTOS.len()].to_string(),
                    Texto::Libre(s) => s,
                    Texto::Numero(n) => n.to_string(),
                };
                f.append_pair(PARAMETROS[usize::from(i) % PARAMETROS.len()], &valor);
            }
            f.finish()
        }
    }
}

fn valor_json(v: ValorJson) -> Value {
    match v {
        ValorJson::Conocido(i) => json!(TEXTOS[usize::from(i) % TEXTOS.len()]),
        ValorJson::Texto(s) => json!(s),
        ValorJson::Entero(i) => json!(i),
        ValorJson::Real(f) => json!(f),
        ValorJson::Booleano(b) => json!(b),
        ValorJson::Nulo => Value::Null,
        ValorJson::Lista(l) => json!(l),
        ValorJson::Objeto(o) => Value::Object(o.into_iter().map(|(k, v)| (k, json!(v))).collect()),
    }
}

/// The operation §8 gives a method and a raw path, and the path's ticket
/// id (still encoded), as the router should match them.
fn operacion_esperada(metodo: &Method, ruta: &str) -> Option<(Operacion, Option<String>)> {
    let get = *metodo == Method::GET || *metodo == Method::HEAD;
    let post = *metodo == Method::POST;
    let segmentos: Vec<&str> = ruta.strip_prefix('/')?.split('/').collect();
    match segmentos.as_slice() {
        ["api", "tickets"] if get => Some((Operacion::Listar, None)),
        ["api", "tickets", "crear"] => post.then_some((Operacion::Crear, None)),
        ["api", "tickets", "consultar"] => post.then_some((Operacion::Consultar, None)),
        ["api", "tickets", id] if get && !id.is_empty() => Some((Operacion::Detalle, Some(id.to_string()))),
        ["api", "tickets", id, op] if post && !id.is_empty() => {
            let op = Operacion::parse(op).filter(|o| MUTACIONES.contains(&o.as_str()))?;
            Some((op, Some(id.to_string())))
        }
        ["api", "estadisticas"] if get => Some((Operacion::Estadisticas, None)),
        ["api", "catalogo"] | ["api", "ticket_states"] if get => Some((Operacion::Catalogo, None)),
        _ => None,
    }
}

/// A W3C trace context (version 00): lowercase hex, ids not all zero.
fn traceparent_w3c(tp: &str) -> bool {
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let partes: Vec<&str> = tp.split('-').collect();
    matches!(partes.as_slice(), ["00", traza, padre, banderas]
        if hex(traza, 32) && hex(padre, 16) && hex(banderas, 2)
            && traza.bytes().any(|b| b != b'0') && padre.bytes().any(|b| b != b'0'))
}

/// The head's bytes as on the wire: request line, `name: value\r\n` each, blank line.
fn tamano_cabecera<B>(req: &Request<B>) -> usize {
    let ruta = req.uri().path_and_query().map_or(1, |r| r.as_str().len());
    let linea = req.method().as_str().len() + 1 + ruta + " HTTP/1.1\r\n".len();
    linea + req.headers().iter().map(|(k, v)| k.as_str().len() + 2 + v.len() + 2).sum::<usize>() + 2
}

/// §4's error body, `http` equal to the status.
fn comprobar_error(estado: u16, cuerpo: &Value) {
    let error = cuerpo.get("error").and_then(Value::as_object).unwrap_or_else(|| panic!("{estado}: no error object: {cuerpo}"));
    let codigo = error.get("codigo").and_then(Value::as_str).unwrap_or_else(|| panic!("{estado}: no codigo: {cuerpo}"));
    assert!(CODIGOS.contains(&codigo) || codigo == "RESPUESTA_INVALIDA", "{estado}: unknown code: {cuerpo}");
    assert_eq!(error.get("http").and_then(Value::as_u64), Some(u64::from(estado)), "http differs from the status: {cuerpo}");
    assert!(error.get("mensaje").and_then(Value::as_str).is_some_and(|m| !m.is_empty()), "{estado}: no mensaje: {cuerpo}");
    if let Some(campos) = error.get("campos") {
        let campos = campos.as_array().unwrap_or_else(|| panic!("campos is not a list: {cuerpo}"));
        for c in campos {
            assert!(c.get("campo").and_then(Value::as_str).is_some(), "{cuerpo}");
            assert!(c.get("mensaje").and_then(Value::as_str).is_some(), "{cuerpo}");
        }
    }
}

fuzz_target!(|e: Entrada| {
    let b = banco();

    // The request.
    let metodo = match e.metodo {
        Metodo::Get => Method::GET,
        Metodo::Post => Method::POST,
        Metodo::Put => Method::PUT,
        Metodo::Patch => Method::PATCH,
        Metodo::Delete => Method::DELETE,
        Metodo::Head => Method::HEAD,
        Metodo::Options => Method::OPTIONS,
        Metodo::Otro(s) => Method::from_bytes(s.as_bytes()).unwrap_or_else(|_| Method::from_bytes(b"BREW").expect("a token")),
    };
    let ruta = ruta(e.ruta);
    let pq = match e.consulta {
        Some(c) => format!("{ruta}?{}", consulta(c)),
        None => ruta.clone(),
    };
    let Ok(uri) = pq.parse::<axum::http::Uri>() else { return };
    let (cuerpo_cliente, incompleto): (Vec<u8>, bool) = match e.cuerpo {
        Cuerpo::Nada => (vec![], false),
        Cuerpo::Crudo(b) => (b, false),
        Cuerpo::Json(campos) => {
            let mut m = Map::new();
            for (c, v) in campos {
                let nombre = match c {
                    Campo::DelContrato(i) => CAMPOS[usize::from(i) % CAMPOS.len()].to_string(),
                    Campo::Otro(s) => s,
                };
                m.insert(nombre, valor_json(v));
            }
            (serde_json::to_vec(&Value::Object(m)).expect("serializes"), false)
        }
        Cuerpo::Grande { veces, extra } => {
            let relleno = "x".repeat(usize::from(veces) + usize::from(extra) * 256);
            (serde_json::to_vec(&json!({"nota": relleno})).expect("serializes"), false)
        }
        Cuerpo::Incompleto(b) => (b, true),
    };
    let body = if incompleto {
        let trozo = Bytes::from(cuerpo_cliente.clone());
        let flujo = futures_util::stream::iter([Ok::<_, std::io::Error>(trozo)]).chain(futures_util::stream::pending());
        Body::from_stream(flujo)
    } else {
        Body::from(cuerpo_cliente.clone())
    };
    let mut req = Request::new(body);
    *req.method_mut() = metodo.clone();
    *req.uri_mut() = uri;
    for c in e.cabeceras {
        let (nombre, valor) = match c {
            Cabecera::Authorization(v) => (HeaderName::from_static("authorization"), valor_de_cabecera(bytes_de_valor(v))),
            Cabecera::IdempotencyKey(v) => (gateway::IDEMPOTENCY_KEY.clone(), valor_de_cabecera(bytes_de_valor(v))),
            Cabecera::Traceparent(t) => {
                let v = match t {
                    Traza::Cruda(b) => b,
                    Traza::Conocida(i) => TRAZAS[usize::from(i) % TRAZAS.len()].as_bytes().to_vec(),
                    Traza::Armada { version, traza, padre, banderas, mayusculas, espacios } => {
                        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
                        let mut s = format!("{version:02x}-{}-{}-{banderas:02x}", hex(&traza), hex(&padre));
                        if mayusculas {
                            s = s.to_uppercase();
                        }
                        if espacios {
                            s = format!(" {s}\t");
                        }
                        s.into_bytes()
                    }
                };
                (HeaderName::from_static("traceparent"), valor_de_cabecera(v))
            }
            Cabecera::ContentType(t) => {
                let v = match t {
                    Tipo::Conocido(i) => TIPOS_DE_CONTENIDO[usize::from(i) % TIPOS_DE_CONTENIDO.len()].as_bytes().to_vec(),
                    Tipo::Otro(b) => b,
                };
                (HeaderName::from_static("content-type"), valor_de_cabecera(v))
            }
            Cabecera::ContentLength(v) => {
                let v = v.unwrap_or_else(|| cuerpo_cliente.len().to_string());
                (HeaderName::from_static("content-length"), valor_de_cabecera(v.into_bytes()))
            }
            Cabecera::XForwardedFor(s) => (HeaderName::from_static("x-forwarded-for"), valor_de_cabecera(s.into_bytes())),
            Cabecera::Accept(s) => (HeaderName::from_static("accept"), valor_de_cabecera(s.into_bytes())),
            Cabecera::Otra(n, v) => {
                let Ok(nombre) = HeaderName::from_bytes(n.as_bytes()) else { continue };
                (nombre, valor_de_cabecera(bytes_de_valor(v)))
            }
        };
        req.headers_mut().append(nombre, valor);
    }
    if let Some(delta) = e.relleno {
        let objetivo = b.max_cabeceras as isize + isize::from(delta);
        let falta = objetivo - tamano_cabecera(&req) as isize - "x-relleno: \r\n".len() as isize;
        if falta >= 0 {
            req.headers_mut().append("x-relleno", valor_de_cabecera(vec![b'r'; falta as usize]));
        }
    }
    let router = match &e.limitada {
        None => b.libre.clone(),
        Some(par) => {
            let ip = match *par {
                Par::V4(o) => IpAddr::from(o),
                Par::Proxy([x, y, z]) => IpAddr::from([10, x, y, z]),
                Par::V6(o) => IpAddr::from(o),
            };
            req.extensions_mut().insert(ConnectInfo(SocketAddr::new(ip, 4711)));
            b.limitada.clone()
        }
    };

    // What the checks need from the request.
    let cabecera = tamano_cabecera(&req);
    let authorization = req.headers().get("authorization").map(|v| v.as_bytes().to_vec());
    let autorizacion_grande = authorization.as_ref().is_some_and(|a| a.len() > AUTHORIZATION_MAX_BYTES);
    let clave = req.headers().get(&gateway::IDEMPOTENCY_KEY).map(|v| v.as_bytes().to_vec());
    let traza = req.headers().get("traceparent").and_then(|v| v.to_str().ok()).map(|t| t.trim().to_string());
    let esperada = operacion_esperada(&metodo, req.uri().path());

    {
        let mut estado = b.falso.estado();
        estado.respuesta = e.respuesta.clone();
        estado.recibidos.clear();
    }
    let (estado, cuerpo) = b.rt.block_on(async {
        let respuesta = router.oneshot(req).await.expect("the router is infallible");
        let estado = respuesta.status();
        let cuerpo = axum::body::to_bytes(respuesta.into_body(), usize::MAX).await.expect("a body");
        (estado, cuerpo)
    });
    let recibidos = std::mem::take(&mut b.falso.estado().recibidos);
    let codigo = estado.as_u16();

    // 1. A status of the contract, a JSON body, errors in §4's shape.
    if e.respuesta.del_contrato() {
        assert!(ESTADOS.contains(&codigo) || codigo == RESPUESTA_INVALIDA, "status {codigo} outside the contract");
    }
    let metricas = ruta == "/metrics" && codigo == 200;
    if metodo != Method::HEAD && !metricas {
        let v: Value = serde_json::from_slice(&cuerpo)
            .unwrap_or_else(|err| panic!("{codigo}: the body is not JSON ({err}): {:?}", String::from_utf8_lossy(&cuerpo)));
        let del_worker = !recibidos.is_empty() && !e.respuesta.del_contrato();
        if estado.is_client_error() || (estado.is_server_error() && !(ruta == "/ready" && codigo == 503)) {
            if !del_worker {
                comprobar_error(codigo, &v);
            }
        }
    }

    // 3. Over a head limit: 431, nothing published.
    if cabecera > b.max_cabeceras || autorizacion_grande {
        assert_eq!(estado, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "head {cabecera} bytes");
        assert!(recibidos.is_empty(), "a command from a head over its limit");
    } else if codigo == 431 {
        assert!(matches!(e.respuesta, Respuesta::DemasiadoGrande), "431 for a head of {cabecera} bytes within the limits");
    }

    // 2. Every command.
    assert!(recibidos.len() <= 1, "one request, {} commands", recibidos.len());
    match recibidos.first() {
        None => {
            if codigo == 200 {
                assert!(
                    matches!(ruta.as_str(), "/openapi.json" | "/health" | "/ready" | "/metrics"),
                    "200 without a command on {ruta}"
                );
            }
        }
        Some(c) => comprobar(c, &Contexto {
            esperada: &esperada,
            ruta: &ruta,
            cuerpo_cliente: &cuerpo_cliente,
            clave: clave.as_deref(),
            traza: traza.as_deref(),
            authorization: authorization.as_deref(),
            respuesta: &e.respuesta,
            estado,
        }),
    }
});

struct Contexto<'a> {
    esperada: &'a Option<(Operacion, Option<String>)>,
    ruta: &'a str,
    cuerpo_cliente: &'a [u8],
    clave: Option<&'a [u8]>,
    traza: Option<&'a str>,
    authorization: Option<&'a [u8]>,
    respuesta: &'a Respuesta,
    estado: StatusCode,
}

fn comprobar(c: &Comando, x: &Contexto<'_>) {
    // The route's operation, and only a route of §8 publishes.
    let Some((op, id_ruta)) = x.esperada else { panic!("a command from {} (no route of §8): {c:?}", x.ruta) };
    assert_eq!(c.routing_key, format!("ticket.{}", op.as_str()));

    // message_id: the client's key (trimmed) or a fresh UUID.
    let id = c.message_id.as_str();
    let m = id.as_bytes();
    assert!((1..=200).contains(&m.len()), "message_id of {} bytes", m.len());
    // Printable ASCII, trimmed: a space inside is allowed (§3 and §8 say
    // "1–200 characters"; the worker's MessageId takes any printable text).
    assert!(m.iter().all(|b| (0x20..=0x7e).contains(b)), "message_id not printable ASCII: {:?}", c.message_id);
    assert!(m[0] != b' ' && m[m.len() - 1] != b' ', "message_id not trimmed: {:?}", c.message_id);
    match x.clave {
        None => assert!(uuid::Uuid::try_parse(id).is_ok(), "a fresh key is a UUID: {id:?}"),
        Some(k) => assert_eq!(std::str::from_utf8(k).map(str::trim), Ok(id)),
    }

    // The body: an object the worker decodes, then validates as it would.
    let (decodificada, mapa) = decodificar(&c.routing_key, &c.cuerpo).expect("the worker decodes the body");
    assert_eq!(decodificada, *op);
    comprobar_comando(&c.routing_key, &c.cuerpo);
    if let Some(id) = id_ruta {
        let id = decodificar_segmento(id).expect("a path the router took is UTF-8");
        assert_eq!(mapa.get("ticketId"), Some(&Value::String(id.clone())), "ticketId differs from the path's");
        assert!(id.len() == 36 && uuid::Uuid::try_parse(&id).is_ok(), "ticketId not a hyphenated UUID: {id:?}");
    }
    match op {
        Operacion::Listar | Operacion::Estadisticas => {
            let conocidos = if *op == Operacion::Listar { LISTAR } else { ESTADISTICAS };
            for (k, v) in &mapa {
                assert!(conocidos.contains(&k.as_str()), "{k} in a {} body", op.as_str());
                match v {
                    Value::String(s) => assert!(!s.trim().is_empty()),
                    Value::Number(_) => assert_eq!(k, "limite"),
                    _ => panic!("{k}: {v}"),
                }
            }
        }
        Operacion::Catalogo | Operacion::Detalle => assert_eq!(mapa.len(), usize::from(*op == Operacion::Detalle)),
        _ => {
            // The client's object, unchanged but for the path's ticketId.
            let mut suyo = if x.cuerpo_cliente.iter().all(u8::is_ascii_whitespace) {
                Map::new()
            } else {
                match serde_json::from_slice::<Value>(x.cuerpo_cliente) {
                    // Through the same write and read as the gateway's: serde_json
                    // (without `float_roundtrip`) may read a float it wrote back
                    // one ulp off, so a client's float reaches the worker so.
                    Ok(o @ Value::Object(_)) => match serde_json::from_slice(&serde_json::to_vec(&o).expect("writes")) {
                        Ok(Value::Object(o)) => o,
                        otro => panic!("{otro:?}"),
                    },
                    otro => panic!("a command from a body that is not an object: {otro:?}"),
                }
            };
            if let Some(id) = mapa.get("ticketId").filter(|_| id_ruta.is_some()) {
                suyo.insert("ticketId".into(), id.clone());
            }
            assert_eq!(mapa, suyo, "the body is not the client's");
        }
    }

    // authorization: the client's first, at most 8 KiB.
    assert_eq!(c.authorization.as_deref(), x.authorization);
    assert!(c.authorization.as_ref().is_none_or(|a| a.len() <= AUTHORIZATION_MAX_BYTES), "authorization over 8 KiB");

    // A W3C traceparent of version 00, lower-case hex (contrato::traceparent_valido;
    // before the findings of 2026-12-07, README, `FF-…`, upper case and
    // other versions went through).
    let Some(traza) = c.traceparent.as_deref() else { panic!("a command without a traceparent: {c:?}") };
    assert!(traceparent_w3c(traza), "not a W3C traceparent: {traza:?}");
    if let Some(t) = x.traza.filter(|t| traceparent_w3c(t)) {
        assert_eq!(traza, t, "the client's traceparent was not passed on");
    }

    assert!(c.bytes_de_cabecera_amqp() <= TRAMA_MAX, "{} bytes of AMQP header", c.bytes_de_cabecera_amqp());

    // The status follows the reply.
    let esperado = match x.respuesta {
        Respuesta::Vacia | Respuesta::Desconectado => {
            Some(if MUTACIONES.contains(&op.as_str()) { 422 } else { 200 })
        }
        Respuesta::Correspondiente => Some(200),
        Respuesta::Rechazo(i) => Some(RECHAZOS[usize::from(*i) % RECHAZOS.len()].1),
        Respuesta::RechazoRaro(h) => Some(if (400..600).contains(h) { *h } else { RESPUESTA_INVALIDA }),
        Respuesta::Basura(_) => None,
        Respuesta::NoDisponible => Some(503),
        Respuesta::TiempoAgotado => Some(504),
        Respuesta::DemasiadoGrande => Some(431),
    };
    if let Some(s) = esperado {
        assert_eq!(x.estado.as_u16(), s, "status for the reply {:?}", x.respuesta);
    }
}
