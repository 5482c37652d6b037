//! Logging setup: human-readable by default, JSON lines when asked, and a
//! ceiling on the libraries' own logs that no `RUST_LOG` filter can lift.
//! With an OTLP endpoint configured, also OpenTelemetry traces (contract §9):
//! the crate's own spans, bridged from `tracing`, exported over OTLP/HTTP.

use crate::configuration::{FormatoLog, TelemetriaSettings, redact_url};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::time::Duration;
use tracing::{Level, Metadata, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, filter::filter_fn, fmt, prelude::*};

/// The filter when `RUST_LOG` is unset.
const FILTRO_POR_DEFECTO: &str = "info,sqlx=warn";

/// Longest wait at exit for the spans still queued to go out: a collector
/// that is away or hangs must not hold a stopping process.
const CIERRE_TRAZAS: Duration = Duration::from_secs(3);

/// Installs the global subscriber once, logs only; later calls are ignored (tests).
pub fn init(format: FormatoLog) {
    let filtro = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(FILTRO_POR_DEFECTO));
    let _ = tracing::subscriber::set_global_default(suscriptor(format, filtro, std::io::stderr));
}

/// As [`init`], plus traces when an OTLP endpoint is configured
/// (`telemetria.otlp_endpoint`, else the standard `OTEL_EXPORTER_OTLP_ENDPOINT`
/// or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); `servicio` is the service name
/// unless `OTEL_SERVICE_NAME` (or `OTEL_RESOURCE_ATTRIBUTES`) names one.
/// Traces never stop the process: an exporter that cannot be built is
/// warned about and the process runs without them.
pub fn init_con_trazas(format: FormatoLog, telemetria: &TelemetriaSettings, servicio: &'static str) -> Trazas {
    let entorno = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let filtro = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(FILTRO_POR_DEFECTO));
    let destino = telemetria
        .otlp_endpoint
        .clone()
        .map(Destino::Configurado)
        .or_else(|| entorno("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").map(Destino::Entorno))
        .or_else(|| entorno("OTEL_EXPORTER_OTLP_ENDPOINT").map(Destino::Entorno));
    // The SDK's own switches, honoured as the specification names them.
    let apagadas = entorno("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
        || entorno("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
    let (proveedor, aviso) = match destino {
        Some(destino) if !apagadas => match proveedor(&destino, servicio) {
            Ok(p) => (Some(p), Ok(destino)),
            Err(e) => (None, Err((destino, e))),
        },
        _ => (None, Err((Destino::Ninguno, String::new()))),
    };
    let tracer = proveedor.as_ref().map(|p| p.tracer("mesa-ayuda"));
    let _ = tracing::subscriber::set_global_default(suscriptor_con(format, filtro, std::io::stderr, tracer));
    // Only the endpoint, its password masked: never the headers
    // (OTEL_EXPORTER_OTLP_HEADERS carries credentials).
    match aviso {
        Ok(destino) => tracing::info!(destino = %destino.mostrar(), servicio, "trazas OTLP/HTTP activas"),
        Err((Destino::Ninguno, _)) => {}
        Err((destino, e)) => {
            tracing::warn!(destino = %destino.mostrar(), error = %e, "trazas OTLP desactivadas: no se pudo crear el exportador")
        }
    }
    Trazas(proveedor)
}

/// Where spans go.
enum Destino {
    /// `telemetria.otlp_endpoint`: a base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`.
    Configurado(String),
    /// One of the standard variables, which the exporter reads itself.
    Entorno(String),
    /// Nowhere: traces are off.
    Ninguno,
}

impl Destino {
    fn mostrar(&self) -> String {
        match self {
            Destino::Configurado(u) | Destino::Entorno(u) => redact_url(u),
            Destino::Ninguno => String::new(),
        }
    }
}

/// The tracer provider: the OTLP/HTTP protobuf exporter behind the SDK's
/// batch processor. That processor runs on its own thread and takes spans
/// through a bounded queue (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048), dropping them
/// when it is full; every export is bounded by `OTEL_EXPORTER_OTLP_TIMEOUT`
/// (10 s), retries included. A command never waits for a collector.
fn proveedor(destino: &Destino, servicio: &'static str) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::WithExportConfig;
    // An https collector needs the process's TLS provider.
    crate::tls::instalar_proveedor();
    let mut exportador =
        opentelemetry_otlp::SpanExporter::builder().with_http().with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
    if let Destino::Configurado(base) = destino {
        exportador = exportador.with_endpoint(format!("{}/v1/traces", base.trim_end_matches('/')));
    }
    // The exporter's own message may quote the endpoint whole: not shown.
    let exportador = exportador.build().map_err(|_| "configuración del exportador inválida".to_string())?;
    let recurso = opentelemetry_sdk::Resource::builder().build();
    let nombrado = recurso
        .get(&opentelemetry::Key::from_static_str("service.name"))
        .is_some_and(|v| !v.as_str().starts_with("unknown_service"));
    let recurso =
        if nombrado { recurso } else { opentelemetry_sdk::Resource::builder().with_service_name(servicio).build() };
    Ok(SdkTracerProvider::builder().with_batch_exporter(exportador).with_resource(recurso).build())
}

/// The traces pipeline [`init_con_trazas`] installed, if any.
#[must_use = "cerrar() sends the spans still queued"]
pub struct Trazas(Option<SdkTracerProvider>);

impl Trazas {
    /// Whether spans are being exported.
    pub fn activas(&self) -> bool {
        self.0.is_some()
    }

    /// Sends what is still queued and stops the exporter, waiting at most a
    /// few seconds (off the async workers: the SDK's shutdown blocks).
    pub async fn cerrar(self) {
        if let Some(proveedor) = self.0 {
            let cierre = tokio::task::spawn_blocking(move || proveedor.shutdown_with_timeout(CIERRE_TRAZAS));
            let _ = tokio::time::timeout(CIERRE_TRAZAS + Duration::from_secs(1), cierre).await;
        }
    }
}

/// The subscriber `init` installs, writing to `salida`: the user's filter,
/// then [`permitido`], then the formatter.
pub fn suscriptor<W>(format: FormatoLog, filtro: EnvFilter, salida: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    suscriptor_con(format, filtro, salida, None)
}

/// The logs as [`suscriptor`] writes them and, with a tracer, the crate's
/// spans to it. The log filters apply to the log alone, so `RUST_LOG=warn`
/// does not turn traces off.
fn suscriptor_con<W>(
    format: FormatoLog,
    filtro: EnvFilter,
    salida: W,
    tracer: Option<SdkTracer>,
) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let trazas = tracer.map(|tracer| {
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            // Only the fields each span declares become attributes.
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(filter_fn(exportable))
    });
    tracing_subscriber::registry()
        .with(trazas)
        .with(formato(format, salida).with_filter(filtro.and(filter_fn(permitido))))
}

