//! mesa-bench: the project's benchmark harness.
//!
//! - `carga`: a realistic command mix against a worker it starts (a child
//!   process running the same `run` code) or an external one; reports
//!   throughput, publish→reply and publish→event latency percentiles, the
//!   worker's peak RSS and the database size.
//! - `listar`: `listar` page latency over N stored tickets.
//! - `sla`: one SLA scan over N stored tickets of which M are due.
//!
//! Every subcommand prints a readable summary and, with `--json FILE`, writes
//! the figures as JSON.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use futures_util::StreamExt;
use lapin::Channel;
use lapin::options::ConfirmSelectOptions;
use mesa_ayuda::amqp::{self, Topologia};
use mesa_ayuda::configuration::Settings;
use mesa_ayuda::planificador::Planificador;
use mesa_ayuda::startup::Aplicacion;
use mesa_kit::{Nombres, SECRETO, ana_garcia, borrar_entorno, cabeceras, cola_de_respuestas, propiedades, publicar};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, oneshot};
use uuid::Uuid;

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
    /// Internal: the worker process `carga` starts.
    #[command(hide = true)]
    Worker,
}

/// The measurements, one subcommand each.
#[derive(Subcommand)]
enum Medicion {
    /// Commands per second and latencies under a realistic mix.
    Carga(ArgsCarga),
    /// `listar` latency over many stored tickets.
    Listar {
        #[arg(long, default_value_t = 1_000_000)]
        tickets: i64,
        #[arg(long, default_value_t = 300)]
        consultas: usize,
    },
    /// One SLA scan over many stored tickets, few of them due.
    Sla {
        #[arg(long, default_value_t = 1_000_000)]
        tickets: i64,
        #[arg(long, default_value_t = 1_000)]
        debidos: i64,
    },
    /// The processor alone, no broker: the database-bound ceiling of the
    /// command transaction (crear + asignar + actualizar per ticket).
    Procesador {
        #[arg(long, default_value_t = 20)]
        duracion: u64,
        /// Concurrent callers (like the worker's lanes).
        #[arg(long, default_value_t = 8)]
        concurrencia: usize,
    },
}

/// `carga`'s knobs.
#[derive(Args)]
struct ArgsCarga {
    /// Seconds of load.
    #[arg(long, default_value_t = 30)]
    duracion: u64,
    /// Target commands per second in total; 0 = as fast as the worker goes.
    #[arg(long, default_value_t = 0)]
    tasa: u64,
    /// Publishers, each with its own connection and confirm channel.
    #[arg(long, default_value_t = 4)]
    publicadores: usize,
    /// Ticket flows in flight per publisher.
    #[arg(long, default_value_t = 32)]
    en_vuelo: usize,
    /// Tickets stored before the run (inserted directly).
    #[arg(long, default_value_t = 0)]
    tickets_previos: i64,
    /// Use the worker already running with the configured settings
    /// instead of starting one (RSS is then not measured).
    #[arg(long)]
    externo: bool,
    /// Worker processes to start (one consumes, the others stand by).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.comando {
        Comando::Worker => {
            // Exactly `mesa-ayuda run`, on the worker's own runtime.
            let run = mesa_ayuda::cli::Cli { comando: mesa_ayuda::cli::Comando::Run };
            let code = mesa_ayuda::cli::runtime()?.block_on(mesa_ayuda::cli::ejecutar(run))?;
            std::process::exit(code);
        }
        Comando::Medicion(m) => tokio::runtime::Runtime::new()?.block_on(medir(m, cli.json)),
    }
}

async fn medir(medicion: Medicion, json: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let resultado = match medicion {
        Medicion::Carga(args) => serde_json::to_value(carga(args).await?)?,
        Medicion::Listar { tickets, consultas } => listar(tickets, consultas).await?,
        Medicion::Procesador { duracion, concurrencia } => {
            serde_json::to_value(solo_procesador(duracion, concurrencia).await?)?
        }
        Medicion::Sla { tickets, debidos } => sla(tickets, debidos).await?,
    };
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&resultado)?)?;
        eprintln!("resultados en {}", path.display());
    }
    Ok(())
}

// ---------------------------------------------------------------- helpers

