//! The gateway's RabbitMQ client: ONE connection and one channel, reused by
//! every request. Commands are published with publisher confirms and
//! `mandatory`; replies come back on direct reply-to
//! (`amq.rabbitmq.reply-to`, consumed on that same channel, as RabbitMQ
//! requires) and are handed to the waiting request through a
//! correlation-id → oneshot map. The session reconnects like the worker's
//! (`amqp::con_reconexion`, every node of `amqp.url` in turn).
//!
//! A node cut off from its cluster's majority keeps the session up and
//! simply never confirms. The gateway learns of it two ways, neither
//! waiting for the other: the quorum probe (`amqp::sonda`, as the worker's)
//! on a queue of its own (`P.gateway.sonda`, see `amqp::declarar_sonda` for
//! why not `P.comandos`), every 2 s; and a publish still unconfirmed at its
//! request's deadline, awaited on in the background — the gateway is not
//! ready until every such confirm has come (or its channel has closed).

use crate::amqp::sonda::Sondeada;
use crate::amqp::{self, ErrorAmqp, Topologia, en_paso};
use crate::contrato::{self, HEADER_AUTHORIZATION, HEADER_TRACEPARENT, MessageId, RESPUESTA_DIRECTA};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Confirmation};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One command to publish on `P.comandos`.
#[derive(Debug, Clone)]
pub struct Comando {
    /// `ticket.<operacion>`.
    pub routing_key: String,
    /// The command's `message_id` (the `Idempotency-Key`).
    pub message_id: MessageId,
    /// The JSON body, already checked to be an object.
    pub cuerpo: Vec<u8>,
    /// The request's `Authorization` header, passed on unread.
    pub authorization: Option<Vec<u8>>,
    /// A valid W3C `traceparent` (the request's or a new one).
    pub traceparent: String,
}

/// Why a command got no reply.
#[derive(Debug, thiserror::Error)]
pub enum ErrorEnvio {
    /// No session with the broker, or it was lost before the reply came.
    #[error("RabbitMQ no está disponible")]
    NoDisponible,
    /// The broker took the command but no reply came before the deadline.
    #[error("no llegó respuesta a tiempo")]
    TiempoAgotado,
    /// The command's properties and headers would not fit in one frame of
    /// the session: the broker would close the session every client
    /// shares, so it is never published.
    #[error("el comando no cabe en una trama del broker")]
    DemasiadoGrande,
}

/// Where the routes hand their commands and learn readiness from: the
/// broker client in the gateway; an in-memory answerer where the request →
/// command translation is exercised alone (the fuzz target `gateway`).
pub trait Enviar: Send + Sync + 'static {
    /// Publishes `comando` and waits for its reply until `limite`.
    fn enviar(&self, comando: Comando, limite: Instant) -> BoxFuture<'_, Result<Vec<u8>, ErrorEnvio>>;
    /// Whether a session with the broker is up (`/ready`).
    fn conectado(&self) -> bool;
    /// Whether the broker confirms what is published (`/ready`).
    fn confirma(&self) -> bool;
}

impl Enviar for ClienteAmqp {
    fn enviar(&self, comando: Comando, limite: Instant) -> BoxFuture<'_, Result<Vec<u8>, ErrorEnvio>> {
        Box::pin(ClienteAmqp::enviar(self, comando, limite))
    }

    fn conectado(&self) -> bool {
        ClienteAmqp::conectado(self)
    }

    fn confirma(&self) -> bool {
        ClienteAmqp::confirma(self)
    }
}

/// Replies awaited, by correlation id.
type Pendientes = Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>;

/// The shared client; cheap to clone.
#[derive(Clone)]
pub struct ClienteAmqp {
    compartido: Arc<Compartido>,
}

struct Compartido {
    urls: String,
    topologia: Topologia,
    /// The session's channel and overdue confirms while one is up.
    sesion: RwLock<Option<Sesion>>,
    pendientes: Pendientes,
    /// Whether a session is up and its quorum probe answers (set by the
    /// session and its probe, read by `/ready`).
    conectado: Arc<AtomicBool>,
}

/// What requests publish through: a session's channel, and its count of
/// publishes past their request's deadline whose confirm is still awaited.
/// Each session counts apart, so a wait that outlives its session (its
/// channel gone) never holds up the next one's readiness.
#[derive(Clone)]
struct Sesion {
    canal: Channel,
    /// While it is not zero, the broker is not storing commands.
    sin_confirmar: Arc<AtomicUsize>,
    /// The largest frame the session negotiated: a command's content
    /// header must fit in one (AMQP 0-9-1 §4.2.6), or the broker closes
    /// the connection with `FRAME_ERROR`.
    trama_max: usize,
}

