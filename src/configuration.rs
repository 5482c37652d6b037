//! Settings: built-in defaults, `config/default.toml`, `config/<MESA_ENV>.toml`,
//! then `MESA__<SECTION>__<KEY>` variables (and `DATABASE_URL` / `AMQP_URL`).

use crate::domain::calendario::{Calendario, CalendarioLaboral, dia_de_semana, parse_ventana};
use crate::domain::estado::TIPOS;
use crate::domain::sla::{Avisos, Condiciones, Meta, PasoEscalado, Politica, Prioridad, ReglasSla, Umbral};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

mod capas;
mod mostrar;

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
    pub cron: String,
    /// Published events are deleted after this long.
    #[serde(with = "humantime_serde_str")]
    pub eventos: Duration,
    /// Idempotency records are deleted after this long: the duplicate window.
    #[serde(with = "humantime_serde_str")]
    pub comandos: Duration,
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
    pub cron: String,
    /// Tickets locked per scan transaction.
    pub lote: i64,
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
    /// Whether `PAUSADO` tickets stop the SLA clock.
    pub pausa_detiene_reloj: bool,
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

impl CalendarioSettings {
    /// The calendar these settings describe, or what is wrong with them.
    pub fn calendario(&self) -> Result<Calendario, String> {
        let zona: chrono_tz::Tz = self.zona.parse().map_err(|_| format!("zona horaria desconocida {:?}", self.zona))?;
        let mut ventanas: [Vec<_>; 7] = Default::default();
        for (dia, lista) in &self.horario {
            let d = dia_de_semana(dia).ok_or_else(|| format!("horario: día desconocido {dia:?}"))?;
            for v in lista {
                ventanas[d.num_days_from_monday() as usize]
                    .push(parse_ventana(v).map_err(|e| format!("horario.{dia}: {e}"))?);
            }
        }
        let mut feriados = Vec::new();
        for f in &self.feriados {
            feriados.push(
                chrono::NaiveDate::parse_from_str(f, "%Y-%m-%d")
                    .map_err(|e| format!("feriados: fecha inválida {f:?}: {e}"))?,
            );
        }
        let laboral = CalendarioLaboral::new(zona, ventanas, feriados)?;
        Ok(Calendario::Laboral(laboral))
    }
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
    /// Most events the relay publishes per pass.
    pub batch: i64,
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

/// The settings as loaded, with the merged tree they were read from (for
/// `mesa-ayuda config`, which shows each value's source).
#[derive(Debug, Clone)]
pub struct Cargada {
    /// The validated settings.
    pub settings: Settings,
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
    /// Reads every layer from the working directory's `config/` and the process environment.
    pub fn load() -> Result<Settings, ErrorConfiguracion> {
        Self::load_from(Path::new("config"), std::env::vars()).map(|c| c.settings)
    }

