//! The outbox relay: publishes committed events to `P.eventos` with publisher
//! confirms; the mark "sent", written as it claims them, commits only once
//! the broker confirmed them.

use crate::amqp::{self, ErrorAmqp, Topologia, en_paso};
use crate::configuration::Settings;
use crate::error::EnSentencia;
use crate::metrics::Metricas;
use crate::store;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The outbox relay: claims pending events (marking them sent, uncommitted), publishes them to `P.eventos` with confirms, then commits the mark.
#[derive(Clone)]
pub struct Relay {
    /// Database holding the outbox.
    pool: PgPool,
    /// Exchange names.
    topologia: Topologia,
    /// Broker address (`amqp://...`; several, comma-separated, for a cluster).
    amqp_url: SecretString,
    /// Most events read and published per pass (`outbox.batch`).
    lote: usize,
    /// Longest wait between passes when nothing wakes the relay.
    intervalo: Duration,
    /// How long the relay lets events gather after a commit woke it
    /// (`outbox.juntar`).
    juntar: Duration,
    /// Woken after a commit that wrote events (the same `Notify` as `Procesador`'s).
    aviso_outbox: Arc<Notify>,
    /// Where published and unroutable events and reconnections are recorded.
    metricas: Arc<Metricas>,
    /// Set while the relay has a live broker session (readiness).
    conectado: Arc<AtomicBool>,
}

/// What a relay works with besides its settings.
pub struct PartesRelay {
    /// Database holding the outbox.
    pub pool: PgPool,
    /// Woken after a commit that wrote events (the same `Notify` as `Procesador`'s).
    pub aviso_outbox: Arc<Notify>,
    /// Where published and unroutable events and reconnections are recorded.
    pub metricas: Arc<Metricas>,
    /// Set while the relay has a live broker session (readiness).
    pub conectado: Arc<AtomicBool>,
}

impl Relay {
    /// A relay as `settings` say (`[amqp]`, `[outbox]`, `[topology]`).
    pub fn new(settings: &Settings, partes: PartesRelay) -> Self {
        let PartesRelay { pool, aviso_outbox, metricas, conectado } = partes;
        Relay {
            pool,
            topologia: Topologia::de(&settings.topology),
            amqp_url: settings.amqp.url.clone(),
            lote: settings.outbox.batch,
            intervalo: settings.outbox.poll_interval,
            juntar: settings.outbox.juntar,
            aviso_outbox,
            metricas,
            conectado,
        }
    }

    /// Relays until `shutdown`, then flushes what is pending once more.
    pub async fn ejecutar(self, shutdown: CancellationToken) {
        let metricas = self.metricas.clone();
        amqp::con_reconexion(
            "relay",
            &shutdown,
            self.conectado.clone(),
            || metricas.reconexion("relay"),
            || self.sesion(&shutdown),
        )
        .await;
    }

    async fn sesion(&self, shutdown: &CancellationToken) -> Result<(), ErrorAmqp> {
        let conexion =
            amqp::conectar(self.amqp_url.expose_secret(), "mesa-ayuda relay").await.map_err(en_paso("conectar"))?;
        let canal = conexion.create_channel().await.map_err(en_paso("abrir el canal"))?;
        amqp::declarar(&canal, &self.topologia).await.map_err(en_paso("declarar la topología"))?;
        canal.confirm_select(ConfirmSelectOptions::default()).await.map_err(en_paso("activar confirmaciones"))?;
        self.conectado.store(true, Ordering::SeqCst);
        loop {
            let lote = publicar_lote(&self.pool, &canal, &self.topologia, self.lote, &self.metricas);
            match self.esperando_confirmaciones(lote).await {
                Ok(n) if n >= self.lote => continue,
                Ok(_) => {}
                Err(e @ ErrorAmqp::BaseDeDatos { .. }) => {
                    // The database, not the broker: keep the session, wait a little.
                    tracing::warn!(error = %e, "relay: no se pudo leer o marcar el lote");
                }
                Err(e) => return Err(e),
            }
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = publicar_lote(&self.pool, &canal, &self.topologia, self.lote, &self.metricas).await;
                    let _ = conexion.close(200, "apagando".into()).await;
                    return Ok(());
                }
                _ = self.aviso_outbox.notified() => {
                    // A commit just wrote events, and at a trickle more
                    // commits are right behind it: gathering them costs each
                    // event at most `juntar` of latency and saves a
                    // transaction and a confirm wait per commit (#12).
                    tokio::time::sleep(self.juntar).await;
                }
                _ = tokio::time::sleep(self.intervalo) => {}
            }
        }
    }
}

/// How long a batch may wait for its confirms before the relay counts as not
/// ready.
const PLAZO_CONFIRMACION: Duration = Duration::from_secs(5);

