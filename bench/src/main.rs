//! mesa-bench: the project's benchmark harness, one module per measurement.
//!
//! - `carga`: a realistic command mix (`--mezcla`: the v1.1 ticket life, the
//!   default, or the v1.2 conversation) against a worker it starts (a child
//!   process running the same `run` code) or an external one; reports
//!   throughput, publish→reply and publish→event latency percentiles, the
//!   worker's peak RSS and CPU and the database size.
//! - `gateway`: one ticket's life (crear, consultar, asignar, actualizar,
//!   detalle, archivar) through `mesa-ayuda gateway` and over AMQP at the same
//!   pace, interleaved rounds, then the gateway's ceiling; its RSS and CPU.
//! - `listar`: `listar` page latency over N stored tickets, by filter (the
//!   v1.1 ones, the desk's inbox `pendienteRespuesta` and `espera`).
//! - `sla`: one SLA scan over N stored tickets of which M are due.
//! - `procesador`: the processor alone, no broker.
//! - `retencion`: the retention pass (`retencion.anonimizar_cerrados`)
//!   erasing N tickets closed over a year ago while the worker carries
//!   `carga`'s load at `--tasa`, against the same load without it, in
//!   interleaved A/B pairs, each run on a fresh environment seeded alike
//!   (`sembrar_cerrados`); reports both sides' reply p50/p95/p99 and
//!   throughput, the B/A ratios (and p99 over the replies published while
//!   the pass erased), how many of the N were erased with exactly one
//!   ANONIMIZACION entry (and how many with more), when the pass finished,
//!   and the longest transaction it was seen to hold (`pg_stat_activity`
//!   sampled every 50 ms).
//! - `eco` (`carga --eco`): a worker that only consumes, replies, acks and
//!   publishes events — the AMQP client's floor under the real one.
//!
//! Every subcommand prints a readable summary and, with `--json FILE`, writes
//! its `Serialize` summary as JSON (keys in docs/performance.md).

mod carga;
mod clientes;
mod eco;
mod entorno;
mod gateway;
mod listar;
mod medidas;
mod procesador;
mod retencion;
mod sla;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "mesa-bench", about = "Mesa de Ayuda benchmark harness")]
struct Cli {
    #[command(subcommand)]
    comando: Comando,
    /// Also write the results as JSON here.
    #[arg(long, global = true)]
    json: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Comando {
    #[command(flatten)]
    Medicion(Medicion),
    /// Internal: the worker process a measurement starts.
    #[command(hide = true)]
    Worker,
    /// Internal: the gateway process `gateway` starts.
    #[command(hide = true)]
    GatewayProceso,
    /// Internal: the broker-only worker `carga --eco` starts.
    #[command(hide = true)]
    EcoProceso,
}

/// The measurements, one subcommand each.
#[derive(Subcommand)]
enum Medicion {
    /// Commands per second and latencies under a realistic mix.
    Carga(carga::ArgsCarga),
    /// `listar` latency over many stored tickets.
    Listar(listar::ArgsListar),
    /// The same command mix through `mesa-ayuda gateway` (HTTP) and straight
    /// over AMQP, interleaved, then the gateway's ceiling.
    Gateway(gateway::ArgsGateway),
    /// One SLA scan over many stored tickets, few of them due.
    Sla(sla::ArgsSla),
    /// The processor alone, no broker: the database-bound ceiling of the
    /// command transaction (crear + asignar + actualizar per ticket).
    Procesador(procesador::ArgsProcesador),
    /// The retention pass erasing many closed tickets under a fixed load,
    /// against the same load without it (interleaved A/B).
    Retencion(retencion::ArgsRetencion),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.comando {
        Comando::Worker => ejecutar(mesa_ayuda::cli::Comando::Run),
        Comando::GatewayProceso => ejecutar(mesa_ayuda::cli::Comando::Gateway),
        // On the worker's own runtime, so the floor is measured alike.
        Comando::EcoProceso => mesa_ayuda::cli::runtime()?.block_on(eco::ejecutar()),
        Comando::Medicion(m) => tokio::runtime::Runtime::new()?.block_on(medir(m, cli.json)),
    }
}

/// Exactly `mesa-ayuda <comando>`, on the worker's own runtime.
fn ejecutar(comando: mesa_ayuda::cli::Comando) -> anyhow::Result<()> {
    let code = mesa_ayuda::cli::runtime()?.block_on(mesa_ayuda::cli::ejecutar(mesa_ayuda::cli::Cli { comando }))?;
    std::process::exit(code);
}

async fn medir(medicion: Medicion, json: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let resultado = match medicion {
        Medicion::Carga(args) => serde_json::to_value(carga::medir(args).await?)?,
        Medicion::Gateway(args) => serde_json::to_value(gateway::medir(args).await?)?,
        Medicion::Listar(args) => serde_json::to_value(listar::medir(args).await?)?,
        Medicion::Sla(args) => serde_json::to_value(sla::medir(args).await?)?,
        Medicion::Procesador(args) => serde_json::to_value(procesador::medir(args).await?)?,
        Medicion::Retencion(args) => serde_json::to_value(retencion::medir(args).await?)?,
    };
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&resultado)?)?;
        eprintln!("resultados en {}", path.display());
    }
    Ok(())
}