    /// Reads the built-in defaults, `dir/default.toml`, `dir/<MESA_ENV>.toml`
    /// and the given environment, and validates the result as a whole.
    pub fn load_from(
        dir: &Path,
        entorno: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Cargada, ErrorConfiguracion> {
        let entorno: BTreeMap<String, String> = entorno.into_iter().collect();
        let mut problemas = Vec::new();
        let mut arbol = Arbol::default();
        match toml::from_str(DEFAULTS) {
            Ok(tabla) => arbol.fusionar(tabla, &Fuente::Defecto),
            Err(e) => {
                problemas.push(Problema { clave: "config/default.toml".into(), mensaje: e.to_string(), fuente: None })
            }
        }
        let nombre_env = entorno.get("MESA_ENV").map(String::as_str).unwrap_or("local");
        let mut archivos = vec![dir.join("default.toml")];
        // A name, not a path: `config/<MESA_ENV>.toml` stays in `config/`.
        if !nombre_env.is_empty() && nombre_env.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)) {
            archivos.push(dir.join(format!("{nombre_env}.toml")));
        } else {
            problemas.push(Problema {
                clave: "MESA_ENV".into(),
                mensaje: format!("{:?}: solo letras, dígitos, '-' y '_'", recortar(nombre_env)),
                fuente: None,
            });
        }
        for archivo in archivos {
            let texto = match std::fs::read_to_string(&archivo) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    problemas.push(Problema {
                        clave: archivo.display().to_string(),
                        mensaje: e.to_string(),
                        fuente: None,
                    });
                    continue;
                }
            };
            match toml::from_str::<toml::Table>(&texto) {
                Ok(tabla) => arbol.fusionar(tabla, &Fuente::Archivo(archivo)),
                Err(e) => problemas.push(Problema {
                    clave: archivo.display().to_string(),
                    mensaje: format!("TOML inválido: {}", e.message()),
                    fuente: None,
                }),
            }
        }
        // The conventional variables sit below the MESA__ ones.
        for (var, ruta) in [("DATABASE_URL", ["database", "url"]), ("AMQP_URL", ["amqp", "url"])] {
            if let Some(valor) = entorno.get(var) {
                arbol.poner_variable(var, &ruta, valor).unwrap_or_else(|p| problemas.push(p));
            }
        }
        let mut vistas: BTreeMap<String, &str> = BTreeMap::new();
        for (var, valor) in &entorno {
            let Some(resto) = var.strip_prefix("MESA__") else { continue };
            let ruta: Vec<&str> = resto.split("__").collect();
            // Two spellings of one key would make the winner depend on the
            // order the environment lists them in.
            let clave = ruta.join(".").to_lowercase();
            if let Some(otra) = vistas.insert(clave, var) {
                problemas.push(Problema {
                    clave: var.clone(),
                    mensaje: format!("la misma clave que {otra}: deje una sola"),
                    fuente: None,
                });
                continue;
            }
            arbol.poner_variable(var, &ruta, valor).unwrap_or_else(|p| problemas.push(p));
        }
        let settings = leer(&arbol, &mut problemas);
        if let Some(s) = &settings {
            problemas.extend(s.problemas().into_iter().map(|(clave, mensaje)| {
                let fuente = arbol.fuente(&clave);
                Problema { clave, mensaje, fuente }
            }));
        }
        match settings {
            Some(settings) if problemas.is_empty() => Ok(Cargada { settings, arbol }),
            _ => Err(ErrorConfiguracion(problemas)),
        }
    }

    /// Every semantic problem, as (dotted key, message).
    fn problemas(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut si = |cond: bool, clave: &str, mensaje: &str| {
            if cond {
                p.push((clave.to_string(), mensaje.to_string()));
            }
        };
        let url_db = self.database.url.expose_secret();
        si(
            !(url_db.starts_with("postgres://") || url_db.starts_with("postgresql://")),
            "database.url",
            "se espera una URL postgres:// o postgresql://",
        );
        si(!(1..=1000).contains(&self.database.max_connections), "database.max_connections", "entre 1 y 1000");
        si(
            self.amqp.url.expose_secret().split(',').any(|u| {
                let u = u.trim();
                !(u.starts_with("amqp://") || u.starts_with("amqps://"))
            }),
            "amqp.url",
            "se esperan URLs amqp:// o amqps://, separadas por comas",
        );
        si(self.amqp.prefetch == 0, "amqp.prefetch", "debe ser mayor que 0");
        si(
            self.amqp.max_cuerpo_bytes == 0 || self.amqp.max_cuerpo_bytes > CUERPO_MAX_BYTES,
            "amqp.max_cuerpo_bytes",
            "debe estar entre 1 y 134217728 (el máximo de RabbitMQ)",
        );
        let prefijo = &self.topology.prefix;
        si(
            prefijo.is_empty()
                || prefijo.len() > 100
                || !prefijo.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "topology.prefix",
            "de 1 a 100 caracteres: letras, dígitos, '-', '_' o '.'",
        );
        si(self.topology.delivery_limit == 0, "topology.delivery_limit", "debe ser mayor que 0");
        si(
            self.auth.jwt_secret.as_ref().is_some_and(|s| s.expose_secret().len() < JWT_SECRET_MIN_BYTES),
            "auth.jwt_secret",
            "el secreto HS256 debe tener al menos 32 bytes",
        );
        si(
            self.auth.secreto_autoridad.as_ref().is_some_and(|s| s.expose_secret().len() < JWT_SECRET_MIN_BYTES),
            "auth.secreto_autoridad",
            "el secreto debe tener al menos 32 bytes",
        );
        si(
            self.auth.jwks_url.as_ref().is_some_and(|u| !(u.starts_with("https://") || u.starts_with("http://"))),
            "auth.jwks_url",
            "se espera una URL https:// (o http://)",
        );
        si(
            self.auth.jwks_file.as_ref().is_some_and(|f| f.as_os_str().is_empty()),
            "auth.jwks_file",
            "no puede estar vacío",
        );
        si(self.auth.issuer.as_ref().is_some_and(|i| i.trim().is_empty()), "auth.issuer", "no puede estar vacío");
        si(self.auth.audience.iter().any(|a| a.trim().is_empty()), "auth.audience", "un valor vacío");
        for (clave, ruta) in [
            ("auth.claims.rol", &self.auth.claims.rol),
            ("auth.claims.area", &self.auth.claims.area),
            ("auth.claims.nombre", &self.auth.claims.nombre),
        ] {
            si(ruta.split('.').any(str::is_empty), clave, "ruta de claim vacía o con un segmento vacío");
        }
        si(self.http.host.trim().is_empty(), "http.host", "no puede estar vacío");
        si(
            self.telemetria.otlp_endpoint.as_ref().is_some_and(|u| {
                let u = u.trim();
                let resto = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://"));
                resto.is_none_or(|r| r.is_empty() || r.chars().any(|c| c.is_whitespace() || c.is_control()))
            }),
            "telemetria.otlp_endpoint",
            "se espera una URL http:// o https:// (p. ej. http://jaeger:4318)",
        );
        si(!(1..=100_000).contains(&self.scheduler.lote), "scheduler.lote", "entre 1 y 100000");
        for (clave, cron) in [("scheduler.cron", &self.scheduler.cron), ("retencion.cron", &self.retencion.cron)] {
            if let Err(e) = crate::reloj::validar_cron(cron) {
                p.push((clave.to_string(), e));
            }
        }
        let mut si = |cond: bool, clave: &str, mensaje: &str| {
            if cond {
                p.push((clave.to_string(), mensaje.to_string()));
            }
        };
        si(!(1..=256).contains(&self.worker.lanes), "worker.lanes", "entre 1 y 256");
        si(!(1..=10_000).contains(&self.worker.lote), "worker.lote", "entre 1 y 10000");
        si(self.worker.shutdown_grace > HORA, "worker.shutdown_grace", "una hora como mucho");
        si(self.worker.juntar > JUNTAR_MAX, "worker.juntar", "100ms como mucho");
        si(self.outbox.juntar > JUNTAR_MAX, "outbox.juntar", "100ms como mucho");
        si(!(1..=10_000).contains(&self.outbox.batch), "outbox.batch", "entre 1 y 10000");
        si(
            self.outbox.poll_interval.is_zero() || self.outbox.poll_interval > HORA,
            "outbox.poll_interval",
            "mayor que cero y una hora como mucho",
        );
        // Retention is subtracted from the current date: bounded, it cannot overflow it.
        for (clave, d) in
            [("retencion.eventos", self.retencion.eventos), ("retencion.comandos", self.retencion.comandos)]
        {
            si(d < MINUTO || d > RETENCION_MAX, clave, "entre 1 minuto y 10 años (3650 días)");
        }
        p.extend(self.gateway.problemas());
        if let Err(ErrorConfiguracion(problemas)) = self.reglas_sla() {
            p.extend(problemas.into_iter().map(|x| (x.clave, x.mensaje)));
        }
        p
    }

    /// The SLA policy, with every target parsed (`4h`, `90m`, `20s`); every
    /// problem at once.
    pub fn reglas_sla(&self) -> Result<ReglasSla, ErrorConfiguracion> {
        let mut problemas = Vec::new();
        let mut problema = |clave: String, mensaje: String| problemas.push(Problema { clave, mensaje, fuente: None });
        let mut prioridades = Vec::new();
        for (nombre, texto) in &self.sla.prioridades {
            match objetivo(texto) {
                Ok(o) => prioridades.push(Prioridad { nombre: nombre.clone(), objetivo: o }),
                Err(e) => problema(format!("sla.prioridades.{nombre}"), e),
            }
        }
        if self.sla.prioridades.is_empty() {
            problema("sla.prioridades".into(), "no puede estar vacío".into());
        }
        for (nombre, texto) in &self.sla.primera_respuesta {
            if let Err(e) = objetivo(texto) {
                problema(format!("sla.primera_respuesta.{nombre}"), e);
            }
            if !self.sla.prioridades.contains_key(nombre) {
                problema(format!("sla.primera_respuesta.{nombre}"), "prioridad desconocida".into());
            }
        }
        if !(1..=99).contains(&self.sla.aviso_porcentaje) {
            problema("sla.aviso_porcentaje".into(), "un porcentaje entre 1 y 99".into());
        }
        if let Some(avisos) = &self.sla.avisos
            && (avisos.is_empty() || avisos.iter().any(|a| !(1..=99).contains(a)))
        {
            problema("sla.avisos".into(), "porcentajes entre 1 y 99, al menos uno".into());
        }
        let calendario = match &self.sla.calendario {
            Some(c) => match c.calendario() {
                Ok(c) => Some(c),
                Err(e) => {
                    problema("sla.calendario".into(), e);
                    None
                }
            },
            None => None,
        };
        let mut calendarios = BTreeMap::new();
        for (nombre, c) in &self.sla.calendarios {
            match c.calendario() {
                Ok(c) => {
                    calendarios.insert(nombre.clone(), c);
                }
                Err(e) => problema(format!("sla.calendarios.{nombre}"), e),
            }
        }
        let avisos = match &self.sla.avisos {
            Some(lista) => Avisos::new(lista.iter().copied()),
            None => Avisos::new([self.sla.aviso_porcentaje]),
        };
        let mut politicas = Vec::new();
        for (i, p) in self.sla.politicas.iter().enumerate() {
            let contexto = PoliticaEnConfig { indice: i, settings: &self.sla, avisos: avisos.as_ref() };
            match contexto.politica(p) {
                Ok(politica) => politicas.push(politica),
                Err(lista) => lista.into_iter().for_each(|(clave, mensaje)| problema(clave, mensaje)),
            }
        }
        if !problemas.is_empty() {
            return Err(ErrorConfiguracion(problemas));
        }
        let mut reglas = ReglasSla::new(prioridades, self.sla.aviso_porcentaje, self.sla.pausa_detiene_reloj)
            .con_primera_respuesta(
                self.sla.primera_respuesta.iter().filter_map(|(n, t)| objetivo(t).ok().map(|o| (n.clone(), o))),
            )
            .con_politicas(calendarios, politicas);
        if let Some(avisos) = avisos {
            reglas = reglas.con_avisos(avisos);
        }
        Ok(match calendario {
            Some(c) => reglas.con_calendario(c),
            None => reglas,
        })
    }

    /// Whether the HS256 secret is the well-known development one.
    pub fn uses_dev_secret(&self) -> bool {
        self.auth.secreto_hs256().is_some_and(|s| s.expose_secret() == DEV_JWT_SECRET)
    }
}

