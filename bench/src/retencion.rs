//! `retencion`: the retention pass (§11, `retencion.anonimizar_cerrados`)
//! erasing N closed tickets while the worker carries `carga`'s load at a
//! fixed pace, against the same load without it, in interleaved A/B pairs.
//!
//! Every run starts from a fresh environment seeded alike
//! (`sembrar_cerrados`: exactly N tickets closed over 400 days ago), so A
//! and B differ only in the worker's settings: B's has
//! `retencion.anonimizar_cerrados = "365d"` and a retention cron every few
//! seconds. While the load runs, a monitor on a connection of its own reads
//! how many of the N are left (on the partial index `tickets_por_retener`,
//! so the read is as small as what is left) and samples `pg_stat_activity`
//! for the longest-held transactions; afterwards SQL counts what was erased
//! and how many ANONIMIZACION entries each ticket got.

use crate::carga::{self, ArgsCarga, Corrida};
use crate::entorno::{Entorno, sembrar_cerrados};
use crate::medidas::{Latencias, percentil, resumen_ms};
use clap::Args;
use mesa_ayuda::domain::anonimizacion::TEXTO_ANONIMIZADO;
use secrecy::ExposeSecret;
use serde::Serialize;
use sqlx::{Connection, PgConnection, PgPool};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What B's worker erases: the contract's example, a year.
const EDAD: &str = "365d";
/// How often the monitor samples the transactions in progress: a
/// transaction held for less than this may be missed, so the longest one
/// reported is a lower bound within this much.
const MUESTREO_TX: Duration = Duration::from_millis(50);
/// How often it counts the tickets left.
const MUESTREO_RESTANTES: Duration = Duration::from_millis(250);

/// `retencion`'s knobs.
#[derive(Args)]
pub(crate) struct ArgsRetencion {
    /// Closed tickets seeded, every one closed over 400 days ago: the
    /// retention pass's work on side B.
    #[arg(long, default_value_t = 100_000)]
    cerrados: i64,
    /// Commands per second of the load, both sides.
    #[arg(long, default_value_t = 1_000)]
    tasa: u64,
    /// Seconds of load per run.
    #[arg(long, default_value_t = 60)]
    duracion: u64,
    /// A/B pairs, in the order (A,B), (B,A), (A,B)…
    #[arg(long, default_value_t = 2)]
    pares: usize,
    /// `retencion.cron` of B's worker (6 fields, seconds first).
    #[arg(long, default_value = "*/10 * * * * *")]
    cron: String,
    /// `scheduler.lote` of both workers (tickets a retention transaction
    /// erases); unset: the configured one.
    #[arg(long)]
    lote: Option<usize>,
}

/// A side of a pair.
#[derive(Clone, Copy, PartialEq, Serialize)]
enum Lado {
    /// The load alone.
    A,
    /// The load and the retention pass.
    B,
}

/// One run: the load's figures and what the retention pass did.
#[derive(Serialize)]
struct Medida {
    par: usize,
    lado: Lado,
    siembra_s: f64,
    comandos: usize,
    ok: u64,
    errores: HashMap<String, u64>,
    comandos_por_segundo: f64,
    /// Publish → reply, the whole run.
    respuesta: Latencias,
    cpu_worker_us_por_comando: Option<f64>,
    /// What SQL says the pass did to the N seeded tickets (its fields at
    /// this level of the JSON).
    #[serde(flatten)]
    cuenta: Cuenta,
    /// Since the load began (negative: during the warm-up): the first
    /// sample with fewer than N left, the first with none left. None: not
    /// seen.
    primer_borrado_s: Option<f64>,
    todo_borrado_s: Option<f64>,
    /// The longest any sampled retention transaction (one that ran a
    /// statement of `reclamar_para_anonimizar` or `borrar_copias`) had been
    /// open, and any other (commands, SLA scans, the relay, pruning).
    tx_retencion_max_ms: Option<f64>,
    tx_otras_max_ms: Option<f64>,
    /// Most retention transactions open in one sample (overlapping passes).
    tx_retencion_simultaneas_max: usize,
}

