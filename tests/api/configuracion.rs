//! Configuration (contract §7): every contract key through its environment
//! variable, whatever its case; the whole configuration validated before
//! anything connects (exit 2, every problem listed); `mesa-ayuda config`;
//! `run` exits 1 when the grace runs out.

use crate::helpers::*;
use mesa_ayuda::configuration::{Cargada, Config, ErrorConfiguracion, Fuente, PausaDetieneRelojSettings, Settings};
use secrecy::ExposeSecret;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// Settings from the built-in defaults and exactly these variables.
fn cargar(entorno: &[(&str, &str)]) -> Result<Cargada, ErrorConfiguracion> {
    let sin_archivos = Path::new("/nonexistent/mesa-config");
    Config::load_from(sin_archivos, entorno.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

/// Sets one variable and checks its effect; the value's source must be it.
fn con_variable(var: &str, valor: &str, clave: &str, efecto: impl FnOnce(&Settings)) {
    let defecto = cargar(&[]).unwrap();
    assert_ne!(defecto.arbol.fuente(clave), Some(Fuente::Entorno(var.into())));
    let c = cargar(&[(var, valor)]).unwrap_or_else(|e| panic!("{var}={valor}: {e}"));
    efecto(&c.config.settings);
    assert_eq!(c.arbol.fuente(clave), Some(Fuente::Entorno(var.into())), "{var}");
}

#[test]
fn database_url() {
    con_variable("MESA__DATABASE__URL", "postgres://otra:5432/x", "database.url", |s| {
        assert_eq!(s.database.url.expose_secret(), "postgres://otra:5432/x")
    });
}

#[test]
fn database_url_conventional_variable_below_the_mesa_one() {
    con_variable("DATABASE_URL", "postgres://otra/x", "database.url", |s| {
        assert_eq!(s.database.url.expose_secret(), "postgres://otra/x")
    });
    let c = cargar(&[("DATABASE_URL", "postgres://a/x"), ("MESA__DATABASE__URL", "postgres://b/x")]).unwrap();
    assert_eq!(c.config.settings.database.url.expose_secret(), "postgres://b/x");
}

#[test]
fn amqp_url() {
    con_variable("MESA__AMQP__URL", "amqp://u:p@otro:5672/%2f", "amqp.url", |s| {
        assert_eq!(s.amqp.url.expose_secret(), "amqp://u:p@otro:5672/%2f")
    });
    let c = cargar(&[("AMQP_URL", "amqp://a/%2f"), ("MESA__AMQP__URL", "amqp://b/%2f")]).unwrap();
    assert_eq!(c.config.settings.amqp.url.expose_secret(), "amqp://b/%2f");
}

#[test]
fn amqp_url_conventional_variable() {
    con_variable("AMQP_URL", "amqp://otro/%2f", "amqp.url", |s| {
        assert_eq!(s.amqp.url.expose_secret(), "amqp://otro/%2f")
    });
}

#[test]
fn amqp_url_with_several_nodes() {
    con_variable("MESA__AMQP__URL", "amqp://n1:5672/%2f,amqp://n2:5672/%2f", "amqp.url", |s| {
        assert_eq!(s.amqp.url.expose_secret().split(',').count(), 2)
    });
    assert!(cargar(&[("MESA__AMQP__URL", "amqp://n1/%2f,http://n2")]).is_err());
}

#[test]
fn topology_prefix() {
    con_variable("MESA__TOPOLOGY__PREFIX", "equipo-b", "topology.prefix", |s| {
        assert_eq!(s.topology.prefix, "equipo-b")
    });
    for malo in ["", "con espacio", "tab\tx", &"p".repeat(101)] {
        assert!(cargar(&[("MESA__TOPOLOGY__PREFIX", malo)]).is_err(), "{malo:?}");
    }
}

#[test]
fn auth_jwt_secret() {
    con_variable("MESA__AUTH__JWT_SECRET", SECRETO, "auth.jwt_secret", |s| {
        assert_eq!(s.auth.jwt_secret.as_ref().unwrap().expose_secret(), SECRETO);
        assert!(!s.uses_dev_secret());
    });
}

#[test]
fn http_port() {
    con_variable("MESA__HTTP__PORT", "0", "http.port", |s| assert_eq!(s.http.port, 0));
    assert!(cargar(&[("MESA__HTTP__PORT", "70000")]).is_err());
}

#[test]
fn scheduler_cron() {
    con_variable("MESA__SCHEDULER__CRON", "*/5 * * * * *", "scheduler.cron", |s| {
        assert_eq!(s.scheduler.cron.as_str(), "*/5 * * * * *")
    });
}

#[test]
fn sla_prioridades_whatever_the_case() {
    for var in ["MESA__SLA__PRIORIDADES__ALTA", "MESA__SLA__PRIORIDADES__alta", "MESA__sla__Prioridades__Alta"] {
        con_variable(var, "8h", "sla.prioridades.ALTA", |s| {
            assert_eq!(s.sla.prioridades.len(), 4, "{var}: one ALTA, not two");
        });
        let p = cargar(&[(var, "8h")]).unwrap().config.reglas;
        let alta = p.prioridades().iter().find(|p| p.nombre == "ALTA").unwrap();
        assert_eq!(alta.objetivo, chrono::TimeDelta::hours(8), "{var}");
    }
}

#[test]
fn sla_prioridades_a_new_priority() {
    con_variable("MESA__SLA__PRIORIDADES__urgente", "30m", "sla.prioridades.URGENTE", |s| {
        assert_eq!(s.sla.prioridades["URGENTE"], "30m")
    });
}

#[test]
fn sla_aviso_porcentaje() {
    con_variable("MESA__SLA__AVISO_PORCENTAJE", "35", "sla.aviso_porcentaje", |s| {
        assert_eq!(s.sla.aviso_porcentaje, 35)
    });
}

#[test]
fn sla_pausa_detiene_reloj() {
    con_variable("MESA__SLA__PAUSA_DETIENE_RELOJ", "false", "sla.pausa_detiene_reloj", |s| {
        assert_eq!(s.sla.pausa_detiene_reloj, PausaDetieneRelojSettings::Siempre(false))
    });
    // v1.2: the list of waits whose pauses stop the clock, either spelling.
    for valor in ["SOLICITANTE", "[\"SOLICITANTE\", \"tercero\"]", "solicitante,TERCERO"] {
        let c = cargar(&[("MESA__SLA__PAUSA_DETIENE_RELOJ", valor)]).unwrap_or_else(|e| panic!("{valor}: {e}"));
        let esperas = c.config.reglas.pausas_que_detienen().esperas();
        assert!(esperas.contains(&mesa_ayuda::domain::conversacion::Espera::Solicitante), "{valor}: {esperas:?}");
        assert!(!c.config.reglas.pausa_detiene_reloj(), "{valor}");
    }
    let error = cargar(&[("MESA__SLA__PAUSA_DETIENE_RELOJ", "SOLICITANTE,NADIE")]).unwrap_err().to_string();
    assert!(error.contains("sla.pausa_detiene_reloj[1]") && error.contains("NADIE"), "{error}");
}

#[test]
fn sla_avisos_in_both_spellings() {
    for valor in ["[50, 20]", "50,20", " 50 , 20 "] {
        con_variable("MESA__SLA__AVISOS", valor, "sla.avisos", |s| assert_eq!(s.sla.avisos, Some(vec![50, 20])));
    }
}

#[test]
fn sla_primera_respuesta_termina() {
    use mesa_ayuda::domain::sla::FinPrimeraRespuesta;
    assert_eq!(cargar(&[]).unwrap().config.settings.sla.primera_respuesta_termina, FinPrimeraRespuesta::Asignar);
    con_variable("MESA__SLA__PRIMERA_RESPUESTA_TERMINA", "Respuesta", "sla.primera_respuesta_termina", |s| {
        assert_eq!(s.sla.primera_respuesta_termina, FinPrimeraRespuesta::Respuesta)
    });
    let c = cargar(&[("MESA__SLA__PRIMERA_RESPUESTA_TERMINA", "respuesta")]).unwrap();
    assert_eq!(c.config.reglas.fin_primera_respuesta(), FinPrimeraRespuesta::Respuesta, "compiled into the rules");
    let error = cargar(&[("MESA__SLA__PRIMERA_RESPUESTA_TERMINA", "nunca")]).unwrap_err().to_string();
    assert!(
        error.contains("sla.primera_respuesta_termina") && error.contains("\"asignar\" o \"respuesta\""),
        "{error}"
    );
}

#[test]
fn sla_primera_respuesta() {
    con_variable("MESA__SLA__PRIMERA_RESPUESTA__critica", "15m", "sla.primera_respuesta.CRITICA", |s| {
        assert_eq!(s.sla.primera_respuesta["CRITICA"], "15m")
    });
}

#[test]
fn auth_jwks_url() {
    con_variable("MESA__AUTH__JWKS_URL", "https://idp/certs", "auth.jwks_url", |s| {
        assert_eq!(s.auth.jwks_url.as_deref(), Some("https://idp/certs"));
        assert!(s.auth.secreto_hs256().is_none(), "with a JWKS and no secret, HS256 is off");
    });
}

#[test]
fn auth_jwks_file() {
    con_variable("MESA__AUTH__JWKS_FILE", "/etc/mesa/jwks.json", "auth.jwks_file", |s| {
        assert_eq!(s.auth.jwks_file.as_deref(), Some(Path::new("/etc/mesa/jwks.json")))
    });
}

#[test]
fn auth_issuer() {
    con_variable("MESA__AUTH__ISSUER", "https://idp/realms/mesa", "auth.issuer", |s| {
        assert_eq!(s.auth.issuer.as_deref(), Some("https://idp/realms/mesa"))
    });
}

#[test]
fn auth_audience() {
    con_variable("MESA__AUTH__AUDIENCE", "mesa-ayuda,cuenta", "auth.audience", |s| {
        assert_eq!(s.auth.audience, ["mesa-ayuda", "cuenta"])
    });
}

#[test]
fn auth_claims_paths() {
    con_variable("MESA__AUTH__CLAIMS__ROL", "realm_access.roles", "auth.claims.rol", |s| {
        assert_eq!(s.auth.claims.rol, "realm_access.roles")
    });
    con_variable("MESA__AUTH__CLAIMS__AREA", "grupo", "auth.claims.area", |s| assert_eq!(s.auth.claims.area, "grupo"));
    con_variable("MESA__AUTH__CLAIMS__NOMBRE", "name", "auth.claims.nombre", |s| {
        assert_eq!(s.auth.claims.nombre, "name")
    });
}

/// `mesa-ayuda <args>` with exactly these variables (none inherited from the
/// test's own environment), in the crate's directory.
fn mesa_ayuda(args: &[&str], entorno: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mesa-ayuda"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(entorno.iter().copied())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run mesa-ayuda")
}

#[test]
fn run_refuses_an_empty_secret_and_lists_every_problem_before_connecting() {
    // Issue #11, item 2: an empty secret started the worker without a word.
    // Nothing listens on either port: a process that tried to connect would
    // retry for a long while instead of answering at once.
    let inicio = std::time::Instant::now();
    let salida = mesa_ayuda(
        &["run"],
        &[
            ("MESA__AUTH__JWT_SECRET", ""),
            ("MESA__DATABASE__URL", "postgres://postgres@127.0.0.1:1/nada"),
            ("MESA__AMQP__URL", "amqp://guest:guest@127.0.0.1:1/%2f"),
            ("MESA__SLA__PRIORIDADES__ALTA", "8 horas"),
            ("MESA__SCHEDULER__CRON", "*/30 * * * *"),
            ("MESA__WORKER__LANES", "0"),
            ("MESA__TOPOLOGIA__PREFIX", "x"),
        ],
    );
    let stderr = String::from_utf8_lossy(&salida.stderr);
    assert_eq!(salida.status.code(), Some(2), "{stderr}");
    assert!(inicio.elapsed() < Duration::from_secs(10), "it tried to connect: {stderr}");
    for clave in ["auth.jwt_secret", "sla.prioridades.ALTA", "scheduler.cron", "worker.lanes", "topologia"] {
        assert!(stderr.contains(clave), "{clave} not listed:\n{stderr}");
    }
    assert!(stderr.contains("5 problema(s)"), "{stderr}");
}

#[test]
fn the_config_command_shows_values_and_sources_with_secrets_masked() {
    let secreto = "un-secreto-de-produccion-de-mas-de-32-bytes";
    let salida = mesa_ayuda(
        &["config"],
        &[
            ("MESA__AUTH__JWT_SECRET", secreto),
            ("MESA__SLA__PRIORIDADES__alta", "8h"),
            ("DATABASE_URL", "postgres://mesa:clave-db@db:5432/mesa"),
        ],
    );
    let stdout = String::from_utf8_lossy(&salida.stdout);
    assert_eq!(salida.status.code(), Some(0), "{}", String::from_utf8_lossy(&salida.stderr));
    assert!(!stdout.contains(secreto) && !stdout.contains("clave-db"), "a secret was printed:\n{stdout}");
    for linea in [
        "sla.prioridades.ALTA = \"8h\"  # entorno MESA__SLA__PRIORIDADES__alta",
        "sla.prioridades.BAJA = \"72h\"  # archivo config/default.toml",
        "auth.jwt_secret = \"********\"  # entorno MESA__AUTH__JWT_SECRET",
        "database.url = \"postgres://mesa:***@db:5432/mesa\"  # entorno DATABASE_URL",
        "sla.avisos = [20]  # derivado de sla.aviso_porcentaje",
    ] {
        assert!(stdout.contains(linea), "{linea} missing:\n{stdout}");
    }
    let mala = mesa_ayuda(&["config"], &[("MESA__HTTP__PORT", "x")]);
    assert_eq!(mala.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&mala.stderr).contains("http.port"));
}

