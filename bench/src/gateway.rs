//! `gateway`: what `mesa-ayuda gateway` adds. One ticket's life — crear,
//! consultar, asignar, actualizar, detalle, archivar, one request at a time —
//! sent through the gateway (HTTP) and straight over AMQP at the same pace, in
//! interleaved rounds (AMQP, HTTP, AMQP, HTTP, …) so the machine's drift hits
//! both alike; then both unpaced, for the ceiling. One worker and one gateway,
//! child processes running the same code as `mesa-ayuda run` and `gateway`.

use crate::clientes::{Remitente, Ritmo};
use crate::entorno::{Entorno, Hijo, lanzar, terminar, token};
use crate::medidas::{Latencias, cpu_segundos, percentil, resumen_ms, rss_pico_mib};
use clap::Args;
use mesa_ayuda::amqp::Topologia;
use mesa_kit::ana_garcia;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use uuid::Uuid;

/// `gateway`'s knobs.
#[derive(Args)]
pub(crate) struct ArgsGateway {
    /// Seconds per phase.
    #[arg(long, default_value_t = 15)]
    duracion: u64,
    /// Requests per second in the paced phases.
    #[arg(long, default_value_t = 500)]
    tasa: u64,
    /// Paced rounds; each runs AMQP then HTTP.
    #[arg(long, default_value_t = 3)]
    rondas: usize,
    /// Ticket lives in flight in the paced phases.
    #[arg(long, default_value_t = 32)]
    flujos: usize,
    /// Ticket lives in flight in the unpaced phases.
    #[arg(long, default_value_t = 128)]
    flujos_maximos: usize,
    /// What each flow sends.
    #[arg(long, value_enum, default_value_t = Mezcla::Vida)]
    mezcla: Mezcla,
}

/// The request mix.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mezcla {
    /// A ticket's life: crear, consultar, asignar, actualizar, detalle, archivar.
    Vida,
    /// `catalogo` only: answered without the database, so the ceiling is
    /// the gateway's and the broker's, not Postgres's.
    Catalogo,
}

/// How a request travels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Camino {
    /// Published to `P.comandos`, answered on a reply queue.
    Amqp,
    /// Sent to the gateway, which does the above.
    Http,
}