/// A pair's ratios, B over A.
#[derive(Serialize)]
struct Par {
    par: usize,
    orden: &'static str,
    p50: f64,
    p95: f64,
    p99: f64,
    comandos_por_segundo: f64,
    /// The replies published while B's pass was erasing (its first sample
    /// with fewer than N left to its first with none, or to the load's
    /// end), on both sides at the same offsets from the load's start.
    ventana_s: Option<(f64, f64)>,
    ventana_a: Option<Latencias>,
    ventana_b: Option<Latencias>,
}

/// What `retencion` measured.
#[derive(Serialize)]
pub(crate) struct ResumenRetencion {
    benchmark: &'static str,
    cerrados: i64,
    tasa: u64,
    duracion_s: u64,
    cron: String,
    edad: &'static str,
    lote: usize,
    corridas: Vec<Medida>,
    pares: Vec<Par>,
    /// Medians over the pairs of B/A: reply p50, p95, p99; p99 in the window.
    mediana_p50: f64,
    mediana_p95: f64,
    mediana_p99: f64,
    mediana_p99_ventana: Option<f64>,
}

/// What the monitor saw while a run went on.
#[derive(Default)]
struct Visto {
    /// (when, tickets left), every `MUESTREO_RESTANTES`.
    restantes: Vec<(Instant, i64)>,
    /// (pid, xact_start) → (longest seen open in ms, ran a retention statement).
    transacciones: HashMap<(i32, String), (f64, bool)>,
    simultaneas_max: usize,
}

/// Whether a statement is one only the retention pass runs here (the load
/// sends no `anonimizar`): `reclamar_para_anonimizar` and `borrar_copias`'s.
fn de_retencion(sentencia: &str) -> bool {
    [
        "anonimizado_en IS NULL",
        "solicitante_nombre = $2",
        "UPDATE mensajes SET autor_nombre",
        "UPDATE historial SET actor_nombre",
        "FROM outbox WHERE ticket_uuid = ANY",
    ]
    .iter()
    .any(|s| sentencia.contains(s))
}

/// Samples the environment until `parada` turns true, on one connection of
/// its own (so it can leave itself out of `pg_stat_activity`).
async fn vigilar(url: String, parada: watch::Receiver<bool>) -> anyhow::Result<Visto> {
    let mut conn = PgConnection::connect(&url).await?;
    let mut visto = Visto::default();
    let mut ultima_cuenta: Option<Instant> = None;
    while !*parada.borrow() {
        if ultima_cuenta.is_none_or(|t| t.elapsed() >= MUESTREO_RESTANTES) {
            let t = Instant::now();
            let restantes: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM tickets WHERE cerrado_en IS NOT NULL AND anonimizado_en IS NULL \
                 AND cerrado_en < now() - interval '400 days'",
            )
            .fetch_one(&mut conn)
            .await?;
            visto.restantes.push((t, restantes));
            ultima_cuenta = Some(t);
        }
        let filas: Vec<(i32, String, f64, String)> = sqlx::query_as(
            "SELECT pid, xact_start::text, (extract(epoch FROM clock_timestamp() - xact_start) * 1000)::float8, \
             coalesce(query, '') FROM pg_stat_activity \
             WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut conn)
        .await?;
        let mut simultaneas = 0;
        for (pid, inicio, ms, sentencia) in filas {
            let e = visto.transacciones.entry((pid, inicio)).or_insert((0.0, false));
            e.0 = e.0.max(ms);
            e.1 |= de_retencion(&sentencia);
            simultaneas += usize::from(e.1);
        }
        visto.simultaneas_max = visto.simultaneas_max.max(simultaneas);
        tokio::time::sleep(MUESTREO_TX).await;
    }
    conn.close().await?;
    Ok(visto)
}

/// What SQL says the pass did to the N seeded tickets, once the run is over.
#[derive(Serialize)]
struct Cuenta {
    /// Of the N seeded: erased (`anonimizado_en` set).
    borrados: i64,
    /// Of the N seeded: with exactly one ANONIMIZACION entry; with more.
    una_entrada: i64,
    varias_entradas: i64,
    /// Erased without an entry; erased with the e-mail still there; the
    /// requester's messages of erased tickets still holding their text.
    sin_entrada: i64,
    con_email: i64,
    mensajes_sin_borrar: i64,
    /// ANONIMIZACION entries on tickets that were not seeded old (the
    /// load's own tickets, closed minutes ago): must be 0.
    entradas_ajenas: i64,
    /// `ticket.anonimizado` events in the outbox, and how many of them the
    /// relay published by the end.
    eventos_anonimizado: i64,
    eventos_anonimizado_publicados: i64,
}

