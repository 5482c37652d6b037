//! Settings: built-in defaults, `config/default.toml`, `config/<MESA_ENV>.toml`,
//! then `MESA__<SECTION>__<KEY>` variables (and `DATABASE_URL` / `AMQP_URL`).

use crate::domain::calendario::{Calendario, CalendarioLaboral, dia_de_semana, parse_ventana};
use crate::domain::sla::{PoliticaSla, Prioridad};
use anyhow::Context;
use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

const DEFAULTS: &str = include_str!("../config/default.toml");
/// The public development secret, used when `auth.jwt_secret` is unset and no
/// JWKS is configured; running with it is loudly warned about.
pub const DEV_JWT_SECRET: &str = "mesa-dev-secret-CAMBIAR-en-produccion";
/// Shortest accepted HS256 secret (contract §3).
pub const JWT_SECRET_MIN_BYTES: usize = 32;

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub amqp: AmqpSettings,
    pub topology: TopologySettings,
    pub auth: AuthSettings,
    pub http: HttpSettings,
    pub scheduler: SchedulerSettings,
    pub sla: SlaSettings,
    pub worker: WorkerSettings,
    pub outbox: OutboxSettings,
    pub retencion: RetencionSettings,
    pub log: LogSettings,
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

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AmqpSettings {
    pub url: SecretString,
    pub prefetch: u16,
    /// Bodies larger than this are refused unread and dead-lettered.
    pub max_cuerpo_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TopologySettings {
    pub prefix: String,
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
}

/// Claim paths, for identity providers that name claims otherwise
/// (`realm_access.roles` in Keycloak).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ClaimsSettings {
    pub rol: String,
    pub area: String,
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

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerSettings {
    pub cron: String,
    /// Tickets locked per scan transaction.
    pub lote: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SlaSettings {
    pub prioridades: BTreeMap<String, String>,
    pub aviso_porcentaje: u32,
    pub pausa_detiene_reloj: bool,
    /// Working hours; absent means a 24x7 clock.
    #[serde(default)]
    pub calendario: Option<CalendarioSettings>,
}

/// `[sla.calendario]`: an IANA time zone, `HH:MM-HH:MM` windows per weekday
/// (`lunes` … `domingo`) and holiday dates (`YYYY-MM-DD`).
#[derive(Debug, Clone, Deserialize)]
pub struct CalendarioSettings {
    pub zona: String,
    pub horario: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub feriados: Vec<String>,
}

impl CalendarioSettings {
    pub fn calendario(&self) -> anyhow::Result<Calendario> {
        let zona: chrono_tz::Tz = self
            .zona
            .parse()
            .map_err(|_| anyhow::anyhow!("sla.calendario.zona: zona horaria desconocida {:?}", self.zona))?;
        let mut ventanas: [Vec<_>; 7] = Default::default();
        for (dia, lista) in &self.horario {
            let d =
                dia_de_semana(dia).ok_or_else(|| anyhow::anyhow!("sla.calendario.horario: día desconocido {dia:?}"))?;
            for v in lista {
                ventanas[d.num_days_from_monday() as usize]
                    .push(parse_ventana(v).map_err(|e| anyhow::anyhow!("sla.calendario.horario.{dia}: {e}"))?);
            }
        }
        let mut feriados = Vec::new();
        for f in &self.feriados {
            feriados.push(
                chrono::NaiveDate::parse_from_str(f, "%Y-%m-%d")
                    .with_context(|| format!("sla.calendario.feriados: fecha inválida {f:?}"))?,
            );
        }
        let laboral =
            CalendarioLaboral::new(zona, ventanas, feriados).map_err(|e| anyhow::anyhow!("sla.calendario: {e}"))?;
        Ok(Calendario::Laboral(laboral))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    pub lanes: usize,
    /// Most deliveries a lane applies in one transaction (group commit).
    pub lote: usize,
    #[serde(with = "humantime_serde_str")]
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OutboxSettings {
    pub batch: i64,
    #[serde(with = "humantime_serde_str")]
    pub poll_interval: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: String,
}

impl Settings {
    /// Reads every layer from the working directory's `config/` and the environment.
    pub fn load() -> anyhow::Result<Settings> {
        let env = std::env::var("MESA_ENV").unwrap_or_else(|_| "local".to_string());
        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::with_name("config/default").required(false))
            .add_source(File::with_name(&format!("config/{env}")).required(false));
        // The conventional variables sit below the MESA__ ones.
        for (var, key) in [("DATABASE_URL", "database.url"), ("AMQP_URL", "amqp.url")] {
            if let Ok(value) = std::env::var(var) {
                builder = builder.set_override(key, value)?;
            }
        }
        let mut settings: Settings = builder
            .add_source(Environment::with_prefix("MESA").prefix_separator("__").separator("__"))
            .build()?
            .try_deserialize()
            .context("configuración inválida")?;
        for (var, slot) in
            [("MESA__DATABASE__URL", &mut settings.database.url), ("MESA__AMQP__URL", &mut settings.amqp.url)]
        {
            if let Ok(value) = std::env::var(var) {
                *slot = SecretString::from(value);
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.worker.lanes > 0, "worker.lanes debe ser mayor que 0");
        anyhow::ensure!(self.worker.lote > 0, "worker.lote debe ser mayor que 0");
        anyhow::ensure!(self.amqp.prefetch > 0, "amqp.prefetch debe ser mayor que 0");
        anyhow::ensure!(!self.topology.prefix.trim().is_empty(), "topology.prefix no puede estar vacío");
        self.politica_sla()?;
        crate::planificador::validar_cron(&self.scheduler.cron)?;
        crate::planificador::validar_cron(&self.retencion.cron)?;
        Ok(())
    }

    /// The SLA policy, with every target parsed (`4h`, `90m`, `20s`).
    pub fn politica_sla(&self) -> anyhow::Result<PoliticaSla> {
        let mut prioridades = Vec::new();
        for (nombre, texto) in &self.sla.prioridades {
            let objetivo = humantime::parse_duration(texto)
                .with_context(|| format!("sla.prioridades.{nombre}: duración inválida {texto:?}"))?;
            anyhow::ensure!(!objetivo.is_zero(), "sla.prioridades.{nombre} debe ser mayor que cero");
            prioridades.push(Prioridad { nombre: nombre.clone(), objetivo: chrono::TimeDelta::from_std(objetivo)? });
        }
        anyhow::ensure!(!prioridades.is_empty(), "sla.prioridades no puede estar vacío");
        let politica = PoliticaSla::new(prioridades, self.sla.aviso_porcentaje, self.sla.pausa_detiene_reloj);
        Ok(match &self.sla.calendario {
            Some(c) => politica.con_calendario(c.calendario()?),
            None => politica,
        })
    }

    pub fn uses_dev_secret(&self) -> bool {
        self.auth.secreto_hs256().is_some_and(|s| s.expose_secret() == DEV_JWT_SECRET)
    }
}

/// Durations written the human way in config files and env vars.
mod humantime_serde_str {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// The URL with its password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
                None => url.to_string(),
            },
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_follow_the_contract() {
        let s: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        assert_eq!(s.topology.prefix, "mesa");
        assert_eq!(s.http.port, 9464);
        assert_eq!(s.scheduler.cron, "*/30 * * * * *");
        let p = s.politica_sla().unwrap();
        let nombres: Vec<_> = p.prioridades().iter().map(|p| p.nombre.as_str()).collect();
        assert_eq!(nombres, ["CRITICA", "ALTA", "MEDIA", "BAJA"]);
        assert!(s.uses_dev_secret());
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
        let c: CalendarioSettings = Config::builder()
            .add_source(File::from_str(toml, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
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
    }
}
