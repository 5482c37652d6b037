//! Settings: built-in defaults, `config/default.toml`, `config/<MESA_ENV>.toml`,
//! then `MESA__<SECTION>__<KEY>` variables (and `DATABASE_URL` / `AMQP_URL`).

use crate::domain::calendario::{Calendario, CalendarioLaboral, dia_de_semana, parse_ventana};
use crate::domain::estado::TIPOS;
use crate::domain::sla::{Avisos, Condiciones, Meta, PasoEscalado, Politica, Prioridad, ReglasSla, Umbral};
use crate::reloj::Cron;
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod capas;
mod cargar;
mod comprobar;
mod mostrar;
mod sla;

pub use mostrar::redact_url;

use capas::recortar;
pub use capas::{Arbol, Fuente, Problema};

const DEFAULTS: &str = include_str!("../config/default.toml");
/// The public development secret, used when `auth.jwt_secret` is unset and no
/// JWKS is configured; running with it is loudly warned about.
pub const DEV_JWT_SECRET: &str = "mesa-dev-secret-CAMBIAR-en-produccion";
/// Shortest accepted HS256 secret (contract §3).
pub const JWT_SECRET_MIN_BYTES: usize = 32;

/// Every setting of the worker, validated as a whole.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `[database]`: Postgres connection.
    pub database: DatabaseSettings,
    /// `[amqp]`: RabbitMQ connection.
    pub amqp: AmqpSettings,
    /// `[topology]`: names and dead-lettering of exchanges and queues.
    pub topology: TopologySettings,
    /// `[auth]`: how tokens are verified.
    pub auth: AuthSettings,
    /// `[http]`: the health, readiness and metrics listener.
    pub http: HttpSettings,
    /// `[scheduler]`: the SLA scheduler.
    pub scheduler: SchedulerSettings,
    /// `[sla]`: priorities, targets, thresholds and calendar.
    pub sla: SlaSettings,
    /// `[worker]`: lanes and shutdown.
    pub worker: WorkerSettings,
    /// `[outbox]`: the relay's batch and polling.
    pub outbox: OutboxSettings,
    /// `[retencion]`: how long published events and idempotency records are kept.
    pub retencion: RetencionSettings,
    /// `[log]`: logging format and filter.
    pub log: LogSettings,
    /// `[gateway]`: the HTTP API (`mesa-ayuda gateway`, contract §8).
    pub gateway: GatewaySettings,
    /// `[telemetria]`: OpenTelemetry traces (contract §9).
    pub telemetria: TelemetriaSettings,
}

/// `[telemetria]` settings: where traces go. Unset, the standard
/// `OTEL_EXPORTER_OTLP_ENDPOINT` decides; neither set, traces are off.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TelemetriaSettings {
    /// OTLP/HTTP base URL (`http://jaeger:4318`); spans go to `/v1/traces`
    /// under it. Wins over `OTEL_EXPORTER_OTLP_ENDPOINT`. May hold
    /// credentials: shown masked.
    pub otlp_endpoint: Option<String>,
}

/// How long rows that grow with traffic are kept.
#[derive(Debug, Clone, Deserialize)]
pub struct RetencionSettings {
    /// When the pruning pass runs (6-field cron).
    pub cron: Cron,
    /// Published events are deleted after this long.
    #[serde(with = "humantime_serde_str")]
    pub eventos: Duration,
    /// Idempotency records are deleted after this long: the duplicate window.
    #[serde(with = "humantime_serde_str")]
    pub comandos: Duration,
    /// Tickets CANCELADO or ARCHIVADO for longer than this have their
    /// requester's data erased by the same pass (§11, v1.2); none: never.
    #[serde(default, with = "humantime_serde_str::opcional")]
    pub anonimizar_cerrados: Option<Duration>,
}

/// `[database]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// Postgres URL, secret.
    pub url: SecretString,
    /// Size of the connection pool.
    pub max_connections: u32,
}

/// `[amqp]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    /// RabbitMQ URL, secret.
    pub url: SecretString,
    /// Most unacknowledged deliveries the consumer holds.
    pub prefetch: u16,
    /// Bodies larger than this are refused unread and dead-lettered.
    pub max_cuerpo_bytes: usize,
}

/// `[topology]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct TopologySettings {
    /// Prefix of every exchange and queue name (`P` in the contract).
    pub prefix: String,
    /// Deliveries of one command before it is dead-lettered.
    pub delivery_limit: u32,
}

