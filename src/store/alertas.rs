//! SLA alerts: tickets due for one, and the record that makes each alert
//! happen once across replicas.

use super::tickets::{TICKET_COLUMNS, TicketRow, a_ticket};
use crate::domain::ticket::{Alerta, Ticket};
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

/// Tickets with an SLA alert due at `ahora`, oldest first, locked; rows
/// another scheduler holds are skipped, never waited for.
pub async fn reclamar_alertas_debidas(
    conn: &mut PgConnection,
    ahora: DateTime<Utc>,
    limite: i64,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE proxima_alerta_sla <= $1 \
         ORDER BY proxima_alerta_sla LIMIT $2 FOR UPDATE SKIP LOCKED"
    );
    let rows: Vec<TicketRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ahora).bind(limite).fetch_all(conn).await?;
    rows.into_iter().map(a_ticket).collect()
}

/// Records an alert for (ticket, meta, threshold or VENCIDO, deadline);
/// `false` when it was recorded already, by this or any other process.
pub async fn registrar_alerta(
    conn: &mut PgConnection,
    ticket: Uuid,
    alerta: &Alerta,
    evento_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO sla_alertas (ticket_uuid, meta, nivel, umbral, fecha_limite_sla, evento_id) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(ticket)
    .bind(alerta.meta.as_str())
    .bind(alerta.umbral.nivel().as_str())
    .bind(alerta.umbral.porcentaje().map_or(0, i16::from))
    .bind(alerta.fecha_limite)
    .bind(evento_id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}
