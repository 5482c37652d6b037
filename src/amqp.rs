//! RabbitMQ adapter: connection and the reconnect-with-backoff loop every
//! broker client shares; the topology (contract §1), messages, the command
//! consumer, the outbox relay and the one client that publishes a command
//! and waits for its reply (the gateway's and `mesa-ayuda send`'s), one
//! module each.

use lapin::types::LongString;
use lapin::{Connection, ConnectionProperties};
use rand::Rng;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod cliente;
/// Queue depths for `/metrics`, read on a timer.
pub mod colas;
pub mod consumidor;
mod llegadas;
mod mensajes;
pub mod relay;
mod reparto;
pub mod sonda;
mod topologia;

pub use cliente::{ClienteAmqp, Comando, ErrorEnvio};
pub use mensajes::{Aparcado, header, mensaje, rechazar, responder};

/// What ends a session with RabbitMQ, or one relay batch: each variant says
/// which side failed, so the caller knows what to keep and what to redo.
#[derive(Debug, thiserror::Error)]
pub enum ErrorAmqp {
    /// A step the broker refused or a connection it dropped: the session is over.
    #[error("RabbitMQ, {paso}: {fuente}")]
    Broker {
        /// What was being done (`conectar`, `declarar topología`, ...).
        paso: &'static str,
        /// The broker's error.
        #[source]
        fuente: lapin::Error,
    },
    /// A statement of the relay's the database refused or could not run: the
    /// broker session itself is fine. Only through
    /// [`EnSentencia::en`](crate::error::EnSentencia::en), so each names its statement.
    #[error("base de datos, {sentencia}: {fuente}")]
    BaseDeDatos {
        /// The store function that ran it (`reclamar_eventos`), or `begin` / `commit`.
        sentencia: &'static str,
        /// sqlx's error: its `Display` is Postgres's message, never the
        /// DETAIL that may quote an event's row.
        #[source]
        fuente: sqlx::Error,
    },
    /// The broker answered a publish that needed its confirmation with a nack.
    #[error("el broker no confirmó {0}")]
    SinConfirmar(String),
    /// The broker cancelled our consumer (queue deleted, node going down).
    #[error("el broker canceló el consumidor")]
    ConsumidorCancelado,
    /// A lane task ended while the session still ran.
    #[error("un carril terminó inesperadamente")]
    CarrilCaido,
}

impl From<crate::error::SentenciaFallida> for ErrorAmqp {
    fn from(crate::error::SentenciaFallida { sentencia, fuente }: crate::error::SentenciaFallida) -> Self {
        ErrorAmqp::BaseDeDatos { sentencia, fuente }
    }
}

/// Names the step a lapin error happened in: `.map_err(en_paso("conectar"))`.
pub(crate) fn en_paso(paso: &'static str) -> impl FnOnce(lapin::Error) -> ErrorAmqp {
    move |fuente| ErrorAmqp::Broker { paso, fuente }
}
pub use topologia::{Topologia, borrar, declarar, declarar_sonda, escuchar};

/// Connects to the first node that answers of `urls`, one URL or several
/// separated by commas (the nodes of a cluster, contract §7), tried in turn
/// from the first on every (re)connect. The error is the last node's.
pub async fn conectar(urls: &str, nombre: &str) -> lapin::Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name(LongString::from(nombre.to_string()));
    // Collected first: an iterator adaptor held across `.await` makes the
    // future not `Send` (a higher-ranked lifetime the compiler cannot prove).
    let nodos: Vec<&str> = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
    let Some((ultimo, anteriores)) = nodos.split_last() else {
        // Only for an empty list: configuration refuses it first.
        return Connection::connect(urls, props).await;
    };
    for url in anteriores {
        match Connection::connect(url, props.clone()).await {
            Ok(c) => return Ok(c),
            Err(e) => {
                tracing::warn!(nodo = %crate::configuration::redact_url(url), error = %e, "nodo de RabbitMQ no disponible; se prueba el siguiente")
            }
        }
    }
    Connection::connect(ultimo, props).await
}

/// Capped exponential backoff with full jitter.
pub fn espera(intento: u32) -> Duration {
    let tope = Duration::from_millis(200u64.saturating_mul(1 << intento.min(6))).min(Duration::from_secs(10));
    let ms = rand::rng().random_range(tope.as_millis() as u64 / 2..=tope.as_millis() as u64);
    Duration::from_millis(ms)
}

/// Runs `sesion` until it ends cleanly (shutdown), reconnecting with backoff
/// whenever it fails. `conectado` mirrors whether a session is up.
pub async fn con_reconexion<F, Fut>(
    componente: &'static str,
    shutdown: &CancellationToken,
    conectado: Arc<AtomicBool>,
    reconexiones: impl Fn(),
    mut sesion: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ErrorAmqp>>,
{
    let mut intento = 0u32;
    while !shutdown.is_cancelled() {
        let inicio = std::time::Instant::now();
        let resultado = sesion().await;
        conectado.store(false, Ordering::SeqCst);
        match resultado {
            Ok(()) => break,
            Err(e) => {
                // A session that ran a while was healthy: start the backoff over.
                if inicio.elapsed() > Duration::from_secs(30) {
                    intento = 0;
                }
                let pausa = espera(intento);
                tracing::warn!(componente, error = %e, reintento_en_ms = pausa.as_millis() as u64, "sesión con RabbitMQ perdida");
                reconexiones();
                intento = intento.saturating_add(1);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pausa) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_failure_names_its_statement() {
        use crate::error::EnSentencia;
        let e = ErrorAmqp::from(Err::<(), _>(sqlx::Error::PoolTimedOut).en("reclamar_eventos").unwrap_err());
        assert!(matches!(e, ErrorAmqp::BaseDeDatos { sentencia: "reclamar_eventos", .. }));
        assert_eq!(
            e.to_string(),
            "base de datos, reclamar_eventos: pool timed out while waiting for an open connection"
        );
        assert!(std::error::Error::source(&e).is_some(), "sqlx's error is its source");
    }

    #[test]
    fn backoff_is_capped() {
        for i in 0..50 {
            assert!(espera(i) <= Duration::from_secs(10));
        }
        assert!(espera(0) <= Duration::from_millis(200));
    }
}
