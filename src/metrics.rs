//! Prometheus metrics and the readiness flags `/ready` reports.

pub mod exposicion;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// Labels of `comandos`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EtiquetasComando {
    /// Operation of the command (`crear`, ...), or `desconocida`.
    pub operacion: String,
    /// How it ended (a `Resultado`).
    pub resultado: String,
}

/// Labels of `reconexiones`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EtiquetaComponente {
    /// The broker client: `consumidor`, `relay` or `colas`.
    pub componente: String,
}

/// Labels of `mesa_alertas_sla_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EtiquetaAlerta {
    /// POR_VENCER or VENCIDO.
    pub nivel: &'static str,
    /// RESOLUCION or PRIMERA_RESPUESTA.
    pub meta: &'static str,
}

/// Labels of `mesa_escalamientos_sla_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EtiquetaMeta {
    /// RESOLUCION or PRIMERA_RESPUESTA.
    pub meta: &'static str,
}

/// Which queue a depth is of: `comandos` or `rechazados`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EtiquetaCola {
    /// The queue's role (`comandos`, `rechazados`), not its prefixed name.
    pub cola: String,
}

/// The worker's Prometheus metrics, in one registry.
pub struct Metricas {
    registry: Registry,
    /// Commands handled, by operation and result.
    pub comandos: Family<EtiquetasComando, Counter>,
    /// Seconds spent handling each command.
    pub duracion: Histogram,
    /// Deliveries per lane batch (`lote`, one transaction; group commit): how
    /// well commands share their transactions, which is what a command costs
    /// at a trickle. Counted once per batch, retries not again.
    pub comandos_por_lote: Histogram,
    /// Commands retried after a transient failure.
    pub reintentos_transitorios: Counter,
    /// Events published by the relay and confirmed by the broker.
    pub eventos_publicados: Counter,
    /// Events confirmed with no queue bound to receive them.
    pub eventos_sin_ruta: Counter,
    /// Broker sessions re-established, by component.
    pub reconexiones: Family<EtiquetaComponente, Counter>,
    /// SLA alerts emitted, by level and meta.
    pub alertas_sla: Family<EtiquetaAlerta, Counter>,
    /// SLA escalations applied, by meta.
    pub escalamientos_sla: Family<EtiquetaMeta, Counter>,
    /// Events in the outbox not yet published.
    pub outbox_pendientes: Gauge,
    /// Age in seconds of the oldest unpublished event.
    pub outbox_antiguedad: Gauge<f64, AtomicU64>,
    /// Messages ready in each queue (not those a consumer holds).
    pub cola_mensajes: Family<EtiquetaCola, Gauge>,
    /// Consumers on each queue (the standbys of single active consumer included).
    pub cola_consumidores: Family<EtiquetaCola, Gauge>,
    /// 1 while `/ready` would answer 200, 0 otherwise (set at each scrape).
    pub listo: Gauge,
}

impl Default for Metricas {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("mesa");
        let comandos = Family::<EtiquetasComando, Counter>::default();
        registry.register("comandos", "Comandos atendidos por operación y resultado", comandos.clone());
        let duracion = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register("comando_duracion_segundos", "Tiempo de atención de un comando", duracion.clone());
        let comandos_por_lote = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        registry.register(
            "comandos_por_lote",
            "Comandos que un carril atiende juntos en un lote (una transacción)",
            comandos_por_lote.clone(),
        );
        let reintentos_transitorios = Counter::default();
        registry.register(
            "reintentos_transitorios",
            "Reintentos por fallos transitorios",
            reintentos_transitorios.clone(),
        );
        let eventos_publicados = Counter::default();
        registry.register("eventos_publicados", "Eventos publicados y confirmados", eventos_publicados.clone());
        let eventos_sin_ruta = Counter::default();
        registry.register(
            "eventos_sin_ruta",
            "Eventos confirmados sin ninguna cola suscrita",
            eventos_sin_ruta.clone(),
        );
        let reconexiones = Family::<EtiquetaComponente, Counter>::default();
        registry.register("reconexiones", "Reconexiones a RabbitMQ", reconexiones.clone());
        let alertas_sla = Family::<EtiquetaAlerta, Counter>::default();
        registry.register("alertas_sla", "Alertas de SLA emitidas por nivel y meta", alertas_sla.clone());
        let escalamientos_sla = Family::<EtiquetaMeta, Counter>::default();
        registry.register("escalamientos_sla", "Escalamientos de SLA aplicados por meta", escalamientos_sla.clone());
        let outbox_pendientes = Gauge::default();
        registry.register("outbox_pendientes", "Eventos aún sin publicar", outbox_pendientes.clone());
        let outbox_antiguedad = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "outbox_antiguedad_segundos",
            "Edad del evento sin publicar más antiguo",
            outbox_antiguedad.clone(),
        );
        // Series that exist from the start, at zero: `increase()` then sees
        // the first alert or reconnection, not only the ones after it.
        for meta in crate::domain::sla::Meta::TODAS {
            for nivel in [crate::domain::sla::NivelSla::PorVencer, crate::domain::sla::NivelSla::Vencido] {
                let _ = alertas_sla.get_or_create(&EtiquetaAlerta { nivel: nivel.as_str(), meta: meta.as_str() });
            }
            let _ = escalamientos_sla.get_or_create(&EtiquetaMeta { meta: meta.as_str() });
        }
        for componente in ["consumidor", "relay", "colas"] {
            let _ = reconexiones.get_or_create(&EtiquetaComponente { componente: componente.to_string() });
        }
        let cola_mensajes = Family::<EtiquetaCola, Gauge>::default();
        registry.register("cola_mensajes", "Mensajes listos en la cola", cola_mensajes.clone());
        let cola_consumidores = Family::<EtiquetaCola, Gauge>::default();
        registry.register("cola_consumidores", "Consumidores de la cola", cola_consumidores.clone());
        let listo = Gauge::default();
        registry.register("listo", "1 si el worker está listo (/ready), 0 si no", listo.clone());
        Self {
            registry,
            comandos,
            duracion,
            comandos_por_lote,
            reintentos_transitorios,
            eventos_publicados,
            eventos_sin_ruta,
            reconexiones,
            alertas_sla,
            escalamientos_sla,
            outbox_pendientes,
            outbox_antiguedad,
            cola_mensajes,
            cola_consumidores,
            listo,
        }
    }
}

impl Metricas {
    /// Counts one reconnection of `componente`.
    pub fn reconexion(&self, componente: &str) {
        self.reconexiones.get_or_create(&EtiquetaComponente { componente: componente.to_string() }).inc();
    }

    /// Records the depth and consumers of the queue `cola` (`comandos`, `rechazados`).
    pub fn cola(&self, cola: &str, mensajes: i64, consumidores: i64) {
        let etiqueta = EtiquetaCola { cola: cola.to_string() };
        self.cola_mensajes.get_or_create(&etiqueta).set(mensajes);
        self.cola_consumidores.get_or_create(&etiqueta).set(consumidores);
    }

    /// The registry in Prometheus text format.
    pub fn texto(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// Whether each broker client has a live session.
#[derive(Default)]
pub struct Salud {
    /// The command consumer's session.
    pub consumidor: Arc<AtomicBool>,
    /// The outbox relay's session.
    pub relay: Arc<AtomicBool>,
}