/// Where identities come from (contract §3).
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// HS256 secret (≥ 32 bytes). Unset: the public development secret,
    /// unless a JWKS is configured, in which case HS256 is off.
    #[serde(default)]
    pub jwt_secret: Option<SecretString>,
    /// An identity provider's key set, fetched at start and again on an
    /// unknown `kid` (at most once a minute).
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// A key set read from a file at start.
    #[serde(default)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// Required `iss`, when set.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Accepted `aud` values, when set (the token's `aud` may be a list).
    #[serde(default)]
    pub audience: Vec<String>,
    /// Dotted paths of the claims that carry role, area and name.
    #[serde(default)]
    pub claims: ClaimsSettings,
    /// The secret the key of `x-mesa-autoridad` seals is derived from
    /// (≥ 32 bytes; every replica the same). Unset: the HS256 secret; with
    /// neither, parked staff commands keep no authority.
    #[serde(default)]
    pub secreto_autoridad: Option<SecretString>,
}

/// Claim paths, for identity providers that name claims otherwise
/// (`realm_access.roles` in Keycloak).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ClaimsSettings {
    /// Claim that holds the role.
    pub rol: String,
    /// Claim that holds the area.
    pub area: String,
    /// Claim that holds the display name.
    pub nombre: String,
}

impl Default for ClaimsSettings {
    fn default() -> Self {
        Self { rol: "rol".into(), area: "area".into(), nombre: "nombre".into() }
    }
}

impl AuthSettings {
    /// The HS256 secret in force: the configured one, else the development
    /// secret when no JWKS is configured, else none (HS256 off).
    pub fn secreto_hs256(&self) -> Option<SecretString> {
        match &self.jwt_secret {
            Some(s) => Some(s.clone()),
            None if self.jwks_url.is_none() && self.jwks_file.is_none() => Some(SecretString::from(DEV_JWT_SECRET)),
            None => None,
        }
    }
}

/// `[http]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on.
    pub port: u16,
}

/// `mesa-ayuda gateway`, the HTTP API (contract §8).
#[derive(Debug, Clone, Deserialize)]
pub struct GatewaySettings {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on.
    pub port: u16,
    /// How long a request waits for the worker's reply before 504.
    #[serde(with = "humantime_serde_str")]
    pub timeout: Duration,
    /// Requests per minute per client address on the public routes; 0 turns the limit off.
    pub limite_publico: u32,
    /// CIDRs of the proxies whose `X-Forwarded-For` is believed.
    pub proxies_confiables: Vec<String>,
    /// Origins allowed by CORS (`*` for any); none turns CORS off.
    pub cors_origenes: Vec<String>,
    /// Largest request head, request line and headers (v1.2): past it 431.
    pub max_cabeceras_bytes: usize,
    /// From a head's first byte to its end (v1.2); then the connection closes.
    #[serde(with = "humantime_serde_str")]
    pub tiempo_cabeceras: Duration,
    /// For a request's whole body, once its head is in (v1.2); then 408.
    #[serde(with = "humantime_serde_str")]
    pub tiempo_cuerpo: Duration,
    /// An idle kept-alive connection closes after this (v1.2).
    #[serde(with = "humantime_serde_str")]
    pub tiempo_inactivo: Duration,
    /// Connections open at once (v1.2); past it new ones wait.
    pub max_conexiones: std::num::NonZeroUsize,
}

/// `[scheduler]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerSettings {
    /// Cron expression of the SLA scans.
    pub cron: Cron,
    /// Tickets locked per scan transaction.
    pub lote: usize,
}

/// `[sla]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct SlaSettings {
    /// Resolution target per priority name (`ALTA = "4h"`).
    pub prioridades: BTreeMap<String, String>,
    /// Remaining percentage of the target at which a ticket turns `POR_VENCER`.
    pub aviso_porcentaje: u32,
    /// Default thresholds (remaining %, v1.1); unset means `[aviso_porcentaje]`.
    #[serde(default)]
    pub avisos: Option<Vec<u32>>,
    /// First-response target per priority (v1.1); none by default.
    #[serde(default)]
    pub primera_respuesta: BTreeMap<String, String>,
    /// Whether `PAUSADO` tickets stop the SLA clock: `true`, `false`, or
    /// (v1.2) the list of `espera` values whose pauses do (`["SOLICITANTE"]`).
    pub pausa_detiene_reloj: PausaDetieneRelojSettings,
    /// What stops the first-response clock (v1.2): `"asignar"` (default) or
    /// `"respuesta"`, the first PUBLICO message of staff.
    #[serde(default)]
    pub primera_respuesta_termina: crate::domain::sla::FinPrimeraRespuesta,
    /// Working hours; absent means a 24x7 clock.
    #[serde(default)]
    pub calendario: Option<CalendarioSettings>,
    /// Named calendars policies may count on (`[sla.calendarios.<nombre>]`, v1.1).
    #[serde(default)]
    pub calendarios: BTreeMap<String, CalendarioSettings>,
    /// `[[sla.politicas]]` (v1.1): the first whose conditions hold gives a ticket its targets.
    #[serde(default)]
    pub politicas: Vec<PoliticaSettings>,
}