async fn contar(pool: &PgPool) -> anyhow::Result<Cuenta> {
    let (borrados, una_entrada, varias_entradas, sin_entrada, con_email): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE t.anonimizado_en IS NOT NULL), \
               count(*) FILTER (WHERE e.n = 1), count(*) FILTER (WHERE e.n > 1), \
               count(*) FILTER (WHERE t.anonimizado_en IS NOT NULL AND e.n IS NULL), \
               count(*) FILTER (WHERE t.anonimizado_en IS NOT NULL AND t.solicitante_email IS NOT NULL) \
             FROM tickets t LEFT JOIN (SELECT ticket_uuid, count(*) AS n FROM historial \
               WHERE accion = 'ANONIMIZACION' GROUP BY ticket_uuid) e ON e.ticket_uuid = t.uuid \
             WHERE t.cerrado_en < now() - interval '400 days'",
    )
    .fetch_one(pool)
    .await?;
    let mensajes_sin_borrar: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mensajes m JOIN tickets t ON t.uuid = m.ticket_uuid \
         WHERE t.anonimizado_en IS NOT NULL AND m.autor_rol = 'USUARIO' AND m.texto <> $1",
    )
    .bind(TEXTO_ANONIMIZADO)
    .fetch_one(pool)
    .await?;
    let entradas_ajenas: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM historial h JOIN tickets t ON t.uuid = h.ticket_uuid \
         WHERE h.accion = 'ANONIMIZACION' AND coalesce(t.cerrado_en >= now() - interval '400 days', true)",
    )
    .fetch_one(pool)
    .await?;
    let (eventos_anonimizado, eventos_anonimizado_publicados): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(publicado_en) FROM outbox WHERE tipo = 'ticket.anonimizado'")
            .fetch_one(pool)
            .await?;
    Ok(Cuenta {
        borrados,
        una_entrada,
        varias_entradas,
        sin_entrada,
        con_email,
        mensajes_sin_borrar,
        entradas_ajenas,
        eventos_anonimizado,
        eventos_anonimizado_publicados,
    })
}

/// One run on a fresh environment: seed, load (with the retention pass on
/// side B), count, remove.
async fn una(args: &ArgsRetencion, par: usize, lado: Lado) -> anyhow::Result<(Medida, Corrida)> {
    let entorno = Entorno::nuevo().await?;
    let pool = entorno.pool().await?;
    let resultado = async {
        let siembra = sembrar_cerrados(&pool, args.cerrados).await?;
        eprintln!(
            "par {par}, lado {}: sembrados {} tickets cerrados en {:.1} s",
            nombre(lado),
            args.cerrados,
            siembra.as_secs_f64()
        );
        let mut variables = vec![];
        if let Some(lote) = args.lote {
            variables.push(("MESA__SCHEDULER__LOTE".to_string(), lote.to_string()));
        }
        if lado == Lado::B {
            variables.push(("MESA__RETENCION__ANONIMIZAR_CERRADOS".to_string(), EDAD.to_string()));
            variables.push(("MESA__RETENCION__CRON".to_string(), args.cron.clone()));
        }
        let (parar, parada) = watch::channel(false);
        let monitor = tokio::spawn(vigilar(entorno.settings.database.url.expose_secret().to_string(), parada));
        let carga = ArgsCarga::con(args.duracion, args.tasa)?;
        let corrida = carga::correr(&carga, &entorno.settings, &pool, &variables).await;
        // Nobody else listens: a failed send only means the monitor already ended.
        let _ = parar.send(true);
        let visto = monitor.await??;
        let corrida = corrida?;
        let cuenta = contar(&pool).await?;
        let desde = |t: Instant| {
            if t >= corrida.inicio {
                t.duration_since(corrida.inicio).as_secs_f64()
            } else {
                -corrida.inicio.duration_since(t).as_secs_f64()
            }
        };
        let primer = visto.restantes.iter().find(|(_, r)| *r < args.cerrados).map(|&(t, _)| desde(t));
        let todo = visto.restantes.iter().find(|(_, r)| *r == 0).map(|&(t, _)| desde(t));
        let maximo = |retencion: bool| {
            visto.transacciones.values().filter(|(_, r)| *r == retencion).map(|(ms, _)| *ms).reduce(f64::max)
        };
        let r = &corrida.resumen;
        let medida = Medida {
            par,
            lado,
            siembra_s: siembra.as_secs_f64(),
            comandos: r.comandos,
            ok: r.ok,
            errores: r.errores.clone(),
            comandos_por_segundo: r.comandos_por_segundo,
            respuesta: resumen_ms(corrida.respuestas.iter().map(|&(_, ms)| ms).collect()),
            cpu_worker_us_por_comando: r.cpu_worker_us_por_comando,
            cuenta,
            primer_borrado_s: primer,
            todo_borrado_s: todo,
            tx_retencion_max_ms: maximo(true),
            tx_otras_max_ms: maximo(false),
            tx_retencion_simultaneas_max: visto.simultaneas_max,
        };
        anyhow::Ok((medida, corrida))
    }
    .await;
    pool.close().await;
    entorno.limpiar().await;
    resultado
}

