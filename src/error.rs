//! Errors at the command boundary: each knows its contract code, its HTTP-like
//! status, and what the consumer must do with the delivery.

use crate::domain::comando::CampoError;
use crate::domain::estado::{Estado, Operacion};

/// A refusal the contract names (§4). Always answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErrorContrato {
    /// `SOLICITUD_INVALIDA`: the message cannot be read as a command.
    #[error("{0}")]
    SolicitudInvalida(String),
    /// `NO_AUTENTICADO`: no token, or one that does not verify.
    #[error("{0}")]
    NoAutenticado(String),
    /// `PROHIBIDO`: the actor's role may not run the operation.
    #[error("{0}")]
    Prohibido(String),
    /// `NO_ENCONTRADO`: the ticket does not exist or is not visible to the actor.
    #[error("{0}")]
    NoEncontrado(String),
    /// `VALIDACION`: every broken field of the body.
    #[error("la solicitud tiene campos inválidos")]
    Validacion(Vec<CampoError>),
    /// `TRANSICION_INVALIDA`: the state machine does not allow the operation in the ticket's state.
    #[error("la operación {operacion} no está permitida en estado {estado}", operacion = .operacion.as_str())]
    TransicionInvalida {
        /// The operation asked for.
        operacion: Operacion,
        /// The ticket's current state.
        estado: Estado,
    },
}

/// The contract's error codes (§4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codigo {
    /// `SOLICITUD_INVALIDA`.
    SolicitudInvalida,
    /// `NO_AUTENTICADO`.
    NoAutenticado,
    /// `PROHIBIDO`.
    Prohibido,
    /// `NO_ENCONTRADO`.
    NoEncontrado,
    /// `VALIDACION`.
    Validacion,
    /// `TRANSICION_INVALIDA`.
    TransicionInvalida,
}

impl Codigo {
    /// As the contract writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Codigo::SolicitudInvalida => "SOLICITUD_INVALIDA",
            Codigo::NoAutenticado => "NO_AUTENTICADO",
            Codigo::Prohibido => "PROHIBIDO",
            Codigo::NoEncontrado => "NO_ENCONTRADO",
            Codigo::Validacion => "VALIDACION",
            Codigo::TransicionInvalida => "TRANSICION_INVALIDA",
        }
    }
}

impl ErrorContrato {
    /// This refusal's code.
    pub fn tipo(&self) -> Codigo {
        match self {
            ErrorContrato::SolicitudInvalida(_) => Codigo::SolicitudInvalida,
            ErrorContrato::NoAutenticado(_) => Codigo::NoAutenticado,
            ErrorContrato::Prohibido(_) => Codigo::Prohibido,
            ErrorContrato::NoEncontrado(_) => Codigo::NoEncontrado,
            ErrorContrato::Validacion(_) => Codigo::Validacion,
            ErrorContrato::TransicionInvalida { .. } => Codigo::TransicionInvalida,
        }
    }

    /// This refusal's code as the contract writes it.
    pub fn codigo(&self) -> &'static str {
        self.tipo().as_str()
    }

    /// The HTTP status the contract pairs with the code.
    pub fn http(&self) -> u16 {
        match self {
            ErrorContrato::SolicitudInvalida(_) => 400,
            ErrorContrato::NoAutenticado(_) => 401,
            ErrorContrato::Prohibido(_) => 403,
            ErrorContrato::NoEncontrado(_) => 404,
            ErrorContrato::Validacion(_) => 422,
            ErrorContrato::TransicionInvalida { .. } => 409,
        }
    }

    /// `NO_ENCONTRADO` for a ticket.
    pub fn ticket_no_encontrado() -> Self {
        ErrorContrato::NoEncontrado("no existe el ticket".to_string())
    }

    /// `consultar` and `seguimiento` by label and e-mail: one answer for an
    /// unknown label and a wrong e-mail, so neither tells which.
    pub fn consulta_no_encontrada() -> Self {
        ErrorContrato::NoEncontrado("no hay un ticket con esa etiqueta y ese correo".to_string())
    }
}

/// What the consumer does with a delivery once handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposicion {
    /// Handled (applied or refused): acknowledge.
    Ack,
    /// Cannot be handled, ever: reject without requeue, so it dead-letters.
    DeadLetter {
        /// Why, for the `x-mesa-motivo` header.
        motivo: String,
    },
}

/// A failure that is not the command's fault, by cause; the cause says
/// whether retrying may help ([`ErrorProceso::es_transitorio`]): transient →
/// retry in place, permanent → dead-letter, this error's text the reason.
///
/// There is no `From<sqlx::Error>`: a database error enters the message path
/// only through [`EnSentencia::en`], which names the statement.
#[derive(Debug, thiserror::Error)]
pub enum ErrorProceso {
    /// A statement the database refused or could not run. Transient when the
    /// database or the connection is away or the transaction lost a conflict
    /// ([`es_error_transitorio`]); permanent otherwise (a constraint, a row
    /// the domain cannot read).
    Sql {
        /// The store function that ran it (`reservar_comandos`, ...), or
        /// `begin` / `commit`.
        sentencia: &'static str,
        /// sqlx's error. Its `Display`, all the reason shows, is Postgres's
        /// message alone: the DETAIL, which may quote a row's values, is left
        /// out (only the `Debug` has it).
        #[source]
        fuente: sqlx::Error,
    },
    /// A panic while processing, caught so it cannot take the lane down:
    /// permanent. Without its message, which may quote the command's data.
    Panico,
    /// A `message_id` another transaction claimed, yet with no record to read
    /// by the time it was looked up (pruned in between): transient, the next
    /// attempt claims it afresh.
    RegistroDesaparecido,
    /// Fewer ticket numbers drawn than the run has claimed creations: a bug,
    /// permanent.
    FaltanNumeros,
    /// A batch of one came back without its outcome: a bug, permanent.
    SinDesenlace,
    /// The dead-letter queue could not be walked to count what an
    /// `anonimizar` leaves there (§11). Never fails a command: the count is
    /// then null (`Procesador::contar_rechazados`); transient in kind.
    Rechazados(String),
}