/// One step of a ticket's life.
enum Paso<'a> {
    Crear,
    Consultar { label: &'a str },
    Asignar { id: &'a str },
    Actualizar { id: &'a str },
    Detalle { id: &'a str },
    Archivar { id: &'a str },
    Catalogo,
}

impl Paso<'_> {
    /// The operation and its AMQP body.
    fn comando(&self) -> (&'static str, Value) {
        match self {
            Paso::Crear => ("crear", ana_garcia()),
            Paso::Consultar { label } => ("consultar", json!({"label": label, "email": ana_garcia()["email"]})),
            Paso::Asignar { id } => ("asignar", json!({"ticketId": id, "agente": "Agente bench"})),
            Paso::Actualizar { id } => ("actualizar", json!({"ticketId": id, "nota": "Revisando el caso"})),
            Paso::Detalle { id } => ("detalle", json!({"ticketId": id})),
            Paso::Archivar { id } => ("archivar", json!({"ticketId": id, "motivo": "Resuelto"})),
            Paso::Catalogo => ("catalogo", json!({})),
        }
    }

    /// The route (§8), its method and body.
    fn peticion(&self) -> (reqwest::Method, String, Option<Value>) {
        use reqwest::Method;
        let (op, mut cuerpo) = self.comando();
        match self {
            Paso::Crear => (Method::POST, "/api/tickets/crear".into(), Some(cuerpo)),
            Paso::Consultar { .. } => (Method::POST, "/api/tickets/consultar".into(), Some(cuerpo)),
            Paso::Detalle { id } => (Method::GET, format!("/api/tickets/{id}"), None),
            Paso::Catalogo => (Method::GET, "/api/catalogo".into(), None),
            Paso::Asignar { id } | Paso::Actualizar { id } | Paso::Archivar { id } => {
                // The path carries the ticket.
                cuerpo.as_object_mut().map(|c| c.remove("ticketId"));
                (Method::POST, format!("/api/tickets/{id}/{op}"), Some(cuerpo))
            }
        }
    }

    fn publico(&self) -> bool {
        matches!(self, Paso::Crear | Paso::Consultar { .. })
    }
}

/// The two clients, sharing nothing but the worker.
struct Clientes {
    amqp: Vec<Arc<Remitente>>,
    http: reqwest::Client,
    base: String,
    auth: String,
}

impl Clientes {
    /// Sends one step and waits for its answer: the reply body (HTTP: the
    /// §4 `ok`/`datos` shape rebuilt from the status and body).
    async fn enviar(&self, camino: Camino, flujo: usize, paso: &Paso<'_>) -> anyhow::Result<Value> {
        let auth = (!paso.publico()).then_some(self.auth.as_str());
        match camino {
            Camino::Amqp => {
                let (op, cuerpo) = paso.comando();
                let p = &self.amqp[flujo % self.amqp.len()];
                let rx = p.publicar(op, &cuerpo, auth, &Uuid::new_v4().to_string()).await?;
                Ok(tokio::time::timeout(Duration::from_secs(60), rx).await??.0)
            }
            Camino::Http => {
                let (metodo, ruta, cuerpo) = paso.peticion();
                let mut r = self.http.request(metodo, format!("{}{ruta}", self.base));
                if let Some(c) = cuerpo {
                    r = r.json(&c);
                }
                if let Some(a) = auth {
                    r = r.header("authorization", a);
                }
                let respuesta = r.send().await?;
                let ok = respuesta.status().is_success();
                let cuerpo: Value = respuesta.json().await?;
                Ok(if ok {
                    json!({"ok": true, "datos": cuerpo})
                } else {
                    json!({"ok": false, "error": cuerpo["error"]})
                })
            }
        }
    }
}

/// What one phase saw.
#[derive(Default)]
struct Registro {
    latencias_ms: Vec<f64>,
    ok: u64,
    errores: BTreeMap<String, u64>,
}

/// One phase's figures.
#[derive(Serialize)]
pub(crate) struct Fase {
    camino: Camino,
    /// 0 = unpaced.
    tasa_objetivo: u64,
    flujos: usize,
    peticiones: usize,
    ok: u64,
    errores: BTreeMap<String, u64>,
    peticiones_por_segundo: f64,
    latencia: Latencias,
    /// The gateway's CPU time over the phase, per request (HTTP phases).
    cpu_gateway_us_por_peticion: Option<f64>,
    /// The worker's, per command.
    cpu_worker_us_por_comando: Option<f64>,
}

/// The median over rounds of the gateway's extra latency at one percentile.
#[derive(Serialize)]
pub(crate) struct Sobrecoste {
    /// HTTP minus AMQP, per round, in ms.
    por_ronda_ms: Vec<f64>,
    mediana_ms: f64,
}

/// What `gateway` measured (printed, and written with `--json`).
#[derive(Serialize)]
pub(crate) struct ResumenGateway {
    benchmark: &'static str,
    mezcla: Mezcla,
    duracion_fase_s: u64,
    fases: Vec<Fase>,
    /// HTTP p50 − AMQP p50, round by round.
    sobrecoste_p50: Sobrecoste,
    /// HTTP p99 − AMQP p99, round by round.
    sobrecoste_p99: Sobrecoste,
    /// Unpaced, through the gateway.
    maximo_http_por_segundo: f64,
    /// Unpaced, straight over AMQP: the worker's ceiling for this mix.
    maximo_amqp_por_segundo: f64,
    /// The gateway's peak RSS (`VmHWM`) over the whole run.
    rss_pico_gateway_mib: Option<f64>,
    rss_pico_worker_mib: Option<f64>,
}

/// What one phase runs.
#[derive(Clone, Copy)]
struct Plan {
    mezcla: Mezcla,
    camino: Camino,
    /// Requests per second; 0 = unpaced.
    tasa: u64,
    flujos: usize,
    duracion: Duration,
    /// The gateway's and the worker's process ids, for their CPU time.
    pids: (Option<u32>, Option<u32>),
}

/// Runs one phase: `flujos` flows until `duracion` passes.
async fn fase(clientes: &Arc<Clientes>, plan: Plan) -> anyhow::Result<Fase> {
    let Plan { mezcla, camino, tasa, flujos, duracion, pids } = plan;
    let ritmo = Arc::new(Ritmo::new(tasa));
    let registro = Arc::new(Mutex::new(Registro::default()));
    let (pid_gateway, pid_worker) = pids;
    let cpu = |pid: Option<u32>| pid.and_then(cpu_segundos);
    let (cpu_g, cpu_w) = (cpu(pid_gateway), cpu(pid_worker));
    let inicio = Instant::now();
    let fin = inicio + duracion;
    let mut tareas = Vec::with_capacity(flujos);
    for f in 0..flujos {
        let (clientes, ritmo, registro) = (clientes.clone(), ritmo.clone(), registro.clone());
        tareas.push(tokio::spawn(async move {
            while Instant::now() < fin {
                let vida = Vida { clientes: &clientes, mezcla, camino, flujo: f, ritmo: &ritmo, registro: &registro };
                if let Err(e) = vida.completa().await {
                    eprintln!("flujo fallido: {e:#}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    for t in tareas {
        t.await?;
    }
    let ventana = inicio.elapsed().as_secs_f64();
    let Registro { latencias_ms, ok, errores } = std::mem::take(&mut *registro.lock().await);
    let n = latencias_ms.len();
    let por = |antes: Option<f64>, pid: Option<u32>| match (antes, cpu(pid)) {
        (Some(a), Some(b)) => Some((b - a) * 1e6 / n.max(1) as f64),
        _ => None,
    };
    Ok(Fase {
        camino,
        tasa_objetivo: tasa,
        flujos,
        peticiones: n,
        ok,
        errores,
        peticiones_por_segundo: n as f64 / ventana,
        latencia: resumen_ms(latencias_ms),
        cpu_gateway_us_por_peticion: if camino == Camino::Http { por(cpu_g, pid_gateway) } else { None },
        cpu_worker_us_por_comando: por(cpu_w, pid_worker),
    })
}

/// One flow's context: its path, its client slot, the shared pace and log.
struct Vida<'a> {
    clientes: &'a Clientes,
    mezcla: Mezcla,
    camino: Camino,
    flujo: usize,
    ritmo: &'a Ritmo,
    registro: &'a Mutex<Registro>,
}

impl Vida<'_> {
    /// One step, paced and timed.
    async fn paso(&self, p: Paso<'_>) -> anyhow::Result<Value> {
        self.ritmo.turno().await;
        let t = Instant::now();
        let r = self.clientes.enviar(self.camino, self.flujo, &p).await?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let mut reg = self.registro.lock().await;
        reg.latencias_ms.push(ms);
        if r["ok"] == true {
            reg.ok += 1;
        } else {
            let codigo = r["error"]["codigo"].as_str().unwrap_or("SIN_CODIGO").to_string();
            *reg.errores.entry(codigo).or_default() += 1;
        }
        Ok(r)
    }

    /// One ticket's life (or six `catalogo`).
    async fn completa(&self) -> anyhow::Result<()> {
        if self.mezcla == Mezcla::Catalogo {
            for _ in 0..6 {
                self.paso(Paso::Catalogo).await?;
            }
            return Ok(());
        }
        let creado = self.paso(Paso::Crear).await?;
        let d = &creado["datos"];
        let (Some(id), Some(label)) = (d["ticketUuid"].as_str(), d["ticketLabel"].as_str()) else {
            return Ok(());
        };
        self.paso(Paso::Consultar { label }).await?;
        self.paso(Paso::Asignar { id }).await?;
        self.paso(Paso::Actualizar { id }).await?;
        self.paso(Paso::Detalle { id }).await?;
        self.paso(Paso::Archivar { id }).await?;
        Ok(())
    }
}

/// Runs the rounds and reports them.
pub(crate) async fn medir(args: ArgsGateway) -> anyhow::Result<ResumenGateway> {
    let ArgsGateway { duracion, tasa, rondas, flujos, flujos_maximos, mezcla } = args;
    let entorno = Entorno::nuevo().await?;
    let settings = entorno.settings.clone();
    let pool = entorno.pool().await?;
    let topo = Topologia::de(&settings.topology);
    let url = settings.amqp.url.expose_secret().to_string();
    let puerto = mesa_kit::puerto_libre();
    let mut worker = lanzar(Hijo::Worker, &settings)?;
    let mut gateway = lanzar(Hijo::Gateway(puerto), &settings)?;
    let pids = (gateway.id(), worker.id());

    let mut amqp = Vec::new();
    for _ in 0..4 {
        amqp.push(Arc::new(Remitente::nuevo(&url, &topo).await?));
    }
    let http = mesa_ayuda::tls::cliente_http().pool_max_idle_per_host(flujos_maximos).build()?;
    let clientes = Arc::new(Clientes {
        amqp,
        http,
        base: format!("http://127.0.0.1:{puerto}"),
        auth: format!("Bearer {}", token("MESA")),
    });
    // Both paths answer before anything is timed.
    let mut listo = false;
    for _ in 0..60 {
        let a = clientes.enviar(Camino::Amqp, 0, &Paso::Crear);
        let h = clientes.enviar(Camino::Http, 0, &Paso::Crear);
        if let (Ok(Ok(a)), Ok(Ok(h))) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(1), a),
            tokio::time::timeout(Duration::from_secs(1), h)
        ) && a["ok"] == true
            && h["ok"] == true
        {
            listo = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::ensure!(listo, "el worker o el gateway no respondieron");

    let duracion = Duration::from_secs(duracion);
    let mut fases = Vec::new();
    for ronda in 1..=rondas {
        for camino in [Camino::Amqp, Camino::Http] {
            eprintln!("ronda {ronda}/{rondas}: {camino:?} a {tasa}/s, {flujos} flujos");
            fases.push(fase(&clientes, Plan { mezcla, camino, tasa, flujos, duracion, pids }).await?);
        }
    }
    for camino in [Camino::Amqp, Camino::Http] {
        eprintln!("sin ritmo: {camino:?}, {flujos_maximos} flujos");
        fases.push(fase(&clientes, Plan { mezcla, camino, tasa: 0, flujos: flujos_maximos, duracion, pids }).await?);
    }
    let rss = |pid: Option<u32>| pid.and_then(rss_pico_mib);
    let (rss_gateway, rss_worker) = (rss(pids.0), rss(pids.1));

    let sobrecoste = |p: fn(&Latencias) -> f64| {
        let pasadas: Vec<&Fase> = fases.iter().filter(|f| f.tasa_objetivo > 0).collect();
        let mut por_ronda: Vec<f64> = pasadas.chunks(2).map(|par| p(&par[1].latencia) - p(&par[0].latencia)).collect();
        let lista = por_ronda.clone();
        por_ronda.sort_by(f64::total_cmp);
        Sobrecoste { por_ronda_ms: lista, mediana_ms: percentil(&por_ronda, 0.5) }
    };
    let maximo = |camino: Camino| {
        fases.iter().find(|f| f.tasa_objetivo == 0 && f.camino == camino).map_or(f64::NAN, |f| f.peticiones_por_segundo)
    };
    let resumen = ResumenGateway {
        benchmark: "gateway",
        mezcla,
        duracion_fase_s: duracion.as_secs(),
        sobrecoste_p50: sobrecoste(|l| l.p50_ms),
        sobrecoste_p99: sobrecoste(|l| l.p99_ms),
        maximo_http_por_segundo: maximo(Camino::Http),
        maximo_amqp_por_segundo: maximo(Camino::Amqp),
        rss_pico_gateway_mib: rss_gateway,
        rss_pico_worker_mib: rss_worker,
        fases,
    };
    println!("\ncamino  tasa   peticiones  /s       p50 ms  p99 ms  errores  CPU gateway µs/pet.  CPU worker µs/com.");
    for f in &resumen.fases {
        println!(
            "{:<7} {:<6} {:<11} {:<8.0} {:<7.2} {:<7.2} {:<8} {:<20} {}",
            format!("{:?}", f.camino),
            if f.tasa_objetivo == 0 { "máx".to_string() } else { f.tasa_objetivo.to_string() },
            f.peticiones,
            f.peticiones_por_segundo,
            f.latencia.p50_ms,
            f.latencia.p99_ms,
            f.errores.values().sum::<u64>(),
            f.cpu_gateway_us_por_peticion.map_or("-".into(), |c| format!("{c:.0}")),
            f.cpu_worker_us_por_comando.map_or("-".into(), |c| format!("{c:.0}")),
        );
    }
    println!(
        "\nel gateway añade (mediana de {rondas} rondas a {tasa}/s): p50 {:+.2} ms, p99 {:+.2} ms\n\
         máximo: {:.0} peticiones/s por HTTP, {:.0} comandos/s por AMQP\n\
         RSS pico: gateway {}, worker {}",
        resumen.sobrecoste_p50.mediana_ms,
        resumen.sobrecoste_p99.mediana_ms,
        resumen.maximo_http_por_segundo,
        resumen.maximo_amqp_por_segundo,
        rss_gateway.map_or("no medido".into(), |m| format!("{m:.1} MiB")),
        rss_worker.map_or("no medido".into(), |m| format!("{m:.1} MiB")),
    );
    terminar(&mut gateway).await;
    terminar(&mut worker).await;
    pool.close().await;
    entorno.limpiar().await;
    Ok(resumen)
}