impl Relay {
    /// Awaits one batch. Confirms that do not come within
    /// `PLAZO_CONFIRMACION` mean the broker cannot store the events (a quorum
    /// queue bound to `P.eventos` without its majority, a memory alarm):
    /// `/ready` says so while the relay keeps waiting on the same channel —
    /// giving up would only publish the batch again and wait the same. The
    /// events stay unsent until confirmed, so nothing is lost either way.
    async fn esperando_confirmaciones(
        &self,
        lote: impl std::future::Future<Output = Result<usize, ErrorAmqp>>,
    ) -> Result<usize, ErrorAmqp> {
        tokio::pin!(lote);
        match tokio::time::timeout(PLAZO_CONFIRMACION, &mut lote).await {
            Ok(r) => r,
            Err(_) => {
                self.conectado.store(false, Ordering::SeqCst);
                tracing::warn!("el broker no confirma los eventos (¿sin quórum?): relay no listo");
                let r = lote.await;
                // A broker error ends the session, which is not ready either.
                if matches!(r, Ok(_) | Err(ErrorAmqp::BaseDeDatos { .. })) {
                    self.conectado.store(true, Ordering::SeqCst);
                    tracing::info!("el broker confirma de nuevo: relay listo");
                }
                r
            }
        }
    }
}

/// Publishes one batch of pending events; returns how many were confirmed.
/// Rows are claimed and marked sent in one statement and stay locked (SKIP
/// LOCKED for other replicas) until the commit, which comes only once every
/// publish in the batch was confirmed; any failure rolls the mark back.
pub async fn publicar_lote(
    pool: &PgPool,
    canal: &Channel,
    topologia: &Topologia,
    lote: usize,
    metricas: &Metricas,
) -> Result<usize, ErrorAmqp> {
    let mut tx = pool.begin().await.en("begin")?;
    let pendientes = store::reclamar_eventos(&mut tx, lote).await.en("reclamar_eventos")?;
    if pendientes.is_empty() {
        return Ok(0);
    }
    // One span per event publish, in the trace of the command that caused
    // it (its stored `traceparent`); an event of the scheduler's starts its
    // own. Each ends once the batch is confirmed, or failed.
    let spans: Vec<tracing::Span> = pendientes
        .iter()
        .map(|ev| {
            // DEBUG: a span for traces only, never built when they are off (telemetry::exportable).
            let span = tracing::debug_span!(
                "evento",
                tipo = %ev.tipo,
                evento_id = %ev.evento_id,
                resultado = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            crate::telemetry::continuar(&span, ev.traceparent.as_deref());
            span
        })
        .collect();
    let resultado = publicar_pendientes(&pendientes, canal, topologia, metricas).await;
    for span in &spans {
        match &resultado {
            Ok(()) => span.record("resultado", "publicado"),
            Err(_) => span.record("resultado", "fallido").record("otel.status_code", "ERROR"),
        };
    }
    resultado?;
    tx.commit().await.en("commit")?;
    metricas.eventos_publicados.inc_by(pendientes.len() as u64);
    Ok(pendientes.len())
}

/// Publishes `pendientes` and waits for every confirm.
async fn publicar_pendientes(
    pendientes: &[store::EventoPendiente],
    canal: &Channel,
    topologia: &Topologia,
    metricas: &Metricas,
) -> Result<(), ErrorAmqp> {
    let mut envios = Vec::with_capacity(pendientes.len());
    for ev in pendientes {
        let mut props = BasicProperties::default()
            .with_message_id(ev.evento_id.to_string().into())
            .with_content_type("application/cloudevents+json".into())
            .with_delivery_mode(2)
            .with_timestamp(chrono::Utc::now().timestamp() as u64);
        if let Some(tp) = &ev.traceparent {
            let mut headers = FieldTable::default();
            headers.insert("traceparent".into(), AMQPValue::LongString(tp.clone().into()));
            props = props.with_headers(headers);
        }
        envios.push(async move {
            canal
                .basic_publish(
                    topologia.eventos().into(),
                    ev.tipo.clone().into(),
                    BasicPublishOptions { mandatory: true, ..Default::default() },
                    ev.cuerpo.as_bytes(),
                    props,
                )
                .await
        });
    }
    // Polled in order, so the frames go out in outbox order; the I/O loop
    // writes the whole batch in one hand-off.
    let confirmaciones = futures_util::future::try_join_all(envios).await.map_err(en_paso("publicar el lote"))?;
    for (ev, confirmacion) in pendientes.iter().zip(confirmaciones) {
        match confirmacion.await.map_err(en_paso("confirmar el lote"))? {
            Confirmation::Ack(devuelto) => {
                if devuelto.is_some() {
                    // Nobody subscribes to this type yet: the broker took it
                    // and dropped it, which is what the topology asks for.
                    metricas.eventos_sin_ruta.inc();
                    tracing::debug!(tipo = %ev.tipo, "evento sin cola suscrita");
                }
            }
            Confirmation::Nack(_) => return Err(ErrorAmqp::SinConfirmar(format!("el evento {}", ev.evento_id))),
            Confirmation::NotRequested => {
                return Err(ErrorAmqp::SinConfirmar("nada: el canal no está en modo confirmación".into()));
            }
        }
    }
    Ok(())
}
