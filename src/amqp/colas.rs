//! Queue depths for `/metrics`: how many commands wait in `P.comandos` and
//! how many dead letters sit in `P.comandos.rechazados`, read with a passive
//! `queue.declare` on a timer over a connection of their own (a scrape never
//! waits on the broker, and a broken session here touches nothing else).

use crate::amqp::{self, ErrorAmqp, Topologia, en_paso};
use crate::metrics::Metricas;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The timer task that keeps `mesa_cola_mensajes` and `mesa_cola_consumidores` current.
pub struct Profundidades {
    /// Which queues.
    pub topologia: Topologia,
    /// The broker (one URL or several, comma-separated).
    pub amqp_url: SecretString,
    /// How often the depths are read.
    pub intervalo: Duration,
    /// Where they go.
    pub metricas: Arc<Metricas>,
}

impl Profundidades {
    /// Reads the depths every `intervalo` until `shutdown`, reconnecting with backoff.
    pub async fn ejecutar(self, shutdown: CancellationToken) {
        let metricas = self.metricas.clone();
        amqp::con_reconexion(
            "colas",
            &shutdown,
            Arc::new(AtomicBool::new(false)),
            || metricas.reconexion("colas"),
            || self.sesion(&shutdown),
        )
        .await;
    }

    async fn sesion(&self, shutdown: &CancellationToken) -> Result<(), ErrorAmqp> {
        let conexion =
            amqp::conectar(self.amqp_url.expose_secret(), "mesa-ayuda colas").await.map_err(en_paso("conectar"))?;
        let canal = conexion.create_channel().await.map_err(en_paso("abrir el canal"))?;
        // Idempotent, as every component does it: a depth read before the
        // consumer's first declaration would otherwise find no queue.
        amqp::declarar(&canal, &self.topologia).await.map_err(en_paso("declarar la topología"))?;
        let colas = [("comandos", self.topologia.comandos()), ("rechazados", self.topologia.rechazados())];
        let pasiva = QueueDeclareOptions { passive: true, ..Default::default() };
        loop {
            for (cola, nombre) in &colas {
                // A queue deleted meanwhile closes the channel: the session
                // ends and is retried with backoff.
                let q = canal
                    .queue_declare(nombre.clone().into(), pasiva, FieldTable::default())
                    .await
                    .map_err(en_paso("leer la profundidad de una cola"))?;
                self.metricas.cola(cola, i64::from(q.message_count()), i64::from(q.consumer_count()));
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.intervalo) => {}
            }
        }
        let _ = conexion.close(200, "apagando".into()).await;
        Ok(())
    }
}