/// What becomes a span of a trace: the crate's own spans, never a library's
/// (the exporter's HTTP client would otherwise trace its own exports) and
/// never a log event. Every field of these spans is an id, an operation, a
/// result or a count (contract §4: no body, no personal data), so nothing
/// else reaches a collector.
///
/// The spans only traces need (a command's `transaction` and `respuesta`,
/// the relay's `evento`) are DEBUG: the log (INFO by default) has no use for
/// them, so with traces off they are never built — a command costs what it
/// cost before traces existed (docs/performance.md).
fn exportable(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    meta.is_span() && *meta.level() <= Level::DEBUG && (target == "mesa_ayuda" || target.starts_with("mesa_ayuda::"))
}

/// A command's or an event's `traceparent` as the parent of `span`: the
/// span joins that trace. Call it before the span is first entered. Only a
/// W3C value ([`crate::contrato::traceparent_valido`]) is taken; anything
/// else leaves the span a root of its own.
pub fn continuar(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(contexto) = traceparent.and_then(contexto_remoto) {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(contexto));
    }
}

fn contexto_remoto(traceparent: &str) -> Option<SpanContext> {
    let valor = crate::contrato::traceparent_valido(Some(traceparent))?;
    let mut partes = valor.split('-').skip(1);
    let traza = TraceId::from_hex(partes.next()?).ok()?;
    let padre = SpanId::from_hex(partes.next()?).ok()?;
    let banderas = u8::from_str_radix(partes.next()?, 16).ok()?;
    // Only the sampled bit is defined (W3C level 1); the rest is not passed on.
    let contexto =
        SpanContext::new(traza, padre, TraceFlags::new(banderas) & TraceFlags::SAMPLED, true, TraceState::NONE);
    contexto.is_valid().then_some(contexto)
}

/// The W3C `traceparent` of `span`, when traces are on and it is part of one.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let contexto = span.context();
    let sc = contexto.span().span_context().clone();
    sc.is_valid().then(|| format!("00-{}-{}-{:02x}", sc.trace_id(), sc.span_id(), sc.trace_flags().to_u8()))
}

