//! `listar`: page latency over many stored tickets, through the whole
//! processor (validation, SQL, JSON), no broker.

use crate::entorno::{Entorno, sembrar, token};
use crate::medidas::{Latencias, resumen_ms};
use clap::Args;
use mesa_ayuda::configuration::Config;
use mesa_ayuda::startup::Aplicacion;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;

/// `listar`'s knobs.
#[derive(Args)]
pub(crate) struct ArgsListar {
    /// Tickets stored before measuring.
    #[arg(long, default_value_t = 1_000_000)]
    tickets: i64,
    /// Queries in all, spread over the filters.
    #[arg(long, default_value_t = 300)]
    consultas: usize,
}

/// What `listar` measured.
#[derive(Serialize)]
pub(crate) struct ResumenListar {
    benchmark: &'static str,
    tickets: i64,
    /// Latencies by filter (the filter's JSON).
    por_filtro: BTreeMap<String, Latencias>,
}

/// Seeds, pages through every filter and reports.
pub(crate) async fn medir(args: ArgsListar) -> anyhow::Result<ResumenListar> {
    let ArgsListar { tickets, consultas } = args;
    let entorno = Entorno::nuevo().await?;
    let pool = entorno.pool().await?;
    let t = sembrar(&pool, tickets, 0).await?;
    eprintln!("sembrados {tickets} tickets en {:.1} s", t.as_secs_f64());
    let app = Aplicacion::build(Config::desde(entorno.settings.clone())?).await?;
    let procesador = app.procesador.clone();
    let auth = format!("Bearer {}", token("ADMIN"));
    let filtros = [
        json!({}),
        json!({"estado": "ASIGNADO"}),
        json!({"area": "TI", "limite": 200}),
        json!({"prioridad": "CRITICA", "tipo": "QUEJA"}),
        json!({"slaEstado": "PAUSADO"}),
    ];
    let mut por_filtro = BTreeMap::new();
    for filtro in &filtros {
        let mut lat = vec![];
        let mut cursor: Option<String> = None;
        for i in 0..consultas / filtros.len() {
            let mut cuerpo = filtro.clone();
            // Walk forward a few pages, then start over: first and deep pages.
            if let Some(c) = cursor.as_ref().filter(|_| i % 10 != 0) {
                cuerpo["cursor"] = json!(c);
            }
            let m = mesa_kit::mensaje("listar", cuerpo, None, Some(&auth));
            let t = Instant::now();
            let d = procesador.procesar(&m).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            let r = d.json();
            anyhow::ensure!(r["ok"] == true, "listar falló: {}", d.respuesta);
            cursor = r["datos"]["siguienteCursor"].as_str().map(str::to_string);
        }
        por_filtro.insert(filtro.to_string(), resumen_ms(lat));
    }
    println!("\nlistar sobre {tickets} tickets (procesador completo: validación, SQL, JSON):");
    for (f, r) in &por_filtro {
        println!("  {f:<45} p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms", r.p50_ms, r.p95_ms, r.p99_ms);
    }
    pool.close().await;
    app.pool.close().await;
    entorno.limpiar().await;
    Ok(ResumenListar { benchmark: "listar", tickets, por_filtro })
}
