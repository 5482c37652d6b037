//! The one client that publishes a command and waits for its reply: the
//! command goes to `P.comandos` with `contrato`'s properties and headers,
//! `reply_to` RabbitMQ's direct reply-to (`amq.rabbitmq.reply-to`, consumed
//! on the publishing channel, as RabbitMQ requires) and a fresh correlation
//! id; each reply is handed to the caller waiting for it through a
//! correlation-id → oneshot map. Publishes are confirmed, and a command
//! whose content header would not fit one frame of the session is never
//! published (the broker would close the connection with `FRAME_ERROR`).
//!
//! Two users, one code path:
//!
//! - The gateway keeps ONE connection and one channel for every request
//!   ([`ClienteAmqp::new`], [`ClienteAmqp::ejecutar`]). The session
//!   reconnects like the worker's (`amqp::con_reconexion`, every node of
//!   `amqp.url` in turn), declares the topology and publishes `mandatory`.
//!   A node cut off from its cluster's majority keeps the session up and
//!   simply never confirms. The gateway learns of it two ways, neither
//!   waiting for the other: the quorum probe (`amqp::sonda`, as the
//!   worker's) on a queue of its own (`P.gateway.sonda`, see
//!   `amqp::declarar_sonda` for why not `P.comandos`), every 2 s; and a
//!   publish still unconfirmed at its request's deadline, awaited on in the
//!   background — the gateway is not ready until every such confirm has
//!   come (or its channel has closed).
//! - `mesa-ayuda send` opens a session for a single command
//!   ([`ClienteAmqp::enviar_uno`]) and closes it once the reply came, or
//!   did not.

use crate::amqp::sonda::Sondeada;
use crate::amqp::{self, ErrorAmqp, Topologia, en_paso};
use crate::contrato::{self, HEADER_AUTHORIZATION, HEADER_TRACEPARENT, RESPUESTA_DIRECTA};
use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Confirmation, Connection, Consumer};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One command to publish on `P.comandos`.
#[derive(Debug, Clone)]
pub struct Comando {
    /// `ticket.<operacion>`.
    pub routing_key: String,
    /// The command's `message_id`: the gateway's is a checked
    /// `Idempotency-Key` (`contrato::MessageId`); `send` passes on what it
    /// was given, for the worker to judge as it judges any client's.
    pub message_id: String,
    /// The JSON body (the gateway's already checked to be an object).
    pub cuerpo: Vec<u8>,
    /// `Bearer <JWT>`, passed on unread.
    pub authorization: Option<Vec<u8>>,
    /// A valid W3C `traceparent` (the gateway's: the request's or a new
    /// one); `send` carries none.
    pub traceparent: Option<String>,
}

/// Why a command got no reply.
#[derive(Debug, thiserror::Error)]
pub enum ErrorEnvio {
    /// No session with the broker, or it was lost before the reply came;
    /// or the broker did not take the command (nacked, or returned
    /// unroutable).
    #[error("RabbitMQ no está disponible")]
    NoDisponible,
    /// The broker refused a step of the session or broke it. Its own
    /// words, unchanged: they name what is missing (`no exchange
    /// 'P.comandos'` for a prefix no worker declared).
    #[error(transparent)]
    Broker(#[from] lapin::Error),
    /// The broker ended the reply consumer of a one-command session.
    #[error("el broker cerró el canal de respuestas")]
    RespuestasCerradas,
    /// The broker took the command but no reply came before the deadline.
    #[error("no llegó respuesta a tiempo")]
    TiempoAgotado,
    /// The command's properties and headers would not fit in one frame of
    /// the session: the broker would close the session every client
    /// shares, so it is never published.
    #[error("el comando no cabe en una trama del broker")]
    DemasiadoGrande,
}

/// Who a client serves: what its session does beyond publishing and
/// awaiting replies.
#[derive(Debug, Clone, Copy)]
enum Uso {
    /// The gateway's long-lived session. It declares the topology
    /// (idempotent, as the relay does: a command sent before any worker
    /// started waits in the queue instead of being dropped unroutable) and
    /// publishes `mandatory` (a command no queue took is a 503 at once, not
    /// a 504 later).
    Gateway,
    /// `mesa-ayuda send`'s one command. Nothing is declared: a prefix no
    /// worker declared fails at once in the broker's words instead of
    /// leaving a stray topology behind. Not `mandatory`: a command no queue
    /// took waits out the timeout, whose message asks whether a worker runs
    /// with the same prefix, rather than being told the broker is away
    /// when it is there.
    Envio,
}

impl Uso {
    /// The connection's name, as the broker's management UI shows it.
    fn nombre(self) -> &'static str {
        match self {
            Uso::Gateway => "mesa-ayuda gateway",
            Uso::Envio => "mesa-ayuda send",
        }
    }
}

