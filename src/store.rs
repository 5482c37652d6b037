//! Persistence over sqlx: domain values in, domain values out; the SQL of
//! the worker lives under this module, one file per concern.

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;

mod alertas;
mod anonimizacion;
mod cambios;
mod comandos;
mod historial;
mod informes;
mod mensajes;
mod outbox;
mod tickets;
mod unnest;

/// A batch size as SQL's `LIMIT` takes it: sizes are `usize` in Rust and
/// bounded by the configuration's checks, so saturating never bites.
fn limite_sql(lote: usize) -> i64 {
    i64::try_from(lote).unwrap_or(i64::MAX)
}

pub use alertas::{AlertaNueva, reclamar_alertas_debidas, reclamar_esperas_vencidas, registrar_alertas};
pub use anonimizacion::borrar_copias;
pub use cambios::{Cambios, EventoNuevo};
pub use comandos::{Registro, Reservas, podar_comandos, reservar_comandos, respuestas_registradas};
pub use historial::{HistorialLeido, historial, ultimo_historial};
pub use informes::{Conteo, Estadisticas, Percentiles, estadisticas, listar};
pub use mensajes::{Conversacion, conversacion};
pub use outbox::{EventoPendiente, backlog_outbox, podar_eventos_publicados, reclamar_eventos};
pub use tickets::{
    bloquear_tickets, reclamar_para_anonimizar, siguientes_nums, ticket, ticket_por_label_y_email, tickets_por_email,
    uuids_por_email, uuids_por_label,
};

/// Embedded migrations (`migrations/`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A lazy pool: nothing connects until first used (start-up retries on its own).
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    // Plan every statement for its own arguments and the tables as they are
    // now. A cached generic plan is made once, maybe while the tables were
    // still small (a fresh deployment), and then kept: the batch statements
    // joined their `unnest` rows to `tickets` and `comandos` by sequential
    // scan, a cost that grew with every stored row. Planning is per batch,
    // not per command.
    let opciones = PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_custom_plan")]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        // sqlx pings every connection it hands out: one more round trip
        // (and wake-up) per transaction, a sixth of a one-command lane
        // transaction's. A connection that came back within
        // `VIVA_SIN_COMPROBAR` is taken as alive (HikariCP's alive-bypass
        // window); one that went stale meanwhile (Postgres restarted) fails
        // its first statement, a transient failure the caller retries.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= VIVA_SIN_COMPROBAR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(opciones))
}

/// How recently a pooled connection must have been used to be handed out
/// without a ping first.
const VIVA_SIN_COMPROBAR: std::time::Duration = std::time::Duration::from_secs(1);

/// One round trip to the database, for `/ready`.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}

/// Applies the embedded migrations not yet applied.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}