/// A scratch database and topology prefix on the configured servers, dropped at the end.
struct Entorno {
    settings: Settings,
    db: String,
    /// The configured Postgres URL without its database name.
    base: String,
}

impl Entorno {
    async fn nuevo() -> anyhow::Result<Entorno> {
        let mut settings = Settings::load()?;
        let url = settings.database.url.expose_secret().to_string();
        let base = url.rsplit_once('/').map(|(b, _)| b.to_string()).context("database.url sin nombre de base")?;
        let Nombres { db, prefijo } = Nombres::nuevos("mesa_bench", "bench");
        mesa_kit::crear_base_en(&base, &db).await?;
        settings.database.url = SecretString::from(format!("{base}/{db}"));
        settings.topology.prefix = prefijo;
        settings.auth.jwt_secret = Some(SecretString::from(SECRETO));
        settings.http.port = 0;
        Ok(Entorno { settings, db, base })
    }

    async fn pool(&self) -> anyhow::Result<PgPool> {
        let pool = PgPool::connect(self.settings.database.url.expose_secret()).await?;
        mesa_ayuda::store::migrate(&pool).await?;
        Ok(pool)
    }

    async fn limpiar(self) {
        let topo = Topologia::new(&self.settings.topology.prefix, self.settings.topology.delivery_limit);
        borrar_entorno(&self.base, &self.db, &topo, self.settings.amqp.url.expose_secret()).await;
    }
}

/// Inserts `n` tickets straight into the table: a realistic spread of
/// states, priorities, areas and ages. `debidos` of them have an SLA alert due.
async fn sembrar(pool: &PgPool, n: i64, debidos: i64) -> anyhow::Result<Duration> {
    let inicio = Instant::now();
    let lote = 100_000;
    let mut hecho = 0;
    while hecho < n {
        let hasta = (hecho + lote).min(n);
        sqlx::query(
            "INSERT INTO tickets (uuid, num, label, solicitante_nombre, solicitante_email, tipo, categoria, descripcion, \
             area_asignada, prioridad, estado, sla_objetivo_ms, fecha_limite_sla, fecha_aviso_sla, proxima_alerta_sla, \
             sla_final, creado_en, actualizado_en, cerrado_en, version) \
             SELECT gen_random_uuid(), nextval('ticket_num_seq'), 'TKT-2026-' || lpad(g::text, 7, '0'), 'Usuario ' || g, \
               'u' || g || '@example.com', (ARRAY['PETICION','QUEJA','RECLAMO','SUGERENCIA','INCIDENTE','SOLICITUD','CONSULTA'])[1 + g % 7], \
               'Sistemas', 'Descripción de prueba número ' || g, (ARRAY['MESA','TI','RRHH','FINANZAS'])[1 + g % 4], \
               (ARRAY['CRITICA','ALTA','MEDIA','BAJA'])[1 + g % 4], \
               CASE WHEN g % 10 < 6 THEN 'ARCHIVADO' WHEN g % 10 < 7 THEN 'CANCELADO' WHEN g % 10 < 8 THEN 'PAUSADO' ELSE 'ASIGNADO' END, \
               86400000, c + interval '1 day', c + interval '19 hours 12 minutes', \
               CASE WHEN g % 10 >= 8 THEN now() + interval '30 days' END, \
               CASE WHEN g % 10 < 7 THEN 'CUMPLIDO' END, c, c, CASE WHEN g % 10 < 7 THEN c + interval '2 hours' END, 3 \
             FROM generate_series($1::bigint, $2::bigint) g, LATERAL (SELECT now() - (g % 525600) * interval '1 minute' AS c) t",
        )
        .bind(hecho + 1)
        .bind(hasta)
        .execute(pool)
        .await?;
        hecho = hasta;
    }
    // The due ones: open, warning time passed.
    sqlx::query(
        "UPDATE tickets SET proxima_alerta_sla = now() - interval '1 minute', fecha_aviso_sla = now() - interval '1 minute', \
         sla_alerta = NULL WHERE uuid IN (SELECT uuid FROM tickets WHERE estado = 'ASIGNADO' LIMIT $1)",
    )
    .bind(debidos)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE tickets").execute(pool).await?;
    Ok(inicio.elapsed())
}

fn percentil(ordenados: &[f64], p: f64) -> f64 {
    if ordenados.is_empty() {
        return f64::NAN;
    }
    let i = ((ordenados.len() as f64 - 1.0) * p).round() as usize;
    ordenados[i]
}

