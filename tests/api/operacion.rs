//! What an operator sees: health, readiness, metrics and logs.

use crate::helpers::*;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `GET path` → (status, body), with a plain HTTP/1.0 request.
async fn get(puerto: u16, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", puerto)).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).await.unwrap();
    let status = r.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = r.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

async fn esperar_estado(puerto: u16, path: &str, estado: u16) -> String {
    for _ in 0..100 {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(Duration::from_millis(200), tokio::net::TcpStream::connect(("127.0.0.1", puerto)))
                .await
        {
            drop(stream);
            let (s, b) = get(puerto, path).await;
            if s == estado {
                return b;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never answered {estado}");
}

#[tokio::test]
async fn ready_reflects_the_broker_while_health_stays_up() {
    let puerto = puerto_libre();
    let (mut s, db) = settings_de_prueba();
    let real = secrecy::ExposeSecret::expose_secret(&s.amqp.url).to_string();
    s.http.host = "127.0.0.1".into();
    s.http.port = puerto;
    s.amqp.url = secrecy::SecretString::from("amqp://guest:guest@127.0.0.1:1/%2f");
    crear_base(&db).await;
    let app = mesa_ayuda::startup::Aplicacion::build(mesa_ayuda::configuration::Config::desde(s.clone()).unwrap())
        .await
        .unwrap();
    let topo = app.topologia();
    let parar = tokio_util::sync::CancellationToken::new();
    let h = tokio::spawn(app.ejecutar(parar.clone()));
    let cuerpo = esperar_estado(puerto, "/ready", 503).await;
    let v: serde_json::Value = serde_json::from_str(&cuerpo).unwrap();
    assert_eq!(v["listo"], false);
    assert_eq!(v["baseDeDatos"], true);
    assert_eq!(v["consumidor"], false);
    assert_eq!(get(puerto, "/health").await.0, 200);
    parar.cancel();
    h.await.unwrap().unwrap();
    limpiar(db, topo, real);
}

#[tokio::test]
async fn metrics_count_commands_and_the_outbox() {
    let puerto = puerto_libre();
    let mut app = TestApp::spawn_with(|s| {
        s.http.host = "127.0.0.1".into();
        s.http.port = puerto;
    })
    .await;
    esperar_estado(puerto, "/ready", 200).await;
    app.crear().await;
    app.enviar("crear", json!({"nombre": "x"}), None).await;
    let (estado, texto) = get(puerto, "/metrics").await;
    assert_eq!(estado, 200);
    for linea in [
        "mesa_comandos_total{operacion=\"crear\",resultado=\"ok\"} 1",
        "mesa_comandos_total{operacion=\"crear\",resultado=\"VALIDACION\"} 1",
        "mesa_comando_duracion_segundos_count 2",
        "mesa_outbox_pendientes",
        "mesa_outbox_antiguedad_segundos",
        "mesa_eventos_publicados_total",
    ] {
        assert!(texto.contains(linea), "missing {linea:?} in\n{texto}");
    }
}

#[tokio::test]
async fn json_logs_carry_the_command_and_no_personal_data() {
    let mut app = TestApp::spawn().await;
    app.detener().await;
    let p = Proceso::iniciar_con(&app.config.settings, &[("MESA__LOG__FORMAT", "json")]);
    esperar_worker(&mut app).await;
    let id = uuid::Uuid::new_v4().to_string();
    let r = app.cliente.enviar_con_id("crear", ana_garcia(), None, &id).await;
    let label = r["datos"]["ticketLabel"].as_str().unwrap().to_string();
    app.enviar("consultar", json!({"label": label, "email": "ana.garcia@empresa.com"}), None).await;
    let mut malo = ana_garcia();
    malo["email"] = json!("ana.garcia@empresa");
    app.enviar("crear", malo, None).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = p.log();
    let lineas: Vec<serde_json::Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!lineas.is_empty(), "JSON lines expected:\n{log}");
    let del_comando = lineas.iter().find(|l| l.to_string().contains(&id)).expect("a line with the message id");
    assert_eq!(del_comando["span"]["routing_key"], "ticket.crear", "{del_comando}");
    for dato in ["ana.garcia@empresa", "+573001234567", "12345678", "Ana García"] {
        assert!(!log.contains(dato), "{dato} leaked into the log:\n{log}");
    }
}
