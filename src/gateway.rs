//! `mesa-ayuda gateway` (contract §8): the Mesa de Ayuda HTTP API as a
//! stateless front of the worker. Each request becomes one command on
//! `P.comandos`; its reply, awaited on direct reply-to, becomes the
//! response. No database; identity is the worker's to decide (the bearer
//! token travels as the command's `authorization` header).

use crate::amqp::{ClienteAmqp, Topologia};
use crate::configuration::Config;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod ajustes;
mod enviar;
mod error;
pub mod esquemas;
mod limite;
mod metricas;
mod rutas;

pub use enviar::Enviar;
pub use error::ErrorGateway;
pub use limite::LimitePublico;
pub use metricas::MetricasGateway;
pub use rutas::{CUERPO_MAX_BYTES, IDEMPOTENCY_KEY};

/// Largest `Authorization` carried into a command (contract §8, v1.2).
pub const AUTHORIZATION_MAX_BYTES: usize = 8 * 1024;

/// What every handler shares (axum state).
#[derive(Clone)]
pub(crate) struct EstadoGateway {
    /// Where commands go: the broker session, shared by every request.
    cliente: Arc<dyn Enviar>,
    /// How long a request waits for the worker's reply.
    timeout: Duration,
    /// How long a body may take to arrive once its head is in.
    tiempo_cuerpo: Duration,
    limite: Arc<LimitePublico>,
    metricas: Arc<MetricasGateway>,
    /// `/openapi.json`, rendered once.
    openapi: Arc<String>,
}

/// The document's fixed parts; the paths come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(title = "Mesa de Ayuda HTTP API", description = "The HTTP API of contract v1.2 §8, served by `mesa-ayuda gateway`: each request is one command to the worker."),
    modifiers(&Seguridad),
    components(schemas(esquemas::CuerpoError)),
    tags((name = "tickets"), (name = "solicitantes"), (name = "informes"), (name = "operacion"))
)]
struct Documento;

/// The bearer scheme: the token is the worker's to verify.
struct Seguridad;