/// What `carga` measured (printed, and written with `--json`).
#[derive(Serialize)]
struct ResumenCarga {
    benchmark: &'static str,
    duracion_s: u64,
    tasa_objetivo: u64,
    publicadores: usize,
    flujos_en_vuelo: usize,
    replicas: usize,
    tickets_previos: i64,
    comandos: usize,
    ok: u64,
    /// Replies that were not `ok`, by code.
    errores: HashMap<String, u64>,
    /// From the first reply to the last.
    comandos_por_segundo: f64,
    /// Publish → reply.
    respuesta: Latencias,
    /// Publish → event.
    evento: Latencias,
    /// Publish → broker confirm: the broker's share.
    confirmacion: Latencias,
    /// The worker's peak RSS (`VmHWM`); none with `--externo`.
    rss_pico_mib: Option<f64>,
    /// The worker's CPU time (user + system); none with `--externo`.
    cpu_worker_s: Option<f64>,
    cpu_worker_us_por_comando: Option<f64>,
    db_bytes_antes: i64,
    db_bytes_despues: i64,
}

/// What `procesador` measured.
#[derive(Serialize)]
struct ResumenProcesador {
    benchmark: &'static str,
    concurrencia: usize,
    comandos: u64,
    comandos_por_segundo: f64,
    latencia: Latencias,
}

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Serialize)]
struct Latencias {
    n: usize,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn resumen_ms(mut v: Vec<f64>) -> Latencias {
    v.sort_by(f64::total_cmp);
    Latencias {
        n: v.len(),
        p50_ms: percentil(&v, 0.50),
        p95_ms: percentil(&v, 0.95),
        p99_ms: percentil(&v, 0.99),
        max_ms: v.last().copied().unwrap_or(f64::NAN),
    }
}

/// A day-long token of role `rol` for the actor `bench`.
fn token(rol: &str) -> String {
    mesa_kit::token_de("bench", rol, None, 24 * 3600, SECRETO)
}

async fn tamano_db(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(pool).await?)
}

