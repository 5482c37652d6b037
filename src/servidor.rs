//! The HTTP/1.1 server loop of both HTTP ports (the worker's and the
//! gateway's): hyper under the axum router, with the edge limits of
//! contract §8 — how large a head may be, how long its head may take, how
//! long a connection may sit idle, how many may be open — so that no client
//! holds what the others need. `axum::serve` has none of them.
//!
//! A connection is in one phase at a time ([`Etapa`]): idle (waiting for the
//! first byte of a request), reading a head (a byte came, the head is not
//! complete), or being served (hyper handed the request to the router). Each
//! of the first two has a deadline; being served is bounded by the handlers
//! themselves (the body deadline, the reply timeout). A connection past its
//! deadline is dropped: the socket closes, whatever the client still sends.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The limits one listener applies to every connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitesHttp {
    /// Largest request head hyper buffers before it answers a bare 431 and
    /// closes. The router answers the contract's 431 with a body below
    /// this (see the gateway's `limitar_cabeceras`), so this is the wall
    /// behind it, not the limit a client normally meets.
    pub max_cabeceras: NonZeroUsize,
    /// From the first byte of a head to its end.
    pub tiempo_cabeceras: Duration,
    /// A kept-alive connection with no request in it closes after this.
    pub tiempo_inactivo: Duration,
    /// Connections open at once; past it new ones wait in the listen
    /// backlog (the kernel's, then refused by it), the open ones are served.
    pub max_conexiones: NonZeroUsize,
}

impl Default for LimitesHttp {
    /// The contract's defaults (§8), with hyper's wall at twice the head limit.
    fn default() -> Self {
        LimitesHttp {
            max_cabeceras: const { NonZeroUsize::new(2 * 16 * 1024).unwrap() },
            tiempo_cabeceras: Duration::from_secs(10),
            tiempo_inactivo: Duration::from_secs(60),
            max_conexiones: const { NonZeroUsize::new(10_000).unwrap() },
        }
    }
}

/// hyper's smallest accepted read buffer; a smaller head wall would panic it.
pub const MIN_CABECERAS: usize = 8 * 1024;

/// Where a connection is, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Etapa {
    /// No request in it; nothing of the next one has come.
    Inactiva(Instant),
    /// Bytes of a head came; the head is not complete yet.
    Cabecera(Instant),
    /// The router has the request (its body, its reply).
    Atendiendo,
}

/// Serves `app` on `listener` with `limites` until `shutdown`; then open
/// connections finish the request they are in (idle ones close at once)
/// and it returns once they all have.
pub async fn servir(
    listener: TcpListener,
    app: Router,
    limites: LimitesHttp,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let plazas = Arc::new(Semaphore::new(limites.max_conexiones.get()));
    let conexiones = TaskTracker::new();
    loop {
        // A slot first, then accept: past the ceiling, a new connection
        // waits in the backlog rather than costing a task and a buffer.
        let plaza = tokio::select! {
            _ = shutdown.cancelled() => break,
            plaza = plazas.clone().acquire_owned() => match plaza {
                Ok(plaza) => plaza,
                // Never closed: only if that changed.
                Err(_) => break,
            },
        };
        let (tcp, par) = tokio::select! {
            _ = shutdown.cancelled() => break,
            aceptada = listener.accept() => match aceptada {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, most likely: wait instead of spinning.
                    tracing::warn!(error = %e, "no se pudo aceptar una conexión");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (app, shutdown) = (app.clone(), shutdown.clone());
        conexiones.spawn(async move {
            atender_conexion(tcp, par, app, limites, shutdown).await;
            drop(plaza);
        });
    }
    conexiones.close();
    conexiones.wait().await;
    Ok(())
}

/// One connection, until it ends, passes a deadline, or (after `shutdown`)
/// finishes its request.
async fn atender_conexion(
    tcp: TcpStream,
    par: SocketAddr,
    app: Router,
    limites: LimitesHttp,
    shutdown: CancellationToken,
) {
    let (etapa, mut vigia) = watch::channel(Etapa::Inactiva(Instant::now()));
    let etapa = Arc::new(etapa);
    let io = TokioIo::new(Observada { io: tcp, etapa: etapa.clone() });
    let servicio = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(par));
        let atendiendo = Atendiendo::empezar(etapa.clone());
        let app = app.clone();
        async move {
            let respuesta = app.oneshot(req).await;
            drop(atendiendo);
            respuesta
        }
    });
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1.max_header_size(limites.max_cabeceras.get()).keep_alive(true);
    let conexion = http1.serve_connection(io, servicio);
    tokio::pin!(conexion);
    let mut cerrando = false;
    loop {
        tokio::select! {
            fin = conexion.as_mut() => {
                if let Err(e) = fin {
                    // A client's own doing (a reset, a malformed head): not ours to warn of.
                    tracing::debug!(error = %e, "conexión HTTP terminada con error");
                }
                return;
            }
            _ = shutdown.cancelled(), if !cerrando => {
                conexion.as_mut().graceful_shutdown();
                cerrando = true;
            }
            motivo = vencida(&mut vigia, &limites) => {
                tracing::debug!(motivo, "conexión HTTP cerrada");
                return;
            }
        }
    }
}

/// Resolves when the connection's current phase is past its deadline.
async fn vencida(vigia: &mut watch::Receiver<Etapa>, limites: &LimitesHttp) -> &'static str {
    loop {
        let etapa = *vigia.borrow_and_update();
        let (plazo, motivo) = match etapa {
            Etapa::Inactiva(desde) => (desde + limites.tiempo_inactivo, "inactiva"),
            Etapa::Cabecera(desde) => (desde + limites.tiempo_cabeceras, "la cabecera no llegó a tiempo"),
            Etapa::Atendiendo => {
                if vigia.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                continue;
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(plazo) => return motivo,
            cambio = vigia.changed() => if cambio.is_err() {
                std::future::pending::<()>().await;
            },
        }
    }
}

/// Marks a connection as serving a request; back to idle when dropped
/// (the reply is out, or the client went away mid-request).
struct Atendiendo(Arc<watch::Sender<Etapa>>);

impl Atendiendo {
    fn empezar(etapa: Arc<watch::Sender<Etapa>>) -> Self {
        etapa.send_replace(Etapa::Atendiendo);
        Atendiendo(etapa)
    }
}

impl Drop for Atendiendo {
    fn drop(&mut self) {
        self.0.send_replace(Etapa::Inactiva(Instant::now()));
    }
}

/// The socket, telling the connection's phase when the first byte of a head
/// arrives on an idle connection.
struct Observada {
    io: TcpStream,
    etapa: Arc<watch::Sender<Etapa>>,
}

impl AsyncRead for Observada {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let antes = buf.filled().len();
        let leido = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(leido, Poll::Ready(Ok(()))) && buf.filled().len() > antes {
            self.etapa.send_if_modified(|f| match f {
                Etapa::Inactiva(_) => {
                    *f = Etapa::Cabecera(Instant::now());
                    true
                }
                _ => false,
            });
        }
        leido
    }
}

impl AsyncWrite for Observada {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