fn formato<S, W>(format: FormatoLog, salida: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    if format == FormatoLog::Json {
        fmt::layer().json().flatten_event(true).with_current_span(true).with_writer(salida).boxed()
    } else {
        fmt::layer().with_target(false).with_writer(salida).boxed()
    }
}

/// What may reach the log whatever `RUST_LOG` says (contract §4: no body, no
/// personal data, at any level, the libraries' logs included).
///
/// This crate's own events never carry a body or personal data, at any
/// level. Libraries are capped: lapin logs a returned (unroutable) message
/// whole at WARN and every frame, bodies included, at TRACE, so it is held to
/// ERROR and its frame and returned-message modules are silenced; the SLA
/// scheduler's library is held to WARN (its INFO lines are start-up noise);
/// every other library to DEBUG (TRACE in HTTP and TLS stacks dumps bytes).
pub fn permitido(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    let de =
        |modulo: &str| target.strip_prefix(modulo).is_some_and(|resto| resto.is_empty() || resto.starts_with("::"));
    let hasta = |nivel: Level| *meta.level() <= nivel;
    if de("mesa_ayuda") || de("mesa_bench") {
        true
    } else if de("lapin::returned_messages") || de("lapin::frames") {
        false
    } else if de("lapin") || de("amq_protocol") || target.starts_with("amq_protocol") {
        hasta(Level::ERROR)
    } else if de("tokio_cron_scheduler") {
        hasta(Level::WARN)
    } else {
        hasta(Level::DEBUG)
    }
}

/// Replaces Rust's default panic hook, which prints a panic's message to
/// stderr: that message may quote a command (a name unwrapped, a slice of a
/// body), and catching the panic later (`amqp::consumidor`) does not stop the
/// hook from printing it. This one logs, at ERROR, only where the panic
/// happened and on which thread, and the backtrace when `RUST_BACKTRACE`
/// asks for one (frames name functions, never values); before a subscriber
/// is installed (a panic while loading the configuration) the same line goes
/// to stderr, so a panic is never silent. The binary's only: tests keep the default hook, whose
/// messages they need.
pub fn instalar_gancho_de_panico() {
    std::panic::set_hook(Box::new(|info| {
        let traza = std::backtrace::Backtrace::capture();
        let linea = linea_de_panico(info, std::thread::current().name(), &traza);
        if tracing::dispatcher::has_been_set() {
            tracing::error!("{linea}");
        } else {
            eprintln!("{linea}");
        }
    }));
}

/// How every panic's line starts, caught or not: what a supervisor (or the
/// cluster suite) looks for in a worker's log.
pub const PANICO: &str = "pánico en ";

