//! Scratch databases and topology prefixes, and their removal.

use mesa_ayuda::amqp::{self, Topologia};
use mesa_ayuda::configuration::{Config, Settings};
use mesa_ayuda::reloj::Cron;
use secrecy::SecretString;
use sqlx::{Connection as _, PgConnection};
use std::sync::Once;
use std::time::Duration;
use uuid::Uuid;

/// The HS256 secret every kit-made worker runs with and every kit token is signed with.
pub const SECRETO: &str = "secreto-de-pruebas-de-32-bytes-o-mas";

static TRAZAS: Once = Once::new();

/// The tests' Postgres server, without a database name (`MESA_TEST_DATABASE_URL`).
pub fn base_url() -> String {
    std::env::var("MESA_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// Fresh names for a scratch database and topology prefix.
#[derive(Debug, Clone)]
pub struct Nombres {
    /// `<db>_<16 hex>`: CI drops leftover `mesa_test_%` databases.
    pub db: String,
    /// `<topo><12 hex>`: CI deletes leftover `t<12 hex>.*` queues.
    pub prefijo: String,
}

impl Nombres {
    /// Names no other run uses, starting with `db` and `topo`.
    pub fn nuevos(db: &str, topo: &str) -> Nombres {
        let id = Uuid::new_v4().simple().to_string();
        Nombres { db: format!("{db}_{}", &id[..16]), prefijo: format!("{topo}{}", &id[..12]) }
    }
}

/// Settings for one test: its own database and topology prefix.
pub fn settings_de_prueba() -> (Settings, String) {
    TRAZAS.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            mesa_ayuda::telemetry::init(mesa_ayuda::configuration::FormatoLog::Pretty);
        }
    });
    let mut s = Config::load().expect("settings").settings;
    let Nombres { db, prefijo } = Nombres::nuevos("mesa_test", "t");
    s.database.url = SecretString::from(format!("{}/{db}", base_url()));
    s.database.max_connections = 8;
    s.topology.prefix = prefijo;
    s.auth.jwt_secret = Some(SecretString::from(SECRETO));
    s.http.port = 0;
    s.outbox.poll_interval = Duration::from_millis(100);
    s.worker.shutdown_grace = Duration::from_secs(5);
    // Tests drive the SLA scan themselves (`planificador.escanear`); the cron
    // only fires where a test asks for it.
    s.scheduler.cron = Cron::parse("0 0 0 1 1 *").expect("a valid cron");
    (s, db)
}

/// Creates database `db` on the tests' server.
pub async fn crear_base(db: &str) {
    crear_base_en(&base_url(), db).await.expect("create db");
}

/// Creates database `db` on the server at `base` (a URL without database name).
pub async fn crear_base_en(base: &str, db: &str) -> Result<(), sqlx::Error> {
    let mut admin = PgConnection::connect(&format!("{base}/postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\""))).execute(&mut admin).await?;
    Ok(())
}

/// Removes a scratch topology and database, as far as the services answer:
/// what is left behind is dropped by CI's next run.
pub async fn borrar_entorno(base: &str, db: &str, topo: &Topologia, amqp: &str) {
    if let Ok(conn) = amqp::conectar(amqp, "mesa kit cleanup").await
        && let Ok(canal) = conn.create_channel().await
    {
        let _ = amqp::borrar(&canal, topo).await;
        let _ = conn.close(200, "".into()).await;
    }
    if let Ok(mut admin) = PgConnection::connect(&format!("{base}/postgres")).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")))
            .execute(&mut admin)
            .await;
    }
}

/// Drops a test's database and topology, even when the test panicked: on a
/// thread of its own, so it works from `Drop` inside a runtime.
pub fn limpiar(db: String, topo: Topologia, amqp: String) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("cleanup runtime");
        rt.block_on(borrar_entorno(&base_url(), &db, &topo, &amqp));
    })
    .join();
}

/// A free port on 127.0.0.1, for a process's HTTP endpoint (taken back by
/// that process right after).
pub fn puerto_libre() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until the single count `sql` returns reaches `n`; panics after `limite`.
/// A failing query (the database restarting under a fault) counts as not yet.
pub async fn esperar_conteo(pool: &sqlx::PgPool, sql: &'static str, n: i64, limite: Duration) {
    let fin = std::time::Instant::now() + limite;
    loop {
        if let Ok(c) = sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await
            && c >= n
        {
            return;
        }
        assert!(std::time::Instant::now() < fin, "timed out waiting for `{sql}` to reach {n}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the relay has published every event in the outbox of `pool`'s
/// database (no row with `publicado_en` unset); panics after `limite`.
/// The relay commits `publicado_en` only once the broker confirmed the event,
/// so from then on every event is on the queues bound to `P.eventos`: a
/// drain until silence after this sees all of them (and any duplicate), however
/// long the relay paused before publishing.
pub async fn esperar_outbox_publicado(pool: &sqlx::PgPool, limite: Duration) {
    esperar_conteo(pool, "SELECT -count(*) FROM outbox WHERE publicado_en IS NULL", 0, limite).await;
}