/// `sla.pausa_detiene_reloj` as written: a boolean, or a list of waits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PausaDetieneRelojSettings {
    /// Every pause (`true`) or none (`false`), as in v1.
    Siempre(bool),
    /// Only pauses waiting for these (`SOLICITANTE`, `TERCERO`, `OTRO`).
    Esperas(Vec<String>),
}

/// One `[[sla.politicas]]` entry, as written (contract §6.1).
#[derive(Debug, Clone, Deserialize)]
pub struct PoliticaSettings {
    /// `slaPolitica` of its tickets.
    pub nombre: String,
    /// Conditions: each a list, compared case-insensitively; absent holds.
    #[serde(default)]
    pub tipos: Option<Vec<String>>,
    /// Priorities the rule applies to; absent holds for all.
    #[serde(default)]
    pub prioridades: Option<Vec<String>>,
    /// Areas the rule applies to; absent holds for all.
    #[serde(default)]
    pub areas: Option<Vec<String>>,
    /// Categories the rule applies to; absent holds for all.
    #[serde(default)]
    pub categorias: Option<Vec<String>>,
    /// Resolution target (`4h`).
    pub resolucion: String,
    /// First-response target; absent: no first-response clock.
    #[serde(default)]
    pub primera_respuesta: Option<String>,
    /// Thresholds in remaining %; absent: the default `sla.avisos`.
    #[serde(default)]
    pub avisos: Option<Vec<u32>>,
    /// A name of `sla.calendarios`; absent: the default calendar.
    #[serde(default)]
    pub calendario: Option<String>,
    /// Escalation steps.
    #[serde(default)]
    pub escalado: Vec<PasoSettings>,
}

/// One escalation step, as written: `{ meta, en, area, prioridad }`.
#[derive(Debug, Clone, Deserialize)]
pub struct PasoSettings {
    /// RESOLUCION or PRIMERA_RESPUESTA.
    pub meta: String,
    /// `"VENCIDO"` or a threshold (integer) of the policy's `avisos`.
    pub en: EnSettings,
    /// The area the ticket moves to.
    #[serde(default)]
    pub area: Option<String>,
    /// The priority the ticket takes.
    #[serde(default)]
    pub prioridad: Option<String>,
}

/// `en` of an escalation step: a threshold or a word.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EnSettings {
    /// A threshold, in percent.
    Umbral(i64),
    /// `"VENCIDO"`.
    Texto(String),
}

/// `[sla.calendario]`: an IANA time zone, `HH:MM-HH:MM` windows per weekday
/// (`lunes` … `domingo`) and holiday dates (`YYYY-MM-DD`).
#[derive(Debug, Clone, Deserialize)]
pub struct CalendarioSettings {
    /// IANA time zone of the working hours (`America/Bogota`).
    pub zona: String,
    /// `HH:MM-HH:MM` windows per weekday name; a missing day has no working hours.
    pub horario: BTreeMap<String, Vec<String>>,
    /// Holidays (`YYYY-MM-DD`), without working hours.
    #[serde(default)]
    pub feriados: Vec<String>,
}

/// `[worker]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    /// Number of per-ticket lanes of the consumer.
    pub lanes: usize,
    /// Most deliveries a lane applies in one transaction (group commit).
    pub lote: usize,
    /// How long a lane waits, after taking a delivery, for more to join the
    /// same transaction (zero: only what it already holds).
    #[serde(with = "humantime_serde_str")]
    pub juntar: Duration,
    /// How long in-flight work may take to finish after SIGINT/SIGTERM.
    #[serde(with = "humantime_serde_str")]
    pub shutdown_grace: Duration,
}