/// Reads one `[[sla.politicas]]` entry against the rest of `[sla]`.
struct PoliticaEnConfig<'a> {
    indice: usize,
    settings: &'a SlaSettings,
    /// The default thresholds (none when they are themselves invalid).
    avisos: Option<&'a Avisos>,
}

impl PoliticaEnConfig<'_> {
    /// The policy, or every problem with it; each key names the policy.
    fn politica(&self, p: &PoliticaSettings) -> Result<Politica, Vec<(String, String)>> {
        let mut problemas = Vec::new();
        let nombre = p.nombre.trim();
        let clave = |campo: &str| format!("sla.politicas[{}] ({:?}).{campo}", self.indice, recortar(nombre));
        let mut mal = |campo: &str, mensaje: String| problemas.push((clave(campo), mensaje));
        if nombre.is_empty() || nombre.chars().count() > 100 || !crate::domain::texto::es_imprimible(nombre) {
            mal("nombre", "entre 1 y 100 caracteres imprimibles".into());
        }
        if self.settings.politicas[..self.indice].iter().any(|q| q.nombre.trim() == nombre) {
            mal("nombre", "repetido: cada política necesita un nombre propio".into());
        }
        for valor in p.tipos.iter().flatten() {
            if !TIPOS.iter().any(|t| t.eq_ignore_ascii_case(valor.trim())) {
                mal("tipos", format!("tipo desconocido: {:?}", recortar(valor)));
            }
        }
        for valor in p.prioridades.iter().flatten() {
            if !self.settings.prioridades.keys().any(|k| k.eq_ignore_ascii_case(valor.trim())) {
                mal("prioridades", format!("prioridad desconocida: {:?}", recortar(valor)));
            }
        }
        for (campo, lista) in
            [("tipos", &p.tipos), ("prioridades", &p.prioridades), ("areas", &p.areas), ("categorias", &p.categorias)]
        {
            if lista.as_ref().is_some_and(|l| l.is_empty()) {
                mal(campo, "una lista vacía no se cumple nunca: quítela o nombre al menos uno".into());
            }
        }
        let resolucion = objetivo(&p.resolucion).map_err(|e| mal("resolucion", e)).ok();
        let primera_respuesta = match &p.primera_respuesta {
            Some(t) => objetivo(t).map_err(|e| mal("primera_respuesta", e)).ok(),
            None => None,
        };
        let avisos = match &p.avisos {
            Some(lista) => {
                let a = Avisos::new(lista.iter().copied());
                if a.is_none() {
                    mal("avisos", "porcentajes entre 1 y 99, al menos uno".into());
                }
                a
            }
            None => None,
        };
        let calendario = match &p.calendario {
            Some(c) => {
                let encontrado = self.settings.calendarios.keys().find(|k| k.eq_ignore_ascii_case(c.trim())).cloned();
                if encontrado.is_none() {
                    mal(
                        "calendario",
                        format!("calendario desconocido {:?} (defínalo en [sla.calendarios])", recortar(c)),
                    );
                }
                encontrado
            }
            None => None,
        };
        let mut escalado = Vec::new();
        for (j, paso) in p.escalado.iter().enumerate() {
            let campo = format!("escalado[{j}]");
            let Some(meta) = Meta::parse(&paso.meta) else {
                mal(&campo, format!("meta desconocida {:?}: RESOLUCION o PRIMERA_RESPUESTA", recortar(&paso.meta)));
                continue;
            };
            if meta == Meta::PrimeraRespuesta && primera_respuesta.is_none() && p.primera_respuesta.is_none() {
                mal(&campo, "la política no tiene primera_respuesta: este paso no se aplicaría nunca".into());
            }
            let umbrales = avisos.as_ref().or(self.avisos);
            let en = match &paso.en {
                EnSettings::Texto(t) if t.trim().eq_ignore_ascii_case("VENCIDO") => Some(Umbral::Vencido),
                EnSettings::Umbral(n) => {
                    let u = u8::try_from(*n).ok().map(Umbral::Aviso);
                    match u {
                        Some(Umbral::Aviso(p)) if umbrales.is_none_or(|a| a.porcentajes().contains(&p)) => u,
                        _ => {
                            mal(&campo, format!("en = {n}: no es un umbral de los avisos de la política"));
                            None
                        }
                    }
                }
                EnSettings::Texto(t) => {
                    mal(&campo, format!("en = {:?}: \"VENCIDO\" o un umbral de avisos", recortar(t)));
                    None
                }
            };
            let area = paso.area.as_deref().map(str::trim).filter(|a| !a.is_empty());
            if let Some(a) = area
                && (a.chars().count() < 2 || a.chars().count() > 100 || !crate::domain::texto::es_imprimible(a))
            {
                mal(&campo, "area: entre 2 y 100 caracteres imprimibles".into());
            }
            let prioridad = match paso.prioridad.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
                Some(n) => match self.settings.prioridades.keys().find(|k| k.eq_ignore_ascii_case(n)) {
                    Some(k) => Some(k.clone()),
                    None => {
                        mal(&campo, format!("prioridad desconocida {:?}", recortar(n)));
                        None
                    }
                },
                None => None,
            };
            if area.is_none() && paso.prioridad.as_deref().is_none_or(|p| p.trim().is_empty()) {
                mal(&campo, "no cambia nada: nombre area, prioridad o ambas".into());
            }
            if let Some(en) = en {
                escalado.push(PasoEscalado { meta, en, area: area.map(str::to_string), prioridad });
            }
        }
        let lista = |l: &Option<Vec<String>>| l.as_ref().map(|v| v.iter().map(|x| x.trim().to_string()).collect());
        match (problemas.is_empty(), resolucion) {
            (true, Some(resolucion)) => Ok(Politica {
                nombre: nombre.to_string(),
                condiciones: Condiciones {
                    tipos: lista(&p.tipos),
                    prioridades: lista(&p.prioridades),
                    areas: lista(&p.areas),
                    categorias: lista(&p.categorias),
                },
                resolucion,
                primera_respuesta,
                avisos,
                calendario,
                escalado,
            }),
            _ => Err(problemas),
        }
    }
}

