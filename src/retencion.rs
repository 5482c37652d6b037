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
pub async fn podar(pool: &PgPool, ahora: DateTime<Utc>, eventos: TimeDelta, comandos: TimeDelta) -> Result<Podado, sqlx::Error> {
    let mut p = Podado::default();
    loop {
        let n = sqlx::query(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE publicado_en < $1 ORDER BY id LIMIT $2)",
        )
        .bind(ahora - eventos)
        .bind(LOTE)
        .execute(pool)
        .await?
        .rows_affected();
        p.eventos += n;
        if n < LOTE as u64 {
            break;
        }
    }
    loop {
        let n = sqlx::query(
            "DELETE FROM comandos WHERE message_id IN \
             (SELECT message_id FROM comandos WHERE procesado_en < $1 LIMIT $2)",
        )
        .bind(ahora - comandos)
        .bind(LOTE)
        .execute(pool)
        .await?
        .rows_affected();
        p.comandos += n;
        if n < LOTE as u64 {
            break;
        }
    }
    Ok(p)
}
