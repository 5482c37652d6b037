//! SLA alerts: tickets due for one, and the record that makes each alert
//! happen once across replicas.

use super::tickets::{TICKET_COLUMNS, TicketRow, a_ticket};
use crate::domain::sla::NivelSla;
use crate::domain::ticket::Ticket;
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

/// Records an alert for (ticket, level, deadline); `false` when it was
/// recorded already, by this or any other process.
pub async fn registrar_alerta(
    conn: &mut PgConnection,
    ticket: &Ticket,
    nivel: NivelSla,
    evento_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO sla_alertas (ticket_uuid, nivel, fecha_limite_sla, evento_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(ticket.uuid)
    .bind(nivel.as_str())
    .bind(ticket.fecha_limite_sla)
    .bind(evento_id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}
