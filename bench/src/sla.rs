//! `sla`: one SLA scan over many stored tickets, few of them due, then an
//! empty one.

use crate::entorno::{Entorno, sembrar};
use clap::Args;
use mesa_ayuda::configuration::Config;
use mesa_ayuda::planificador::Planificador;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// `sla`'s knobs.
#[derive(Args)]
pub(crate) struct ArgsSla {
    /// Tickets stored before scanning.
    #[arg(long, default_value_t = 1_000_000)]
    tickets: i64,
    /// How many of them have an alert due.
    #[arg(long, default_value_t = 1_000)]
    debidos: i64,
}

/// What `sla` measured.
#[derive(Serialize)]
pub(crate) struct ResumenSla {
    benchmark: &'static str,
    tickets: i64,
    debidos: i64,
    alertas: usize,
    /// The first scan, in milliseconds.
    tick_ms: f64,
    /// The scan after it, nothing due.
    tick_vacio_ms: f64,
}

/// Seeds, scans twice and reports.
pub(crate) async fn medir(args: ArgsSla) -> anyhow::Result<ResumenSla> {
    let ArgsSla { tickets, debidos } = args;
    let entorno = Entorno::nuevo().await?;
    let pool = entorno.pool().await?;
    let t = sembrar(&pool, tickets, debidos).await?;
    eprintln!("sembrados {tickets} tickets ({debidos} con alerta debida) en {:.1} s", t.as_secs_f64());
    let metricas = Arc::new(mesa_ayuda::metrics::Metricas::default());
    // Two metas and three thresholds: a first-response target for every priority.
    let mut settings = entorno.settings.clone();
    settings.sla.avisos = Some(vec![50, 25, 10]);
    for prioridad in ["CRITICA", "ALTA", "MEDIA", "BAJA"] {
        settings.sla.primera_respuesta.insert(prioridad.into(), "1h".into());
    }
    let planificador = Planificador::new(
        pool.clone(),
        Config::desde(settings)?.reglas,
        mesa_ayuda::reloj::reloj_del_sistema(),
        Arc::new(tokio::sync::Notify::new()),
        metricas,
        500,
    );
    let inicio = Instant::now();
    let alertas = planificador.escanear_ahora().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let primero = inicio.elapsed().as_secs_f64() * 1000.0;
    let inicio = Instant::now();
    let repetidas = planificador.escanear_ahora().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let vacio = inicio.elapsed().as_secs_f64() * 1000.0;
    println!(
        "\nbarrido SLA sobre {tickets} tickets: {alertas} alertas en {primero:.1} ms; \
         el barrido siguiente (nada debido) {vacio:.2} ms, {repetidas} alertas"
    );
    pool.close().await;
    entorno.limpiar().await;
    Ok(ResumenSla { benchmark: "sla", tickets, debidos, alertas, tick_ms: primero, tick_vacio_ms: vacio })
}
