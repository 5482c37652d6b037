//! `mesa-ayuda rechazados`: the operator's verbs over the dead letters
//! (contract §9), rendered as tables or JSON. The work is in `crate::rechazados`.

use crate::amqp::Topologia;
use crate::configuration::Settings;
use crate::rechazados::{Informe, Rechazado, Rechazados, Seleccion, para_terminal};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use secrecy::ExposeSecret;
use std::fmt::Write as _;

/// What to do with the dead letters of `P.comandos.rechazados`.
#[derive(Subcommand, Debug)]
pub enum Orden {
    /// List dead letters (oldest first), leaving them in the queue.
    Listar {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limite: usize,
        /// JSON for scripts instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one dead letter whole: properties, headers and body (left in the queue).
    Ver {
        /// Its AMQP message_id.
        message_id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Publish dead letters again to `P.comandos`, confirmed, then remove them.
    Reenviar {
        /// Which dead letters to re-drive.
        #[command(flatten)]
        cuales: Cuales,
        /// Say what would be re-driven; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Remove dead letters for good.
    Purgar {
        /// Which dead letters to purge.
        #[command(flatten)]
        cuales: CualesPurga,
        /// Say what would be purged; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// `<message_id>…` or `--todos`.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct Cuales {
    /// The message_ids of the dead letters.
    message_ids: Vec<String>,
    /// Every dead letter in the queue.
    #[arg(long)]
    todos: bool,
}

/// `<message_id>…`, `--todos` or `--antes <RFC 3339>`.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct CualesPurga {
    /// The message_ids of the dead letters.
    message_ids: Vec<String>,
    /// Every dead letter in the queue.
    #[arg(long)]
    todos: bool,
    /// Those parked before this instant (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    #[arg(long, value_parser = instante)]
    antes: Option<DateTime<Utc>>,
    /// Those whose body mentions this e-mail, in any case (v1.2, §11: what
    /// `anonimizar`'s `rechazados` counts).
    #[arg(long)]
    email: Option<String>,
}

fn instante(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s).map(|f| f.to_utc()).map_err(|e| format!("no es una fecha RFC 3339: {e}"))
}

fn seleccion(ids: Vec<String>, todos: bool, antes: Option<DateTime<Utc>>, email: Option<String>) -> Seleccion {
    match (todos, antes, email) {
        (true, _, _) => Seleccion::Todos,
        (false, Some(t), _) => Seleccion::Antes(t),
        (false, None, Some(e)) => Seleccion::Email(e),
        (false, None, None) => Seleccion::Ids(ids),
    }
}

/// Runs one verb; the exit code: 0 done, 1 when something asked for was not
/// found or could not be re-driven.
pub async fn ejecutar(settings: &Settings, orden: Orden) -> anyhow::Result<i32> {
    let topologia = Topologia::de(&settings.topology);
    let rechazados = Rechazados::abrir(settings.amqp.url.expose_secret(), topologia).await?;
    let codigo = match orden {
        Orden::Listar { limite, json } => {
            let lista = rechazados.listar(limite).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&lista)?);
            } else {
                print!("{}", tabla(&lista));
            }
            0
        }
        Orden::Ver { message_id, json } => {
            let hallados = rechazados.ver(&message_id).await?;
            for r in &hallados {
                if json {
                    let mut v = serde_json::to_value(r)?;
                    match std::str::from_utf8(&r.cuerpo) {
                        Ok(t) => v["cuerpo"] = t.into(),
                        Err(_) => v["cuerpoHex"] = hex(&r.cuerpo).into(),
                    }
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    print!("{}", detalle(r));
                }
            }
            if hallados.is_empty() {
                eprintln!("ningún rechazado con ese message_id");
                1
            } else {
                0
            }
        }
        Orden::Reenviar { cuales, dry_run, json } => {
            let informe =
                rechazados.reenviar(&seleccion(cuales.message_ids, cuales.todos, None, None), dry_run).await?;
            mostrar_informe(&informe, json, if dry_run { "se reenviaría" } else { "reenviado" })?
        }
        Orden::Purgar { cuales, dry_run, json } => {
            let s = seleccion(cuales.message_ids, cuales.todos, cuales.antes, cuales.email);
            let informe = rechazados.purgar(&s, dry_run).await?;
            mostrar_informe(&informe, json, if dry_run { "se purgaría" } else { "purgado" })?
        }
    };
    rechazados.cerrar().await;
    Ok(codigo)
}