/// Replies awaited, by correlation id.
type Pendientes = Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>;

/// The client; cheap to clone (the gateway's routes share one).
#[derive(Clone)]
pub struct ClienteAmqp {
    compartido: Arc<Compartido>,
}

/// What every clone of a client shares.
struct Compartido {
    /// One node, or several comma-separated, tried in turn on every connect.
    urls: String,
    /// Where commands go (`P.comandos`) and, for the gateway, what it
    /// declares and probes.
    topologia: Topologia,
    /// Whom the client serves: decides what a session declares and how it
    /// publishes.
    uso: Uso,
    /// The session's channel and overdue confirms while one is up.
    sesion: RwLock<Option<Sesion>>,
    /// Who waits for which reply. An entry lives as long as its caller
    /// waits ([`Pendiente`] removes it), and a session that ends clears
    /// them all: its replies can no longer arrive.
    pendientes: Pendientes,
    /// Whether a session is up and its quorum probe answers (set by the
    /// session and its probe, read by `/ready`).
    conectado: Arc<AtomicBool>,
}

/// What commands are published through: a session's channel, and its count
/// of publishes past their deadline whose confirm is still awaited. Each
/// session counts apart, so a wait that outlives its session (its channel
/// gone) never holds up the next one's readiness.
#[derive(Clone)]
struct Sesion {
    /// The channel in confirm mode that publishes and consumes the replies.
    canal: Channel,
    /// While it is not zero, the broker is not storing commands.
    sin_confirmar: Arc<AtomicUsize>,
    /// The largest frame the session negotiated: a command's content
    /// header must fit in one (AMQP 0-9-1 §4.2.6), or the broker closes
    /// the connection with `FRAME_ERROR`.
    trama_max: usize,
}

impl ClienteAmqp {
    /// The gateway's client for `urls` (one or several comma-separated
    /// nodes); nothing connects until [`ClienteAmqp::ejecutar`] runs.
    pub fn new(urls: &str, topologia: Topologia) -> Self {
        Self::para(urls, topologia, Uso::Gateway)
    }

    fn para(urls: &str, topologia: Topologia, uso: Uso) -> Self {
        ClienteAmqp {
            compartido: Arc::new(Compartido {
                urls: urls.to_string(),
                topologia,
                uso,
                sesion: RwLock::new(None),
                pendientes: Mutex::new(HashMap::new()),
                conectado: Arc::new(AtomicBool::new(false)),
            }),
        }
    }

    /// `mesa-ayuda send`: connects to `urls` once (no retry: a broker away
    /// is the answer), publishes `comando` and waits `espera` for its
    /// reply, then closes the connection, whichever way it ended.
    pub async fn enviar_uno(
        urls: &str,
        topologia: Topologia,
        comando: Comando,
        espera: Duration,
    ) -> Result<Vec<u8>, ErrorEnvio> {
        let cliente = Self::para(urls, topologia, Uso::Envio);
        let conexion = amqp::conectar(urls, Uso::Envio.nombre()).await?;
        let respuesta = cliente.uno(&conexion, comando, espera).await;
        let _ = conexion.close(200, "listo".into()).await;
        respuesta
    }

