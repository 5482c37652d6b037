//! The `mesa-ayuda` command line.

use crate::amqp::{self, ClienteAmqp, ErrorEnvio, Topologia};
use crate::auth::{self, Claims};
use crate::configuration::{Config, ErrorConfiguracion, Settings};
use crate::startup::{Aplicacion, Cierre};
use crate::{store, telemetry};
use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// `mesa-ayuda rechazados`: listing, showing, re-driving and purging dead letters.
pub mod rechazados;
pub mod solicitantes;

/// The `mesa-ayuda` command line.
#[derive(Parser)]
#[command(name = "mesa-ayuda", version, about = "Mesa de Ayuda worker")]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub comando: Comando,
}

/// Subcommands of `mesa-ayuda`.
#[derive(Subcommand)]
pub enum Comando {
    /// Migrate, declare the topology, and serve until SIGINT/SIGTERM.
    Run,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the effective configuration, secrets masked, with each value's
    /// source (default, file, environment); exit 2 when it is invalid.
    Config,
    /// Publish one command, wait for its reply and print it (exit 1 when `ok` is false).
    Send {
        /// The operation: crear, asignar, consultar, ...
        operacion: String,
        /// JSON body file; stdin when absent or `-`.
        #[arg(long, short)]
        file: Option<PathBuf>,
        /// Bearer token (without the `Bearer ` prefix).
        #[arg(long, env = "MESA_TOKEN")]
        token: Option<String>,
        /// The idempotency key; a fresh UUID when absent.
        #[arg(long)]
        message_id: Option<String>,
        /// How long to wait for the reply.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
    /// Follow SLA alerts as a colour-coded table. By default a private tap on
    /// `P.eventos` (`sla.#`): nothing is taken from other watchers.
    Alertas {
        /// Take the alerts from the shared `P.sla.alertas` queue (acking them).
        #[arg(long)]
        consumir: bool,
        /// No ANSI colours (default when stdout is not a terminal).
        #[arg(long)]
        sin_color: bool,
    },
    /// Serve the HTTP API (contract §8) until SIGINT/SIGTERM: each request
    /// one command to the worker.
    Gateway,
    /// Write the OpenAPI document of the HTTP API (to stdout, or `--salida`).
    Openapi {
        /// The file to write (`docs/openapi.json` in the repository).
        #[arg(long)]
        salida: Option<PathBuf>,
    },
    /// Write the AsyncAPI document of the messages (to stdout, or `--salida`):
    /// its schemas come from the views that render replies and events.
    Asyncapi {
        /// The file to write (`docs/asyncapi.yaml` in the repository).
        #[arg(long)]
        salida: Option<PathBuf>,
    },
    /// Inspect, re-drive and purge the dead letters of `P.comandos.rechazados`.
    Rechazados {
        /// What to do with the dead letters.
        #[command(subcommand)]
        orden: rechazados::Orden,
    },
    /// A requester's data (v1.2, §11): `exportar` into one JSON file.
    Solicitantes {
        /// What to do.
        #[command(subcommand)]
        orden: solicitantes::Orden,
    },
    /// Mint a token signed with the configured secret, for local use.
    Token {
        /// Role the token carries.
        #[arg(long)]
        rol: String,
        /// Subject (actor id) the token carries.
        #[arg(long, default_value = "local")]
        sub: String,
        /// Display name the token carries.
        #[arg(long, default_value = "Usuario local")]
        nombre: String,
        /// Area the token carries, if any.
        #[arg(long)]
        area: Option<String>,
        /// Lifetime of the token.
        #[arg(long, default_value = "8h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
}

/// The runtime every `mesa-ayuda` command runs on (the benchmark's worker too).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

/// Exit code for an invalid configuration (contract §7).
pub const SALIDA_CONFIGURACION: i32 = 2;
/// Exit code when `run` gave up waiting for in-flight work, or failed.
pub const SALIDA_FALLO: i32 = 1;

/// The exit code for an error that ended a command.
pub fn codigo_de_salida(error: &anyhow::Error) -> i32 {
    if error.downcast_ref::<ErrorConfiguracion>().is_some() { SALIDA_CONFIGURACION } else { SALIDA_FALLO }
}

/// Runs a parsed command line; the process exit code.
pub async fn ejecutar(cli: Cli) -> anyhow::Result<i32> {
    let cargada = Config::load_from(Path::new("config"), std::env::vars())?;
    let listado = cargada.mostrar();
    let config = cargada.config;
    let settings = &config.settings;
    match cli.comando {
        Comando::Config => {
            print!("{listado}");
            Ok(0)
        }
        Comando::Run => {
            let trazas = telemetry::init_con_trazas(settings.log.format, &settings.telemetria, "mesa-ayuda");
            if settings.uses_dev_secret() {
                tracing::warn!(
                    "⚠ MESA__AUTH__JWT_SECRET no está configurado: se usa el secreto de desarrollo. NO usar en producción."
                );
            }
            let shutdown = CancellationToken::new();
            tokio::spawn(esperar_senal(shutdown.clone()));
            let cierre = match Aplicacion::build(config.clone()).await {
                Ok(app) => app.ejecutar(shutdown).await,
                Err(e) => Err(e),
            };
            // The spans of the drain itself go out too, whatever the end.
            trazas.cerrar().await;
            Ok(match cierre? {
                Cierre::Completo => 0,
                Cierre::GraciaAgotada => SALIDA_FALLO,
            })
        }
        Comando::Gateway => {
            let trazas = telemetry::init_con_trazas(settings.log.format, &settings.telemetria, "mesa-ayuda-gateway");
            let shutdown = CancellationToken::new();
            tokio::spawn(esperar_senal(shutdown.clone()));
            let gateway = crate::gateway::Gateway::build(&config)
                .await
                .with_context(|| format!("no se pudo abrir {}:{}", settings.gateway.host, settings.gateway.port))?;
            let fin = gateway.ejecutar(shutdown).await;
            trazas.cerrar().await;
            fin?;
            Ok(0)
        }
        Comando::Openapi { salida } => {
            escribir_documento(salida, crate::gateway::documento_json()).await?;
            Ok(0)
        }
        Comando::Asyncapi { salida } => {
            escribir_documento(salida, crate::vistas::asyncapi()).await?;
            Ok(0)
        }
        Comando::Migrate => {
            telemetry::init(settings.log.format);
            let pool = store::connect(settings.database.url.expose_secret(), 2).await?;
            store::migrate(&pool).await?;
            tracing::info!("migraciones aplicadas");
            Ok(0)
        }
        Comando::Send { operacion, file, token, message_id, timeout } => {
            let body = match file {
                Some(path) if path.as_os_str() != "-" => {
                    tokio::fs::read(&path).await.with_context(|| format!("no se pudo leer {}", path.display()))?
                }
                _ => {
                    let mut buf = Vec::new();
                    tokio::io::stdin().read_to_end(&mut buf).await?;
                    buf
                }
            };
            let respuesta = enviar(settings, &operacion, &body, token.as_deref(), message_id, timeout).await?;
            println!("{}", serde_json::to_string_pretty(&respuesta)?);
            Ok(if respuesta["ok"] == true { 0 } else { 1 })
        }
        Comando::Alertas { consumir, sin_color } => {
            use std::io::IsTerminal;
            let color = !sin_color && std::io::stdout().is_terminal();
            crate::alertas::seguir(settings, consumir, color).await?;
            Ok(0)
        }
        Comando::Rechazados { orden } => rechazados::ejecutar(settings, orden).await,
        Comando::Solicitantes { orden } => solicitantes::ejecutar(settings, orden).await,
        Comando::Token { rol, sub, nombre, area, ttl } => {
            let claims = Claims {
                sub,
                nombre: Some(nombre),
                rol: rol.to_uppercase(),
                area,
                exp: chrono::Utc::now().timestamp() + ttl.as_secs() as i64,
            };
            println!(
                "{}",
                auth::emitir(
                    &settings
                        .auth
                        .secreto_hs256()
                        .context("no hay secreto HS256 configurado (MESA__AUTH__JWT_SECRET)")?,
                    &claims
                )?
            );
            Ok(0)
        }
    }
}

/// Publishes a command and waits for its reply, through the one reply
/// client (`amqp::ClienteAmqp`) opened for this one command.
pub async fn enviar(
    settings: &Settings,
    operacion: &str,
    body: &[u8],
    token: Option<&str>,
    message_id: Option<String>,
    timeout: Duration,
) -> anyhow::Result<serde_json::Value> {
    let comando = amqp::Comando {
        routing_key: format!("ticket.{operacion}"),
        message_id: message_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        cuerpo: body.to_vec(),
        authorization: token.map(|t| format!("Bearer {t}").into_bytes()),
        traceparent: None,
    };
    let topologia = Topologia::de(&settings.topology);
    let respuesta = ClienteAmqp::enviar_uno(settings.amqp.url.expose_secret(), topologia, comando, timeout).await;
    match respuesta {
        Ok(cuerpo) => Ok(serde_json::from_slice(&cuerpo)?),
        Err(ErrorEnvio::TiempoAgotado) => {
            anyhow::bail!("no llegó respuesta a tiempo: ¿está corriendo `mesa-ayuda run` con el mismo prefijo?")
        }
        Err(e) => Err(e.into()),
    }
}

async fn esperar_senal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    shutdown.cancel();
}

/// Writes a generated document to `salida`, or to stdout.
async fn escribir_documento(salida: Option<PathBuf>, documento: String) -> anyhow::Result<()> {
    match salida {
        Some(ruta) => tokio::fs::write(&ruta, documento)
            .await
            .with_context(|| format!("no se pudo escribir {}", ruta.display()))?,
        None => print!("{documento}"),
    }
    Ok(())
}
