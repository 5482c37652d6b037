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

/// A 6-field cron expression (seconds first) the scheduler's parser takes:
/// checked once, when the configuration is read, so a job built from it
/// cannot fail on its text. The library parses the text again when the
/// job is built (it takes nothing but text); this type is the proof that
/// it will.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron(String);

impl Cron {
    /// Takes `texto` if the scheduler will: the check builds the job the
    /// scheduler would, so the two can never disagree.
    pub fn parse(texto: &str) -> Result<Cron, String> {
        tokio_cron_scheduler::Job::new_async(texto, |_, _| Box::pin(async {}))
            .map(|_| Cron(texto.to_string()))
            .map_err(|e| format!("expresión cron inválida {texto:?} (6 campos, segundos primero): {e:?}"))
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Cron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Cron {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let texto = String::deserialize(d)?;
        Cron::parse(&texto).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::Cron;

    #[test]
    fn a_cron_is_taken_only_as_the_scheduler_takes_it() {
        assert_eq!(Cron::parse("*/30 * * * * *").map(|c| c.to_string()), Ok("*/30 * * * * *".to_string()));
        for malo in ["", "cada minuto", "* * * * *", "61 * * * * *"] {
            assert!(Cron::parse(malo).is_err(), "{malo:?}");
        }
    }
}
