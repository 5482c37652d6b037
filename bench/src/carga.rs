//! `carga`: a realistic command mix against a worker it starts (a child
//! process running the same `run` code) or an external one.

use crate::clientes::{Remitente, Ritmo};
use crate::entorno::{Entorno, Hijo, lanzar_con, sembrar, tamano_db, terminar, token};
use crate::medidas::{Latencias, cpu_segundos, resumen_ms, rss_pico_mib};
use clap::{Args, FromArgMatches};
use futures_util::StreamExt;
use mesa_ayuda::amqp::{self, Topologia};
use mesa_ayuda::configuration::{Config, Settings};
use mesa_kit::ana_garcia;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use uuid::Uuid;

/// `carga`'s knobs.
#[derive(Args)]
pub(crate) struct ArgsCarga {
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
    /// Start the broker-only worker instead (`eco.rs`): every reply is a
    /// fixed `ok`, nothing touches the database. Its CPU per command is the
    /// AMQP client's share of the real worker's.
    #[arg(long)]
    eco: bool,
    /// What each ticket's life sends: `v1.1` (the default, unchanged so its
    /// figures compare with earlier runs) or `conversacion` (v1.2: replies,
    /// an internal note, a wait for the requester ended by their follow-up).
    #[arg(long, value_enum, default_value_t = Mezcla::V11)]
    mezcla: Mezcla,
}

/// The command mix of one ticket's life.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, clap::ValueEnum)]
pub(crate) enum Mezcla {
    /// crear, then asignar, actualizar, pausar, reabrir, archivar back to
    /// back: 6 commands.
    #[value(name = "v1.1")]
    #[serde(rename = "v1.1")]
    V11,
    /// crear; asignar, a public `responder` asking for something, `pausar`
    /// waiting for the requester (espera SOLICITANTE, `hasta` in 3 days)
    /// back to back; then, once those are answered, the requester's
    /// `seguimiento` (by label and e-mail, which reopens the ticket); then an
    /// internal `responder`, `actualizar`, a public `responder` and
    /// `archivar` back to back: 9 commands, 3 of them `responder`, 1
    /// `seguimiento`. (A `seguimiento` carries no `ticketId`, so it may take
    /// another lane than its ticket's commands: it waits for them, as an
    /// e-mail reply to the desk's question would.)
    #[value(name = "conversacion")]
    #[serde(rename = "conversacion")]
    Conversacion,
}

/// What `carga` measured (printed, and written with `--json`).
#[derive(Serialize)]
pub(crate) struct ResumenCarga {
    benchmark: &'static str,
    mezcla: Mezcla,
    duracion_s: u64,
    tasa_objetivo: u64,
    publicadores: usize,
    flujos_en_vuelo: usize,
    replicas: usize,
    tickets_previos: i64,
    pub(crate) comandos: usize,
    pub(crate) ok: u64,
    /// Replies that were not `ok`, by code (and, with `--mezcla
    /// conversacion`, SIN_REAPERTURA: follow-ups that did not reopen).
    pub(crate) errores: HashMap<String, u64>,
    /// From the first reply to the last.
    pub(crate) comandos_por_segundo: f64,
    /// Publish → reply.
    pub(crate) respuesta: Latencias,
    /// Publish → event.
    evento: Latencias,
    /// Publish → broker confirm: the broker's share.
    confirmacion: Latencias,
    /// The worker's peak RSS (`VmHWM`); none with `--externo`.
    rss_pico_mib: Option<f64>,
    /// The worker's CPU time (user + system); none with `--externo`.
    cpu_worker_s: Option<f64>,
    pub(crate) cpu_worker_us_por_comando: Option<f64>,
    db_bytes_antes: i64,
    db_bytes_despues: i64,
}

impl ArgsCarga {
    /// `carga`'s defaults (clap's, written once) at this length and pace:
    /// the load another measurement runs.
    pub(crate) fn con(duracion: u64, tasa: u64) -> anyhow::Result<ArgsCarga> {
        let (duracion, tasa) = (duracion.to_string(), tasa.to_string());
        let comando = ArgsCarga::augment_args(clap::Command::new("carga"));
        let m = comando.try_get_matches_from(["carga", "--duracion", &duracion, "--tasa", &tasa])?;
        Ok(ArgsCarga::from_arg_matches(&m)?)
    }
}

