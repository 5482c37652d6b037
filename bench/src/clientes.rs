//! The load's clients: the AMQP publisher (a connection, a confirm channel
//! and a reply queue of its own) and the open-loop pacing every measurement
//! shares.

use futures_util::StreamExt;
use lapin::Channel;
use lapin::options::ConfirmSelectOptions;
use mesa_ayuda::amqp::{self, Topologia};
use mesa_kit::{cabeceras, cola_de_respuestas, propiedades, publicar};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, oneshot};
use uuid::Uuid;

/// Replies awaited, by correlation id, with their arrival time.
type Pendientes = Arc<Mutex<HashMap<String, oneshot::Sender<(Value, Instant)>>>>;

/// One sender that times its commands to their replies: its own connection,
/// a confirm channel and a reply queue. (Not the kit's `Publicador`, which
/// survives broker restarts and never awaits a reply.)
pub(crate) struct Remitente {
    canal: Channel,
    cola_respuestas: String,
    pendientes: Pendientes,
    topo: Topologia,
}

impl Remitente {
    pub(crate) async fn nuevo(url: &str, topo: &Topologia) -> anyhow::Result<Remitente> {
        let conexion = amqp::conectar(url, "mesa-bench publicador").await?;
        let canal = conexion.create_channel().await?;
        canal.confirm_select(ConfirmSelectOptions::default()).await?;
        let (cola_respuestas, mut respuestas) = cola_de_respuestas(&canal).await?;
        let pendientes: Pendientes = Arc::default();
        let p = pendientes.clone();
        tokio::spawn(async move {
            let _conexion = conexion;
            while let Some(Ok(e)) = respuestas.next().await {
                let Some(c) = e.properties.correlation_id().as_ref().map(|c| c.as_str().to_string()) else { continue };
                // Stamp the arrival here: the flow may read it later.
                let llegada = Instant::now();
                if let Some(tx) = p.lock().await.remove(&c) {
                    let _ = tx.send((serde_json::from_slice(&e.data).unwrap_or(Value::Null), llegada));
                }
            }
        });
        Ok(Remitente { canal, cola_respuestas, pendientes, topo: topo.clone() })
    }

    /// Publishes with confirm; the receiver yields the reply.
    pub(crate) async fn publicar(
        &self,
        op: &str,
        cuerpo: &Value,
        auth: Option<&str>,
        message_id: &str,
    ) -> anyhow::Result<oneshot::Receiver<(Value, Instant)>> {
        let (tx, rx) = oneshot::channel();
        let correlacion = Uuid::new_v4().to_string();
        self.pendientes.lock().await.insert(correlacion.clone(), tx);
        let props = propiedades(
            Some(message_id),
            Some((&self.cola_respuestas, &correlacion)),
            cabeceras(auth.map(str::as_bytes), None),
        );
        publicar(&self.canal, &self.topo, &format!("ticket.{op}"), cuerpo.to_string().as_bytes(), props).await?;
        Ok(rx)
    }
}

/// Hands out send slots at a fixed rate (open loop); unlimited when 0.
pub(crate) struct Ritmo {
    intervalo: Option<Duration>,
    proximo: Mutex<Instant>,
}

impl Ritmo {
    pub(crate) async fn turno(&self) {
        let Some(intervalo) = self.intervalo else { return };
        let cuando = {
            let mut p = self.proximo.lock().await;
            let ahora = Instant::now();
            if *p < ahora {
                *p = ahora;
            }
            let c = *p;
            *p += intervalo;
            c
        };
        tokio::time::sleep_until(cuando.into()).await;
    }
}

impl Ritmo {
    /// `tasa` slots per second in total; 0 = no pacing.
    pub(crate) fn new(tasa: u64) -> Ritmo {
        Ritmo {
            intervalo: (tasa > 0).then(|| Duration::from_secs_f64(1.0 / tasa as f64)),
            proximo: Mutex::new(Instant::now()),
        }
    }
}
