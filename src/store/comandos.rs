//! Idempotency records: claiming `message_id`s, reading earlier replies,
//! pruning old records.

use crate::domain::estado::Operacion;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use std::collections::{HashMap, HashSet};

/// Claims `message_id`s before their commands' effects; returns those this
/// transaction claimed. A claim held by a transaction still open blocks here
/// until it ends, so two processes never both apply one command. The
/// placeholder reply is replaced when the batch's [`Cambios`] are written.
pub async fn reservar_comandos(conn: &mut PgConnection, reservas: &Reservas) -> Result<HashSet<String>, sqlx::Error> {
    if reservas.ids.is_empty() {
        return Ok(HashSet::new());
    }
    let reclamados: Vec<String> = sqlx::query_scalar(
        "INSERT INTO comandos (message_id, operacion, actor_sub, respuesta) \
         SELECT id, op, sub, 'null' FROM unnest($1::text[], $2::text[], $3::text[]) AS r(id, op, sub) \
         ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
    )
    .bind(&reservas.ids)
    .bind(&reservas.operaciones)
    .bind(&reservas.subs)
    .fetch_all(conn)
    .await?;
    Ok(reclamados.into_iter().collect())
}

/// The `message_id`s a run of mutations claims, column by column.
#[derive(Debug, Default)]
pub struct Reservas {
    /// The `message_id`s.
    pub ids: Vec<String>,
    /// The operation of each.
    pub operaciones: Vec<&'static str>,
    /// The verified `sub` of each sender; `None` for public operations.
    pub subs: Vec<Option<String>>,
}

/// A command processed before: what it was, who sent it, what it got.
#[derive(Debug, Clone)]
pub struct Registro {
    /// The operation it was; none when the routing key named none.
    pub operacion: Option<Operacion>,
    /// The sender's verified `sub`; `None` for public operations and for
    /// records older than the column.
    pub sub: Option<String>,
    /// The reply it got, as sent then (the stored text: `json` keeps it as
    /// written), sent again for a repeated `message_id`.
    pub respuesta: std::sync::Arc<str>,
}

/// The commands processed before, by `message_id`.
pub async fn respuestas_registradas(
    conn: &mut PgConnection,
    ids: &[String],
) -> Result<HashMap<String, Registro>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let filas: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT message_id, operacion, actor_sub, respuesta::text FROM comandos WHERE message_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(filas
        .into_iter()
        .map(|(id, op, sub, respuesta)| {
            (id, Registro { operacion: Operacion::parse(&op), sub, respuesta: respuesta.into() })
        })
        .collect())
}

/// Deletes up to `limite` idempotency records processed before `corte`.
pub async fn podar_comandos(pool: &PgPool, corte: DateTime<Utc>, limite: i64) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM comandos WHERE message_id IN \
               (SELECT message_id FROM comandos WHERE procesado_en < $1 LIMIT $2)";
    Ok(sqlx::query(sql).bind(corte).bind(limite).execute(pool).await?.rows_affected())
}