#[tokio::test]
async fn an_environment_sla_target_reaches_new_tickets() {
    // Issue #11, item 1: the lower-case environment key lived beside the
    // file's `ALTA` and the shorter target won.
    let mut app = TestApp::spawn().await;
    app.detener().await;
    let _p = Proceso::iniciar_con(&app.config.settings, &[("MESA__SLA__PRIORIDADES__ALTA", "8h")]);
    esperar_worker(&mut app).await;
    let r = app.enviar("crear", ana_garcia(), None).await;
    assert_eq!(r["datos"]["prioridad"], "ALTA", "{r}");
    assert_eq!(r["datos"]["slaHoras"], 8.0, "{r}");
}

#[tokio::test]
async fn run_exits_1_when_the_grace_runs_out_and_the_command_is_not_lost() {
    let mut app = TestApp::spawn().await;
    app.detener().await;
    let mut p = Proceso::iniciar_con(&app.config.settings, &[("MESA__WORKER__SHUTDOWN_GRACE", "1s")]);
    esperar_worker(&mut app).await;
    // Hold the tickets table: the crear below stays in flight.
    let mut bloqueo = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE").execute(&mut *bloqueo).await.unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    let c = app.cliente.publicar("ticket.crear", ana_garcia().to_string().as_bytes(), Some(&id), None).await;
    // The worker is waiting on that lock (not merely sent the command).
    esperar_conteo(
        &app.pool,
        "SELECT count(*) FROM pg_locks WHERE NOT granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        1,
        Duration::from_secs(30),
    )
    .await;
    let inicio = std::time::Instant::now();
    let estado = tokio::task::spawn_blocking(move || {
        let estado = p.terminar();
        (p, estado)
    });
    let (p, estado) = tokio::time::timeout(Duration::from_secs(15), estado)
        .await
        .expect("the process must exit once the grace has run out")
        .unwrap();
    assert_eq!(estado.code(), Some(1), "{}", p.log());
    assert!(inicio.elapsed() < Duration::from_secs(10));
    assert!(p.log().contains("periodo de gracia"), "{}", p.log());
    bloqueo.rollback().await.unwrap();
    // The held delivery went back to the queue: a new worker answers it.
    let _q = Proceso::iniciar(&app.config.settings);
    let r = app.cliente.respuesta(&c).await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 1);
}

#[tokio::test]
async fn several_amqp_urls_are_tried_in_turn() {
    let mut app = TestApp::spawn().await;
    app.detener().await;
    // The first node refuses connections: the worker goes on to the second.
    let nodos = format!("amqp://guest:guest@127.0.0.1:1/%2f, {}", app.config.settings.amqp.url.expose_secret());
    let p = Proceso::iniciar_con(&app.config.settings, &[("MESA__AMQP__URL", &nodos)]);
    esperar_worker(&mut app).await;
    let r = app.enviar("crear", ana_garcia(), None).await;
    assert_eq!(r["ok"], true, "{r}");
    assert!(p.log().contains("se prueba el siguiente"), "{}", p.log());
    assert!(!p.log().contains("guest:guest"), "a password in the log:\n{}", p.log());
}
