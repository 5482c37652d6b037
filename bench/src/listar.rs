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

/// How many filters `listar` measures.
const FILTROS: usize = 10;

/// `listar`'s knobs.
#[derive(Args)]
pub(crate) struct ArgsListar {
    /// Tickets stored before measuring.
    #[arg(long, default_value_t = 1_000_000)]
    tickets: i64,
    /// Queries in all, spread evenly over the filters (60 each by default).
    #[arg(long, default_value_t = 60 * FILTROS)]
    consultas: usize,
}

/// What `listar` measured.
#[derive(Serialize)]
pub(crate) struct ResumenListar {
    benchmark: &'static str,
    tickets: i64,
    /// Of them, waiting for the desk (`pendiente_desde` set).
    pendientes: i64,
    /// Of them, paused waiting for the requester (`espera` SOLICITANTE).
    esperando_solicitante: i64,
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
    let (pendientes, esperando_solicitante): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE pendiente_desde IS NOT NULL), \
         count(*) FILTER (WHERE espera = 'SOLICITANTE') FROM tickets",
    )
    .fetch_one(&pool)
    .await?;
    eprintln!("  pendientes de respuesta {pendientes}, esperando al solicitante {esperando_solicitante}");
    let app = Aplicacion::build(Config::desde(entorno.settings.clone())?).await?;
    let procesador = app.procesador.clone();
    let auth = format!("Bearer {}", token("ADMIN"));
    let filtros: [_; FILTROS] = [
        json!({}),
        json!({"estado": "ASIGNADO"}),
        json!({"area": "TI", "limite": 200}),
        json!({"prioridad": "CRITICA", "tipo": "QUEJA"}),
        json!({"slaEstado": "PAUSADO"}),
        // v1.2: the desk's inbox (longest-waiting first); an area's inbox
        // (an AREA token's `listar` is always scoped to its area), full (TI)
        // and empty (COMPRAS: small, every ticket closed); the tickets
        // waiting for the requester, and the same list in an area with none
        // (every seeded pause is in TI or FINANZAS). An empty page must be as
        // quick as a full one.
        json!({"pendienteRespuesta": true}),
        json!({"pendienteRespuesta": true, "area": "TI"}),
        json!({"pendienteRespuesta": true, "area": "COMPRAS"}),
        json!({"espera": "SOLICITANTE"}),
        json!({"espera": "SOLICITANTE", "area": "MESA"}),
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
        println!("  {f:<48} p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms", r.p50_ms, r.p95_ms, r.p99_ms);
    }
    pool.close().await;
    app.pool.close().await;
    entorno.limpiar().await;
    Ok(ResumenListar { benchmark: "listar", tickets, pendientes, esperando_solicitante, por_filtro })
}