/// Peak resident set of a process, in MiB (Linux).
fn rss_pico_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let linea = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = linea.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time (user + system) a process has used so far, in seconds.
fn cpu_segundos(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: utime and stime are 14th and 15th.
    let campos: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: f64 = campos.get(11)?.parse::<f64>().ok()? + campos.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

// ---------------------------------------------------------------- carga

/// Replies awaited, by correlation id, with their arrival time.
type Pendientes = Arc<Mutex<HashMap<String, oneshot::Sender<(Value, Instant)>>>>;

/// One publisher: its own connection, a confirm channel and a reply queue.
struct Publicador {
    canal: Channel,
    cola_respuestas: String,
    pendientes: Pendientes,
    topo: Topologia,
}

impl Publicador {
    async fn nuevo(url: &str, topo: &Topologia) -> anyhow::Result<Publicador> {
        let conexion = amqp::conectar(url, "mesa-bench publicador").await?;
        let canal = conexion.create_channel().await?;
        canal.confirm_select(ConfirmSelectOptions::default()).await?;
        let (cola_respuestas, mut respuestas) = cola_de_respuestas(&canal).await?;
        let pendientes: Pendientes = Arc::default();
        let p = pendientes.clone();
        tokio::spawn(async move {
            let _conexion = conexion;
            while let Some(Ok(e)) = respuestas.next().await {
                let Some(c) = e.properties.correlation_id().as_ref().map(|c| c.as_str().to_string()) else { continue };
                // Stamp the arrival here: the flow may read it later.
                let llegada = Instant::now();
                if let Some(tx) = p.lock().await.remove(&c) {
                    let _ = tx.send((serde_json::from_slice(&e.data).unwrap_or(Value::Null), llegada));
                }
            }
        });
        Ok(Publicador { canal, cola_respuestas, pendientes, topo: topo.clone() })
    }

    /// Publishes with confirm; the receiver yields the reply.
    async fn publicar(
        &self,
        op: &str,
        cuerpo: &Value,
        auth: Option<&str>,
        message_id: &str,
    ) -> anyhow::Result<oneshot::Receiver<(Value, Instant)>> {
        let (tx, rx) = oneshot::channel();
        let correlacion = Uuid::new_v4().to_string();
        self.pendientes.lock().await.insert(correlacion.clone(), tx);
        let props = propiedades(Some(message_id), Some((&self.cola_respuestas, &correlacion)), cabeceras(auth, None));
        publicar(&self.canal, &self.topo, &format!("ticket.{op}"), cuerpo.to_string().as_bytes(), props).await?;
        Ok(rx)
    }
}

/// Hands out send slots at a fixed rate (open loop); unlimited when 0.
struct Ritmo {
    intervalo: Option<Duration>,
    proximo: Mutex<Instant>,
}

impl Ritmo {
    async fn turno(&self) {
        let Some(intervalo) = self.intervalo else { return };
        let cuando = {
            let mut p = self.proximo.lock().await;
            let ahora = Instant::now();
            if *p < ahora {
                *p = ahora;
            }
            let c = *p;
            *p += intervalo;
            c
        };
        tokio::time::sleep_until(cuando.into()).await;
    }
}

#[derive(Default)]
struct Medidas {
    latencias_ms: Mutex<Vec<f64>>,
    /// Publish → broker confirm: the broker's share of the latency.
    confirmaciones_ms: Mutex<Vec<f64>>,
    publicado_en: Mutex<HashMap<String, Instant>>,
    primera: Mutex<Option<Instant>>,
    ultima: Mutex<Option<Instant>>,
    ok: AtomicU64,
    errores: Mutex<HashMap<String, u64>>,
}

impl Medidas {
    async fn respuesta(&self, enviado: Instant, (r, ahora): (Value, Instant)) {
        let r = &r;
        self.latencias_ms.lock().await.push(ahora.duration_since(enviado).as_secs_f64() * 1000.0);
        self.primera.lock().await.get_or_insert(ahora);
        *self.ultima.lock().await = Some(ahora);
        if r["ok"] == true {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            let codigo = r["error"]["codigo"].as_str().unwrap_or("SIN_RESPUESTA").to_string();
            *self.errores.lock().await.entry(codigo).or_default() += 1;
        }
    }
}

/// One ticket's life: crear, then five commands back to back.
async fn flujo(p: &Publicador, ritmo: &Ritmo, m: &Medidas, auth: &str) -> anyhow::Result<()> {
    let enviar = |op: &'static str, cuerpo: Value, auth: Option<String>| async move {
        ritmo.turno().await;
        let id = Uuid::new_v4().to_string();
        let t = Instant::now();
        m.publicado_en.lock().await.insert(id.clone(), t);
        let rx = p.publicar(op, &cuerpo, auth.as_deref(), &id).await?;
        m.confirmaciones_ms.lock().await.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::Ok((t, rx))
    };
    let (t, rx) = enviar("crear", ana_garcia(), None).await?;
    let r = tokio::time::timeout(Duration::from_secs(60), rx).await??;
    let ticket = r.0["datos"]["ticketUuid"].as_str().map(str::to_string);
    m.respuesta(t, r).await;
    let Some(ticket) = ticket else { return Ok(()) };
    let pasos = [
        ("asignar", json!({"ticketId": ticket, "agente": "Agente bench"})),
        ("actualizar", json!({"ticketId": ticket, "nota": "Revisando el caso"})),
        ("pausar", json!({"ticketId": ticket, "motivo": "Esperando al usuario"})),
        ("reabrir", json!({"ticketId": ticket, "motivo": "Respondió"})),
        ("archivar", json!({"ticketId": ticket, "motivo": "Resuelto"})),
    ];
    let mut esperas = Vec::with_capacity(pasos.len());
    for (op, cuerpo) in pasos {
        esperas.push(enviar(op, cuerpo, Some(auth.to_string())).await?);
    }
    for (t, rx) in esperas {
        let r = tokio::time::timeout(Duration::from_secs(60), rx).await??;
        m.respuesta(t, r).await;
    }
    Ok(())
}

