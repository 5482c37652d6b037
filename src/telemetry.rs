//! Logging setup: human-readable by default, JSON lines when asked.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber once; later calls are ignored (tests).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(
        |_| // lapin logs returned (unroutable) messages whole, bodies included, at
        // warn: keep it at error so requester data never reaches the log.
        EnvFilter::new("info,lapin=error,sqlx=warn"),
    );
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if format.eq_ignore_ascii_case("json") {
        registry.with(fmt::layer().json().flatten_event(true).with_current_span(true)).try_init()
    } else {
        registry.with(fmt::layer().with_target(false)).try_init()
    };
}
