//! The clock, injectable so tests can move time; read at millisecond
//! precision everywhere, so replies and stored rows agree. And the cron
//! schedules the scheduler runs on.

use chrono::{DateTime, SubsecRound, Utc};
use std::sync::Arc;

/// The clock: the processor and the scheduler read time only through it.
pub type Reloj = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The real clock.
pub fn reloj_del_sistema() -> Reloj {
    Arc::new(Utc::now)
}

/// The clock's current time at millisecond precision: what Postgres stores
/// round-trips unchanged, so replies and stored rows agree.
pub fn ahora(reloj: &Reloj) -> DateTime<Utc> {
    reloj().trunc_subsecs(3)
}

/// Rejects a schedule the scheduler's cron parser will not take, before
/// anything starts.
pub fn validar_cron(cron: &str) -> Result<(), String> {
    tokio_cron_scheduler::Job::new_async(cron, |_, _| Box::pin(async {}))
        .map(|_| ())
        .map_err(|e| format!("expresión cron inválida {cron:?} (6 campos, segundos primero): {e:?}"))
}
