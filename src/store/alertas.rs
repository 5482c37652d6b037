//! SLA alerts: tickets due for one, and the record that makes each alert
//! happen once across replicas.

use super::tickets::{TICKET_COLUMNS, TicketRow, a_ticket};
use crate::domain::sla::{Meta, Umbral};
use crate::domain::ticket::Ticket;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::HashSet;
use uuid::Uuid;

/// Tickets with an SLA alert due at `ahora`, oldest first, locked; rows
/// another scheduler holds are skipped, never waited for.
pub async fn reclamar_alertas_debidas(
    conn: &mut PgConnection,
    ahora: DateTime<Utc>,
    limite: usize,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE proxima_alerta_sla <= $1 \
         ORDER BY proxima_alerta_sla LIMIT $2 FOR UPDATE SKIP LOCKED"
    );
    let rows: Vec<TicketRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ahora).bind(super::limite_sql(limite)).fetch_all(conn).await?;
    rows.into_iter().map(a_ticket).collect()
}

/// Paused tickets whose wait's `hasta` has come by `ahora`, soonest first,
/// locked; rows another scheduler or a command holds are skipped, never
/// waited for. Ending the wait clears `espera_hasta` in the same
/// transaction, so no later scan, here or in another replica, finds it again.
pub async fn reclamar_esperas_vencidas(
    conn: &mut PgConnection,
    ahora: DateTime<Utc>,
    limite: usize,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE espera_hasta <= $1 AND estado = 'PAUSADO' \
         ORDER BY espera_hasta LIMIT $2 FOR UPDATE SKIP LOCKED"
    );
    let rows: Vec<TicketRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ahora).bind(super::limite_sql(limite)).fetch_all(conn).await?;
    rows.into_iter().map(a_ticket).collect()
}

/// An alert to record: its key and the event it is sent as.
#[derive(Debug, Clone, Copy)]
pub struct AlertaNueva {
    /// The ticket.
    pub ticket: Uuid,
    /// The clock.
    pub meta: Meta,
    /// The threshold, or VENCIDO.
    pub umbral: Umbral,
    /// That meta's deadline.
    pub fecha_limite: DateTime<Utc>,
    /// The id of its event.
    pub evento_id: Uuid,
}

/// Records alerts, each for (ticket, meta, threshold or VENCIDO, deadline),
/// in one statement; the event ids of those recorded now. An alert recorded
/// already, by this or any other process, is left out.
pub async fn registrar_alertas(conn: &mut PgConnection, alertas: &[AlertaNueva]) -> Result<HashSet<Uuid>, sqlx::Error> {
    if alertas.is_empty() {
        return Ok(HashSet::new());
    }
    let registradas: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO sla_alertas (ticket_uuid, meta, nivel, umbral, fecha_limite_sla, evento_id) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int2[], $5::timestamptz[], $6::uuid[]) \
         ON CONFLICT DO NOTHING RETURNING evento_id",
    )
    .bind(alertas.iter().map(|a| a.ticket).collect::<Vec<_>>())
    .bind(alertas.iter().map(|a| a.meta.as_str()).collect::<Vec<_>>())
    .bind(alertas.iter().map(|a| a.umbral.nivel().as_str()).collect::<Vec<_>>())
    .bind(alertas.iter().map(|a| a.umbral.porcentaje().map_or(0, i16::from)).collect::<Vec<_>>())
    .bind(alertas.iter().map(|a| a.fecha_limite).collect::<Vec<_>>())
    .bind(alertas.iter().map(|a| a.evento_id).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    Ok(registradas.into_iter().collect())
}
