//! The fault suites' ledger: a publisher that gets every command confirmed
//! whatever the broker goes through, and a durable copy of every event
//! published, read back at the end (`tests/fallas.rs`, `tests/cluster.rs`).

use crate::publicar::publicar;
use lapin::options::{BasicGetOptions, ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection};
use mesa_ayuda::amqp::{self, Topologia};
use serde_json::Value;
use std::time::Duration;

/// A confirm that does not come within this is given up and the command
/// published again on a fresh connection: a node that lost its majority
/// keeps the connection and never confirms. The copy has the same
/// `message_id`, so the worker applies it once.
const PLAZO_CONFIRMACION: Duration = Duration::from_secs(10);

/// A publisher that survives broker restarts and node losses: every publish
/// is retried, on a fresh connection (to the first node of `url` that
/// answers) if needed, until the broker confirms it.
pub struct Publicador {
    url: String,
    topo: Topologia,
    conexion: Option<(Connection, Channel)>,
}

impl Publicador {
    /// A publisher to `url` (one URL or a comma-separated list), not yet connected.
    pub fn new(url: &str, topo: &Topologia) -> Publicador {
        Publicador { url: url.to_string(), topo: topo.clone(), conexion: None }
    }

    async fn canal(&mut self) -> Channel {
        loop {
            if let Some((c, ch)) = &self.conexion
                && c.status().connected()
                && ch.status().connected()
            {
                return ch.clone();
            }
            match amqp::conectar(&self.url, "mesa fallas").await {
                Ok(c) => match c.create_channel().await {
                    Ok(ch) if ch.confirm_select(ConfirmSelectOptions::default()).await.is_ok() => {
                        self.conexion = Some((c, ch));
                    }
                    _ => tokio::time::sleep(Duration::from_millis(300)).await,
                },
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
    }

    /// Publishes one command on `P.comandos` and returns once the broker confirmed it.
    pub async fn publicar(&mut self, rk: &str, cuerpo: &[u8], props: BasicProperties) {
        for _ in 0..200 {
            let ch = self.canal().await;
            let envio = publicar(&ch, &self.topo, rk, cuerpo, props.clone());
            match tokio::time::timeout(PLAZO_CONFIRMACION, envio).await {
                Ok(Ok(c)) if c.is_ack() => return,
                _ => {
                    if let Some((c, _)) = self.conexion.take() {
                        // Not awaited: a node without quorum may not answer the close either.
                        tokio::spawn(async move { c.close(200, "".into()).await });
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        panic!("could not publish for a long while");
    }
}

/// The ledger's own view of events: a durable quorum queue bound to
/// `P.eventos` with `#`, which outlives broker restarts and node losses.
pub struct Libro {
    url: String,
    cola: String,
}

impl Libro {
    /// Declares the topology and the ledger's queue, `<P>.libro`.
    pub async fn declarar(url: &str, topo: &Topologia) -> Libro {
        let cola = format!("{}.libro", topo.prefijo);
        let c = amqp::conectar(url, "mesa fallas libro").await.expect("connect");
        let ch = c.create_channel().await.unwrap();
        amqp::declarar(&ch, topo).await.unwrap();
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        ch.queue_declare(cola.clone().into(), QueueDeclareOptions { durable: true, ..Default::default() }, args)
            .await
            .unwrap();
        ch.queue_bind(
            cola.clone().into(),
            topo.eventos().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        let _ = c.close(200, "".into()).await;
        Libro { url: url.to_string(), cola }
    }

    /// Takes every event in the ledger's queue (a second of silence ends
    /// it), then deletes the queue.
    pub async fn vaciar(self) -> Vec<Value> {
        let c = amqp::conectar(&self.url, "mesa fallas libro").await.expect("connect");
        let ch = c.create_channel().await.unwrap();
        let mut eventos = vec![];
        let mut vacio = 0;
        while vacio < 10 {
            match ch.basic_get(self.cola.clone().into(), BasicGetOptions { no_ack: true }).await.unwrap() {
                Some(m) => {
                    vacio = 0;
                    eventos.push(serde_json::from_slice(&m.delivery.data).expect("an event is JSON"));
                }
                None => {
                    vacio += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let _ = ch.queue_delete(self.cola.clone().into(), Default::default()).await;
        let _ = c.close(200, "".into()).await;
        eventos
    }
}