impl ErrorProceso {
    /// Whether retrying may succeed.
    pub fn es_transitorio(&self) -> bool {
        match self {
            ErrorProceso::Sql { fuente, .. } => es_error_transitorio(fuente),
            ErrorProceso::RegistroDesaparecido | ErrorProceso::Rechazados(_) => true,
            ErrorProceso::Panico | ErrorProceso::FaltanNumeros | ErrorProceso::SinDesenlace => false,
        }
    }
}

/// Names the statement a database result came from, the one way an
/// `sqlx::Error` becomes a boundary's error (an [`ErrorProceso`], an
/// [`ErrorAmqp`](crate::amqp::ErrorAmqp)): `?` converts the named failure,
/// `store::reservar_comandos(tx, &r).await.en("reservar_comandos")?`.
pub trait EnSentencia<T> {
    /// The error, if any, as a failure of `sentencia`.
    fn en(self, sentencia: &'static str) -> Result<T, SentenciaFallida>;
}

impl<T> EnSentencia<T> for Result<T, sqlx::Error> {
    fn en(self, sentencia: &'static str) -> Result<T, SentenciaFallida> {
        self.map_err(|fuente| SentenciaFallida { sentencia, fuente })
    }
}

/// A database error with the statement it came from, as [`EnSentencia::en`]
/// names it; only on its way (`?`) into a boundary's error, which keeps both.
/// Its own type, rather than one boundary's, so that every boundary names
/// its statements the same way and none takes a bare `sqlx::Error`.
#[derive(Debug, thiserror::Error)]
#[error("{sentencia}: {fuente}")]
pub struct SentenciaFallida {
    pub(crate) sentencia: &'static str,
    #[source]
    pub(crate) fuente: sqlx::Error,
}

impl From<SentenciaFallida> for ErrorProceso {
    fn from(SentenciaFallida { sentencia, fuente }: SentenciaFallida) -> Self {
        ErrorProceso::Sql { sentencia, fuente }
    }
}

/// `fallo transitorio` or `fallo permanente`, then the cause: a failed
/// statement by name (`fallo permanente en reservar_comandos: ...`).
impl std::fmt::Display for ErrorProceso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let clase = if self.es_transitorio() { "fallo transitorio" } else { "fallo permanente" };
        match self {
            ErrorProceso::Sql { sentencia, fuente } => write!(f, "{clase} en {sentencia}: {fuente}"),
            ErrorProceso::Panico => write!(f, "{clase}: pánico al procesar"),
            ErrorProceso::RegistroDesaparecido => write!(f, "{clase}: el registro de idempotencia desapareció"),
            ErrorProceso::FaltanNumeros => write!(f, "{clase}: faltan números de ticket"),
            ErrorProceso::SinDesenlace => write!(f, "{clase}: un lote de uno sin desenlace"),
            ErrorProceso::Rechazados(e) => write!(f, "{clase} al contar los rechazados: {e}"),
        }
    }
}

/// Connection loss, pool exhaustion, serialization failures, deadlocks and
/// server shutdown are worth retrying; constraint or data errors are not.
pub fn es_error_transitorio(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            let code = code.as_ref();
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P")
                || code == "40001"
                || code == "40P01"
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeouts_are_transient_and_decode_errors_are_not() {
        assert!(es_error_transitorio(&sqlx::Error::PoolTimedOut));
        assert!(!es_error_transitorio(&sqlx::Error::RowNotFound));
    }

    #[test]
    fn a_processing_failure_is_classified_by_its_cause_and_names_its_statement() {
        let fallo = |e: sqlx::Error, sentencia| ErrorProceso::from(Err::<(), _>(e).en(sentencia).unwrap_err());
        let transitorio = fallo(sqlx::Error::PoolTimedOut, "commit");
        assert!(transitorio.es_transitorio());
        assert_eq!(
            transitorio.to_string(),
            "fallo transitorio en commit: pool timed out while waiting for an open connection"
        );
        let permanente = fallo(sqlx::Error::RowNotFound, "reservar_comandos");
        assert!(!permanente.es_transitorio());
        assert_eq!(
            permanente.to_string(),
            "fallo permanente en reservar_comandos: no rows returned by a query that expected to return at least one row"
        );
        assert!(std::error::Error::source(&permanente).is_some(), "sqlx's error is its source");

        assert!(ErrorProceso::RegistroDesaparecido.es_transitorio());
        for e in [ErrorProceso::Panico, ErrorProceso::FaltanNumeros, ErrorProceso::SinDesenlace] {
            assert!(!e.es_transitorio(), "{e}");
            assert!(e.to_string().starts_with("fallo permanente: "), "{e}");
        }
        assert_eq!(
            ErrorProceso::RegistroDesaparecido.to_string(),
            "fallo transitorio: el registro de idempotencia desapareció"
        );
    }
}
