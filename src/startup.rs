//! Wiring: builds every component from the `Config` and runs them until shutdown.

use crate::amqp::Topologia;
use crate::amqp::consumidor::{Consumidor, PartesConsumidor};
use crate::amqp::relay::{PartesRelay, Relay};
use crate::auth::Verificador;
use crate::configuration::{Config, Settings, redact_url};
use crate::error::ErrorProceso;
use crate::metrics::{Metricas, Salud};
use crate::planificador::Planificador;
use crate::procesador::{ContarRechazados, Procesador};
use crate::rechazados::ContadorRechazados;
use crate::reloj::{Reloj, reloj_del_sistema};
use crate::{http, store};
use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How `run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cierre {
    /// Everything in flight was finished before the grace ran out.
    Completo,
    /// The grace ran out first: held deliveries go back to the queue unacked.
    GraciaAgotada,
}

/// The pieces `run` starts, built once; tests reach into them.
pub struct Aplicacion {
    /// The configuration it was built from.
    pub config: Config,
    /// Postgres pool.
    pub pool: PgPool,
    /// The command processor.
    pub procesador: Procesador,
    /// Metrics registry.
    pub metricas: Arc<Metricas>,
    /// Broker session flags for readiness.
    pub salud: Arc<Salud>,
    /// Wakes the relay after a commit that wrote events.
    pub aviso_outbox: Arc<Notify>,
    /// The SLA scheduler.
    pub planificador: Planificador,
}

impl Aplicacion {
    /// Connects to Postgres and builds every piece, on the system clock.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, reloj_del_sistema()).await
    }

    /// As `build`, on the clock `reloj`.
    pub async fn build_with_clock(config: Config, reloj: Reloj) -> anyhow::Result<Self> {
        let settings = &config.settings;
        let pool = store::connect(settings.database.url.expose_secret(), settings.database.max_connections).await?;
        let reglas = config.reglas.clone();
        let aviso_outbox = Arc::new(Notify::new());
        let procesador = Procesador::new(
            pool.clone(),
            reglas.clone(),
            Verificador::new(&settings.auth).await?,
            reloj.clone(),
            aviso_outbox.clone(),
        )
        .con_rechazados(Arc::new(ContadorRechazados::new(
            settings.amqp.url.clone(),
            Topologia::de(&settings.topology),
        )));
        let metricas = Arc::new(Metricas::default());
        let planificador = Planificador::new(
            pool.clone(),
            reglas,
            reloj,
            aviso_outbox.clone(),
            metricas.clone(),
            settings.scheduler.lote,
        );
        Ok(Self { config, pool, procesador, metricas, salud: Arc::new(Salud::default()), aviso_outbox, planificador })
    }

    /// The settings it was built from.
    pub fn settings(&self) -> &Settings {
        &self.config.settings
    }

    /// Exchange and queue names from the settings.
    pub fn topologia(&self) -> Topologia {
        Topologia::de(&self.settings().topology)
    }

    /// Applies migrations, retrying while the database is unreachable.
    async fn migrate(&self, shutdown: &CancellationToken) -> anyhow::Result<()> {
        let mut intento = 0;
        loop {
            match store::migrate(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(e) if intento < 30 => {
                    tracing::warn!(error = %format!("{e:#}"), "base de datos no disponible; se reintenta");
                    intento += 1;
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(crate::amqp::espera(intento)) => {}
                    }
                }
                Err(e) => return Err(anyhow::Error::from(e).context("no se pudieron aplicar las migraciones")),
            }
        }
    }

    /// Runs consumers, relay and HTTP until `shutdown`, then drains in order:
    /// stop consuming and finish in-flight commands, then flush the outbox.
    pub async fn ejecutar(self, shutdown: CancellationToken) -> anyhow::Result<Cierre> {
        let s = &self.config.settings;
        tracing::info!(
            base_de_datos = %redact_url(s.database.url.expose_secret()),
            amqp = %redact_url(s.amqp.url.expose_secret()),
            prefijo = %s.topology.prefix,
            "iniciando mesa-ayuda"
        );
        self.migrate(&shutdown).await?;

        let http_stop = CancellationToken::new();
        let http = if s.http.port != 0 {
            let listener = tokio::net::TcpListener::bind((s.http.host.as_str(), s.http.port))
                .await
                .with_context(|| format!("no se pudo abrir el puerto HTTP {}", s.http.port))?;
            tracing::info!(direccion = %listener.local_addr()?, "HTTP: /health /ready /metrics");
            let app = http::router(self.pool.clone(), self.salud.clone(), self.metricas.clone());
            Some(tokio::spawn(http::servir(listener, app, http_stop.clone())))
        } else {
            None
        };

        let consumidor_stop = CancellationToken::new();
        let consumidor = tokio::spawn(
            Consumidor::new(
                s,
                PartesConsumidor {
                    procesador: self.procesador.clone(),
                    metricas: self.metricas.clone(),
                    conectado: self.salud.consumidor.clone(),
                },
            )
            .ejecutar(consumidor_stop.clone()),
        );
        let relay_stop = CancellationToken::new();
        let relay = tokio::spawn(
            Relay::new(
                s,
                PartesRelay {
                    pool: self.pool.clone(),
                    aviso_outbox: self.aviso_outbox.clone(),
                    metricas: self.metricas.clone(),
                    conectado: self.salud.relay.clone(),
                },
            )
            .ejecutar(relay_stop.clone()),
        );

        let colas = tokio::spawn(
            crate::amqp::colas::Profundidades {
                topologia: self.topologia(),
                amqp_url: s.amqp.url.clone(),
                intervalo: INTERVALO_PROFUNDIDADES,
                metricas: self.metricas.clone(),
            }
            .ejecutar(http_stop.clone()),
        );

        let planificador_stop = CancellationToken::new();
        let planificador = tokio::spawn(self.planificador.clone().ejecutar(
            s.scheduler.cron.clone(),
            s.retencion.clone(),
            planificador_stop.clone(),
        ));

        shutdown.cancelled().await;
        tracing::info!("apagando: se terminan los comandos en curso");
        // One grace period for the whole drain, not one per component.
        let limite = tokio::time::Instant::now() + s.worker.shutdown_grace;
        consumidor_stop.cancel();
        planificador_stop.cancel();
        let mut completo = esperar_hasta(limite, "consumidor", consumidor).await;
        completo &= esperar_hasta(limite, "planificador", planificador).await;
        // The relay flushes last: it publishes what the consumer just committed.
        relay_stop.cancel();
        completo &= esperar_hasta(limite, "relay", relay).await;
        http_stop.cancel();
        if let Some(h) = http {
            let _ = h.await;
        }
        let _ = colas.await;
        if completo {
            self.pool.close().await;
        } else {
            // A connection may be stuck in a statement the aborted work left
            // behind (a lock wait, an unreachable server): do not wait on it.
            let _ = tokio::time::timeout(CIERRE_POOL_TRAS_GRACIA, self.pool.close()).await;
        }
        if completo {
            tracing::info!("mesa-ayuda detenido");
            Ok(Cierre::Completo)
        } else {
            tracing::warn!("mesa-ayuda detenido sin terminar lo que tenía en curso: se devuelve a la cola");
            Ok(Cierre::GraciaAgotada)
        }
    }
}

/// How often `mesa_cola_mensajes` is read from the broker.
const INTERVALO_PROFUNDIDADES: std::time::Duration = std::time::Duration::from_secs(5);

/// How long closing the pool may take once the grace has run out.
const CIERRE_POOL_TRAS_GRACIA: std::time::Duration = std::time::Duration::from_secs(1);

/// Waits for a component to finish, but not past `limite`; whether it did.
/// A component still running then is aborted: what it held unacked goes back
/// to the queue when the connection closes.
async fn esperar_hasta(limite: tokio::time::Instant, componente: &str, mut tarea: tokio::task::JoinHandle<()>) -> bool {
    if tokio::time::timeout_at(limite, &mut tarea).await.is_err() {
        tracing::warn!(componente, "no terminó dentro del periodo de gracia");
        tarea.abort();
        return false;
    }
    true
}

/// The worker's dead-letter count for `anonimizar`: a walk of its own
/// dead-letter queue, on a connection of its own.
impl ContarRechazados for ContadorRechazados {
    fn contar<'a>(
        &'a self,
        email: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<u64, ErrorProceso>> + Send + 'a>> {
        Box::pin(async move {
            ContadorRechazados::contar(self, email).await.map_err(|e| ErrorProceso::Rechazados(e.to_string()))
        })
    }
}