fn mostrar_informe(informe: &Informe, json: bool, verbo: &str) -> anyhow::Result<i32> {
    if json {
        println!("{}", serde_json::to_string_pretty(informe)?);
    } else {
        for r in &informe.hechos {
            println!("{verbo}: {}", fila(r));
        }
        for (r, motivo) in &informe.fallidos {
            println!("NO reenviado ({}): {}", para_terminal(motivo, 200), fila(r));
        }
        for id in &informe.no_encontrados {
            println!("no encontrado: {}", para_terminal(id, 200));
        }
        println!(
            "{} {verbo}(s), {} fallido(s), {} no encontrado(s)",
            informe.hechos.len(),
            informe.fallidos.len(),
            informe.no_encontrados.len()
        );
    }
    Ok(if informe.fallidos.is_empty() && informe.no_encontrados.is_empty() { 0 } else { 1 })
}

fn fecha(r: &Rechazado) -> String {
    r.fecha.map(|f| f.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_else(|| "-".into())
}

fn fila(r: &Rechazado) -> String {
    format!(
        "{} {} {}",
        para_terminal(r.message_id.as_deref().unwrap_or("-"), 200),
        para_terminal(&r.routing_key, 64),
        fecha(r)
    )
}

/// The `listar` table; every value from a dead letter made terminal-safe.
fn tabla(lista: &[Rechazado]) -> String {
    let mut out =
        format!("{:<19}  {:<22}  {:<36}  {:>8}  MOTIVO\n", "FECHA (UTC)", "ROUTING KEY", "MESSAGE_ID", "BYTES");
    for r in lista {
        let _ = writeln!(
            out,
            "{:<19}  {:<22}  {:<36}  {:>8}  {}",
            fecha(r),
            para_terminal(&r.routing_key, 22),
            para_terminal(r.message_id.as_deref().unwrap_or("-"), 36),
            r.bytes,
            para_terminal(r.motivo.as_deref().unwrap_or("-"), 80),
        );
    }
    let _ = writeln!(out, "{} rechazado(s)", lista.len());
    out
}

fn detalle(r: &crate::rechazados::RechazadoCompleto) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "message_id:  {}", para_terminal(r.resumen.message_id.as_deref().unwrap_or("-"), 200));
    let _ = writeln!(out, "routing key: {}", para_terminal(&r.resumen.routing_key, 200));
    let _ = writeln!(out, "fecha:       {}", fecha(&r.resumen));
    let _ = writeln!(out, "motivo:      {}", para_terminal(r.resumen.motivo.as_deref().unwrap_or("-"), 500));
    let _ = writeln!(out, "entregas:    {}", r.resumen.entregas);
    // JSON escapes every control character, so these are terminal-safe.
    let _ = writeln!(out, "propiedades: {}", r.propiedades);
    let _ = writeln!(out, "headers:     {}", r.headers);
    let _ = writeln!(out, "cuerpo ({} bytes):", r.cuerpo.len());
    match std::str::from_utf8(&r.cuerpo) {
        Ok(t) => {
            // Lines stay lines; any other control character is escaped.
            for linea in t.split('\n') {
                let _ = writeln!(out, "{}", para_terminal(linea, usize::MAX));
            }
        }
        Err(_) => {
            let _ = writeln!(out, "(no es UTF-8; en hexadecimal) {}", hex(&r.cuerpo));
        }
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
