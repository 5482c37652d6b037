//! Command processing, independent of the broker: decoded messages in,
//! replies and dispositions out. A batch of commands (one, or a lane's group
//! commit) is applied in one transaction: each mutation's change, history
//! entry, outbox event and idempotency record commit together.
//!
//! The pipeline, one module a step: [`preparar`] decides everything a
//! message alone decides (decoding, `message_id`, token, role, fields) and
//! sorts it into a step of a run of mutations or a query; [`mutaciones`]
//! applies a run set-wise — `reservar` (the database: claims, earlier
//! replies, locks, numbers), then the pure `decidir`; [`consultas`] answers
//! queries.

mod consultas;
mod mutaciones;
mod preparar;

use crate::auth::Verificador;
use crate::domain::comando::Titular;
use crate::domain::estado::Operacion;
use crate::domain::sla::ReglasSla;
use crate::error::{Codigo, Disposicion, EnSentencia, ErrorContrato, ErrorProceso};
use crate::reloj::Reloj;
use crate::{store, vistas};
use chrono::{DateTime, Utc};
use preparar::Preparado;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

pub use preparar::decodificar;

/// A command as it arrived, stripped of broker types.
#[derive(Debug, Clone, Default)]
pub struct Mensaje {
    /// Routing key: `ticket.<operacion>`.
    pub routing_key: String,
    /// AMQP `message_id`: the idempotency key; required for mutations.
    pub message_id: Option<String>,
    /// `authorization` header: `Bearer <JWT>`.
    pub authorization: Option<String>,
    /// `x-mesa-autoridad` header: the authority the worker sealed when it
    /// parked this command (`auth::autoridad`), read only without a token.
    pub autoridad: Option<String>,
    /// W3C `traceparent` header, carried to the events.
    pub traceparent: Option<String>,
    /// The JSON body, unread.
    pub body: Vec<u8>,
}

impl Mensaje {
    /// What a seal of this command's authority is bound to.
    pub fn vinculo(&self) -> crate::auth::Vinculo<'_> {
        crate::auth::Vinculo {
            message_id: self.message_id.as_deref().unwrap_or(""),
            routing_key: &self.routing_key,
            cuerpo: &self.body,
        }
    }

    /// The ticket a command is about, when it names one: the key that keeps
    /// commands on one ticket in order. It is the very id validation reads
    /// (the last `ticketId` of a JSON object, in its one accepted spelling),
    /// so one ticket has exactly one key.
    pub fn clave_de_orden(&self) -> Option<Uuid> {
        crate::domain::comando::clave_de_orden(&self.body)
    }

    /// The label a `seguimiento` names, read as validation reads it (trimmed,
    /// upper case): a requester's follow-ups on one ticket keep one lane, so
    /// they apply in publish order (§4). A follow-up and a staff command on
    /// the same ticket come from different publishers: no order holds
    /// between them, and the row lock keeps each change whole.
    pub fn label_de_seguimiento(&self) -> Option<String> {
        (self.routing_key == "ticket.seguimiento")
            .then(|| crate::domain::comando::label_de_seguimiento(&self.body))
            .flatten()
    }
}

/// How long `anonimizar` waits for its count of dead letters.
pub const ESPERA_RECHAZADOS: std::time::Duration = std::time::Duration::from_secs(10);

/// Counts the dead letters whose body mentions an e-mail, for
/// `anonimizar`'s reply (§11). A port: the processor stays
/// broker-independent, and the worker plugs in
/// `rechazados::ContadorRechazados` (`startup`); a failure is
/// [`ErrorProceso::Rechazados`], which leaves the count null.
pub trait ContarRechazados: Send + Sync {
    /// How many dead letters now parked mention `email`.
    fn contar<'a>(
        &'a self,
        email: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<u64, ErrorProceso>> + Send + 'a>>;
}

/// How a command ended, as metrics and logs name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resultado {
    /// Applied or answered.
    Ok,
    /// Answered with the reply recorded for its `message_id`.
    Repetido,
    /// Refused with a contract code.
    Rechazado(Codigo),
    /// Not handled: a failure that was not the command's (dead-lettered).
    ErrorInterno,
    /// Not applied nor answered: its `reply_to` names a queue of the
    /// worker's own topology (contract §3, v1.2); dead-lettered.
    ReplyToPropio,
}

impl Resultado {
    /// `ok`, `repetido`, the contract code, or `error_interno`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resultado::Ok => "ok",
            Resultado::Repetido => "repetido",
            Resultado::Rechazado(c) => c.as_str(),
            Resultado::ErrorInterno => "error_interno",
            Resultado::ReplyToPropio => "reply_to_propio",
        }
    }
}

