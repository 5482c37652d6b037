//! The gateway's edges (contract §8, v1.2): no client can cost another its
//! request. Over raw sockets where an HTTP library would hide what the
//! server does (a head never finished, a body that stops, a connection that
//! only sits there), against the real gateway, worker and broker.

use crate::gateway::{GatewayDePrueba, con_worker, es_error, respuesta};
use crate::helpers::{TestApp, token};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw connection to a gateway.
pub(crate) async fn conectar(gw: &GatewayDePrueba) -> TcpStream {
    let direccion = gw.base.trim_start_matches("http://").to_string();
    TcpStream::connect(direccion).await.expect("connect")
}

/// One response read off a raw connection: (status, body). `None` when the
/// server closed the connection before a whole response came.
pub(crate) async fn leer_respuesta(c: &mut TcpStream) -> Option<(u16, String)> {
    let mut datos = Vec::new();
    let mut trozo = [0u8; 4096];
    let fin_cabecera = loop {
        if let Some(i) = datos.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match c.read(&mut trozo).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => datos.extend_from_slice(&trozo[..n]),
        }
    };
    let cabecera = String::from_utf8_lossy(&datos[..fin_cabecera]).to_string();
    let estado = cabecera.split(' ').nth(1)?.parse().ok()?;
    let largo: usize = cabecera
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut cuerpo = datos[fin_cabecera + 4..].to_vec();
    while cuerpo.len() < largo {
        match c.read(&mut trozo).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => cuerpo.extend_from_slice(&trozo[..n]),
        }
    }
    Some((estado, String::from_utf8_lossy(&cuerpo).to_string()))
}

