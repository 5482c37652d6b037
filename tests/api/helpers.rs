//! The integration tests' helpers: the shared test kit (`kit/`, crate
//! `mesa-kit`, also used by `tests/fallas.rs` and `mesa-bench`) under the
//! names the tests import — spawning the worker on a fresh database and
//! topology prefix, and talking to it over the real RabbitMQ as an upstream
//! system would.

pub use mesa_kit::*;

/// Applies the first `n` migrations only: the schema an older worker left,
/// to upgrade in place.
pub(crate) async fn migrar_hasta(pool: &sqlx::PgPool, db: &str, n: usize) {
    let dir = std::env::temp_dir().join(format!("mesa-migraciones-{n}-{db}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut nombres: Vec<_> = std::fs::read_dir("migrations").unwrap().map(|e| e.unwrap().path()).collect();
    nombres.sort();
    for ruta in nombres.iter().take(n) {
        std::fs::copy(ruta, dir.join(ruta.file_name().unwrap())).unwrap();
    }
    sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap().run(pool).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Drops a test's database and topology (from its settings) even when the
/// test fails, for tests that build their own database.
pub(crate) struct Limpieza(pub(crate) Option<(String, mesa_ayuda::configuration::Settings)>);

impl Drop for Limpieza {
    fn drop(&mut self) {
        if let Some((db, s)) = self.0.take() {
            let url = secrecy::ExposeSecret::expose_secret(&s.amqp.url).to_string();
            limpiar(db, mesa_ayuda::amqp::Topologia::de(&s.topology), url);
        }
    }
}
