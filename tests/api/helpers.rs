//! Spawns the worker on a fresh database and topology prefix, and talks to it
//! over the real RabbitMQ, as an upstream system would.

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, Consumer};
use mesa_ayuda::amqp::{self, Topologia};
use mesa_ayuda::auth::{Claims, emitir};
use mesa_ayuda::configuration::Settings;
use mesa_ayuda::planificador::Planificador;
use mesa_ayuda::procesador::{Mensaje, Procesador, Reloj};
use mesa_ayuda::startup::{Aplicacion, Cierre};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection, PgPool};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const SECRETO: &str = "secreto-de-pruebas-de-32-bytes-o-mas";
const ESPERA: Duration = Duration::from_secs(15);

static TRAZAS: Once = Once::new();

pub fn base_url() -> String {
    std::env::var("MESA_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// Settings for one test: its own database and topology prefix.
pub fn settings_de_prueba() -> (Settings, String) {
    TRAZAS.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            mesa_ayuda::telemetry::init(mesa_ayuda::configuration::FormatoLog::Pretty);
        }
    });
    let mut s = Settings::load().expect("settings");
    let id = Uuid::new_v4().simple().to_string();
    let db = format!("mesa_test_{}", &id[..16]);
    s.database.url = SecretString::from(format!("{}/{db}", base_url()));
    s.database.max_connections = 8;
    s.topology.prefix = format!("t{}", &id[..12]);
    s.auth.jwt_secret = Some(SecretString::from(SECRETO));
    s.http.port = 0;
    s.outbox.poll_interval = Duration::from_millis(100);
    s.worker.shutdown_grace = Duration::from_secs(5);
    // Tests drive the SLA scan themselves (`planificador.escanear`); the cron
    // only fires where a test asks for it.
    s.scheduler.cron = "0 0 0 1 1 *".to_string();
    (s, db)
}

pub async fn crear_base(db: &str) {
    let mut admin = PgConnection::connect(&format!("{}/postgres", base_url())).await.expect("postgres admin");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\""))).execute(&mut admin).await.expect("create db");
}

/// Drops a test's database and topology, even when the test panicked.
pub fn limpiar(db: String, topo: Topologia, amqp: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            if let Ok(conn) = amqp::conectar(&amqp, "mesa tests cleanup").await
                && let Ok(canal) = conn.create_channel().await
            {
                let _ = amqp::borrar(&canal, &topo).await;
                let _ = conn.close(200, "".into()).await;
            }
            if let Ok(mut admin) = PgConnection::connect(&format!("{}/postgres", base_url())).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")))
                    .execute(&mut admin)
                    .await;
            }
        });
    })
    .join();
}

pub fn token(rol: &str, area: Option<&str>) -> String {
    token_con(rol, area, 3600, SECRETO)
}

pub fn token_con(rol: &str, area: Option<&str>, vida_s: i64, secreto: &str) -> String {
    token_de(&format!("{}-1", rol.to_lowercase()), rol, area, vida_s, secreto)
}

/// A token for the actor `sub`.
pub fn token_de(sub: &str, rol: &str, area: Option<&str>, vida_s: i64, secreto: &str) -> String {
    let claims = Claims {
        sub: sub.to_string(),
        nombre: Some(format!("Agente {rol}")),
        rol: rol.to_string(),
        area: area.map(str::to_string),
        exp: chrono::Utc::now().timestamp() + vida_s,
    };
    emitir(&SecretString::from(secreto), &claims).unwrap()
}

/// A client of the broker for one test: replies and a tap on all events.
pub struct Cliente {
    _conexion: Connection,
    pub canal: Channel,
    pub topo: Topologia,
    cola_respuestas: String,
    respuestas: Consumer,
    pendientes: HashMap<String, Value>,
    eventos: Consumer,
}

impl Cliente {
    /// Messages ready in `cola` (not those held unacked by a consumer).
    pub async fn en_cola(&self, cola: String) -> i64 {
        let opciones = QueueDeclareOptions { passive: true, ..Default::default() };
        let q = self.canal.queue_declare(cola.into(), opciones, FieldTable::default()).await.unwrap();
        q.message_count() as i64
    }