/// An SLA target: a duration above zero and at most [`SLA_OBJETIVO_MAX`].
fn objetivo(texto: &str) -> Result<chrono::TimeDelta, String> {
    let d = humantime::parse_duration(texto).map_err(|e| format!("duración inválida {:?}: {e}", recortar(texto)))?;
    if d.is_zero() || d > SLA_OBJETIVO_MAX {
        return Err(format!("{:?}: debe ser mayor que cero y de 366 días como mucho", recortar(texto)));
    }
    chrono::TimeDelta::from_std(d).map_err(|e| e.to_string())
}

/// Deserializes each section on its own, so that one bad value does not hide
/// the problems of the others; unknown keys are collected, not fatal here.
fn leer(arbol: &Arbol, problemas: &mut Vec<Problema>) -> Option<Settings> {
    for clave in arbol.valores.keys().filter(|k| !SECCIONES.contains(&k.as_str())) {
        problemas.push(Problema {
            clave: clave.clone(),
            mensaje: "sección desconocida".into(),
            fuente: arbol.fuente(clave),
        });
    }
    let mut s = Secciones { arbol, problemas };
    Some(Settings {
        database: s.leer("database")?,
        amqp: s.leer("amqp")?,
        topology: s.leer("topology")?,
        auth: s.leer("auth")?,
        http: s.leer("http")?,
        scheduler: s.leer("scheduler")?,
        sla: s.leer("sla")?,
        worker: s.leer("worker")?,
        outbox: s.leer("outbox")?,
        retencion: s.leer("retencion")?,
        log: s.leer("log")?,
        gateway: s.leer("gateway")?,
        telemetria: s.leer("telemetria")?,
    })
}

