//! `mesa-ayuda solicitantes`: a requester's data for an operator (§11).
//! `exportar` pages through the worker's `exportar` with an ADMIN token, as
//! `send` does, so the same checks and the same code answer it, and writes
//! every page into one JSON file.

use crate::configuration::Settings;
use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// What to do with a requester's data.
#[derive(Subcommand, Debug)]
pub enum Orden {
    /// Every ticket of a requester, with its detail bundle and conversation,
    /// into one JSON file `{email, tickets}` (the `exportar` operation: an
    /// ADMIN token).
    Exportar {
        /// The requester's e-mail (compared as `consultar` compares it).
        #[arg(long)]
        email: String,
        /// The file to write (readable by its owner only, even if it existed); `-` or
        /// absent: standard output.
        #[arg(long)]
        salida: Option<PathBuf>,
        /// An ADMIN token (as from `mesa-ayuda token --rol ADMIN`).
        #[arg(long, env = "MESA_TOKEN", hide_env_values = true)]
        token: String,
        /// How long to wait for each page's reply.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

/// Runs one verb; the exit code: 0 written, 1 when the worker refused.
pub async fn ejecutar(settings: &Settings, orden: Orden) -> anyhow::Result<i32> {
    let Orden::Exportar { email, salida, token, timeout } = orden;
    let mut tickets: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let cuerpo = json!({"email": email, "cursor": cursor});
        let respuesta =
            super::enviar(settings, "exportar", cuerpo.to_string().as_bytes(), Some(&token), None, timeout).await?;
        if respuesta["ok"] != true {
            eprintln!("{}", serde_json::to_string_pretty(&respuesta)?);
            return Ok(super::SALIDA_FALLO);
        }
        let datos = &respuesta["datos"];
        tickets.extend(datos["tickets"].as_array().cloned().unwrap_or_default());
        match datos["siguienteCursor"].as_str() {
            Some(siguiente) => cursor = Some(siguiente.to_string()),
            None => break,
        }
    }
    let n = tickets.len();
    let documento = serde_json::to_string_pretty(&json!({"email": email, "tickets": tickets}))?;
    match salida.filter(|p| p.as_os_str() != "-") {
        None => println!("{documento}"),
        Some(ruta) => {
            escribir_privado(&ruta, documento.as_bytes())
                .with_context(|| format!("no se pudo escribir {}", ruta.display()))?;
            eprintln!("{n} tickets en {}", ruta.display());
        }
    }
    Ok(0)
}

/// Writes `contenido` to a new file only its owner can read: it holds
/// personal data.
fn escribir_privado(ruta: &std::path::Path, contenido: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opciones = std::fs::OpenOptions::new();
    opciones.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opciones.mode(0o600);
    }
    let mut f = opciones.open(ruta)?;
    // An existing file keeps its mode on open: set it, before any byte.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(contenido)?;
    f.sync_all()
}
