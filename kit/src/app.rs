//! The whole worker (`Aplicacion::ejecutar`) in-process, on a fresh database and
//! topology prefix, with a client and a clock the test moves.

use crate::cliente::Cliente;
use crate::datos::ana_garcia;
use crate::entorno::{crear_base, limpiar, settings_de_prueba};
use crate::tokens::token;
use mesa_ayuda::amqp::Topologia;
use mesa_ayuda::configuration::{Config, Settings};
use mesa_ayuda::planificador::Planificador;
use mesa_ayuda::procesador::Procesador;
use mesa_ayuda::reloj::Reloj;
use mesa_ayuda::startup::{Aplicacion, Cierre};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sqlx::PgPool;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running worker on its own database and prefix, plus a client.
pub struct TestApp {
    /// How far the worker's clock runs ahead of the real one.
    adelanto_ms: Arc<AtomicI64>,
    /// The configuration it runs with (`config.settings` as the test left them).
    pub config: Config,
    /// A pool of the test's own on the worker's database.
    pub pool: PgPool,
    /// The worker's processor, to call without the broker.
    pub procesador: Procesador,
    /// The worker's SLA scheduler, to scan on the test's clock.
    pub planificador: Planificador,
    /// The running worker's metrics (reconnections, commands by result).
    pub metricas: Arc<mesa_ayuda::metrics::Metricas>,
    /// The test's client of the broker.
    pub cliente: Cliente,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<Cierre>>>,
    db: String,
}

impl TestApp {
    /// A worker with the test settings.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// A worker with the test settings as `ajustar` leaves them.
    pub async fn spawn_with(ajustar: impl FnOnce(&mut Settings)) -> TestApp {
        let (mut settings, db) = settings_de_prueba();
        ajustar(&mut settings);
        let config = Config::desde(settings).expect("the test's settings are valid");
        let settings = &config.settings;
        crear_base(&db).await;
        let adelanto_ms = Arc::new(AtomicI64::new(0));
        let a = adelanto_ms.clone();
        let reloj: Reloj =
            Arc::new(move || chrono::Utc::now() + chrono::TimeDelta::milliseconds(a.load(Ordering::SeqCst)));
        let app = Aplicacion::build_with_clock(config.clone(), reloj).await.expect("build");
        mesa_ayuda::store::migrate(&app.pool).await.expect("migrate");
        // Its own pool: the worker closes its own on shutdown.
        let pool = PgPool::connect(settings.database.url.expose_secret()).await.expect("test pool");
        let procesador = app.procesador.clone();
        let planificador = app.planificador.clone();
        let metricas = app.metricas.clone();
        let topo = app.topologia();
        let cliente = Cliente::new(settings.amqp.url.expose_secret(), &topo).await;
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.ejecutar(shutdown.clone()));
        TestApp {
            adelanto_ms,
            config,
            pool,
            procesador,
            planificador,
            metricas,
            cliente,
            shutdown,
            handle: Some(handle),
            db,
        }
    }

    /// The worker's current time.
    pub fn ahora(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + chrono::TimeDelta::milliseconds(self.adelanto_ms.load(Ordering::SeqCst))
    }

    /// Moves the worker's clock forward.
    pub fn adelantar(&self, d: chrono::TimeDelta) {
        self.adelanto_ms.fetch_add(d.num_milliseconds(), Ordering::SeqCst);
    }

    /// The worker's topology.
    pub fn topologia(&self) -> Topologia {
        self.cliente.topo.clone()
    }

    /// Sends `ticket.<op>` and waits for the reply.
    pub async fn enviar(&mut self, op: &str, cuerpo: Value, token: Option<&str>) -> Value {
        self.cliente.enviar(op, cuerpo, token).await
    }

    /// Creates Ana García's ticket; returns the reply's `datos`.
    pub async fn crear(&mut self) -> Value {
        let r = self.enviar("crear", ana_garcia(), None).await;
        assert_eq!(r["ok"], true, "{r}");
        r["datos"].clone()
    }

    /// A ticket walked to `estado` through legal commands; its uuid.
    pub async fn ticket_en(&mut self, estado: &str) -> String {
        let id = self.crear().await["ticketUuid"].as_str().unwrap().to_string();
        let mesa = token("MESA", None);
        let pasos: &[(&str, Value)] = &match estado {
            "NUEVO" => vec![],
            "ASIGNADO" => vec![("asignar", json!({}))],
            "PAUSADO" => vec![("asignar", json!({})), ("pausar", json!({"motivo": "espera"}))],
            "TRANSFERIDO" => {
                vec![("asignar", json!({})), ("transferir", json!({"area": "TI", "motivo": "le toca a TI"}))]
            }
            "RECLASIFICADO" => {
                vec![("asignar", json!({})), ("reclasificar", json!({"motivo": "era otra cosa", "tipo": "PETICION"}))]
            }
            "ACTUALIZADO" => vec![("asignar", json!({})), ("actualizar", json!({"nota": "avance"}))],
            "CANCELADO" => vec![("asignar", json!({})), ("cancelar", json!({"motivo": "duplicado"}))],
            "ARCHIVADO" => vec![("asignar", json!({})), ("archivar", json!({"motivo": "resuelto"}))],
            otro => panic!("estado {otro}"),
        };
        for (op, cuerpo) in pasos {
            let mut cuerpo = cuerpo.clone();
            cuerpo["ticketId"] = json!(id);
            let r = self.enviar(op, cuerpo, Some(&mesa)).await;
            assert_eq!(r["ok"], true, "{op}: {r}");
        }
        id
    }

    /// The ticket row as JSON, to compare before and after.
    pub async fn fila(&self, id: &str) -> Value {
        sqlx::query_scalar("SELECT to_jsonb(t) FROM tickets t WHERE uuid = $1::uuid")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// A count query's result.
    pub async fn contar(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

    /// A count query's result, `$1` bound to `id`.
    pub async fn contar_de(&self, sql: &'static str, id: &str) -> i64 {
        sqlx::query_scalar(sql).bind(id).fetch_one(&self.pool).await.unwrap()
    }

    /// Stops the worker gracefully and waits for it.
    pub async fn detener(&mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            let cierre =
                tokio::time::timeout(Duration::from_secs(20), h).await.expect("graceful stop").unwrap().unwrap();
            assert_eq!(cierre, Cierre::Completo, "the drain finished within the grace");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            h.abort();
        }
        limpiar(self.db.clone(), self.cliente.topo.clone(), self.config.settings.amqp.url.expose_secret().to_string());
    }
}

/// Waits until some worker answers a query.
pub async fn esperar_worker(app: &mut TestApp) {
    let admin = token("ADMIN", None);
    for _ in 0..100 {
        let auth = format!("Bearer {admin}");
        let c = app.cliente.publicar("ticket.catalogo", b"{}", None, Some(&auth)).await;
        if tokio::time::timeout(Duration::from_millis(500), app.cliente.respuesta(&c)).await.is_ok() {
            return;
        }
    }
    panic!("no worker answered");
}

/// The value of the sample `muestra` (a metric's name and labels as
/// Prometheus text prints them) in `texto`, if present.
pub fn valor_metrica(texto: &str, muestra: &str) -> Option<f64> {
    texto.lines().find_map(|l| l.strip_prefix(muestra)?.strip_prefix(' ')?.trim().parse().ok())
}
