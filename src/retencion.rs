//! Retention: published outbox rows and idempotency records older than their
//! configured age are deleted in bounded batches, so the tables that grow with
//! traffic do not grow without bound.

use crate::error::{EnSentencia, ErrorProceso};
use crate::store;
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

/// Rows removed by one pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Podado {
    /// Published events removed from the outbox.
    pub eventos: u64,
    /// Idempotency records removed.
    pub comandos: u64,
}

const LOTE: i64 = 5_000;

/// Deletes published events older than `eventos` and idempotency records
/// older than `comandos`, as of `ahora`. Unpublished events are never touched.
/// A failure is the scheduler's, as a scan's is: an [`ErrorProceso`] naming
/// the delete that failed.
pub async fn podar(
    pool: &PgPool,
    ahora: DateTime<Utc>,
    eventos: TimeDelta,
    comandos: TimeDelta,
) -> Result<Podado, ErrorProceso> {
    Ok(Podado {
        eventos: por_lotes("podar_eventos_publicados", || store::podar_eventos_publicados(pool, ahora - eventos, LOTE))
            .await?,
        comandos: por_lotes("podar_comandos", || store::podar_comandos(pool, ahora - comandos, LOTE)).await?,
    })
}

/// Repeats a bounded delete, `sentencia`, until a batch comes back short, so
/// no single statement holds locks on a large part of the table.
async fn por_lotes<F, Fut>(sentencia: &'static str, borrar: F) -> Result<u64, ErrorProceso>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<u64, sqlx::Error>>,
{
    let mut total = 0;
    loop {
        let n = borrar().await.en(sentencia)?;
        total += n;
        if n < LOTE as u64 {
            return Ok(total);
        }
    }
}