struct Secciones<'a> {
    arbol: &'a Arbol,
    problemas: &'a mut Vec<Problema>,
}

impl Secciones<'_> {
    fn leer<T: serde::de::DeserializeOwned>(&mut self, nombre: &str) -> Option<T> {
        let valor = self.arbol.valores.get(nombre).cloned().unwrap_or_else(|| toml::Value::Table(Default::default()));
        let mut desconocidas = Vec::new();
        let mut anotar = |ruta: serde_ignored::Path| desconocidas.push(format!("{nombre}.{ruta}"));
        let de = serde_ignored::Deserializer::new(valor, &mut anotar);
        let resultado = serde_path_to_error::deserialize::<_, T>(de);
        for clave in desconocidas {
            let fuente = self.arbol.fuente(&clave);
            self.problemas.push(Problema { clave, mensaje: "clave desconocida".into(), fuente });
        }
        resultado
            .map_err(|e| {
                let ruta = e.path().to_string();
                let clave = if ruta == "." { nombre.to_string() } else { format!("{nombre}.{ruta}") };
                let fuente = self.arbol.fuente(&clave);
                self.problemas.push(Problema { clave, mensaje: e.inner().message().to_string(), fuente });
            })
            .ok()
            // The built-in default stands in, so that the checks of the
            // other sections still run and every problem is listed.
            .or_else(|| toml::from_str::<toml::Table>(DEFAULTS).ok()?.remove(nombre)?.try_into().ok())
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
}

/// The URL with its password replaced (in the user info and in a
/// `password=` query parameter), for logs and `mesa-ayuda config`; each of
/// a comma-separated list of URLs.
pub fn redact_url(url: &str) -> String {
    url.split(',').map(redactar_una).collect::<Vec<_>>().join(",")
}