/// `[outbox]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboxSettings {
    /// Most events the relay publishes per pass (its `lote`; the key keeps
    /// its public English name).
    pub batch: usize,
    /// Longest wait between relay passes.
    #[serde(with = "humantime_serde_str")]
    pub poll_interval: Duration,
    /// How long the relay, woken by a commit, lets more events gather
    /// before a pass (zero: none).
    #[serde(with = "humantime_serde_str")]
    pub juntar: Duration,
}

/// `[log]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `pretty` (default) or `json`, in any case.
    pub format: FormatoLog,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatoLog {
    /// Human-readable lines, for a terminal.
    Pretty,
    /// One JSON object per line, for a log pipeline.
    Json,
}

impl<'de> Deserialize<'de> for FormatoLog {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let texto = String::deserialize(d)?;
        match texto.to_ascii_lowercase().as_str() {
            "pretty" => Ok(FormatoLog::Pretty),
            "json" => Ok(FormatoLog::Json),
            _ => Err(serde::de::Error::custom(format!("\"pretty\" o \"json\", no {texto:?}"))),
        }
    }
}

/// The configuration a process runs with, built once by `Config::load`
/// (or `Config::desde`): the settings checked as a whole, and every value
/// that text cannot carry parsed into the type its component takes.
/// Crons and durations are parsed by their types as the settings are read;
/// the SLA rule set and the trusted proxies need the whole section, so they
/// are compiled here, once. Components take these, never the text they
/// were written as.
#[derive(Debug, Clone)]
pub struct Config {
    /// The settings as written and checked: the plain values (sizes, names,
    /// ports, secret URLs) components read directly.
    pub settings: Settings,
    /// `[sla]` compiled: targets, thresholds, calendars and policies.
    pub reglas: Arc<ReglasSla>,
    /// `gateway.proxies_confiables` as networks; a bad one stopped the load.
    pub proxies: Vec<IpNet>,
}

/// The configuration as loaded, with the merged tree it was read from (for
/// `mesa-ayuda config`, which shows each value's source).
#[derive(Debug, Clone)]
pub struct Cargada {
    /// The validated, parsed configuration.
    pub config: Config,
    /// The merged tree, with each leaf's source.
    pub arbol: Arbol,
}

/// Every problem found in the configuration, listed at once (contract §7:
/// `run` stops with exit code 2).
#[derive(Debug, Clone, thiserror::Error)]
#[error("configuración inválida ({} problema(s)):{}", .0.len(), lista(.0))]
pub struct ErrorConfiguracion(pub Vec<Problema>);

fn lista(problemas: &[Problema]) -> String {
    problemas.iter().map(|p| format!("\n  - {p}")).collect()
}

/// Longest accepted SLA target: a longer one is a typo, and arithmetic on a
/// business-hours calendar walks it day by day.
pub const SLA_OBJETIVO_MAX: Duration = Duration::from_secs(366 * 24 * 3600);
const MINUTO: Duration = Duration::from_secs(60);
/// The longest `worker.juntar` and `outbox.juntar`: a wait for company,
/// never a latency of its own.
const JUNTAR_MAX: Duration = Duration::from_millis(100);
const HORA: Duration = Duration::from_secs(3600);
const RETENCION_MAX: Duration = Duration::from_secs(3650 * 24 * 3600);
/// RabbitMQ's own ceiling on a message (`max_message_size`, 128 MiB).
const CUERPO_MAX_BYTES: usize = 128 * 1024 * 1024;
/// The sections of the configuration; any other top-level key is unknown.
const SECCIONES: [&str; 13] = [
    "database",
    "amqp",
    "topology",
    "auth",
    "http",
    "scheduler",
    "sla",
    "worker",
    "outbox",
    "retencion",
    "log",
    "gateway",
    "telemetria",
];

impl Settings {
    /// Whether the HS256 secret is the well-known development one.
    pub fn uses_dev_secret(&self) -> bool {
        self.auth.secreto_hs256().is_some_and(|s| s.expose_secret() == DEV_JWT_SECRET)
    }
}

/// Durations written the human way in config files and env vars.
mod humantime_serde_str {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!("duración inválida {:?} (p. ej. 25s, 90m, 4h): {e}", super::recortar(&s)))
        })
    }

    /// An optional duration: absent is none, a text is parsed as above.
    pub(super) mod opcional {
        use serde::Deserializer;
        use std::time::Duration;

        pub(in super::super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            super::deserialize(d).map(Some)
        }
    }
}

#[cfg(test)]
mod tests;
