//! A database outage for one worker only.

use crate::entorno::base_url;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// A TCP relay to Postgres that a test can cut (open connections dropped, new
/// ones closed at once) and restore: a database outage for one worker only.
pub struct Corte {
    direccion: std::net::SocketAddr,
    /// Whether it relays, and the relaying tasks, under one lock so a
    /// connection accepted while cutting cannot slip through.
    estado: Arc<std::sync::Mutex<(bool, Vec<tokio::task::AbortHandle>)>>,
    aceptar: JoinHandle<()>,
}

impl Corte {
    /// A relay to the tests' Postgres server, relaying.
    pub async fn hacia_postgres() -> Corte {
        let destino = anfitrion(&base_url()).to_string();
        let escucha = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let direccion = escucha.local_addr().unwrap();
        let estado = Arc::new(std::sync::Mutex::new((true, Vec::new())));
        let e = estado.clone();
        let aceptar = tokio::spawn(async move {
            while let Ok((mut cliente, _)) = escucha.accept().await {
                let mut e = e.lock().unwrap();
                if !e.0 {
                    continue; // dropped: closed at once
                }
                let destino = destino.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut servidor) = tokio::net::TcpStream::connect(&destino).await {
                        let _ = tokio::io::copy_bidirectional(&mut cliente, &mut servidor).await;
                    }
                });
                e.1.push(h.abort_handle());
            }
        });
        Corte { direccion, estado, aceptar }
    }

    /// `url` (a Postgres URL) going through the relay.
    pub fn url(&self, url: &str) -> String {
        url.replacen(anfitrion(url), &self.direccion.to_string(), 1)
    }

    /// Drops every relayed connection and refuses new ones.
    pub fn cortar(&self) {
        let mut e = self.estado.lock().unwrap();
        e.0 = false;
        for h in e.1.drain(..) {
            h.abort();
        }
    }

    /// Relays new connections again.
    pub fn restablecer(&self) {
        self.estado.lock().unwrap().0 = true;
    }
}

impl Drop for Corte {
    fn drop(&mut self) {
        self.aceptar.abort();
        self.cortar();
    }
}

/// The `host:port` of a URL like `postgres://user@host:port/db`.
fn anfitrion(url: &str) -> &str {
    let desde = url.find('@').map_or_else(|| url.find("://").unwrap() + 3, |i| i + 1);
    let hasta = url[desde..].find('/').map_or(url.len(), |i| desde + i);
    &url[desde..hasta]
}
