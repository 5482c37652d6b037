//! What operators watch: queue depths and readiness on `/metrics`, and the
//! deploy/ dashboard and alert rules using only metric names the worker
//! really exposes.

use crate::helpers::{TestApp, valor_metrica};
use mesa_ayuda::amqp::colas::Profundidades;
use mesa_ayuda::metrics::Metricas;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// A worker with its HTTP endpoint on a free local port.
async fn con_http() -> (TestApp, u16) {
    let puerto = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = TestApp::spawn_with(|s| {
        s.http.host = "127.0.0.1".into();
        s.http.port = puerto;
    })
    .await;
    (app, puerto)
}

/// The body of `GET /metrics` as Prometheus scrapes it (OpenMetrics: the
/// dashboard and the rules query what Prometheus stored).
async fn metricas(puerto: u16) -> String {
    for _ in 0..50 {
        if let Ok(mut c) = tokio::net::TcpStream::connect(("127.0.0.1", puerto)).await {
            let peticion = format!("GET /metrics HTTP/1.0\r\nHost: localhost\r\nAccept: {ACCEPT_PROMETHEUS}\r\n\r\n");
            c.write_all(peticion.as_bytes()).await.unwrap();
            let mut respuesta = String::new();
            c.read_to_string(&mut respuesta).await.unwrap();
            let (cabecera, cuerpo) = respuesta.split_once("\r\n\r\n").unwrap();
            assert!(cabecera.starts_with("HTTP/1.0 200") || cabecera.starts_with("HTTP/1.1 200"), "{cabecera}");
            return cuerpo.to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/metrics never answered");
}

#[tokio::test]
async fn queue_depths_and_readiness_are_on_metrics() {
    let (mut app, puerto) = con_http().await;
    for id in ["a", "b", "c"] {
        let c = app.cliente.publicar("ticket.crear", b"{roto", Some(id), None).await;
        app.cliente.respuesta(&c).await;
    }
    let mut texto = String::new();
    for _ in 0..100 {
        texto = metricas(puerto).await;
        if valor_metrica(&texto, "mesa_cola_mensajes{cola=\"rechazados\"}") == Some(3.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(valor_metrica(&texto, "mesa_cola_mensajes{cola=\"rechazados\"}"), Some(3.0), "{texto}");
    assert_eq!(valor_metrica(&texto, "mesa_cola_mensajes{cola=\"comandos\"}"), Some(0.0));
    assert_eq!(valor_metrica(&texto, "mesa_cola_consumidores{cola=\"comandos\"}"), Some(1.0), "the worker consumes");
    assert_eq!(valor_metrica(&texto, "mesa_listo"), Some(1.0));

    // With the worker stopped, commands pile up: the depth task reports
    // them, and no consumer.
    app.detener().await;
    for i in 0..4 {
        let body = crate::helpers::ana_garcia().to_string();
        app.cliente.publicar("ticket.crear", body.as_bytes(), Some(&format!("espera-{i}")), None).await;
    }
    let metricas = Arc::new(Metricas::default());
    let parar = CancellationToken::new();
    let tarea = tokio::spawn(
        Profundidades {
            topologia: app.topologia(),
            amqp_url: app.config.settings.amqp.url.clone(),
            intervalo: Duration::from_millis(100),
            metricas: metricas.clone(),
        }
        .ejecutar(parar.clone()),
    );
    let mut texto = String::new();
    for _ in 0..300 {
        texto = metricas.texto();
        if valor_metrica(&texto, "mesa_cola_mensajes{cola=\"comandos\"}") == Some(4.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(valor_metrica(&texto, "mesa_cola_mensajes{cola=\"comandos\"}"), Some(4.0), "{texto}");
    assert_eq!(valor_metrica(&texto, "mesa_cola_consumidores{cola=\"comandos\"}"), Some(0.0));
    parar.cancel();
    tokio::time::timeout(Duration::from_secs(5), tarea).await.expect("stops on shutdown").unwrap();
}

/// Every metric name a Prometheus query in `texto` uses (`mesa_…`).
fn nombres_usados(texto: &str) -> BTreeSet<String> {
    let mut nombres = BTreeSet::new();
    let mut resto = texto;
    while let Some(i) = resto.find("mesa_") {
        // Only at the start of an identifier (not inside `x_mesa_…`).
        let antes = resto[..i].chars().next_back();
        let nombre: String =
            resto[i..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        if !antes.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            nombres.insert(nombre.clone());
        }
        resto = &resto[i + nombre.len()..];
    }
    nombres
}

/// Every sample name `/metrics` may carry, from its `# TYPE` lines (a family
/// with no sample yet still has one): counters end in `_total`, histograms
/// have `_bucket`, `_sum` and `_count`.
fn nombres_expuestos(texto: &str) -> BTreeSet<String> {
    let mut nombres = BTreeSet::new();
    for linea in texto.lines() {
        let Some(tipo) = linea.strip_prefix("# TYPE ") else { continue };
        let Some((nombre, clase)) = tipo.split_once(' ') else { continue };
        match clase {
            "counter" => {
                nombres.insert(format!("{nombre}_total"));
            }
            "histogram" => {
                // The family's own name too: descriptions refer to it.
                for sufijo in ["", "_bucket", "_sum", "_count"] {
                    nombres.insert(format!("{nombre}{sufijo}"));
                }
            }
            _ => {
                nombres.insert(nombre.to_string());
            }
        }
    }
    nombres
}

#[tokio::test]
async fn the_dashboard_and_the_alert_rules_use_only_metrics_the_worker_exposes() {
    let (mut app, puerto) = con_http().await;
    app.crear().await; // commands by result appear with the first one
    // Queue depths appear with the sampler's first pass, which a loaded
    // machine may not have run yet.
    let limite = std::time::Instant::now() + Duration::from_secs(30);
    let expuestos = loop {
        let expuestos = nombres_expuestos(&metricas(puerto).await);
        if expuestos.contains("mesa_comandos_total") && expuestos.contains("mesa_cola_mensajes") {
            break expuestos;
        }
        assert!(std::time::Instant::now() < limite, "{expuestos:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let raiz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    for archivo in ["grafana/dashboards/mesa-ayuda.json", "prometheus/alertas.yml", "prometheus/alertas_test.yml"] {
        let texto = std::fs::read_to_string(raiz.join(archivo)).unwrap();
        let usados = nombres_usados(&texto);
        assert!(usados.len() >= 4, "{archivo}: {usados:?}");
        let desconocidos: Vec<_> = usados.difference(&expuestos).collect();
        assert!(desconocidos.is_empty(), "{archivo} uses metrics the worker does not expose: {desconocidos:?}");
    }
    // The extraction itself: a name the worker does not have is caught.
    let falsos = nombres_usados("rate(mesa_no_existe_total[5m]) + x_mesa_no");
    assert_eq!(falsos.into_iter().collect::<Vec<_>>(), ["mesa_no_existe_total"]);
}

/// What Prometheus sends (2.x and 3.x alike put OpenMetrics first).
const ACCEPT_PROMETHEUS: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// `GET url` with `accept`: (Content-Type, body).
async fn pedir_metricas(url: &str, accept: Option<&str>) -> (String, String) {
    let http = mesa_ayuda::tls::cliente_http().timeout(Duration::from_secs(10)).build().unwrap();
    let mut peticion = http.get(url);
    if let Some(a) = accept {
        peticion = peticion.header("accept", a);
    }
    let r = peticion.send().await.expect("GET /metrics");
    assert_eq!(r.status(), 200);
    let tipo = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (tipo, r.text().await.unwrap())
}

/// Issue #25, item 5: both bodies were OpenMetrics (`# EOF`, counter
/// families named without `_total`) under `text/plain; version=0.0.4`, so
/// `promtool check metrics` refused them and a scraper trusting the header
/// read every counter as untyped. Each format must be what its header says.
pub(crate) async fn comprobar_metricas(url: &str) {
    for accept in [None, Some("*/*"), Some("text/plain")] {
        let (tipo, texto) = pedir_metricas(url, accept).await;
        assert_eq!(tipo, "text/plain; version=0.0.4; charset=utf-8", "{accept:?}");
        assert!(!texto.contains("# EOF") && !texto.contains("# UNIT"), "{texto}");
        let tipos: BTreeSet<(String, String)> = texto
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' ').map(|(n, t)| (n.to_string(), t.to_string())))
            .collect();
        let ayudas: BTreeSet<&str> =
            texto.lines().filter_map(|l| l.strip_prefix("# HELP ")).filter_map(|l| l.split(' ').next()).collect();
        for (nombre, tipo) in &tipos {
            assert!(ayudas.contains(nombre.as_str()), "{nombre} has HELP under its own name");
            if tipo == "counter" {
                assert!(nombre.ends_with("_total"), "a 0.0.4 counter is named by its samples: {nombre}");
            }
        }
        for muestra in texto.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let nombre = muestra.split(['{', ' ']).next().unwrap();
            let familia = tipos.iter().any(|(f, t)| {
                nombre == f
                    || (t == "histogram"
                        && ["_bucket", "_sum", "_count"].iter().any(|s| nombre.strip_suffix(s) == Some(f.as_str())))
            });
            assert!(familia, "sample {nombre} has a TYPE of its own family");
        }
        promtool(&texto);
    }
    let (tipo, texto) = pedir_metricas(url, Some(ACCEPT_PROMETHEUS)).await;
    assert_eq!(tipo, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(texto.ends_with("# EOF\n"), "{texto}");
    assert!(texto.lines().any(|l| l.starts_with("# TYPE ") && l.ends_with(" counter") && !l.contains("_total ")));
}

/// `promtool check metrics` on `texto`, where promtool is installed (CI
/// installs it, `.ci/run`); elsewhere the structural checks above stand alone.
fn promtool(texto: &str) {
    use std::io::Write;
    let Ok(mut hijo) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("promtool not installed: its check skipped here");
        return;
    };
    hijo.stdin.take().unwrap().write_all(texto.as_bytes()).unwrap();
    let salida = hijo.wait_with_output().unwrap();
    assert!(
        salida.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&salida.stdout),
        String::from_utf8_lossy(&salida.stderr)
    );
}

#[tokio::test]
async fn the_workers_metrics_are_in_the_format_their_content_type_names() {
    let (app, puerto) = con_http().await;
    // One command of each outcome kind, so counters have samples.
    let c = app.cliente.publicar("ticket.crear", b"{roto", Some("m-1"), None).await;
    let mut app = app;
    app.cliente.respuesta(&c).await;
    metricas(puerto).await;
    comprobar_metricas(&format!("http://127.0.0.1:{puerto}/metrics")).await;
}