fn redactar_una(url: &str) -> String {
    let sin_usuario = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_string(),
            },
            None => url.to_string(),
        },
        None => url.to_string(),
    };
    match sin_usuario.split_once('?') {
        Some((base, consulta)) => {
            let pares: Vec<String> = consulta
                .split('&')
                .map(|par| match par.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => par.to_string(),
                })
                .collect();
            format!("{base}?{}", pares.join("&"))
        }
        None => sin_usuario,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cargar(entorno: &[(&str, &str)]) -> Result<Cargada, ErrorConfiguracion> {
        let vacio = Path::new("/nonexistent/mesa-config");
        Settings::load_from(vacio, entorno.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_parse_and_follow_the_contract() {
        let s = cargar(&[]).unwrap().settings;
        assert_eq!(s.topology.prefix, "mesa");
        assert_eq!(s.http.port, 9464);
        assert_eq!(s.scheduler.cron, "*/30 * * * * *");
        let p = s.reglas_sla().unwrap();
        let nombres: Vec<_> = p.prioridades().iter().map(|p| p.nombre.as_str()).collect();
        assert_eq!(nombres, ["CRITICA", "ALTA", "MEDIA", "BAJA"]);
        assert!(s.uses_dev_secret());
    }

    #[test]
    fn the_waits_for_company_default_small_turn_off_at_zero_and_are_bounded() {
        let s = cargar(&[]).unwrap().settings;
        assert_eq!((s.worker.juntar, s.outbox.juntar), (Duration::from_millis(5), Duration::from_millis(10)));
        let s = cargar(&[("MESA__WORKER__JUNTAR", "0ms"), ("MESA__OUTBOX__JUNTAR", "0s")]).unwrap().settings;
        assert_eq!((s.worker.juntar, s.outbox.juntar), (Duration::ZERO, Duration::ZERO));
        let e = cargar(&[("MESA__WORKER__JUNTAR", "101ms"), ("MESA__OUTBOX__JUNTAR", "101ms")]).unwrap_err();
        let mut claves: Vec<&str> = e.0.iter().map(|p| p.clave.as_str()).collect();
        claves.sort_unstable();
        assert_eq!(claves, ["outbox.juntar", "worker.juntar"], "{e}");
        assert!(cargar(&[("MESA__WORKER__JUNTAR", "100ms")]).is_ok());
    }

    #[test]
    fn every_problem_is_listed_at_once() {
        let e = cargar(&[
            ("MESA__SLA__PRIORIDADES__alta", "8x"),
            ("MESA__SCHEDULER__CRON", "cada rato"),
            ("MESA__AUTH__JWT_SECRET", ""),
            ("MESA__HTTP__PORT", "noventa"),
            ("MESA__WORKER__LANEZ", "2"),
            ("MESA__NADA__X", "1"),
            ("MESA__SLA__PRIMERA_RESPUESTA__URGENTE", "1h"),
            ("MESA__SLA__AVISOS", "0,120"),
            ("MESA__WORKER__SHUTDOWN_GRACE", "pronto"),
        ])
        .unwrap_err();
        let claves: Vec<&str> = e.0.iter().map(|p| p.clave.as_str()).collect();
        for esperada in [
            "sla.prioridades.ALTA",
            "scheduler.cron",
            "auth.jwt_secret",
            "http.port",
            "worker.lanez",
            "nada",
            "sla.primera_respuesta.URGENTE",
            "sla.avisos",
            "worker.shutdown_grace",
        ] {
            assert!(claves.contains(&esperada), "{esperada} missing from {e}");
        }
        let texto = e.to_string();
        assert!(texto.contains("entorno MESA__SLA__PRIORIDADES__alta"), "{texto}");
        assert!(texto.contains("duración inválida \"8x\""), "{texto}");
        println!("{texto}");
    }

    #[test]
    fn odd_variables_are_named_problems_never_silently_ignored() {
        let huge = format!("{}h", "9".repeat(5000));
        for (var, valor) in [
            ("MESA__", "x"),
            ("MESA____X", "1"),
            ("MESA__SLA__PRIORIDADES", "8h"),
            ("MESA__SLA__PRIORIDADES__", "1h"),
            ("MESA__AUTH__AUDIENCE", "["),
            ("MESA__SLA__AVISOS", "[50, \"x\"]"),
            ("MESA_ENV", "../../etc/passwd"),
            ("MESA__SLA__PRIORIDADES__ALTA", huge.as_str()),
        ] {
            let e = cargar(&[(var, valor)]).expect_err(var);
            assert_eq!(e.0.len(), 1, "{var}: {e}");
            assert!(e.to_string().len() < 400, "a huge value is quoted whole: {var}");
        }
        let e = cargar(&[("MESA__SLA__AVISOS", "[50, \"x\"]")]).unwrap_err();
        assert_eq!(e.0[0].fuente, Some(Fuente::Entorno("MESA__SLA__AVISOS".into())), "{e}");
    }

    #[test]
    fn two_spellings_of_one_variable_are_refused() {
        let e = cargar(&[("MESA__SLA__PRIORIDADES__ALTA", "8h"), ("MESA__SLA__PRIORIDADES__alta", "9h")]).unwrap_err();
        assert_eq!(e.0.len(), 1, "{e}");
    }

    #[test]
    fn sla_targets_are_bounded() {
        for malo in ["0s", "367days", "99999999999999y", ""] {
            assert!(cargar(&[("MESA__SLA__PRIORIDADES__BAJA", malo)]).is_err(), "{malo}");
        }
        assert!(cargar(&[("MESA__SLA__PRIORIDADES__BAJA", "366days")]).is_ok());
    }

    #[test]
    fn durations_and_sizes_that_would_overflow_or_exhaust_are_refused() {
        for (var, malo) in [
            ("MESA__RETENCION__EVENTOS", "200000years"),
            ("MESA__RETENCION__COMANDOS", "1s"),
            ("MESA__WORKER__SHUTDOWN_GRACE", "100years"),
            ("MESA__OUTBOX__POLL_INTERVAL", "0s"),
            ("MESA__WORKER__LANES", "100000"),
            ("MESA__WORKER__LANES", "-1"),
            ("MESA__AMQP__MAX_CUERPO_BYTES", "0"),
            ("MESA__AMQP__MAX_CUERPO_BYTES", "999999999999"),
            ("MESA__DATABASE__MAX_CONNECTIONS", "0"),
            ("MESA__LOG__FORMAT", "xml"),
        ] {
            let e = cargar(&[(var, malo)]).expect_err(malo);
            assert_eq!(e.0.len(), 1, "{var}={malo}: {e}");
        }
    }

    #[test]
    fn files_merge_whatever_the_case_and_say_where_values_came_from() {
        let dir = std::env::temp_dir().join(format!("mesa-config-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("prueba.toml"), "[SLA.prioridades]\nalta = \"5h\"\n[http]\nport = 1234\n").unwrap();
        let env =
            [("MESA_ENV", "prueba"), ("MESA__HTTP__PORT", "4321"), ("DATABASE_URL", "postgres://u:clave@db/mesa")];
        let c = Settings::load_from(&dir, env.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
        assert_eq!(c.settings.sla.prioridades["ALTA"], "5h");
        assert_eq!(c.settings.sla.prioridades.len(), 4);
        assert_eq!(c.settings.http.port, 4321);
        assert_eq!(c.arbol.fuente("sla.prioridades.ALTA"), Some(Fuente::Archivo(dir.join("prueba.toml"))));
        assert_eq!(c.arbol.fuente("http.port"), Some(Fuente::Entorno("MESA__HTTP__PORT".into())));
        assert_eq!(c.arbol.fuente("topology.prefix"), Some(Fuente::Defecto));
        let listado = c.mostrar();
        assert!(listado.contains("http.port = 4321  # entorno MESA__HTTP__PORT"), "{listado}");
        assert!(listado.contains("database.url = \"postgres://u:***@db/mesa\"  # entorno DATABASE_URL"), "{listado}");
        assert!(!listado.contains("clave"), "{listado}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_listing_masks_every_secret() {
        let c = cargar(&[
            ("MESA__AUTH__JWT_SECRET", "un-secreto-largo-de-treinta-y-dos-bytes"),
            ("MESA__AMQP__URL", "amqp://u:pw1@a:5672/%2f, amqps://u:pw2@b/%2f"),
            ("MESA__DATABASE__URL", "postgres://db/mesa?user=u&password=pw3"),
        ])
        .unwrap();
        let listado = c.mostrar();
        for secreto in ["un-secreto", "pw1", "pw2", "pw3"] {
            assert!(!listado.contains(secreto), "{secreto} in {listado}");
        }
        assert!(listado.contains("auth.jwt_secret = \"********\"  # entorno MESA__AUTH__JWT_SECRET"), "{listado}");
    }

    #[test]
    fn the_example_policy_file_is_the_contract_example() {
        let entorno = [("MESA_ENV".to_string(), "ejemplo".to_string())];
        let c = Settings::load_from(Path::new("config"), entorno).unwrap();
        let r = c.settings.reglas_sla().unwrap();
        assert_eq!(r.avisos().porcentajes(), [50, 20]);
        let nombres: Vec<_> = r.politicas().iter().map(|p| p.nombre.as_str()).collect();
        assert_eq!(nombres, ["Incidentes críticos 24x7", "Consultas en horario de oficina"]);
        let criticos = &r.politicas()[0];
        assert_eq!(criticos.primera_respuesta, Some(chrono::TimeDelta::minutes(10)));
        assert_eq!(criticos.avisos.as_ref().map(|a| a.porcentajes().to_vec()), Some(vec![50, 25, 10]));
        assert_eq!(criticos.escalado.len(), 2);
        assert_eq!(criticos.escalado[1].en, Umbral::Aviso(25));
        assert_eq!(criticos.escalado[1].prioridad.as_deref(), Some("CRITICA"));
        let oficina = r.calendario_de(Some("Consultas en horario de oficina"));
        assert!(matches!(oficina, Calendario::Laboral(_)));
        assert_eq!(r.primera_respuesta_por_defecto().get("ALTA"), Some(&chrono::TimeDelta::hours(1)));
        // Policies and named calendars are the files' only.
        let e = cargar(&[("MESA__SLA__POLITICAS", "x")]).unwrap_err();
        assert!(e.0.iter().any(|p| p.clave == "MESA__SLA__POLITICAS"), "{e}");
    }

    #[test]
    fn a_bad_policy_stops_the_worker_with_every_problem_naming_the_policy() {
        let dir = std::env::temp_dir().join(format!("mesa-config-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("mala.toml"),
            r#"
[sla.calendarios.oficina]
zona = "America/Bogota"
[sla.calendarios.oficina.horario]
lunes = ["08:00-18:00"]

[[sla.politicas]]
nombre = "Rara"
prioridades = ["URGENTISIMA"]
tipos = ["INCIDENTE", "CHISME"]
resolucion = "0s"
avisos = [50, 120]
calendario = "bodega"
escalado = [
  { meta = "RESOLUCION", en = 30 },
  { meta = "PRIMERA_RESPUESTA", en = "VENCIDO", area = "SUPERVISION" },
  { meta = "TIEMPO", en = "VENCIDO", area = "X" },
  { meta = "RESOLUCION", en = "PRONTO", prioridad = "ALTA" },
  { meta = "RESOLUCION", en = "VENCIDO", prioridad = "NINGUNA" },
]

[[sla.politicas]]
nombre = "Rara"
resolucion = "4h"
categorias = []
"#,
        )
        .unwrap();
        // Loading is what `run` does first: it stops here, exit 2.
        let error = Settings::load_from(&dir, [("MESA_ENV".to_string(), "mala".to_string())]).unwrap_err();
        let _ = std::fs::remove_dir_all(&dir);
        let texto = error.to_string();
        for esperado in [
            "sla.politicas[0] (\"Rara\").prioridades: prioridad desconocida: \"URGENTISIMA\"",
            "sla.politicas[0] (\"Rara\").tipos: tipo desconocido: \"CHISME\"",
            "sla.politicas[0] (\"Rara\").resolucion",
            "sla.politicas[0] (\"Rara\").avisos",
            "sla.politicas[0] (\"Rara\").calendario: calendario desconocido \"bodega\"",
            "sla.politicas[0] (\"Rara\").escalado[0]: no cambia nada",
            "sla.politicas[0] (\"Rara\").escalado[1]: la política no tiene primera_respuesta",
            "sla.politicas[0] (\"Rara\").escalado[2]: meta desconocida",
            "sla.politicas[0] (\"Rara\").escalado[3]: en = \"PRONTO\"",
            "sla.politicas[0] (\"Rara\").escalado[4]: prioridad desconocida \"NINGUNA\"",
            "sla.politicas[1] (\"Rara\").nombre: repetido",
            "sla.politicas[1] (\"Rara\").categorias: una lista vacía",
        ] {
            assert!(texto.contains(esperado), "falta {esperado:?} en:\n{texto}");
        }
        assert!(texto.contains("mala.toml"), "each problem says where it came from: {texto}");
    }

    #[test]
    fn a_business_hours_calendar_is_read_from_toml() {
        let toml = r#"
            zona = "America/Bogota"
            feriados = ["2026-12-25"]
            [horario]
            lunes = ["08:00-12:00", "14:00-18:00"]
            viernes = ["08:00-12:00"]
        "#;
        let c: CalendarioSettings = toml::from_str(toml).unwrap();
        let Calendario::Laboral(_) = c.calendario().unwrap() else { panic!() };
        let mut malo = c.clone();
        malo.zona = "Marte/Olympus".into();
        assert!(malo.calendario().is_err());
        let mut malo = c.clone();
        malo.horario.insert("feriado".into(), vec![]);
        assert!(malo.calendario().is_err());
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(redact_url("amqp://guest:guest@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
        assert_eq!(redact_url("postgres://127.0.0.1/mesa"), "postgres://127.0.0.1/mesa");
        assert_eq!(redact_url("postgres://postgres@127.0.0.1/mesa"), "postgres://postgres@127.0.0.1/mesa");
        assert_eq!(
            redact_url("postgres://h/mesa?sslmode=require&PASSWORD=x"),
            "postgres://h/mesa?sslmode=require&PASSWORD=***"
        );
        // Every node of a cluster's list (startup log, `config`).
        assert_eq!(
            redact_url("amqp://a:pa@n1/%2f,amqp://b:pb@n2:5672/%2f, amqps://n3/%2f?password=pc"),
            "amqp://a:***@n1/%2f,amqp://b:***@n2:5672/%2f, amqps://n3/%2f?password=***"
        );
    }
}
