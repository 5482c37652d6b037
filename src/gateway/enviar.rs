//! The seam between the routes and the broker: the routes hand each
//! command to an [`Enviar`] and learn `/ready` from it. In the gateway it
//! is the one reply client, `amqp::ClienteAmqp` (one session shared by
//! every request); where the request → command translation is exercised
//! alone (the fuzz target `gateway_comando`), an in-memory answerer.

use crate::amqp::{ClienteAmqp, Comando, ErrorEnvio};
use futures_util::future::BoxFuture;
use tokio::time::Instant;

/// Where the routes hand their commands and learn readiness from.
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
