//! The worker as a child process, as operators run it.

use crate::entorno::SECRETO;
use mesa_ayuda::configuration::Settings;
use secrecy::ExposeSecret;
use std::process::{Child, Command, Stdio};
use uuid::Uuid;

/// A `mesa-ayuda run` child process on the test's database and prefix.
pub struct Proceso(Child, std::path::PathBuf);

/// The worker binary. Cargo names it to integration tests at run time too
/// (`CARGO_BIN_EXE_<name>`), so the kit needs no compile-time `env!` of the
/// package whose tests use it.
fn binario() -> std::ffi::OsString {
    std::env::var_os("CARGO_BIN_EXE_mesa-ayuda")
        .expect("CARGO_BIN_EXE_mesa-ayuda unset: run the tests through cargo test")
}

impl Proceso {
    /// Starts `mesa-ayuda run` with `s`'s database, broker, prefix and cron.
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
        let hijo = Command::new(binario())
            .arg("run")
            .env("MESA__DATABASE__URL", s.database.url.expose_secret())
            .env("MESA__AMQP__URL", s.amqp.url.expose_secret())
            .env("MESA__TOPOLOGY__PREFIX", &s.topology.prefix)
            .env("MESA__AUTH__JWT_SECRET", SECRETO)
            .env("MESA__HTTP__PORT", "0")
            .env("MESA__SCHEDULER__CRON", s.scheduler.cron.as_str())
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

    /// SIGKILL, and reap it.
    pub fn matar(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }

    /// SIGTERM, and wait for its exit.
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