/// What to answer and what to do with the delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Desenlace {
    /// The reply body (`ok` with `datos`, or an error) as it is sent and,
    /// for a mutation, recorded: serialised once.
    pub respuesta: vistas::Texto,
    /// Whether to acknowledge or dead-letter the delivery.
    pub disposicion: Disposicion,
    /// How it ended: for metrics and logs.
    pub resultado: Resultado,
    /// The operation, once the routing key named one.
    pub operacion: Option<Operacion>,
}

impl Desenlace {
    pub(super) fn ok(operacion: Operacion, datos: &impl serde::Serialize) -> Self {
        Desenlace {
            respuesta: vistas::ok(datos),
            disposicion: Disposicion::Ack,
            resultado: Resultado::Ok,
            operacion: Some(operacion),
        }
    }

    pub(super) fn rechazo(operacion: Option<Operacion>, e: &ErrorContrato) -> Self {
        Desenlace {
            respuesta: vistas::error(e),
            disposicion: Disposicion::Ack,
            resultado: Resultado::Rechazado(e.tipo()),
            operacion,
        }
    }

    pub(super) fn veneno(e: &ErrorContrato) -> Self {
        Desenlace {
            respuesta: vistas::error(e),
            disposicion: Disposicion::DeadLetter { motivo: e.to_string() },
            resultado: Resultado::Rechazado(e.tipo()),
            operacion: None,
        }
    }

    /// The reply parsed back, for callers that read its fields (tests, the
    /// benchmark). `vistas` only writes JSON, so this cannot fail.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.respuesta).expect("a reply is JSON")
    }

    /// A body over the configured size: refused unread.
    pub fn demasiado_grande(max: usize) -> Self {
        Self::veneno(&ErrorContrato::SolicitudInvalida(format!("el cuerpo supera {max} bytes")))
    }

    /// A command whose `reply_to` names the worker's own topology: not
    /// applied, parked with why; the consumer sends no reply (its reply
    /// body is never published).
    pub fn reply_to_propio(operacion: Option<Operacion>, reply_to: &str) -> Self {
        let nombre: String = reply_to.chars().take(100).collect();
        Desenlace {
            respuesta: vistas::error(&ErrorContrato::SolicitudInvalida("reply_to no válido".into())),
            disposicion: Disposicion::DeadLetter {
                motivo: format!(
                    "reply_to {nombre:?} nombra una cola de la topología del worker: no se aplica ni se responde"
                ),
            },
            resultado: Resultado::ReplyToPropio,
            operacion,
        }
    }

    /// A reply recorded earlier for the same `message_id`.
    pub(super) fn repetido(operacion: Operacion, respuesta: vistas::Texto) -> Self {
        Desenlace {
            respuesta,
            disposicion: Disposicion::Ack,
            resultado: Resultado::Repetido,
            operacion: Some(operacion),
        }
    }
}

/// Handles commands: authenticates, validates, applies through the state machine and stores, idempotently by `message_id`.
#[derive(Clone)]
pub struct Procesador {
    pool: PgPool,
    reglas: Arc<ReglasSla>,
    verificador: Verificador,
    reloj: Reloj,
    /// Wakes the outbox relay after a commit.
    aviso_outbox: Arc<Notify>,
    /// Counts the dead letters an `anonimizar` leaves mentioning its e-mail
    /// (§11); none where no broker is at hand (the reply then says null).
    rechazados: Option<Arc<dyn ContarRechazados>>,
}

impl Procesador {
    /// A processor over `pool` applying `reglas`, verifying tokens with `verificador`, on the clock `reloj`.
    pub fn new(
        pool: PgPool,
        reglas: Arc<ReglasSla>,
        verificador: Verificador,
        reloj: Reloj,
        aviso_outbox: Arc<Notify>,
    ) -> Self {
        Self { pool, reglas, verificador, reloj, aviso_outbox, rechazados: None }
    }

    /// The same processor, counting dead letters for `anonimizar` with `contador`.
    pub fn con_rechazados(mut self, contador: Arc<dyn ContarRechazados>) -> Self {
        self.rechazados = Some(contador);
        self
    }

    /// The verifier of its tokens (and sealer of parked authority).
    pub fn verificador(&self) -> &Verificador {
        &self.verificador
    }

    /// Handles one command. `Err` only for failures that are not the
    /// command's fault: the caller retries transient ones.
    pub async fn procesar(&self, m: &Mensaje) -> Result<Desenlace, ErrorProceso> {
        let mut desenlaces = self.procesar_lote(&[m]).await?;
        desenlaces.pop().ok_or(ErrorProceso::SinDesenlace)
    }

