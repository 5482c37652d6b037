//! Readiness beyond "connected": the quorum probe the worker runs on its
//! command queue and the gateway on a queue of its own.
//!
//! A node cut off from its cluster's majority keeps the connection and the
//! consumer and simply delivers (or confirms) nothing, which looks like an
//! idle queue. Registering a consumer on a quorum queue is a command its
//! replicas must commit, so a probe that does not come back within
//! [`PLAZO`] means the queue has no quorum from here: the session's ready
//! flag (what `/ready` reads) goes false until a probe completes again. The
//! session itself stays: when the majority is back it resumes where it was,
//! without a reconnect.

use crate::amqp::Topologia;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_util::task::AbortOnDropHandle;

/// How often a probe runs.
const INTERVALO: Duration = Duration::from_secs(2);
/// How long a probe may take before the session counts as not ready.
const PLAZO: Duration = Duration::from_secs(3);

/// What is probed.
pub enum Sondeada {
    /// The worker's command queue, as it is.
    Comandos(Topologia),
    /// The gateway's probe queue, declared again by every probe: one an
    /// operator deleted comes back, instead of leaving the gateway not ready.
    Sonda(Topologia),
}

impl Sondeada {
    fn cola(&self) -> String {
        match self {
            Sondeada::Comandos(t) => t.comandos(),
            Sondeada::Sonda(t) => t.sonda(),
        }
    }
}

/// Probes `sondeada` on `conexion` every [`INTERVALO`] and keeps `listo` in
/// step, until the handle is dropped (with its session, whichever way it
/// ends, so it never marks a finished session ready again).
pub fn vigilar(conexion: Arc<lapin::Connection>, sondeada: Sondeada, listo: Arc<AtomicBool>) -> AbortOnDropHandle<()> {
    AbortOnDropHandle::new(tokio::spawn(async move {
        let cola = sondeada.cola();
        loop {
            tokio::time::sleep(INTERVALO).await;
            let inicio = Instant::now();
            let sonda = sondear(&conexion, &sondeada);
            tokio::pin!(sonda);
            let resultado = match tokio::time::timeout(PLAZO, &mut sonda).await {
                Ok(r) => r,
                Err(_) => {
                    if listo.swap(false, Ordering::SeqCst) {
                        tracing::warn!(cola = %cola, "la cola no responde (¿sin quórum?): no listo");
                    }
                    sonda.await
                }
            };
            match resultado {
                Ok(()) => {
                    if !listo.swap(true, Ordering::SeqCst) {
                        tracing::info!(cola = %cola, espera_ms = inicio.elapsed().as_millis() as u64, "la cola responde de nuevo: listo");
                    }
                }
                Err(e) => {
                    if listo.swap(false, Ordering::SeqCst) {
                        tracing::warn!(cola = %cola, error = %e, "la sonda de quórum falló: no listo");
                    }
                }
            }
        }
    }))
}

/// One round trip through the queue's log: a consumer registered on a
/// channel of its own, then the channel closed. Closed, not cancelled: with
/// single active consumer, a probe that ever became the active one hands
/// its delivery (prefetch 1) back and the queue over in one step, as a
/// stopping worker does (`consumidor::esperar_acks`).
async fn sondear(conexion: &lapin::Connection, sondeada: &Sondeada) -> Result<(), lapin::Error> {
    let canal = conexion.create_channel().await?;
    if let Sondeada::Sonda(topologia) = sondeada {
        crate::amqp::declarar_sonda(&canal, topologia).await?;
    }
    let cola = sondeada.cola();
    canal.basic_qos(1, BasicQosOptions::default()).await?;
    let etiqueta = format!("mesa-ayuda-sonda-{}", uuid::Uuid::new_v4());
    let consumidor = canal
        .basic_consume(cola.as_str().into(), etiqueta.into(), BasicConsumeOptions::default(), FieldTable::default())
        .await;
    let cerrar = canal.close(200, "sonda".into()).await;
    // Only now: dropping a consumer cancels it.
    drop(consumidor?);
    cerrar
}