impl ClienteAmqp {
    /// A client for `urls` (one or several comma-separated nodes); nothing
    /// connects until [`ClienteAmqp::ejecutar`] runs.
    pub fn new(urls: &str, topologia: Topologia) -> Self {
        ClienteAmqp {
            compartido: Arc::new(Compartido {
                urls: urls.to_string(),
                topologia,
                sesion: RwLock::new(None),
                pendientes: Mutex::new(HashMap::new()),
                conectado: Arc::new(AtomicBool::new(false)),
            }),
        }
    }

    /// Whether a session with the broker is up (`/ready`).
    pub fn conectado(&self) -> bool {
        self.compartido.conectado.load(Ordering::SeqCst)
    }

    /// Whether the broker confirms what is published: no publish of the
    /// current session is past its deadline unconfirmed (`/ready`).
    pub fn confirma(&self) -> bool {
        let sesion = self.compartido.sesion.read().unwrap_or_else(PoisonError::into_inner);
        sesion.as_ref().is_none_or(|s| s.sin_confirmar.load(Ordering::SeqCst) == 0)
    }

    /// Keeps a session up until `shutdown`, reconnecting with backoff.
    pub async fn ejecutar(&self, shutdown: CancellationToken, reconexiones: impl Fn()) {
        let c = &self.compartido;
        amqp::con_reconexion("gateway", &shutdown, c.conectado.clone(), reconexiones, || self.sesion(&shutdown)).await;
    }

    async fn sesion(&self, shutdown: &CancellationToken) -> Result<(), ErrorAmqp> {
        let c = &self.compartido;
        let conexion = Arc::new(amqp::conectar(&c.urls, "mesa-ayuda gateway").await.map_err(en_paso("conectar"))?);
        let canal = conexion.create_channel().await.map_err(en_paso("abrir el canal"))?;
        // Idempotent, as the relay does: a command sent before any worker
        // started waits in the queue instead of being dropped unroutable.
        amqp::declarar(&canal, &c.topologia).await.map_err(en_paso("declarar la topología"))?;
        canal.confirm_select(ConfirmSelectOptions::default()).await.map_err(en_paso("activar confirmaciones"))?;
        let mut respuestas = canal
            .basic_consume(
                RESPUESTA_DIRECTA.into(),
                "".into(),
                BasicConsumeOptions { no_ack: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .map_err(en_paso("consumir las respuestas"))?;
        let trama_max = conexion.configuration().frame_max() as usize;
        let sesion = Sesion { canal: canal.clone(), sin_confirmar: Arc::default(), trama_max };
        *c.sesion.write().unwrap_or_else(PoisonError::into_inner) = Some(sesion);
        c.conectado.store(true, Ordering::SeqCst);
        tracing::info!("gateway conectado a RabbitMQ");
        // Aborted when the session ends, with this handle.
        let sonda = amqp::sonda::vigilar(conexion.clone(), Sondeada::Sonda(c.topologia.clone()), c.conectado.clone());
        let fin = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                entrega = respuestas.next() => match entrega {
                    Some(Ok(entrega)) => {
                        let correlacion = entrega.properties.correlation_id().as_ref().map(|c| c.as_str());
                        let esperando = correlacion.and_then(|id| {
                            c.pendientes.lock().unwrap_or_else(PoisonError::into_inner).remove(id)
                        });
                        // A reply nobody waits for any more (timed out,
                        // client gone) is dropped: it was answered 504.
                        if let Some(tx) = esperando {
                            let _ = tx.send(entrega.data);
                        }
                    }
                    Some(Err(e)) => break Err(en_paso("recibir respuestas")(e)),
                    None => break Err(ErrorAmqp::ConsumidorCancelado),
                },
            }
        };
        // First, so the probe cannot mark the ended session ready again.
        drop(sonda);
        c.conectado.store(false, Ordering::SeqCst);
        *c.sesion.write().unwrap_or_else(PoisonError::into_inner) = None;
        // Replies to this channel's commands can no longer arrive: dropping
        // the senders answers their requests 503 at once.
        c.pendientes.lock().unwrap_or_else(PoisonError::into_inner).clear();
        if fin.is_ok() {
            let _ = conexion.close(200, "gateway detenido".into()).await;
        }
        fin
    }

