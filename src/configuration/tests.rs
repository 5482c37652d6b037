use super::*;

fn cargar(entorno: &[(&str, &str)]) -> Result<Cargada, ErrorConfiguracion> {
    let vacio = Path::new("/nonexistent/mesa-config");
    Config::load_from(vacio, entorno.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

#[test]
fn defaults_parse_and_follow_the_contract() {
    let s = cargar(&[]).unwrap().config.settings;
    assert_eq!(s.topology.prefix, "mesa");
    assert_eq!(s.http.port, 9464);
    assert_eq!(s.scheduler.cron.as_str(), "*/30 * * * * *");
    let p = s.reglas_sla().unwrap();
    let nombres: Vec<_> = p.prioridades().iter().map(|p| p.nombre.as_str()).collect();
    assert_eq!(nombres, ["CRITICA", "ALTA", "MEDIA", "BAJA"]);
    assert!(s.uses_dev_secret());
}

#[test]
fn the_waits_for_company_default_small_turn_off_at_zero_and_are_bounded() {
    let s = cargar(&[]).unwrap().config.settings;
    assert_eq!((s.worker.juntar, s.outbox.juntar), (Duration::from_millis(5), Duration::from_millis(10)));
    let s = cargar(&[("MESA__WORKER__JUNTAR", "0ms"), ("MESA__OUTBOX__JUNTAR", "0s")]).unwrap().config.settings;
    assert_eq!((s.worker.juntar, s.outbox.juntar), (Duration::ZERO, Duration::ZERO));
    let e = cargar(&[("MESA__WORKER__JUNTAR", "101ms"), ("MESA__OUTBOX__JUNTAR", "101ms")]).unwrap_err();
    let mut claves: Vec<&str> = e.0.iter().map(|p| p.clave.as_str()).collect();
    claves.sort_unstable();
    assert_eq!(claves, ["outbox.juntar", "worker.juntar"], "{e}");
    assert!(cargar(&[("MESA__WORKER__JUNTAR", "100ms")]).is_ok());
}

#[test]
fn every_problem_is_listed_at_once() {
    let e = cargar(&[
        ("MESA__SLA__PRIORIDADES__alta", "8x"),
        ("MESA__SCHEDULER__CRON", "cada rato"),
        ("MESA__AUTH__JWT_SECRET", ""),
        ("MESA__HTTP__PORT", "noventa"),
        ("MESA__WORKER__LANEZ", "2"),
        ("MESA__NADA__X", "1"),
        ("MESA__SLA__PRIMERA_RESPUESTA__URGENTE", "1h"),
        ("MESA__SLA__AVISOS", "0,120"),
        ("MESA__WORKER__SHUTDOWN_GRACE", "pronto"),
    ])
    .unwrap_err();
    let claves: Vec<&str> = e.0.iter().map(|p| p.clave.as_str()).collect();
    for esperada in [
        "sla.prioridades.ALTA",
        "scheduler.cron",
        "auth.jwt_secret",
        "http.port",
        "worker.lanez",
        "nada",
        "sla.primera_respuesta.URGENTE",
        "sla.avisos",
        "worker.shutdown_grace",
    ] {
        assert!(claves.contains(&esperada), "{esperada} missing from {e}");
    }
    let texto = e.to_string();
    assert!(texto.contains("entorno MESA__SLA__PRIORIDADES__alta"), "{texto}");
    assert!(texto.contains("duración inválida \"8x\""), "{texto}");
    println!("{texto}");
}

#[test]
fn odd_variables_are_named_problems_never_silently_ignored() {
    let huge = format!("{}h", "9".repeat(5000));
    for (var, valor) in [
        ("MESA__", "x"),
        ("MESA____X", "1"),
        ("MESA__SLA__PRIORIDADES", "8h"),
        ("MESA__SLA__PRIORIDADES__", "1h"),
        ("MESA__AUTH__AUDIENCE", "["),
        ("MESA__SLA__AVISOS", "[50, \"x\"]"),
        ("MESA_ENV", "../../etc/passwd"),
        ("MESA__SLA__PRIORIDADES__ALTA", huge.as_str()),
    ] {
        let e = cargar(&[(var, valor)]).expect_err(var);
        assert_eq!(e.0.len(), 1, "{var}: {e}");
        assert!(e.to_string().len() < 400, "a huge value is quoted whole: {var}");
    }
    let e = cargar(&[("MESA__SLA__AVISOS", "[50, \"x\"]")]).unwrap_err();
    assert_eq!(e.0[0].fuente, Some(Fuente::Entorno("MESA__SLA__AVISOS".into())), "{e}");
}

#[test]
fn two_spellings_of_one_variable_are_refused() {
    let e = cargar(&[("MESA__SLA__PRIORIDADES__ALTA", "8h"), ("MESA__SLA__PRIORIDADES__alta", "9h")]).unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
}

#[test]
fn sla_targets_are_bounded() {
    for malo in ["0s", "367days", "99999999999999y", ""] {
        assert!(cargar(&[("MESA__SLA__PRIORIDADES__BAJA", malo)]).is_err(), "{malo}");
    }
    assert!(cargar(&[("MESA__SLA__PRIORIDADES__BAJA", "366days")]).is_ok());
}

#[test]
fn durations_and_sizes_that_would_overflow_or_exhaust_are_refused() {
    for (var, malo) in [
        ("MESA__RETENCION__EVENTOS", "200000years"),
        ("MESA__RETENCION__COMANDOS", "1s"),
        ("MESA__WORKER__SHUTDOWN_GRACE", "100years"),
        ("MESA__OUTBOX__POLL_INTERVAL", "0s"),
        ("MESA__WORKER__LANES", "100000"),
        ("MESA__WORKER__LANES", "-1"),
        ("MESA__AMQP__MAX_CUERPO_BYTES", "0"),
        ("MESA__AMQP__MAX_CUERPO_BYTES", "999999999999"),
        ("MESA__DATABASE__MAX_CONNECTIONS", "0"),
        ("MESA__LOG__FORMAT", "xml"),
    ] {
        let e = cargar(&[(var, malo)]).expect_err(malo);
        assert_eq!(e.0.len(), 1, "{var}={malo}: {e}");
    }
}

#[test]
fn files_merge_whatever_the_case_and_say_where_values_came_from() {
    let dir = std::env::temp_dir().join(format!("mesa-config-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("prueba.toml"), "[SLA.prioridades]\nalta = \"5h\"\n[http]\nport = 1234\n").unwrap();
    let env = [("MESA_ENV", "prueba"), ("MESA__HTTP__PORT", "4321"), ("DATABASE_URL", "postgres://u:clave@db/mesa")];
    let c = Config::load_from(&dir, env.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
    assert_eq!(c.config.settings.sla.prioridades["ALTA"], "5h");
    assert_eq!(c.config.settings.sla.prioridades.len(), 4);
    assert_eq!(c.config.settings.http.port, 4321);
    assert_eq!(c.arbol.fuente("sla.prioridades.ALTA"), Some(Fuente::Archivo(dir.join("prueba.toml"))));
    assert_eq!(c.arbol.fuente("http.port"), Some(Fuente::Entorno("MESA__HTTP__PORT".into())));
    assert_eq!(c.arbol.fuente("topology.prefix"), Some(Fuente::Defecto));
    let listado = c.mostrar();
    assert!(listado.contains("http.port = 4321  # entorno MESA__HTTP__PORT"), "{listado}");
    assert!(listado.contains("database.url = \"postgres://u:***@db/mesa\"  # entorno DATABASE_URL"), "{listado}");
    assert!(!listado.contains("clave"), "{listado}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_listing_masks_every_secret() {
    let c = cargar(&[
        ("MESA__AUTH__JWT_SECRET", "un-secreto-largo-de-treinta-y-dos-bytes"),
        ("MESA__AMQP__URL", "amqp://u:pw1@a:5672/%2f, amqps://u:pw2@b/%2f"),
        ("MESA__DATABASE__URL", "postgres://db/mesa?user=u&password=pw3"),
    ])
    .unwrap();
    let listado = c.mostrar();
    for secreto in ["un-secreto", "pw1", "pw2", "pw3"] {
        assert!(!listado.contains(secreto), "{secreto} in {listado}");
    }
    assert!(listado.contains("auth.jwt_secret = \"********\"  # entorno MESA__AUTH__JWT_SECRET"), "{listado}");
}

#[test]
fn the_example_policy_file_is_the_contract_example() {
    let entorno = [("MESA_ENV".to_string(), "ejemplo".to_string())];
    let c = Config::load_from(Path::new("config"), entorno).unwrap();
    let r = c.config.settings.reglas_sla().unwrap();
    assert_eq!(r.avisos().porcentajes(), [50, 20]);
    let nombres: Vec<_> = r.politicas().iter().map(|p| p.nombre.as_str()).collect();
    assert_eq!(nombres, ["Incidentes críticos 24x7", "Consultas en horario de oficina"]);
    let criticos = &r.politicas()[0];
    assert_eq!(criticos.primera_respuesta, Some(chrono::TimeDelta::minutes(10)));
    assert_eq!(criticos.avisos.as_ref().map(|a| a.porcentajes().to_vec()), Some(vec![50, 25, 10]));
    assert_eq!(criticos.escalado.len(), 2);
    assert_eq!(criticos.escalado[1].en, Umbral::Aviso(25));
    assert_eq!(criticos.escalado[1].prioridad.as_deref(), Some("CRITICA"));
    let oficina = r.calendario_de(Some("Consultas en horario de oficina"));
    assert!(matches!(oficina, Calendario::Laboral(_)));
    assert_eq!(r.primera_respuesta_por_defecto().get("ALTA"), Some(&chrono::TimeDelta::hours(1)));
    // Policies and named calendars are the files' only.
    let e = cargar(&[("MESA__SLA__POLITICAS", "x")]).unwrap_err();
    assert!(e.0.iter().any(|p| p.clave == "MESA__SLA__POLITICAS"), "{e}");
}

#[test]
fn a_bad_policy_stops_the_worker_with_every_problem_naming_the_policy() {
    let dir = std::env::temp_dir().join(format!("mesa-config-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("mala.toml"),
        r#"
[sla.calendarios.oficina]
zona = "America/Bogota"
[sla.calendarios.oficina.horario]
lunes = ["08:00-18:00"]

[[sla.politicas]]
nombre = "Rara"
prioridades = ["URGENTISIMA"]
tipos = ["INCIDENTE", "CHISME"]
resolucion = "0s"
avisos = [50, 120]
calendario = "bodega"
escalado = [
  { meta = "RESOLUCION", en = 30 },
  { meta = "PRIMERA_RESPUESTA", en = "VENCIDO", area = "SUPERVISION" },
  { meta = "TIEMPO", en = "VENCIDO", area = "X" },
  { meta = "RESOLUCION", en = "PRONTO", prioridad = "ALTA" },
  { meta = "RESOLUCION", en = "VENCIDO", prioridad = "NINGUNA" },
]

[[sla.politicas]]
nombre = "Rara"
resolucion = "4h"
categorias = []
"#,
    )
    .unwrap();
    // Loading is what `run` does first: it stops here, exit 2.
    let error = Config::load_from(&dir, [("MESA_ENV".to_string(), "mala".to_string())]).unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    let texto = error.to_string();
    for esperado in [
        "sla.politicas[0] (\"Rara\").prioridades: prioridad desconocida: \"URGENTISIMA\"",
        "sla.politicas[0] (\"Rara\").tipos: tipo desconocido: \"CHISME\"",
        "sla.politicas[0] (\"Rara\").resolucion",
        "sla.politicas[0] (\"Rara\").avisos",
        "sla.politicas[0] (\"Rara\").calendario: calendario desconocido \"bodega\"",
        "sla.politicas[0] (\"Rara\").escalado[0]: no cambia nada",
        "sla.politicas[0] (\"Rara\").escalado[1]: la política no tiene primera_respuesta",
        "sla.politicas[0] (\"Rara\").escalado[2]: meta desconocida",
        "sla.politicas[0] (\"Rara\").escalado[3]: en = \"PRONTO\"",
        "sla.politicas[0] (\"Rara\").escalado[4]: prioridad desconocida \"NINGUNA\"",
        "sla.politicas[1] (\"Rara\").nombre: repetido",
        "sla.politicas[1] (\"Rara\").categorias: una lista vacía",
    ] {
        assert!(texto.contains(esperado), "falta {esperado:?} en:\n{texto}");
    }
    assert!(texto.contains("mala.toml"), "each problem says where it came from: {texto}");
}

#[test]
fn a_business_hours_calendar_is_read_from_toml() {
    let toml = r#"
        zona = "America/Bogota"
        feriados = ["2026-12-25"]
        [horario]
        lunes = ["08:00-12:00", "14:00-18:00"]
        viernes = ["08:00-12:00"]
    "#;
    let c: CalendarioSettings = toml::from_str(toml).unwrap();
    let Calendario::Laboral(_) = c.calendario().unwrap() else { panic!() };
    let mut malo = c.clone();
    malo.zona = "Marte/Olympus".into();
    assert!(malo.calendario().is_err());
    let mut malo = c.clone();
    malo.horario.insert("feriado".into(), vec![]);
    assert!(malo.calendario().is_err());
}

#[test]
fn passwords_are_hidden() {
    assert_eq!(redact_url("amqp://guest:guest@127.0.0.1:5672/%2f"), "amqp://guest:***@127.0.0.1:5672/%2f");
    assert_eq!(redact_url("postgres://127.0.0.1/mesa"), "postgres://127.0.0.1/mesa");
    assert_eq!(redact_url("postgres://postgres@127.0.0.1/mesa"), "postgres://postgres@127.0.0.1/mesa");
    assert_eq!(
        redact_url("postgres://h/mesa?sslmode=require&PASSWORD=x"),
        "postgres://h/mesa?sslmode=require&PASSWORD=***"
    );
    // Every node of a cluster's list (startup log, `config`).
    assert_eq!(
        redact_url("amqp://a:pa@n1/%2f,amqp://b:pb@n2:5672/%2f, amqps://n3/%2f?password=pc"),
        "amqp://a:***@n1/%2f,amqp://b:***@n2:5672/%2f, amqps://n3/%2f?password=***"
    );
}