fn nombre(lado: Lado) -> &'static str {
    match lado {
        Lado::A => "A (sin retención)",
        Lado::B => "B (con retención)",
    }
}

/// The replies published between `desde` and `hasta` seconds after the load began.
fn en_ventana(c: &Corrida, (desde, hasta): (f64, f64)) -> Latencias {
    resumen_ms(
        c.respuestas
            .iter()
            .filter(|(t, _)| {
                let s = t.saturating_duration_since(c.inicio).as_secs_f64();
                s >= desde && s <= hasta
            })
            .map(|&(_, ms)| ms)
            .collect(),
    )
}

fn mediana(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    // The mean of the middle two for an even count, as usually quoted.
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 0 => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        _ => percentil(&v, 0.5),
    }
}

/// Runs the pairs and reports them.
pub(crate) async fn medir(args: ArgsRetencion) -> anyhow::Result<ResumenRetencion> {
    let lote = match args.lote {
        Some(l) => l,
        None => mesa_ayuda::configuration::Config::load()?.settings.scheduler.lote,
    };
    eprintln!(
        "retencion: {} cerrados, {} comandos/s, {} s por corrida, {} pares, cron {:?}, lote {lote}",
        args.cerrados, args.tasa, args.duracion, args.pares, args.cron
    );
    let mut corridas = vec![];
    let mut pares = vec![];
    for par in 1..=args.pares {
        let orden = if par % 2 == 1 { [Lado::A, Lado::B] } else { [Lado::B, Lado::A] };
        let mut de_par: Vec<(Medida, Corrida)> = vec![];
        for lado in orden {
            de_par.push(una(&args, par, lado).await?);
        }
        de_par.sort_by_key(|(m, _)| m.lado == Lado::B);
        let [(a, ca), (b, cb)] = <[_; 2]>::try_from(de_par).map_err(|_| anyhow::anyhow!("un par sin dos lados"))?;
        let fin_carga = args.duracion as f64;
        let ventana = b.primer_borrado_s.map(|d| (d.max(0.0), b.todo_borrado_s.unwrap_or(fin_carga).min(fin_carga)));
        let ventana = ventana.filter(|(d, h)| h > d);
        pares.push(Par {
            par,
            orden: if orden[0] == Lado::A { "A,B" } else { "B,A" },
            p50: b.respuesta.p50_ms / a.respuesta.p50_ms,
            p95: b.respuesta.p95_ms / a.respuesta.p95_ms,
            p99: b.respuesta.p99_ms / a.respuesta.p99_ms,
            comandos_por_segundo: b.comandos_por_segundo / a.comandos_por_segundo,
            ventana_s: ventana,
            ventana_a: ventana.map(|v| en_ventana(&ca, v)),
            ventana_b: ventana.map(|v| en_ventana(&cb, v)),
        });
        corridas.push(a);
        corridas.push(b);
    }
    let ventanas: Vec<f64> =
        pares.iter().filter_map(|p| Some(p.ventana_b.as_ref()?.p99_ms / p.ventana_a.as_ref()?.p99_ms)).collect();
    let resumen = ResumenRetencion {
        benchmark: "retencion",
        cerrados: args.cerrados,
        tasa: args.tasa,
        duracion_s: args.duracion,
        cron: args.cron.clone(),
        edad: EDAD,
        lote,
        mediana_p50: mediana(pares.iter().map(|p| p.p50).collect()),
        mediana_p95: mediana(pares.iter().map(|p| p.p95).collect()),
        mediana_p99: mediana(pares.iter().map(|p| p.p99).collect()),
        mediana_p99_ventana: (!ventanas.is_empty()).then(|| mediana(ventanas)),
        corridas,
        pares,
    };
    imprimir(&resumen);
    Ok(resumen)
}