    /// Publishes `comando` and waits for its reply until `limite`.
    pub async fn enviar(&self, comando: Comando, limite: Instant) -> Result<Vec<u8>, ErrorEnvio> {
        let c = &self.compartido;
        let Sesion { canal, sin_confirmar, trama_max } =
            c.sesion.read().unwrap_or_else(PoisonError::into_inner).clone().ok_or(ErrorEnvio::NoDisponible)?;
        let correlacion = uuid::Uuid::new_v4().to_string();
        // The second wall behind the HTTP head limits: whatever they let
        // through, nothing that would break the shared session is sent.
        if comando.bytes_de_cabecera_amqp() > trama_max {
            return Err(ErrorEnvio::DemasiadoGrande);
        }
        let (tx, rx) = oneshot::channel();
        c.pendientes.lock().unwrap_or_else(PoisonError::into_inner).insert(correlacion.clone(), tx);
        // Removes the entry however this ends: reply, timeout, or the HTTP
        // client going away (the future is dropped).
        let _pendiente = Pendiente { pendientes: &c.pendientes, correlacion: &correlacion };
        let headers = contrato::cabeceras(comando.authorization.as_deref(), Some(&comando.traceparent));
        let respuesta = Some((RESPUESTA_DIRECTA, correlacion.as_str()));
        let props = contrato::propiedades(Some(comando.message_id.as_str()), respuesta, headers);
        let cola = c.topologia.comandos();
        let mut publicado = Box::pin(async move {
            canal
                .basic_publish(
                    cola.into(),
                    comando.routing_key.into(),
                    BasicPublishOptions { mandatory: true, ..Default::default() },
                    &comando.cuerpo,
                    props,
                )
                .await?
                .await
        });
        match tokio::time::timeout_at(limite, &mut publicado).await {
            Err(_) => {
                // Still owed: awaited apart, so `/ready` says 503 until it
                // comes; the channel closing ends the wait too.
                sin_confirmar.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let _ = publicado.await;
                    sin_confirmar.fetch_sub(1, Ordering::SeqCst);
                });
                return Err(ErrorEnvio::TiempoAgotado);
            }
            // The channel broke under us: the session will reconnect.
            Ok(Err(_)) => return Err(ErrorEnvio::NoDisponible),
            // Nacked, or returned unroutable (the command queue is gone):
            // the worker never got it.
            Ok(Ok(Confirmation::Nack(_) | Confirmation::Ack(Some(_)) | Confirmation::NotRequested)) => {
                return Err(ErrorEnvio::NoDisponible);
            }
            Ok(Ok(Confirmation::Ack(None))) => {}
        }
        match tokio::time::timeout_at(limite, rx).await {
            Ok(Ok(cuerpo)) => Ok(cuerpo),
            Ok(Err(_)) => Err(ErrorEnvio::NoDisponible),
            Err(_) => Err(ErrorEnvio::TiempoAgotado),
        }
    }
}

impl Comando {
    /// An upper bound of the bytes of this command's content-header frame
    /// as [`ClienteAmqp::enviar`] publishes it (AMQP 0-9-1 §2.3.5,
    /// §4.2.6.1): the frame's own 8, class, weight, body size and flags 14,
    /// then each property — a short string is its length and one byte (the
    /// correlation id a 36-character UUID), a table four bytes and, per
    /// entry, the key as a short string, a type byte and a long string
    /// (four bytes and its length). 64 bytes to spare for the fixed-size
    /// properties.
    pub fn bytes_de_cabecera_amqp(&self) -> usize {
        let corta = |n: usize| 1 + n;
        let entrada = |k: &str, v: usize| corta(k.len()) + 1 + 4 + v;
        let mut tabla = 4 + entrada(HEADER_TRACEPARENT, self.traceparent.len());
        if let Some(auth) = &self.authorization {
            tabla += entrada(HEADER_AUTHORIZATION, auth.len());
        }
        8 + 14
            + 64
            + corta(contrato::TIPO_DE_CONTENIDO.len())
            + corta(RESPUESTA_DIRECTA.len())
            + corta(36)
            + corta(self.message_id.as_str().len())
            + tabla
    }
}

/// A registered correlation id, removed from the map on drop.
struct Pendiente<'a> {
    pendientes: &'a Pendientes,
    correlacion: &'a str,
}

impl Drop for Pendiente<'_> {
    fn drop(&mut self) {
        self.pendientes.lock().unwrap_or_else(PoisonError::into_inner).remove(self.correlacion);
    }
}
