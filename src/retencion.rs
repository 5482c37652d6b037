//! Retention: published outbox rows and idempotency records older than their
//! configured age are deleted in bounded batches, so the tables that grow with
//! traffic do not grow without bound.

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgPool;

/// Rows removed by one pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Podado {
    pub eventos: u64,
    pub comandos: u64,
}

const LOTE: i64 = 5_000;

/// Deletes published events older than `eventos` and idempotency records
/// older than `comandos`, as of `ahora`. Unpublished events are never touched.
pub async fn podar(
    pool: &PgPool,
    ahora: DateTime<Utc>,
    eventos: TimeDelta,
    comandos: TimeDelta,
) -> Result<Podado, sqlx::Error> {
    Ok(Podado {
        eventos: borrar_por_lotes(
            pool,
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE publicado_en < $1 ORDER BY id LIMIT $2)",
            ahora - eventos,
        )
        .await?,
        comandos: borrar_por_lotes(
            pool,
            "DELETE FROM comandos WHERE message_id IN \
             (SELECT message_id FROM comandos WHERE procesado_en < $1 LIMIT $2)",
            ahora - comandos,
        )
        .await?,
    })
}

/// Runs a `DELETE ... < $1 LIMIT $2` until a batch comes back short, so no
/// single statement holds locks on a large part of the table.
async fn borrar_por_lotes(pool: &PgPool, sql: &'static str, corte: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let n = sqlx::query(sql).bind(corte).bind(LOTE).execute(pool).await?.rows_affected();
        total += n;
        if n < LOTE as u64 {
            return Ok(total);
        }
    }
}