    /// The session of [`ClienteAmqp::enviar_uno`] on `conexion`: the reply
    /// is handed over by the same [`ClienteAmqp::repartir`] as the
    /// gateway's, which runs beside the wait and ends it if the broker ends
    /// the consumer first.
    async fn uno(&self, conexion: &Connection, comando: Comando, espera: Duration) -> Result<Vec<u8>, ErrorEnvio> {
        let mut respuestas = self.abrir(conexion, |_, fuente| ErrorEnvio::Broker(fuente)).await?;
        // Counted from an open session, as `send` always counted it:
        // connecting is bounded by the connection's own timeouts.
        let limite = Instant::now() + espera;
        tokio::select! {
            fin = self.repartir(&mut respuestas) => Err(fin.map_or(ErrorEnvio::RespuestasCerradas, ErrorEnvio::Broker)),
            respuesta = self.enviar(comando, limite) => respuesta,
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

    /// One session of the gateway's, from connecting until `shutdown` or
    /// the broker ends it.
    async fn sesion(&self, shutdown: &CancellationToken) -> Result<(), ErrorAmqp> {
        let c = &self.compartido;
        let conexion = Arc::new(amqp::conectar(&c.urls, c.uso.nombre()).await.map_err(en_paso("conectar"))?);
        let mut respuestas = self.abrir(&conexion, |paso, fuente| ErrorAmqp::Broker { paso, fuente }).await?;
        c.conectado.store(true, Ordering::SeqCst);
        tracing::info!("gateway conectado a RabbitMQ");
        // Aborted when the session ends, with this handle.
        let sonda = amqp::sonda::vigilar(conexion.clone(), Sondeada::Sonda(c.topologia.clone()), c.conectado.clone());
        let fin = tokio::select! {
            _ = shutdown.cancelled() => Ok(()),
            fin = self.repartir(&mut respuestas) => Err(match fin {
                Some(e) => en_paso("recibir respuestas")(e),
                None => ErrorAmqp::ConsumidorCancelado,
            }),
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

    /// Opens the session's channel on `conexion` and makes it the one
    /// commands are published through: the topology declared (the
    /// gateway's), confirms on, the reply consumer registered. `fallo`
    /// turns a step's name and the broker's error into the caller's error.
    async fn abrir<E>(
        &self,
        conexion: &Connection,
        fallo: impl Fn(&'static str, lapin::Error) -> E,
    ) -> Result<Consumer, E> {
        let c = &self.compartido;
        let canal = conexion.create_channel().await.map_err(|e| fallo("abrir el canal", e))?;
        if let Uso::Gateway = c.uso {
            amqp::declarar(&canal, &c.topologia).await.map_err(|e| fallo("declarar la topología", e))?;
        }
        canal.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| fallo("activar confirmaciones", e))?;
        let respuestas = canal
            .basic_consume(
                RESPUESTA_DIRECTA.into(),
                "".into(),
                BasicConsumeOptions { no_ack: true, ..Default::default() },
                FieldTable::default(),
            )
            .await
            .map_err(|e| fallo("consumir las respuestas", e))?;
        let trama_max = conexion.configuration().frame_max() as usize;
        let sesion = Sesion { canal, sin_confirmar: Arc::default(), trama_max };
        *c.sesion.write().unwrap_or_else(PoisonError::into_inner) = Some(sesion);
        Ok(respuestas)
    }

    /// Hands each reply on `respuestas` to whoever waits for it, until the
    /// consumer ends: `Some` with the broker's error, `None` when it
    /// cancelled the consumer.
    async fn repartir(&self, respuestas: &mut Consumer) -> Option<lapin::Error> {
        let c = &self.compartido;
        loop {
            match respuestas.next().await {
                Some(Ok(entrega)) => {
                    let correlacion = entrega.properties.correlation_id().as_ref().map(|c| c.as_str());
                    let esperando = correlacion
                        .and_then(|id| c.pendientes.lock().unwrap_or_else(PoisonError::into_inner).remove(id));
                    // A reply nobody waits for any more (timed out, client
                    // gone) is dropped: its caller was told so (a 504).
                    if let Some(tx) = esperando {
                        let _ = tx.send(entrega.data);
                    }
                }
                Some(Err(e)) => return Some(e),
                None => return None,
            }
        }
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
        let headers = contrato::cabeceras(comando.authorization.as_deref(), comando.traceparent.as_deref());
        let respuesta = Some((RESPUESTA_DIRECTA, correlacion.as_str()));
        let props = contrato::propiedades(Some(&comando.message_id), respuesta, headers);
        let cola = c.topologia.comandos();
        let mandatory = matches!(c.uso, Uso::Gateway);
        let mut publicado = Box::pin(async move {
            canal
                .basic_publish(
                    cola.into(),
                    comando.routing_key.into(),
                    BasicPublishOptions { mandatory, ..Default::default() },
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
            // The channel broke under us (the gateway's session will
            // reconnect), in the broker's words.
            Ok(Err(e)) => return Err(ErrorEnvio::Broker(e)),
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
        let mut tabla = 4;
        if let Some(traza) = &self.traceparent {
            tabla += entrada(HEADER_TRACEPARENT, traza.len());
        }
        if let Some(auth) = &self.authorization {
            tabla += entrada(HEADER_AUTHORIZATION, auth.len());
        }
        8 + 14
            + 64
            + corta(contrato::TIPO_DE_CONTENIDO.len())
            + corta(RESPUESTA_DIRECTA.len())
            + corta(36)
            + corta(self.message_id.len())
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
