//! The gateway's Prometheus metrics (`/metrics`), as `crate::metrics` does
//! the worker's: requests by route template and status, a latency
//! histogram, replies timed out, reconnections.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a request: its route template (never the path itself, which
/// holds ticket ids) and its status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EtiquetasPeticion {
    /// `/api/tickets/{ticketId}`, or `desconocida` for an unknown path.
    pub ruta: String,
    /// The HTTP status.
    pub estado: u16,
}

/// The gateway's registry and metrics.
pub struct MetricasGateway {
    registry: Registry,
    /// Requests answered, by route and status.
    pub peticiones: Family<EtiquetasPeticion, Counter>,
    /// Time from request to response.
    pub duracion: Histogram,
    /// Commands published that got no reply in time (504).
    pub tiempos_agotados: Counter,
    /// Broker sessions lost.
    pub reconexiones: Counter,
}

impl Default for MetricasGateway {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("mesa_gateway");
        let peticiones = Family::<EtiquetasPeticion, Counter>::default();
        registry.register("peticiones", "Peticiones HTTP atendidas por ruta y estado", peticiones.clone());
        let duracion = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register("peticion_duracion_segundos", "Tiempo de atención de una petición", duracion.clone());
        let tiempos_agotados = Counter::default();
        registry.register("tiempos_agotados", "Comandos sin respuesta a tiempo (504)", tiempos_agotados.clone());
        let reconexiones = Counter::default();
        registry.register("reconexiones", "Sesiones con RabbitMQ perdidas", reconexiones.clone());
        Self { registry, peticiones, duracion, tiempos_agotados, reconexiones }
    }
}

impl MetricasGateway {
    /// The metrics in Prometheus text format.
    pub fn texto(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail (fmt::Write for String is infallible).
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