async fn carga(args: ArgsCarga) -> anyhow::Result<ResumenCarga> {
    let ArgsCarga { duracion, tasa, publicadores, en_vuelo, tickets_previos, externo, replicas } = args;
    let (settings, entorno) = if externo {
        (Settings::load()?, None)
    } else {
        let e = Entorno::nuevo().await?;
        (e.settings.clone(), Some(e))
    };
    let pool = match &entorno {
        Some(e) => e.pool().await?,
        None => PgPool::connect(settings.database.url.expose_secret()).await?,
    };
    if tickets_previos > 0 {
        let t = sembrar(&pool, tickets_previos, 0).await?;
        eprintln!("sembrados {tickets_previos} tickets en {:.1} s", t.as_secs_f64());
    }
    let db_antes = tamano_db(&pool).await?;
    let topo = Topologia::new(&settings.topology.prefix, settings.topology.delivery_limit);
    let url = settings.amqp.url.expose_secret().to_string();

    let mut hijos = vec![];
    for i in 0..if externo { 0 } else { replicas.max(1) } {
        let exe = std::env::current_exe()?;
        hijos.push(
            tokio::process::Command::new(exe)
                .arg("worker")
                .env("MESA__DATABASE__URL", settings.database.url.expose_secret())
                .env("MESA__TOPOLOGY__PREFIX", &settings.topology.prefix)
                .env("MESA__AUTH__JWT_SECRET", SECRETO)
                .env("MESA__HTTP__PORT", "0")
                .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
                .kill_on_drop(true)
                .spawn()
                .context("no se pudo iniciar el worker")?,
        );
        if i == 0 {
            // The first one becomes the active consumer.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let pid = hijos.first().and_then(|h| h.id());

    // Tap on every event, to time publish → event.
    let conexion = amqp::conectar(&url, "mesa-bench eventos").await?;
    let canal = conexion.create_channel().await?;
    amqp::declarar(&canal, &topo).await?;
    let mut eventos = amqp::escuchar(&canal, &topo.eventos(), "ticket.#").await?;
    let llegadas: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let ll = llegadas.clone();
    tokio::spawn(async move {
        while let Some(Ok(e)) = eventos.next().await {
            if let Ok(v) = serde_json::from_slice::<Value>(&e.data)
                && let Some(c) = v["data"]["comandoId"].as_str()
            {
                ll.lock().await.push((c.to_string(), Instant::now()));
            }
        }
    });

    // Wait until the worker answers.
    let calentamiento = Publicador::nuevo(&url, &topo).await?;
    let mut listo = false;
    for _ in 0..60 {
        let rx = calentamiento
            .publicar("catalogo", &json!({}), Some(&format!("Bearer {}", token("ADMIN"))), "calentamiento")
            .await?;
        if tokio::time::timeout(Duration::from_secs(1), rx).await.is_ok() {
            listo = true;
            break;
        }
    }
    anyhow::ensure!(listo, "el worker no respondió");

    let medidas = Arc::new(Medidas::default());
    let ritmo = Arc::new(Ritmo {
        intervalo: (tasa > 0).then(|| Duration::from_secs_f64(1.0 / tasa as f64)),
        proximo: Mutex::new(Instant::now()),
    });
    let auth = format!("Bearer {}", token("MESA"));
    let fin = Instant::now() + Duration::from_secs(duracion);
    eprintln!(
        "carga: {duracion} s, tasa {}, {publicadores} publicadores × {en_vuelo} flujos",
        if tasa == 0 { "máxima".to_string() } else { format!("{tasa}/s") }
    );
    let mut tareas = vec![];
    for _ in 0..publicadores {
        let p = Arc::new(Publicador::nuevo(&url, &topo).await?);
        for _ in 0..en_vuelo {
            let (p, ritmo, m, auth) = (p.clone(), ritmo.clone(), medidas.clone(), auth.clone());
            tareas.push(tokio::spawn(async move {
                while Instant::now() < fin {
                    if let Err(e) = flujo(&p, &ritmo, &m, &auth).await {
                        eprintln!("flujo fallido: {e:#}");
                    }
                }
            }));
        }
    }
    let mut rss_max: Option<f64> = None;
    let cpu_antes = pid.and_then(cpu_segundos);
    while tareas.iter().any(|t| !t.is_finished()) {
        if let Some(pid) = pid {
            rss_max = rss_pico_mib(pid).or(rss_max);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await; // last events
    if let Some(pid) = pid {
        rss_max = rss_pico_mib(pid).or(rss_max);
    }

    let cpu_worker = match (cpu_antes, pid.and_then(cpu_segundos)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let latencias = std::mem::take(&mut *medidas.latencias_ms.lock().await);
    let confirmaciones = std::mem::take(&mut *medidas.confirmaciones_ms.lock().await);
    let total = latencias.len();
    let (primera, ultima) = (*medidas.primera.lock().await, *medidas.ultima.lock().await);
    let ventana = match (primera, ultima) {
        (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
        _ => f64::NAN,
    };
    let publicado = medidas.publicado_en.lock().await;
    let ev: Vec<f64> = llegadas
        .lock()
        .await
        .iter()
        .filter_map(|(c, t)| publicado.get(c).map(|p| t.duration_since(*p).as_secs_f64() * 1000.0))
        .collect();
    let db_despues = tamano_db(&pool).await?;
    let resultado = ResumenCarga {
        benchmark: "carga",
        duracion_s: duracion,
        tasa_objetivo: tasa,
        publicadores,
        flujos_en_vuelo: publicadores * en_vuelo,
        replicas,
        tickets_previos,
        comandos: total,
        ok: medidas.ok.load(Ordering::Relaxed),
        errores: medidas.errores.lock().await.clone(),
        comandos_por_segundo: total as f64 / ventana,
        respuesta: resumen_ms(latencias),
        evento: resumen_ms(ev),
        confirmacion: resumen_ms(confirmaciones),
        rss_pico_mib: rss_max,
        cpu_worker_s: cpu_worker,
        cpu_worker_us_por_comando: cpu_worker.map(|c| c * 1e6 / total.max(1) as f64),
        db_bytes_antes: db_antes,
        db_bytes_despues: db_despues,
    };
    let r = &resultado;
    println!(
        "\n{} comandos en {:.1} s → {:.0} comandos/s sostenidos (ok {}, errores {:?})\n\
         publicación→respuesta  p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms\n\
         publicación→evento     p50 {:.1} ms  p99 {:.1} ms  ({} eventos)\n\
         publicación→confirm.   p50 {:.1} ms  p99 {:.1} ms  (la parte del broker)\n\
         RSS pico del worker    {}\n\
         CPU del worker         {}\n\
         base de datos          {:.1} MiB → {:.1} MiB",
        r.comandos,
        ventana,
        r.comandos_por_segundo,
        r.ok,
        r.errores,
        r.respuesta.p50_ms,
        r.respuesta.p95_ms,
        r.respuesta.p99_ms,
        r.evento.p50_ms,
        r.evento.p99_ms,
        r.evento.n,
        r.confirmacion.p50_ms,
        r.confirmacion.p99_ms,
        r.rss_pico_mib.map(|m| format!("{m:.1} MiB")).unwrap_or_else(|| "no medido (--externo)".into()),
        r.cpu_worker_us_por_comando
            .map(|us| format!("{us:.0} µs por comando ({:.1} s en total)", r.cpu_worker_s.unwrap_or(0.0)))
            .unwrap_or_else(|| "no medido (--externo)".into()),
        r.db_bytes_antes as f64 / 1048576.0,
        r.db_bytes_despues as f64 / 1048576.0,
    );
    drop(publicado);
    for h in hijos.iter_mut() {
        if let Some(pid) = h.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), h.wait()).await;
    }
    pool.close().await;
    if let Some(e) = entorno {
        e.limpiar().await;
    }
    Ok(resultado)
}

// ---------------------------------------------------------------- listar

async fn listar(tickets: i64, consultas: usize) -> anyhow::Result<Value> {
    let entorno = Entorno::nuevo().await?;
    let pool = entorno.pool().await?;
    let t = sembrar(&pool, tickets, 0).await?;
    eprintln!("sembrados {tickets} tickets en {:.1} s", t.as_secs_f64());
    let app = Aplicacion::build(entorno.settings.clone()).await?;
    let procesador = app.procesador.clone();
    let auth = format!("Bearer {}", token("ADMIN"));
    let filtros = [
        json!({}),
        json!({"estado": "ASIGNADO"}),
        json!({"area": "TI", "limite": 200}),
        json!({"prioridad": "CRITICA", "tipo": "QUEJA"}),
        json!({"slaEstado": "PAUSADO"}),
    ];
    let mut por_filtro: Vec<(String, Latencias)> = Vec::new();
    for filtro in &filtros {
        let mut lat = vec![];
        let mut cursor: Option<String> = None;
        for i in 0..consultas / filtros.len() {
            let mut cuerpo = filtro.clone();
            // Walk forward a few pages, then start over: first and deep pages.
            if let Some(c) = cursor.as_ref().filter(|_| i % 10 != 0) {
                cuerpo["cursor"] = json!(c);
            }
            let m = mesa_ayuda::procesador::Mensaje {
                routing_key: "ticket.listar".into(),
                authorization: Some(auth.clone()),
                body: cuerpo.to_string().into_bytes(),
                ..Default::default()
            };
            let t = Instant::now();
            let d = procesador.procesar(&m).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            anyhow::ensure!(d.respuesta["ok"] == true, "listar falló: {}", d.respuesta);
            cursor = d.respuesta["datos"]["siguienteCursor"].as_str().map(str::to_string);
        }
        por_filtro.push((filtro.to_string(), resumen_ms(lat)));
    }
    println!("\nlistar sobre {tickets} tickets (procesador completo: validación, SQL, JSON):");
    for (f, r) in &por_filtro {
        println!("  {f:<45} p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms", r.p50_ms, r.p95_ms, r.p99_ms);
    }
    pool.close().await;
    app.pool.close().await;
    entorno.limpiar().await;
    let por_filtro: serde_json::Map<String, Value> =
        por_filtro.into_iter().map(|(f, l)| Ok((f, serde_json::to_value(l)?))).collect::<serde_json::Result<_>>()?;
    Ok(json!({"benchmark": "listar", "tickets": tickets, "por_filtro": por_filtro}))
}

// ---------------------------------------------------------------- sla

async fn sla(tickets: i64, debidos: i64) -> anyhow::Result<Value> {
    let entorno = Entorno::nuevo().await?;
    let pool = entorno.pool().await?;
    let t = sembrar(&pool, tickets, debidos).await?;
    eprintln!("sembrados {tickets} tickets ({debidos} con alerta debida) en {:.1} s", t.as_secs_f64());
    let metricas = Arc::new(mesa_ayuda::metrics::Metricas::default());
    let planificador = Planificador::new(
        pool.clone(),
        mesa_ayuda::procesador::reloj_del_sistema(),
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
    Ok(json!({"benchmark": "sla", "tickets": tickets, "debidos": debidos, "alertas": alertas,
        "tick_ms": primero, "tick_vacio_ms": vacio}))
}

// ---------------------------------------------------------------- procesador

async fn solo_procesador(duracion: u64, concurrencia: usize) -> anyhow::Result<ResumenProcesador> {
    let entorno = Entorno::nuevo().await?;
    let pool = entorno.pool().await?;
    let mut settings = entorno.settings.clone();
    settings.database.max_connections = concurrencia as u32 + 2;
    let app = Aplicacion::build(settings).await?;
    let auth = format!("Bearer {}", token("MESA"));
    let fin = Instant::now() + Duration::from_secs(duracion);
    let lat: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut tareas = vec![];
    for _ in 0..concurrencia {
        let (p, auth, lat) = (app.procesador.clone(), auth.clone(), lat.clone());
        tareas.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < fin {
                let mensaje = |op: &str, cuerpo: Value, auth: Option<String>| mesa_ayuda::procesador::Mensaje {
                    routing_key: format!("ticket.{op}"),
                    message_id: Some(Uuid::new_v4().to_string()),
                    authorization: auth,
                    body: cuerpo.to_string().into_bytes(),
                    ..Default::default()
                };
                let t = Instant::now();
                let d = p.procesar(&mensaje("crear", ana_garcia(), None)).await.expect("crear");
                lat.lock().await.push(t.elapsed().as_secs_f64() * 1000.0);
                let ticket = d.respuesta["datos"]["ticketUuid"].as_str().unwrap().to_string();
                for (op, cuerpo) in [
                    ("asignar", json!({"ticketId": ticket})),
                    ("actualizar", json!({"ticketId": ticket, "nota": "avance"})),
                ] {
                    let t = Instant::now();
                    let d = p.procesar(&mensaje(op, cuerpo, Some(auth.clone()))).await.expect(op);
                    assert_eq!(d.respuesta["ok"], true);
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
