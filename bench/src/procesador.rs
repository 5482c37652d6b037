//! `procesador`: the processor alone, no broker — the database-bound ceiling
//! of the command transaction (crear + asignar + actualizar per ticket).

use crate::entorno::{Entorno, token};
use crate::medidas::{Latencias, resumen_ms};
use clap::Args;
use mesa_ayuda::configuration::Config;
use mesa_ayuda::startup::Aplicacion;
use mesa_kit::{ana_garcia, mensaje};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use uuid::Uuid;

/// `procesador`'s knobs.
#[derive(Args)]
pub(crate) struct ArgsProcesador {
    /// Seconds of load.
    #[arg(long, default_value_t = 20)]
    duracion: u64,
    /// Concurrent callers (like the worker's lanes).
    #[arg(long, default_value_t = 8)]
    concurrencia: usize,
}

/// What `procesador` measured.
#[derive(Serialize)]
pub(crate) struct ResumenProcesador {
    benchmark: &'static str,
    concurrencia: usize,
    comandos: u64,
    comandos_por_segundo: f64,
    latencia: Latencias,
}

/// Drives the processor from `concurrencia` callers and reports.
pub(crate) async fn medir(args: ArgsProcesador) -> anyhow::Result<ResumenProcesador> {
    let ArgsProcesador { duracion, concurrencia } = args;
    let entorno = Entorno::nuevo().await?;
    let pool = entorno.pool().await?;
    let mut settings = entorno.settings.clone();
    settings.database.max_connections = concurrencia as u32 + 2;
    let app = Aplicacion::build(Config::desde(settings)?).await?;
    let auth = format!("Bearer {}", token("MESA"));
    let fin = Instant::now() + Duration::from_secs(duracion);
    let lat: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut tareas = vec![];
    for _ in 0..concurrencia {
        let (p, auth, lat) = (app.procesador.clone(), auth.clone(), lat.clone());
        tareas.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < fin {
                let t = Instant::now();
                let d = p
                    .procesar(&mensaje("crear", ana_garcia(), Some(&Uuid::new_v4().to_string()), None))
                    .await
                    .expect("crear");
                lat.lock().await.push(t.elapsed().as_secs_f64() * 1000.0);
                let ticket = d.json()["datos"]["ticketUuid"].as_str().unwrap().to_string();
                for (op, cuerpo) in [
                    ("asignar", json!({"ticketId": ticket})),
                    ("actualizar", json!({"ticketId": ticket, "nota": "avance"})),
                ] {
                    let t = Instant::now();
                    let d = p
                        .procesar(&mensaje(op, cuerpo, Some(&Uuid::new_v4().to_string()), Some(&auth)))
                        .await
                        .expect(op);
                    assert_eq!(d.json()["ok"], true);
                    lat.lock().await.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                n += 3;
            }
            n
        }));
    }
    let inicio = Instant::now();
    let mut total = 0;
    for t in tareas {
        total += t.await?;
    }
    let segundos = inicio.elapsed().as_secs_f64();
    let latencias = std::mem::take(&mut *lat.lock().await);
    let r = ResumenProcesador {
        benchmark: "procesador",
        concurrencia,
        comandos: total,
        comandos_por_segundo: total as f64 / segundos,
        latencia: resumen_ms(latencias),
    };
    println!(
        "\nprocesador sin broker, {concurrencia} en paralelo: {total} comandos → {:.0}/s; p50 {:.2} ms, p99 {:.2} ms",
        r.comandos_por_segundo, r.latencia.p50_ms, r.latencia.p99_ms
    );
    pool.close().await;
    app.pool.close().await;
    entorno.limpiar().await;
    Ok(r)
}