impl utoipa::Modify for Seguridad {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let componentes = openapi.components.get_or_insert_with(Default::default);
        componentes.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// Every route of §8 with its OpenAPI description.
fn rutas() -> OpenApiRouter<EstadoGateway> {
    OpenApiRouter::with_openapi(Documento::openapi())
        .routes(routes!(rutas::crear))
        .routes(routes!(rutas::consultar))
        .routes(routes!(rutas::seguimiento))
        .routes(routes!(rutas::responder))
        .routes(routes!(rutas::anonimizar))
        .routes(routes!(rutas::exportar))
        .routes(routes!(rutas::detalle))
        .routes(routes!(rutas::asignar))
        .routes(routes!(rutas::transferir))
        .routes(routes!(rutas::reclasificar))
        .routes(routes!(rutas::pausar))
        .routes(routes!(rutas::reabrir))
        .routes(routes!(rutas::actualizar))
        .routes(routes!(rutas::cancelar))
        .routes(routes!(rutas::archivar))
        .routes(routes!(rutas::listar))
        .routes(routes!(rutas::estadisticas))
        .routes(routes!(rutas::catalogo))
        .routes(routes!(rutas::ticket_states))
        .routes(routes!(rutas::openapi))
        .routes(routes!(rutas::health))
        .routes(routes!(rutas::ready))
        .routes(routes!(rutas::metrics))
}

/// The OpenAPI 3.1 document of the API, generated from the routes.
pub fn documento() -> utoipa::openapi::OpenApi {
    rutas().split_for_parts().1
}

/// The document as `docs/openapi.json` holds it (pretty, newline-terminated).
pub fn documento_json() -> String {
    let texto = documento().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    format!("{texto}\n")
}

/// The router with its state, CORS and access log.
pub fn router(
    cliente: Arc<dyn Enviar>,
    settings: &crate::configuration::GatewaySettings,
    limite: Arc<LimitePublico>,
    metricas: Arc<MetricasGateway>,
) -> axum::Router {
    let (router, doc) = rutas().split_for_parts();
    let openapi = Arc::new(doc.to_json().unwrap_or_default());
    let estado = EstadoGateway {
        cliente,
        timeout: settings.timeout,
        tiempo_cuerpo: settings.tiempo_cuerpo,
        limite,
        metricas: metricas.clone(),
        openapi,
    };
    let mut app = router
        .fallback(|| async { ErrorGateway::RutaNoEncontrada })
        .method_not_allowed_fallback(|| async { ErrorGateway::MetodoNoPermitido })
        .with_state(estado)
        // Inside the access log, so a 431 is logged and counted like any answer.
        .layer(axum::middleware::from_fn_with_state(settings.max_cabeceras_bytes, limitar_cabeceras))
        .layer(axum::middleware::from_fn_with_state(metricas, registrar));
    if let Some(cors) = cors(&settings.cors_origenes) {
        app = app.layer(cors);
    }
    app
}

/// CORS for the configured origins; `None` (off) without any.
fn cors(origenes: &[String]) -> Option<CorsLayer> {
    if origenes.is_empty() {
        return None;
    }
    let permitidos = if origenes.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        // Validated by configuration: every one is a valid header value.
        AllowOrigin::list(origenes.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(permitidos)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                rutas::IDEMPOTENCY_KEY.clone(),
                HeaderName::from_static("traceparent"),
            ])
            .expose_headers([rutas::IDEMPOTENCY_KEY.clone(), header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    )
}

/// Contract §8 (v1.2): a head over `max` bytes, or an `Authorization` over
/// [`AUTHORIZATION_MAX_BYTES`] (it is carried into the command, through the
/// one broker session every client shares), is answered 431 before any
/// handler sees the request.
async fn limitar_cabeceras(State(max): State<usize>, req: Request, next: Next) -> Response {
    match cabeceras_aceptables(&req, max) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// Whether a request's head is within its limits (see [`limitar_cabeceras`]).
fn cabeceras_aceptables<B>(req: &axum::http::Request<B>, max: usize) -> Result<(), ErrorGateway> {
    if let Some(auth) = req.headers().get(header::AUTHORIZATION)
        && auth.len() > AUTHORIZATION_MAX_BYTES
    {
        return Err(ErrorGateway::CabecerasDemasiadoGrandes(format!(
            "Authorization supera {AUTHORIZATION_MAX_BYTES} bytes"
        )));
    }
    if tamano_cabecera(req) > max {
        return Err(ErrorGateway::CabecerasDemasiadoGrandes(format!("la cabecera de la solicitud supera {max} bytes")));
    }
    Ok(())
}

/// The bytes of a request's head as it came on the wire: request line,
/// each header as `name: value` and its line break, the blank line.
fn tamano_cabecera<B>(req: &axum::http::Request<B>) -> usize {
    let ruta = req.uri().path_and_query().map_or(1, |r| r.as_str().len());
    let linea = req.method().as_str().len() + 1 + ruta + " HTTP/1.1\r\n".len();
    let campos: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + 2 + v.len() + 2).sum();
    linea + campos + 2
}

/// The access log and request metrics: method, route template, status,
/// latency and `message_id` — never a body, a query value or a header.
async fn registrar(State(metricas): State<Arc<MetricasGateway>>, req: Request, next: Next) -> Response {
    let inicio = Instant::now();
    // The template, not the path: a path holds ticket ids, and an unknown
    // one is whatever a client typed.
    let ruta = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let metodo = req.method().clone();
    let conocido =
        [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::HEAD, Method::OPTIONS]
            .contains(&metodo);
    let metodo = if conocido { metodo.as_str() } else { "OTRO" };
    let plantilla = ruta.as_deref().unwrap_or("desconocida");
    // The request's span, a child of its `traceparent` when it has a valid
    // one; the command it publishes carries this span's context, so the
    // worker's spans continue the trace under it. Attributes: the method,
    // the route template, the status and the `message_id` — as in the log.
    let span = tracing::info_span!(
        "peticion",
        otel.name = %format!("{metodo} {plantilla}"),
        otel.kind = "server",
        http.request.method = metodo,
        http.route = plantilla,
        http.response.status_code = tracing::field::Empty,
        message_id = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let recibida = req.headers().get(crate::contrato::HEADER_TRACEPARENT).and_then(|v| v.to_str().ok());
    crate::telemetry::continuar(&span, crate::contrato::traceparent_valido(recibida));
    let respuesta = next.run(req).instrument(span.clone()).await;
    let segundos = inicio.elapsed().as_secs_f64();
    let estado = respuesta.status().as_u16();
    let ruta = ruta.unwrap_or_else(|| "desconocida".to_string());
    let message_id = respuesta.extensions().get::<rutas::IdDelComando>().map(|m| m.0.as_str()).unwrap_or("");
    span.record("http.response.status_code", estado);
    if !message_id.is_empty() {
        span.record("message_id", message_id);
    }
    if estado >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    tracing::info!(
        metodo,
        ruta = %ruta,
        estado,
        latencia_ms = segundos * 1000.0,
        message_id,
        "petición HTTP"
    );
    metricas.peticiones.get_or_create(&metricas::EtiquetasPeticion { ruta, estado }).inc();
    metricas.duracion.observe(segundos);
    respuesta
}

/// A running gateway's parts (tests reach into them).
pub struct Gateway {
    /// The broker client.
    pub cliente: ClienteAmqp,
    /// Its metrics.
    pub metricas: Arc<MetricasGateway>,
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limite: Arc<LimitePublico>,
    /// Head, idle and connection limits of the listener.
    limites_http: crate::servidor::LimitesHttp,
}

impl Gateway {
    /// Binds `gateway.host:gateway.port` (port 0: any free port).
    pub async fn build(config: &Config) -> std::io::Result<Gateway> {
        let settings = &config.settings;
        let g = &settings.gateway;
        let topologia = Topologia::de(&settings.topology);
        let cliente = ClienteAmqp::new(settings.amqp.url.expose_secret(), topologia);
        let metricas = Arc::new(MetricasGateway::default());
        let limite = Arc::new(LimitePublico::new(g.limite_publico, config.proxies.clone()));
        let app = router(Arc::new(cliente.clone()), g, limite.clone(), metricas.clone());
        let listener = tokio::net::TcpListener::bind((g.host.as_str(), g.port)).await?;
        Ok(Gateway { cliente, metricas, listener, app, limite, limites_http: g.limites_http() })
    }

    /// The address it listens on.
    pub fn direccion(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown`: requests in flight finish (each within the
    /// reply timeout), then the broker session closes.
    pub async fn ejecutar(self, shutdown: CancellationToken) -> std::io::Result<()> {
        tracing::info!(direccion = %self.listener.local_addr()?, "gateway HTTP escuchando");
        let broker_stop = CancellationToken::new();
        let metricas = self.metricas.clone();
        let cliente = self.cliente.clone();
        let parada = broker_stop.clone();
        let broker = tokio::spawn(async move {
            cliente
                .ejecutar(parada, || {
                    metricas.reconexiones.inc();
                })
                .await
        });
        let limite = self.limite.clone();
        let limpieza_stop = shutdown.clone();
        let limpieza = tokio::spawn(async move {
            let mut cada = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = limpieza_stop.cancelled() => break,
                    _ = cada.tick() => limite.olvidar_antiguos(),
                }
            }
        });
        let resultado = crate::servidor::servir(self.listener, self.app, self.limites_http, shutdown).await;
        broker_stop.cancel();
        let _ = broker.await;
        let _ = limpieza.await;
        tracing::info!("gateway detenido");
        resultado
    }
}