    /// Handles commands in order in ONE transaction (group commit): one
    /// outcome per message, in order, all committed together or, on `Err`,
    /// none. Each mutation keeps its own idempotency record, so a batch
    /// replayed after a failure or a crash changes nothing twice.
    pub async fn procesar_lote(&self, mensajes: &[&Mensaje]) -> Result<Vec<Desenlace>, ErrorProceso> {
        // One instant for the batch, read before validation: a field checked
        // against the time (`pausar`'s `hasta`) is checked against the very
        // instant its command is applied at.
        let ahora = crate::reloj::ahora(&self.reloj);
        let mut preparados: Vec<Preparado> = Vec::with_capacity(mensajes.len());
        for m in mensajes {
            preparados.push(self.preparar(m, ahora).await);
        }
        if preparados.iter().all(Preparado::es_listo) {
            return Ok(preparados.into_iter().filter_map(Preparado::listo).collect());
        }
        self.contar_rechazados(&mut preparados).await?;
        let mut tx = self.pool.begin().await.en("begin")?;
        let mut desenlaces = Vec::with_capacity(mensajes.len());
        let mut eventos = false;
        // Runs of mutations are applied set-wise; a query in between first
        // sees what the mutations before it wrote.
        let mut tramo = Vec::new();
        for preparado in preparados {
            match preparado {
                Preparado::Paso(paso) => tramo.push(paso),
                Preparado::Consulta(consulta) => {
                    eventos |= self.aplicar_tramo(&mut tx, std::mem::take(&mut tramo), ahora, &mut desenlaces).await?;
                    desenlaces.push(self.consultar(&mut tx, consulta, ahora).await?);
                }
            }
        }
        eventos |= self.aplicar_tramo(&mut tx, tramo, ahora, &mut desenlaces).await?;
        tx.commit().await.en("commit")?;
        if eventos {
            self.aviso_outbox.notify_one();
        }
        Ok(desenlaces)
    }

    /// Applies a run of steps with a fixed number of statements, appending
    /// one outcome per step to `salida`; whether it wrote events.
    async fn aplicar_tramo(
        &self,
        tx: &mut PgConnection,
        tramo: Vec<mutaciones::Paso>,
        ahora: DateTime<Utc>,
        salida: &mut Vec<Desenlace>,
    ) -> Result<bool, ErrorProceso> {
        if tramo.is_empty() {
            return Ok(false);
        }
        let reserva = mutaciones::reservar(tx, &tramo).await?;
        let mut cambios = store::Cambios::default();
        salida.extend(mutaciones::decidir(tramo, reserva, &mut cambios, &self.reglas, ahora)?);
        let eventos = cambios.hay_eventos();
        cambios.escribir(tx).await.en("escribir_cambios")?;
        Ok(eventos)
    }
}

impl Procesador {
    /// Counts, for each `anonimizar`, the dead letters that mention its
    /// e-mail (the ticket's, when it names a ticket), before the
    /// transaction: a walk of the dead-letter queue holds no row lock. The
    /// count is information for the operator, never a condition of the
    /// erasure: a walk that fails or takes longer than
    /// [`ESPERA_RECHAZADOS`] leaves it null and is logged (its cause only),
    /// so a queue that is gone, forbidden or huge never holds a lane.
    async fn contar_rechazados(&self, preparados: &mut [Preparado]) -> Result<(), ErrorProceso> {
        let Some(contador) = &self.rechazados else { return Ok(()) };
        for p in preparados.iter_mut() {
            let Preparado::Paso(mutaciones::Paso::Mutacion(m)) = p else { continue };
            let mutaciones::Cambio::Anonimizar(a) = &mut m.cambio else { continue };
            let email = match &a.datos.titular {
                Titular::Email(e) => Some(e.clone()),
                Titular::Ticket(id) => {
                    let mut conn = self.pool.acquire().await.en("acquire")?;
                    store::ticket(&mut conn, *id).await.en("ticket")?.and_then(|t| t.solicitante.email)
                }
            };
            let Some(email) = email else { continue };
            a.rechazados = match tokio::time::timeout(ESPERA_RECHAZADOS, contador.contar(&email)).await {
                Ok(Ok(n)) => Some(n),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "anonimizar: no se pudieron contar los rechazados");
                    None
                }
                Err(_) => {
                    tracing::warn!("anonimizar: el recuento de rechazados no terminó a tiempo");
                    None
                }
            };
        }
        Ok(())
    }
}

fn fuera_de_area() -> ErrorContrato {
    ErrorContrato::Prohibido("el ticket pertenece a otra área".into())
}