    pub async fn new(amqp: &str, topo: &Topologia) -> Cliente {
        let conexion = amqp::conectar(amqp, "mesa tests").await.expect("amqp");
        let canal = conexion.create_channel().await.unwrap();
        amqp::declarar(&canal, topo).await.expect("topology");
        let exclusiva = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
        let q = canal.queue_declare("".into(), exclusiva, FieldTable::default()).await.unwrap();
        let cola_respuestas = q.name().as_str().to_string();
        let no_ack = BasicConsumeOptions { no_ack: true, ..Default::default() };
        let respuestas = canal
            .basic_consume(cola_respuestas.clone().into(), "".into(), no_ack, FieldTable::default())
            .await
            .unwrap();
        let eventos = amqp::escuchar(&canal, &topo.eventos(), "#").await.unwrap();
        Cliente {
            _conexion: conexion,
            canal,
            topo: topo.clone(),
            cola_respuestas,
            respuestas,
            pendientes: HashMap::new(),
            eventos,
        }
    }

    /// Publishes a raw command; returns its correlation id.
    pub async fn publicar(
        &self,
        routing_key: &str,
        cuerpo: &[u8],
        message_id: Option<&str>,
        auth: Option<&str>,
    ) -> String {
        let mut h = FieldTable::default();
        if let Some(auth) = auth {
            h.insert("authorization".into(), AMQPValue::LongString(auth.into()));
            h.insert(
                "traceparent".into(),
                AMQPValue::LongString("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            );
        }
        self.publicar_con_headers(routing_key, cuerpo, message_id, h).await
    }

    /// Publishes a raw command with exactly these headers; returns its correlation id.
    pub async fn publicar_con_headers(
        &self,
        routing_key: &str,
        cuerpo: &[u8],
        message_id: Option<&str>,
        headers: FieldTable,
    ) -> String {
        let correlacion = Uuid::new_v4().to_string();
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_reply_to(self.cola_respuestas.clone().into())
            .with_correlation_id(correlacion.clone().into())
            .with_headers(headers);
        if let Some(id) = message_id {
            props = props.with_message_id(id.into());
        }
        self.canal
            .basic_publish(
                self.topo.comandos().into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                cuerpo,
                props,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        correlacion
    }

    pub async fn respuesta(&mut self, correlacion: &str) -> Value {
        self.respuesta_en(correlacion, ESPERA).await.unwrap_or_else(|| panic!("no reply for {correlacion}"))
    }

    /// The reply to `correlacion`, if it comes within `espera`.
    pub async fn respuesta_en(&mut self, correlacion: &str, espera: Duration) -> Option<Value> {
        if let Some(v) = self.pendientes.remove(correlacion) {
            return Some(v);
        }
        let fin = tokio::time::Instant::now() + espera;
        loop {
            let entrega = tokio::time::timeout_at(fin, self.respuestas.next()).await.ok()?.unwrap().unwrap();
            let c = entrega.properties.correlation_id().as_ref().unwrap().as_str().to_string();
            let v: Value = serde_json::from_slice(&entrega.data).unwrap();
            if c == correlacion {
                return Some(v);
            }
            self.pendientes.insert(c, v);
        }
    }

    /// Sends `ticket.<op>` with a fresh message id and waits for the reply.
    pub async fn enviar(&mut self, op: &str, cuerpo: Value, token: Option<&str>) -> Value {
        self.enviar_con_id(op, cuerpo, token, &Uuid::new_v4().to_string()).await
    }

    pub async fn enviar_con_id(&mut self, op: &str, cuerpo: Value, token: Option<&str>, id: &str) -> Value {
        let auth = token.map(|t| format!("Bearer {t}"));
        let c = self.publicar(&format!("ticket.{op}"), cuerpo.to_string().as_bytes(), Some(id), auth.as_deref()).await;
        self.respuesta(&c).await
    }

    /// The next event within `espera`, with its AMQP properties.
    pub async fn evento(&mut self, espera: Duration) -> Option<(BasicProperties, String, Value)> {
        let entrega = tokio::time::timeout(espera, self.eventos.next()).await.ok()??.ok()?;
        let cuerpo = serde_json::from_slice(&entrega.data).unwrap();
        Some((entrega.properties, entrega.routing_key.as_str().to_string(), cuerpo))
    }

    /// Every event that arrives until `silencio` passes without one.
    pub async fn eventos_hasta_silencio(&mut self, silencio: Duration) -> Vec<(BasicProperties, String, Value)> {
        let mut v = Vec::new();
        while let Some(e) = self.evento(silencio).await {
            v.push(e);
        }
        v
    }
}

/// A running worker on its own database and prefix, plus a client.
pub struct TestApp {
    /// How far the worker's clock runs ahead of the real one.
    adelanto_ms: Arc<AtomicI64>,
    pub settings: Settings,
    pub pool: PgPool,
    pub procesador: Procesador,
    pub planificador: Planificador,
    /// The running worker's metrics (reconnections, commands by result).
    pub metricas: Arc<mesa_ayuda::metrics::Metricas>,
    pub cliente: Cliente,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<Cierre>>>,
    db: String,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(ajustar: impl FnOnce(&mut Settings)) -> TestApp {
        let (mut settings, db) = settings_de_prueba();
        ajustar(&mut settings);
        crear_base(&db).await;
        let adelanto_ms = Arc::new(AtomicI64::new(0));
        let a = adelanto_ms.clone();
        let reloj: Reloj =
            Arc::new(move || chrono::Utc::now() + chrono::TimeDelta::milliseconds(a.load(Ordering::SeqCst)));
        let app = Aplicacion::build_with_clock(settings.clone(), reloj).await.expect("build");
        mesa_ayuda::store::migrate(&app.pool).await.expect("migrate");
        // Its own pool: the worker closes its own on shutdown.
        let pool = PgPool::connect(settings.database.url.expose_secret()).await.expect("test pool");
        let procesador = app.procesador.clone();
        let planificador = app.planificador.clone();
        let metricas = app.metricas.clone();
        let topo = app.topologia();
        let cliente = Cliente::new(settings.amqp.url.expose_secret(), &topo).await;
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(app.run(shutdown.clone()));
        TestApp {
            adelanto_ms,
            settings,
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

    pub fn topologia(&self) -> Topologia {
        self.cliente.topo.clone()
    }

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

    pub async fn contar(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

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
        limpiar(self.db.clone(), self.cliente.topo.clone(), self.settings.amqp.url.expose_secret().to_string());
    }
}

/// A `mesa-ayuda run` child process on the test's database and prefix.
pub struct Proceso(Child, std::path::PathBuf);

impl Proceso {
    pub fn iniciar(s: &Settings) -> Proceso {
        Self::iniciar_con(s, &[])
    }

    /// With extra environment variables (`MESA__LOG__FORMAT=json`, ...).
    pub fn iniciar_con(s: &Settings, extra: &[(&str, &str)]) -> Proceso {
        let ruta = std::env::temp_dir().join(format!(
            "{}-{}.log",
            s.topology.prefix,
            &Uuid::new_v4().simple().to_string()[..8]
        ));
        let log = std::fs::File::create(&ruta).expect("log file");
        let hijo = Command::new(env!("CARGO_BIN_EXE_mesa-ayuda"))
            .arg("run")
            .env("MESA__DATABASE__URL", s.database.url.expose_secret())
            .env("MESA__AMQP__URL", s.amqp.url.expose_secret())
            .env("MESA__TOPOLOGY__PREFIX", &s.topology.prefix)
            .env("MESA__AUTH__JWT_SECRET", SECRETO)
            .env("MESA__HTTP__PORT", "0")
            .env("MESA__SCHEDULER__CRON", &s.scheduler.cron)
            .env("RUST_LOG", "info")
            .envs(extra.iter().copied())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn mesa-ayuda");
        Proceso(hijo, ruta)
    }

    /// Everything the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.1).unwrap_or_default()
    }

    /// Still running (not exited or killed).
    pub fn vivo(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }

    pub fn matar(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }

    pub fn terminar(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        self.0.wait().unwrap()
    }
}

impl Drop for Proceso {
    fn drop(&mut self) {
        self.matar();
        // A failed test keeps the log to read.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.1);
        }
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

/// Publishes, without waiting, `pasos` commands per ticket, tickets
/// interleaved: asignar, then actualizar notes, then pausar. Returns the
/// correlation ids and, per ticket, the history `motivo`s expected in order.
pub async fn publicar_rafaga(cliente: &Cliente, tickets: &[String], pasos: usize) -> (Vec<String>, Vec<Vec<String>>) {
    publicar_pasos(cliente, tickets, 0..pasos, pasos).await
}

/// The steps `tramo` of a burst of `pasos` (so a test can act between parts).
pub async fn publicar_pasos(
    cliente: &Cliente,
    tickets: &[String],
    tramo: std::ops::Range<usize>,
    pasos: usize,
) -> (Vec<String>, Vec<Vec<String>>) {
    let auth = format!("Bearer {}", token("MESA", None));
    let mut correlaciones = vec![];
    let mut esperado: Vec<Vec<String>> = vec![vec![]; tickets.len()];
    for paso in tramo {
        for (i, t) in tickets.iter().enumerate() {
            let (op, cuerpo) = match paso {
                0 => ("asignar", json!({"ticketId": t, "motivo": "inicio"})),
                p if p == pasos - 1 => ("pausar", json!({"ticketId": t, "motivo": "fin"})),
                n => ("actualizar", json!({"ticketId": t, "nota": format!("nota {n}")})),
            };
            esperado[i].push(cuerpo.get("motivo").or(cuerpo.get("nota")).unwrap().as_str().unwrap().to_string());
            let id = Uuid::new_v4().to_string();
            correlaciones.push(
                cliente.publicar(&format!("ticket.{op}"), cuerpo.to_string().as_bytes(), Some(&id), Some(&auth)).await,
            );
        }
    }
    (correlaciones, esperado)
}

/// A ticket's history `motivo`s after creation, in the order applied.
pub async fn motivos(pool: &PgPool, ticket: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT motivo FROM historial WHERE ticket_uuid = $1::uuid AND accion <> 'CREACION' ORDER BY id")
        .bind(ticket)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The Mesa de Ayuda docs' example requester.
pub fn ana_garcia() -> Value {
    json!({
        "nombre": "Ana García",
        "email": "ana.garcia@empresa.com",
        "telefono": "+573001234567",
        "tieneWhatsapp": true,
        "documento": "12345678",
        "empresaDepartamento": "Recursos Humanos",
        "tipo": "INCIDENTE",
        "categoria": "Sistemas",
        "subcategoria": "Correo electrónico",
        "asunto": "No puedo acceder a mi correo corporativo",
        "descripcion": "Desde esta mañana no puedo iniciar sesión en Outlook. Aparece el error 403 Forbidden.",
        "prioridad": "ALTA",
        "areaAsignada": "MESA"
    })
}

pub fn fecha(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a date: {v}"))).unwrap().to_utc()
}

/// A command as the consumer hands it to the processor, no broker involved.
pub fn mensaje(op: &str, cuerpo: Value, message_id: Option<&str>, auth: Option<&str>) -> Mensaje {
    Mensaje {
        routing_key: format!("ticket.{op}"),
        message_id: message_id.map(str::to_string),
        authorization: auth.map(str::to_string),
        body: cuerpo.to_string().into_bytes(),
        ..Default::default()
    }
}

/// A TCP relay to Postgres that a test can cut (open connections dropped, new
/// ones closed at once) and restore: a database outage for one worker only.
pub struct Corte {
    direccion: std::net::SocketAddr,
    /// Whether it relays, and the relaying tasks, under one lock so a
    /// connection accepted while cutting cannot slip through.
    estado: Arc<std::sync::Mutex<(bool, Vec<tokio::task::AbortHandle>)>>,
    aceptar: JoinHandle<()>,
}

impl Corte {
    pub async fn hacia_postgres() -> Corte {
        let destino = anfitrion(&base_url()).to_string();
        let escucha = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let direccion = escucha.local_addr().unwrap();
        let estado = Arc::new(std::sync::Mutex::new((true, Vec::new())));
        let e = estado.clone();
        let aceptar = tokio::spawn(async move {
            while let Ok((mut cliente, _)) = escucha.accept().await {
                let mut e = e.lock().unwrap();
                if !e.0 {
                    continue; // dropped: closed at once
                }
                let destino = destino.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut servidor) = tokio::net::TcpStream::connect(&destino).await {
                        let _ = tokio::io::copy_bidirectional(&mut cliente, &mut servidor).await;
                    }
                });
                e.1.push(h.abort_handle());
            }
        });
        Corte { direccion, estado, aceptar }
    }

    /// `url` (a Postgres URL) going through the relay.
    pub fn url(&self, url: &str) -> String {
        url.replacen(anfitrion(url), &self.direccion.to_string(), 1)
    }

    pub fn cortar(&self) {
        let mut e = self.estado.lock().unwrap();
        e.0 = false;
        for h in e.1.drain(..) {
            h.abort();
        }
    }

    pub fn restablecer(&self) {
        self.estado.lock().unwrap().0 = true;
    }
}

impl Drop for Corte {
    fn drop(&mut self) {
        self.aceptar.abort();
        self.cortar();
    }
}

/// The `host:port` of a URL like `postgres://user@host:port/db`.
fn anfitrion(url: &str) -> &str {
    let desde = url.find('@').map_or_else(|| url.find("://").unwrap() + 3, |i| i + 1);
    let hasta = url[desde..].find('/').map_or(url.len(), |i| desde + i);
    &url[desde..hasta]
}
