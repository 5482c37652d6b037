//! Logging setup: human-readable by default, JSON lines when asked, and a
//! ceiling on the libraries' own logs that no `RUST_LOG` filter can lift.

use crate::configuration::FormatoLog;
use tracing::{Level, Metadata, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, filter::filter_fn, fmt, prelude::*};

/// The filter when `RUST_LOG` is unset.
const FILTRO_POR_DEFECTO: &str = "info,sqlx=warn";

/// Installs the global subscriber once; later calls are ignored (tests).
pub fn init(format: FormatoLog) {
    let filtro = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(FILTRO_POR_DEFECTO));
    let _ = tracing::subscriber::set_global_default(suscriptor(format, filtro, std::io::stderr));
}

/// The subscriber `init` installs, writing to `salida`: the user's filter,
/// then [`permitido`], then the formatter.
pub fn suscriptor<W>(format: FormatoLog, filtro: EnvFilter, salida: W) -> impl Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::registry().with(filtro).with(filter_fn(permitido)).with(formato(format, salida))
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

#[cfg(test)]
mod tests {
    use super::*;
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
}
