//! The outbox: events waiting to be published, claimed by relays.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// An event waiting in the outbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventoPendiente {
    /// Row id, the publishing order.
    pub id: i64,
    /// CloudEvent `id`.
    pub evento_id: Uuid,
    /// CloudEvent `type`, the routing key.
    pub tipo: String,
    /// The CloudEvent as stored: published byte for byte.
    pub cuerpo: String,
    /// W3C `traceparent` to publish with it.
    pub traceparent: Option<String>,
}

/// Claims up to `limite` unsent events, oldest first, skipping rows another
/// relay holds, and marks them sent in the same statement: the lock and the
/// mark last until the transaction ends, so the caller commits only once the
/// broker confirmed every one (a rollback leaves them unsent). One round
/// trip instead of a read and, after the publish, a write.
pub async fn reclamar_eventos(conn: &mut PgConnection, limite: usize) -> Result<Vec<EventoPendiente>, sqlx::Error> {
    let mut eventos: Vec<EventoPendiente> = sqlx::query_as(
        // ARRAY(...) runs the locking subquery exactly once, so the batch
        // is never more than `limite` whatever plan the join would get.
        "UPDATE outbox SET publicado_en = now() WHERE id = ANY(ARRAY( \
         SELECT id FROM outbox WHERE publicado_en IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)) \
         RETURNING id, evento_id, tipo, cuerpo::text AS cuerpo, traceparent",
    )
    .bind(super::limite_sql(limite))
    .fetch_all(conn)
    .await?;
    // RETURNING follows no ORDER BY: the publishing order is the id's.
    eventos.sort_unstable_by_key(|e| e.id);
    Ok(eventos)
}

/// Deletes up to `limite` published events sent before `corte`; unpublished
/// ones are never touched. Returns how many went.
pub async fn podar_eventos_publicados(pool: &PgPool, corte: DateTime<Utc>, limite: i64) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM outbox WHERE id IN \
               (SELECT id FROM outbox WHERE publicado_en < $1 ORDER BY id LIMIT $2)";
    Ok(sqlx::query(sql).bind(corte).bind(limite).execute(pool).await?.rows_affected())
}

/// Unsent events and the age of the oldest, for `/metrics`.
pub async fn backlog_outbox(pool: &PgPool) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(creado_en))::float8, 0) \
         FROM outbox WHERE publicado_en IS NULL",
    )
    .fetch_one(pool)
    .await
}