/// One load run as `correr` leaves it: the summary, and each reply's
/// publish instant and latency, for a measurement that looks at a window of
/// the run.
pub(crate) struct Corrida {
    pub(crate) resumen: ResumenCarga,
    /// When the load began (the first flow's first publish, at the latest).
    pub(crate) inicio: Instant,
    /// (published at, publish → reply in ms), in no particular order.
    pub(crate) respuestas: Vec<(Instant, f64)>,
}

#[derive(Default)]
struct Medidas {
    /// (published at, publish → reply in ms).
    latencias_ms: Mutex<Vec<(Instant, f64)>>,
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
        self.latencias_ms.lock().await.push((enviado, ahora.duration_since(enviado).as_secs_f64() * 1000.0));
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
async fn flujo(p: &Remitente, ritmo: &Ritmo, m: &Medidas, auth: &str) -> anyhow::Result<()> {
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

/// Publishes `pasos` back to back (per-ticket order is the worker's), then
/// records their replies and returns them, in the same order.
async fn tanda(
    p: &Remitente,
    ritmo: &Ritmo,
    m: &Medidas,
    auth: Option<&str>,
    pasos: Vec<(&'static str, Value)>,
) -> anyhow::Result<Vec<Value>> {
    let mut esperas = Vec::with_capacity(pasos.len());
    for (op, cuerpo) in pasos {
        ritmo.turno().await;
        let id = Uuid::new_v4().to_string();
        let t = Instant::now();
        m.publicado_en.lock().await.insert(id.clone(), t);
        let rx = p.publicar(op, &cuerpo, auth, &id).await?;
        m.confirmaciones_ms.lock().await.push(t.elapsed().as_secs_f64() * 1000.0);
        esperas.push((t, rx));
    }
    let mut respuestas = Vec::with_capacity(esperas.len());
    for (t, rx) in esperas {
        let r = tokio::time::timeout(Duration::from_secs(60), rx).await??;
        respuestas.push(r.0.clone());
        m.respuesta(t, r).await;
    }
    Ok(respuestas)
}

/// One ticket's life as a conversation (`--mezcla conversacion`, v1.2).
/// A `seguimiento` answered `ok` that did not reopen the ticket is also
/// counted under `errores` as SIN_REAPERTURA: the mix must exercise the
/// wait's end.
async fn conversacion(p: &Remitente, ritmo: &Ritmo, m: &Medidas, auth: &str) -> anyhow::Result<()> {
    let solicitante = ana_garcia();
    let email = solicitante["email"].clone();
    let creado = tanda(p, ritmo, m, None, vec![("crear", solicitante)]).await?;
    let datos = &creado[0]["datos"];
    let (Some(ticket), Some(label)) = (datos["ticketUuid"].as_str(), datos["ticketLabel"].as_str()) else {
        return Ok(());
    };
    let hasta = (chrono::Utc::now() + chrono::TimeDelta::days(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let pregunta = vec![
        ("asignar", json!({"ticketId": ticket, "agente": "Agente bench"})),
        ("responder", json!({"ticketId": ticket, "texto": "¿Nos envía una captura del error?"})),
        (
            "pausar",
            json!({"ticketId": ticket, "motivo": "Esperando la captura", "espera": "SOLICITANTE", "hasta": hasta}),
        ),
    ];
    tanda(p, ritmo, m, Some(auth), pregunta).await?;
    let adjunto = json!({
        "nombre": "captura.png",
        "url": "https://archivos.example.com/captura.png",
        "tipo": "image/png",
        "bytes": 48213,
        "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    });
    let respuesta = json!({"label": label, "email": email, "texto": "Adjunto la captura.", "adjuntos": [adjunto]});
    let seguido = tanda(p, ritmo, m, None, vec![("seguimiento", respuesta)]).await?;
    if seguido[0]["ok"] == true && seguido[0]["datos"]["estado"] != "ASIGNADO" {
        *m.errores.lock().await.entry("SIN_REAPERTURA".into()).or_default() += 1;
    }
    let cierre = vec![
        ("responder", json!({"ticketId": ticket, "texto": "Era la caché del proxy", "interno": true})),
        ("actualizar", json!({"ticketId": ticket, "nota": "Caché del proxy limpiada"})),
        ("responder", json!({"ticketId": ticket, "texto": "Ya debería poder entrar; cuéntenos si no."})),
        ("archivar", json!({"ticketId": ticket, "motivo": "Resuelto"})),
    ];
    tanda(p, ritmo, m, Some(auth), cierre).await?;
    Ok(())
}

/// Runs the load and reports it.
pub(crate) async fn medir(args: ArgsCarga) -> anyhow::Result<ResumenCarga> {
    let (settings, entorno) = if args.externo {
        (Config::load()?.settings, None)
    } else {
        let e = Entorno::nuevo().await?;
        (e.settings.clone(), Some(e))
    };
    let pool = match &entorno {
        Some(e) => e.pool().await?,
        None => PgPool::connect(settings.database.url.expose_secret()).await?,
    };
    let corrida = async {
        if args.tickets_previos > 0 {
            let t = sembrar(&pool, args.tickets_previos, 0).await?;
            eprintln!("sembrados {} tickets en {:.1} s", args.tickets_previos, t.as_secs_f64());
        }
        correr(&args, &settings, &pool, &[]).await
    }
    .await;
    pool.close().await;
    if let Some(e) = entorno {
        e.limpiar().await;
    }
    Ok(corrida?.resumen)
}

/// The load of `args` on the database of `pool` and the topology of
/// `settings`, as seeded by the caller: starts the worker (unless
/// `--externo`) with `variables` on top of the settings (`lanzar_con`),
/// runs, prints the summary, stops the worker. The environment stays the
/// caller's to inspect and remove.
pub(crate) async fn correr(
    args: &ArgsCarga,
    settings: &Settings,
    pool: &PgPool,
    variables: &[(String, String)],
) -> anyhow::Result<Corrida> {
    let &ArgsCarga { duracion, tasa, publicadores, en_vuelo, tickets_previos, externo, replicas, eco, mezcla } = args;
    let db_antes = tamano_db(pool).await?;
    let topo = Topologia::de(&settings.topology);
    let url = settings.amqp.url.expose_secret().to_string();

    let mut hijos = vec![];
    for i in 0..if externo { 0 } else { replicas.max(1) } {
        hijos.push(lanzar_con(if eco { Hijo::Eco } else { Hijo::Worker }, settings, variables)?);
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
    let calentamiento = Remitente::nuevo(&url, &topo).await?;
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
    let ritmo = Arc::new(Ritmo::new(tasa));
    let auth = format!("Bearer {}", token("MESA"));
    let inicio = Instant::now();
    let fin = inicio + Duration::from_secs(duracion);
    eprintln!(
        "carga: {duracion} s, tasa {}, {publicadores} publicadores × {en_vuelo} flujos, mezcla {mezcla:?}",
        if tasa == 0 { "máxima".to_string() } else { format!("{tasa}/s") }
    );
    let mut tareas = vec![];
    for _ in 0..publicadores {
        let p = Arc::new(Remitente::nuevo(&url, &topo).await?);
        for _ in 0..en_vuelo {
            let (p, ritmo, m, auth) = (p.clone(), ritmo.clone(), medidas.clone(), auth.clone());
            tareas.push(tokio::spawn(async move {
                while Instant::now() < fin {
                    let vida = match mezcla {
                        Mezcla::V11 => flujo(&p, &ritmo, &m, &auth).await,
                        Mezcla::Conversacion => conversacion(&p, &ritmo, &m, &auth).await,
                    };
                    if let Err(e) = vida {
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
    let respuestas = std::mem::take(&mut *medidas.latencias_ms.lock().await);
    let latencias: Vec<f64> = respuestas.iter().map(|&(_, ms)| ms).collect();
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
    let db_despues = tamano_db(pool).await?;
    let resultado = ResumenCarga {
        benchmark: "carga",
        mezcla,
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
        terminar(h).await;
    }
    Ok(Corrida { resumen: resultado, inicio, respuestas })
}