fn ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0} ms")).unwrap_or_else(|| "—".into())
}

fn imprimir(r: &ResumenRetencion) {
    println!(
        "\nretención de {} tickets cerrados (edad {}, cron {:?}, lote {}) bajo {} comandos/s, {} s por corrida",
        r.cerrados, r.edad, r.cron, r.lote, r.tasa, r.duracion_s
    );
    for m in &r.corridas {
        println!(
            "par {} {:<18} {:>6.0} comandos/s  ok {} de {}  errores {:?}  respuesta p50 {:.1} p95 {:.1} p99 {:.1} ms  CPU {}",
            m.par,
            nombre(m.lado),
            m.comandos_por_segundo,
            m.ok,
            m.comandos,
            m.errores,
            m.respuesta.p50_ms,
            m.respuesta.p95_ms,
            m.respuesta.p99_ms,
            m.cpu_worker_us_por_comando.map(|us| format!("{us:.0} µs/comando")).unwrap_or_else(|| "—".into()),
        );
        let tiempo = match (m.primer_borrado_s, m.todo_borrado_s) {
            (Some(p), Some(t)) => {
                format!("primer borrado a {p:.1} s, todos a {t:.1} s de empezar la carga ({:.1} s)", t - p)
            }
            (Some(p), None) => format!("primer borrado a {p:.1} s; NO terminó dentro de la corrida"),
            _ => "ninguno borrado".into(),
        };
        let c = &m.cuenta;
        println!(
            "    borrados {} de {}: una entrada ANONIMIZACION {}, más de una {}, sin entrada {}, con e-mail {}, \
             mensajes sin borrar {}, entradas en tickets ajenos {}; eventos ticket.anonimizado {} ({} publicados); {}; \
             transacción más larga vista: retención {} (simultáneas máx. {}), otras {}",
            c.borrados,
            r.cerrados,
            c.una_entrada,
            c.varias_entradas,
            c.sin_entrada,
            c.con_email,
            c.mensajes_sin_borrar,
            c.entradas_ajenas,
            c.eventos_anonimizado,
            c.eventos_anonimizado_publicados,
            tiempo,
            ms(m.tx_retencion_max_ms),
            m.tx_retencion_simultaneas_max,
            ms(m.tx_otras_max_ms),
        );
    }
    for p in &r.pares {
        let ventana = match (&p.ventana_s, &p.ventana_a, &p.ventana_b) {
            (Some((d, h)), Some(a), Some(b)) => format!(
                "; mientras borraba ({d:.1}–{h:.1} s): p99 A {:.1} ms ({} resp.), B {:.1} ms ({} resp.), B/A {:.2}",
                a.p99_ms,
                a.n,
                b.p99_ms,
                b.n,
                b.p99_ms / a.p99_ms
            ),
            _ => String::new(),
        };
        println!(
            "par {} ({}): B/A p50 {:.2} p95 {:.2} p99 {:.2} comandos/s {:.3}{ventana}",
            p.par, p.orden, p.p50, p.p95, p.p99, p.comandos_por_segundo
        );
    }
    println!(
        "mediana B/A: p50 {:.2} p95 {:.2} p99 {:.2}{}",
        r.mediana_p50,
        r.mediana_p95,
        r.mediana_p99,
        r.mediana_p99_ventana.map(|v| format!(", p99 mientras borraba {v:.2}")).unwrap_or_default()
    );
}