/// Waits until the server closes `c` (EOF or reset), reading and dropping
/// whatever it sends; the time it took, or `None` past `limite`.
pub(crate) async fn cerrada_en(c: &mut TcpStream, limite: Duration) -> Option<Duration> {
    let inicio = Instant::now();
    let mut trozo = [0u8; 4096];
    tokio::time::timeout(limite, async {
        loop {
            match c.read(&mut trozo).await {
                Ok(0) | Err(_) => return inicio.elapsed(),
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
}

const GET_HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: mesa\r\n\r\n";

/// A gateway with short edge deadlines (no worker needed: `/health` and
/// what is refused before publishing never reach the broker).
async fn con_plazos(ajustar: impl FnOnce(&mut mesa_ayuda::configuration::Settings)) -> (TestApp, GatewayDePrueba) {
    let app = TestApp::spawn().await;
    let gw = GatewayDePrueba::iniciar(&app.config.settings, |s| {
        s.gateway.tiempo_cabeceras = Duration::from_secs(1);
        s.gateway.tiempo_cuerpo = Duration::from_secs(1);
        s.gateway.tiempo_inactivo = Duration::from_secs(1);
        ajustar(s);
    })
    .await;
    (app, gw)
}

/// Issue #25, item 1: a 200 KB `Authorization` was carried into the
/// command's AMQP headers; the broker closed the gateway's one session
/// (`frame_too_large`) and everyone else got 503 until it was back.
#[tokio::test]
async fn an_oversized_head_is_refused_and_costs_no_one_else_their_request() {
    let (_app, gw) = con_worker(|_| {}).await;
    let doc = gw.documento().await;
    let mesa = token("MESA", None);
    let enorme = format!("Bearer {}", "a".repeat(200 * 1024));
    let grande = format!("Bearer {}", "a".repeat(9 * 1024));
    for vuelta in 0..10 {
        // Past hyper's wall (twice the limit): its bare 431, connection closed.
        let r = gw.get("/api/tickets", None).header("authorization", &enorme).send().await;
        if let Ok(r) = r {
            assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "round {vuelta}");
        }
        // Under the head limit, over Authorization's own: the contract's 431.
        let (estado, cuerpo, _) = respuesta(gw.get("/api/tickets", None).header("authorization", &grande)).await;
        es_error(&doc, estado, &cuerpo, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "CABECERAS_DEMASIADO_GRANDES");
        // A head of many small headers over 16 KiB.
        let mut muchas = gw.get("/api/catalogo", Some(&mesa));
        for i in 0..40 {
            muchas = muchas.header(format!("x-relleno-{i}"), "r".repeat(500));
        }
        let (estado, cuerpo, _) = respuesta(muchas).await;
        es_error(&doc, estado, &cuerpo, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "CABECERAS_DEMASIADO_GRANDES");
        // Everyone else is served, each time.
        let (estado, cuerpo, _) = respuesta(gw.get("/api/catalogo", Some(&mesa))).await;
        assert_eq!(estado, StatusCode::OK, "round {vuelta}: {cuerpo}");
    }
    assert_eq!(gw.metricas.reconexiones.get(), 0, "the broker session was never lost");
}

/// The second wall: whatever the head limits let through, a command whose
/// AMQP header would not fit in one frame of the session is never
/// published. A session that negotiated 8 KiB frames shows it with an
/// `Authorization` inside the HTTP limits.
#[tokio::test]
async fn a_command_the_broker_would_refuse_never_reaches_the_shared_session() {
    let (_app, gw) = con_worker(|s| {
        let urls: Vec<String> = s.amqp.url.expose_secret().split(',').map(|u| format!("{u}?frame_max=8192")).collect();
        s.amqp.url = SecretString::from(urls.join(","));
    })
    .await;
    let doc = gw.documento().await;
    let mesa = token("MESA", None);
    let casi = format!("Bearer {}", "a".repeat(8 * 1024 - 8));
    for _ in 0..5 {
        let (estado, cuerpo, _) = respuesta(gw.get("/api/catalogo", None).header("authorization", &casi)).await;
        es_error(&doc, estado, &cuerpo, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "CABECERAS_DEMASIADO_GRANDES");
        let (estado, cuerpo, _) = respuesta(gw.get("/api/catalogo", Some(&mesa))).await;
        assert_eq!(estado, StatusCode::OK, "{cuerpo}");
    }
    assert_eq!(gw.metricas.reconexiones.get(), 0, "the broker session was never lost");
}

/// Issue #25, item 2: 300 connections that sent an incomplete head and then
/// one byte every 5 s were all still open after 65 s.
#[tokio::test]
async fn a_head_that_never_ends_is_cut_off_while_others_are_served() {
    let (_app, gw) = con_plazos(|_| {}).await;
    let mut lentas = Vec::new();
    for _ in 0..50 {
        let mut c = conectar(&gw).await;
        c.write_all(b"GET /health HTTP/1.1\r\nHost: mesa\r\nX-Goteo: ").await.unwrap();
        lentas.push(c);
    }
    // A byte every 300 ms from each: a client that is "still sending".
    let goteo = tokio::spawn(async move {
        let inicio = Instant::now();
        let mut cerradas = vec![None; lentas.len()];
        while inicio.elapsed() < Duration::from_secs(8) && cerradas.iter().any(Option::is_none) {
            for (i, c) in lentas.iter_mut().enumerate() {
                if cerradas[i].is_none() {
                    let escrito = c.write_all(b"x").await;
                    let mut b = [0u8; 512];
                    let leido = tokio::time::timeout(Duration::from_millis(1), c.read(&mut b)).await;
                    if escrito.is_err() || matches!(leido, Ok(Ok(0) | Err(_))) {
                        cerradas[i] = Some(inicio.elapsed());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        cerradas
    });
    // Meanwhile a steady client is served.
    for _ in 0..10 {
        let mut c = conectar(&gw).await;
        c.write_all(GET_HEALTH).await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(5), leer_respuesta(&mut c)).await;
        assert!(matches!(r, Ok(Some((200, _)))), "{r:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let cerradas = goteo.await.unwrap();
    let abiertas = cerradas.iter().filter(|c| c.is_none()).count();
    assert_eq!(abiertas, 0, "every dripping head is cut off (1 s limit): {cerradas:?}");
}

/// Issue #25, item 2: a request announcing `Content-Length: 5000` and
/// sending 10 bytes held its connection for more than 40 s.
#[tokio::test]
async fn a_body_that_stops_is_answered_408_and_its_connection_closed() {
    let (_app, gw) = con_plazos(|_| {}).await;
    let mut c = conectar(&gw).await;
    let inicio = Instant::now();
    c.write_all(
        b"POST /api/tickets/crear HTTP/1.1\r\nHost: mesa\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"nombre\":",
    )
    .await
    .unwrap();
    let r = tokio::time::timeout(Duration::from_secs(8), leer_respuesta(&mut c)).await.expect("answered in time");
    let (estado, cuerpo) = r.expect("a response before the close");
    assert_eq!(estado, 408, "{cuerpo}");
    let cuerpo: serde_json::Value = serde_json::from_str(&cuerpo).unwrap();
    assert_eq!(cuerpo["error"]["codigo"], "SOLICITUD_INCOMPLETA", "{cuerpo}");
    assert_eq!(cuerpo["error"]["http"], 408);
    assert!(cerrada_en(&mut c, Duration::from_secs(5)).await.is_some(), "the connection closes after the 408");
    assert!(inicio.elapsed() < Duration::from_secs(6), "{:?}", inicio.elapsed());
}

/// Idle connections, whether they never sent a byte or are kept alive
/// after a request, close after `tiempo_inactivo`; a connection in use is
/// not cut.
#[tokio::test]
async fn idle_connections_close_and_busy_ones_do_not() {
    let (_app, gw) = con_plazos(|s| s.gateway.tiempo_cabeceras = Duration::from_secs(5)).await;
    let mut muda = conectar(&gw).await;
    let mut usada = conectar(&gw).await;
    usada.write_all(GET_HEALTH).await.unwrap();
    assert!(matches!(leer_respuesta(&mut usada).await, Some((200, _))));
    // A third one asks every 400 ms: never idle for a whole second.
    let mut activa = conectar(&gw).await;
    for _ in 0..8 {
        activa.write_all(GET_HEALTH).await.unwrap();
        assert!(matches!(leer_respuesta(&mut activa).await, Some((200, _))), "a connection in use stays");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    for (nombre, c) in [("never used", &mut muda), ("kept alive", &mut usada)] {
        assert!(cerrada_en(c, Duration::from_secs(1)).await.is_some(), "{nombre}: closed by now");
    }
}

/// `max_conexiones`: past it a new connection waits (its request is not
/// read), those already open are still served, and it is served as soon as
/// one of them closes.
#[tokio::test]
async fn past_the_connection_ceiling_new_ones_wait_and_open_ones_are_served() {
    let (_app, gw) = con_plazos(|s| {
        s.gateway.max_conexiones = NonZeroUsize::new(2).unwrap();
        s.gateway.tiempo_inactivo = Duration::from_secs(30);
    })
    .await;
    let mut a = conectar(&gw).await;
    a.write_all(GET_HEALTH).await.unwrap();
    assert!(matches!(leer_respuesta(&mut a).await, Some((200, _))));
    let mut b = conectar(&gw).await;
    b.write_all(GET_HEALTH).await.unwrap();
    assert!(matches!(leer_respuesta(&mut b).await, Some((200, _))));
    let mut c = conectar(&gw).await;
    c.write_all(GET_HEALTH).await.unwrap();
    let esperando = tokio::time::timeout(Duration::from_millis(1500), leer_respuesta(&mut c)).await;
    assert!(esperando.is_err(), "the third connection waits: {esperando:?}");
    a.write_all(GET_HEALTH).await.unwrap();
    assert!(matches!(leer_respuesta(&mut a).await, Some((200, _))), "an open one is still served");
    drop(b);
    let servida = tokio::time::timeout(Duration::from_secs(5), leer_respuesta(&mut c)).await;
    assert!(matches!(servida, Ok(Some((200, _)))), "served once a slot is free: {servida:?}");
}

/// Issue #25, item 5, on the gateway's `/metrics`.
#[tokio::test]
async fn the_gateways_metrics_are_in_the_format_their_content_type_names() {
    let (_app, gw) = con_worker(|_| {}).await;
    let mesa = token("MESA", None);
    let (estado, _, _) = respuesta(gw.get("/api/catalogo", Some(&mesa))).await;
    assert_eq!(estado, StatusCode::OK);
    crate::observabilidad::comprobar_metricas(&gw.url("/metrics")).await;
}