/// The line a panic is logged as: its location and its thread, never its
/// payload; then `traza` if it was captured.
fn linea_de_panico(
    info: &std::panic::PanicHookInfo<'_>,
    hilo: Option<&str>,
    traza: &std::backtrace::Backtrace,
) -> String {
    let ubicacion = info
        .location()
        .map_or_else(|| "un lugar desconocido".to_string(), |l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
    let hilo = hilo.unwrap_or("sin nombre");
    let linea = format!("{PANICO}{ubicacion}, hilo {hilo} (su mensaje no se registra: puede citar un comando)");
    match traza.status() {
        std::backtrace::BacktraceStatus::Captured => format!("{linea}\n{traza}"),
        _ => linea,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::backtrace::Backtrace;
    use std::panic::{Location, PanicHookInfo};
    use std::sync::{Arc, Mutex};

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Memoria(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Memoria {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Memoria {
        type Writer = Memoria;
        fn make_writer(&'a self) -> Memoria {
            self.clone()
        }
    }

    #[test]
    fn only_a_w3c_traceparent_becomes_a_remote_parent() {
        let sc = contexto_remoto("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03").unwrap();
        assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(sc.trace_flags(), TraceFlags::SAMPLED, "undefined flag bits are not passed on");
        let no_muestreada = contexto_remoto("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!no_muestreada.is_sampled());
        for malo in [
            "",
            "ana.garcia@empresa.com",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            "00-zzf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(contexto_remoto(malo).is_none(), "{malo}");
        }
        // Without the traces layer a span has no context to pass on.
        assert_eq!(traceparent(&tracing::info_span!("comando")), None);
    }

    #[test]
    fn no_rust_log_lifts_the_ceiling_on_library_logs() {
        for format in [FormatoLog::Pretty, FormatoLog::Json] {
            let memoria = Memoria::default();
            let filtro = EnvFilter::new("trace,lapin=trace,amq_protocol=trace,tokio_cron_scheduler=trace");
            tracing::subscriber::with_default(suscriptor(format, filtro, memoria.clone()), || {
                // The shape of lapin's own lines that carry bodies.
                tracing::warn!(target: "lapin::returned_messages", message = "ana.garcia@empresa.com", "Server returned us a message");
                tracing::error!(target: "lapin::returned_messages", message = "ana.garcia@empresa.com", "x");
                tracing::trace!(target: "lapin::channels", frame = "ana.garcia@empresa.com", "will handle frame");
                tracing::warn!(target: "lapin::channel", dato = "dato-lapin-warn", "x");
                tracing::trace!(target: "amq_protocol_types", dato = "dato-amq-trace", "x");
                tracing::info!(target: "tokio_cron_scheduler::job_scheduler", "Job creator created");
                tracing::trace!(target: "hyper::proto", dato = "dato-hyper-trace", "x");
                tracing::error!(target: "lapin::io_loop", "error doing IO");
                tracing::debug!(target: "sqlx::query", "consulta-sqlx-debug");
                tracing::trace!(target: "mesa_ayuda::consumidor", "traza-propia");
            });
            let log = String::from_utf8(memoria.0.lock().unwrap().clone()).unwrap();
            for ausente in ["ana.garcia", "dato-lapin-warn", "dato-amq-trace", "Job creator", "dato-hyper-trace"] {
                assert!(!log.contains(ausente), "{format:?}: {ausente} reached the log:\n{log}");
            }
            for presente in ["error doing IO", "consulta-sqlx-debug", "traza-propia"] {
                assert!(log.contains(presente), "{format:?}: {presente} missing:\n{log}");
            }
        }
    }

    /// Panics with personal data as its payload, at its caller's location,
    /// which it writes to `donde` first (as `file:line`).
    #[track_caller]
    fn panico_con_datos(donde: &Mutex<String>) -> ! {
        let l = Location::caller();
        *donde.lock().unwrap() = format!("{}:{}:", l.file(), l.line());
        panic!("Ana García ana.garcia@empresa.com");
    }

    #[test]
    fn a_panic_is_logged_by_its_location_and_thread_never_by_its_payload() {
        const HILO: &str = "prueba-panico";
        // The hook is global: only this test's thread is captured, any
        // other test's panic meanwhile goes to the hook there was.
        let anterior: Arc<dyn Fn(&PanicHookInfo<'_>) + Send + Sync> = Arc::from(std::panic::take_hook());
        let lineas = Arc::new(Mutex::new(Vec::new()));
        let (otro, capturadas) = (anterior.clone(), lineas.clone());
        std::panic::set_hook(Box::new(move |info| match std::thread::current().name() {
            Some(HILO) => {
                let sin_traza = linea_de_panico(info, Some(HILO), &Backtrace::disabled());
                let con_traza = linea_de_panico(info, Some(HILO), &Backtrace::force_capture());
                capturadas.lock().unwrap().push((sin_traza, con_traza));
            }
            _ => otro(info),
        }));
        let donde = Arc::new(Mutex::new(String::new()));
        let d = donde.clone();
        let hilo = std::thread::Builder::new().name(HILO.into()).spawn(move || panico_con_datos(&d)).unwrap();
        let panicado = hilo.join().is_err();
        std::panic::set_hook(Box::new(move |info| anterior(info)));

        assert!(panicado);
        let lineas = lineas.lock().unwrap();
        let [(linea, con_traza)] = lineas.as_slice() else { panic!("one panic expected: {lineas:?}") };
        let donde = donde.lock().unwrap();
        assert!(donde.starts_with(file!()), "{donde}");
        assert!(linea.contains(donde.as_str()), "the location is missing: {linea}");
        assert!(linea.contains(HILO), "the thread is missing: {linea}");
        assert!(linea.starts_with(PANICO), "{linea}");
        assert!(!linea.contains('\n'), "no backtrace unless asked for: {linea}");
        // Asked for (RUST_BACKTRACE), the frames follow the same line.
        assert!(con_traza.starts_with(&format!("{linea}\n")), "{con_traza}");
        assert!(con_traza.contains("panico_con_datos"), "the frames are missing: {con_traza}");
        for dato in ["Ana", "García", "ana.garcia", "empresa.com"] {
            assert!(!con_traza.contains(dato), "the payload reached the line: {con_traza}");
        }
    }
}
