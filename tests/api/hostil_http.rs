//! A hostile property test of the gateway's HTTP edge, over raw sockets,
//! beside `hostil` (its AMQP twin): generated request heads (sizes, counts,
//! encodings, duplicated and conflicting `Content-Length` /
//! `Transfer-Encoding`), bodies that stop, clients that drip or walk away
//! mid-request, floods of idle connections — while a steady client's
//! requests keep succeeding. Every generated request ends, within its
//! deadlines, in a response with a status the contract names (and, when it
//! is the gateway's or the worker's refusal, a §4 body saying that status)
//! or in the connection closed; the broker session is never lost.
//!
//! `MESA_HOSTIL_HTTP_CASOS` sets the number of cases (default 300, what CI
//! runs); `MESA_HOSTIL_HTTP_SEMILLA` replays a run (its seed is printed).

use crate::bordes_http::{cerrada_en, leer_respuesta};
use crate::gateway::{GatewayDePrueba, con_worker};
use crate::helpers::token;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Statuses a request may end in: the gateway's own answers (§8), the
/// worker's refusals passed through (§4), hyper's refusals of a malformed
/// head (400, 431, 501 for an unknown transfer coding, 505 for a version).
/// Never 502/503/504: with the worker and the broker up, those mean a
/// client cost the others their session.
const ESTADOS: &[u16] = &[200, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 431, 501, 505];

/// How a generated client behaves.
#[derive(Debug, Clone)]
enum Conducta {
    /// Sends its whole request, then reads the answer.
    Completa,
    /// Sends its head up to `corte` bytes, then one byte at a time, slowly.
    Goteo { corte: usize },
    /// Sends the first `corte` bytes and closes.
    Abandono { corte: usize },
    /// Opens this many connections, sends nothing, then drops them all.
    Inundacion(usize),
}

/// One generated case: the bytes of a request and how they are sent.
#[derive(Debug, Clone)]
struct Caso {
    peticion: Vec<u8>,
    conducta: Conducta,
}

fn ruta() -> impl Strategy<Value = String> {
    let id = "6f9619ff-8b86-d011-b42d-00cf4fc964ff";
    prop_oneof![
        Just("/api/tickets/crear".to_string()),
        Just("/api/tickets/consultar".to_string()),
        Just(format!("/api/tickets/{id}")),
        Just(format!("/api/tickets/{id}/asignar")),
        Just("/api/tickets?estado=NUEVO&limite=5".to_string()),
        Just("/api/catalogo".to_string()),
        Just("/health".to_string()),
        Just("/metrics".to_string()),
        Just("*".to_string()),
        "/[a-z%0-9/?=&]{0,60}",
        (1usize..40_000).prop_map(|n| format!("/api/tickets?cursor={}", "c".repeat(n))),
    ]
}

/// A header value: text, raw bytes (control characters, non-UTF-8), or long.
fn valor() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[ -~]{0,80}".prop_map(String::into_bytes),
        2 => proptest::collection::vec(any::<u8>(), 0..60),
        1 => (0usize..20_000).prop_map(|n| vec![b'v'; n]),
    ]
}

fn nombre() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"content-type".to_vec()),
        Just(b"authorization".to_vec()),
        Just(b"idempotency-key".to_vec()),
        Just(b"traceparent".to_vec()),
        Just(b"x-forwarded-for".to_vec()),
        Just(b"accept".to_vec()),
        Just(b"Host".to_vec()),
        "[A-Za-z-]{1,30}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 1..20),
    ]
}

/// The framing headers: none, right, wrong, duplicated, conflicting.
fn marco(largo: usize) -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        Just(vec![]),
        Just(vec![format!("Content-Length: {largo}")]),
        (0usize..100_000).prop_map(|n| vec![format!("Content-Length: {n}")]),
        Just(vec![format!("Content-Length: {largo}"), format!("Content-Length: {largo}")]),
        Just(vec![format!("Content-Length: {largo}"), format!("Content-Length: {}", largo + 1)]),
        Just(vec![format!("Content-Length: {largo}, {}", largo + 3)]),
        Just(vec!["Content-Length: -1".to_string()]),
        Just(vec!["Content-Length: 99999999999999999999999".to_string()]),
        Just(vec!["Transfer-Encoding: chunked".to_string()]),
        Just(vec!["Transfer-Encoding: chunked".to_string(), format!("Content-Length: {largo}")]),
        Just(vec!["Transfer-Encoding: gzip".to_string()]),
        Just(vec!["Transfer-Encoding: chunked, chunked".to_string()]),
        Just(vec!["Transfer-Encoding: chunked".to_string(), "Transfer-Encoding: identity".to_string()]),
    ]
}

fn cuerpo() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(vec![]),
        Just(br#"{"label": "TKT-2026-00001", "email": "ana.garcia@empresa.com"}"#.to_vec()),
        "\\{[ -~]{0,200}\\}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..300),
        (60_000usize..70_000).prop_map(|n| vec![b' '; n]),
    ]
}

fn caso() -> impl Strategy<Value = Caso> {
    let metodo = prop_oneof![
        Just("GET".to_string()),
        Just("POST".to_string()),
        Just("PUT".to_string()),
        Just("get".to_string()),
        "[A-Z]{1,12}",
    ];
    let version = prop_oneof![
        8 => Just("HTTP/1.1"),
        2 => Just("HTTP/1.0"),
        1 => Just("HTTP/2.0"),
        1 => Just("HTTP/9"),
    ];
    // Mostly heads a real client could send, so most cases reach a route;
    // some of every kind of garbage, and some far past every limit.
    let sensatas = proptest::collection::vec(
        (
            prop_oneof![
                Just(b"content-type".to_vec()),
                Just(b"authorization".to_vec()),
                Just(b"idempotency-key".to_vec()),
                Just(b"traceparent".to_vec()),
                Just(b"accept".to_vec()),
            ],
            prop_oneof![
                3 => Just(b"application/json".to_vec()),
                2 => Just(format!("Bearer {}", token("MESA", None)).into_bytes()),
                2 => "[ -~]{0,60}".prop_map(String::into_bytes),
            ],
        ),
        0..5,
    );
    let cabeceras = prop_oneof![
        6 => sensatas,
        3 => proptest::collection::vec((nombre(), valor()), 0..120),
    ];
    let conducta = prop_oneof![
        10 => Just(Conducta::Completa),
        2 => (0usize..200).prop_map(|corte| Conducta::Goteo { corte }),
        2 => (0usize..400).prop_map(|corte| Conducta::Abandono { corte }),
        1 => (10usize..80).prop_map(Conducta::Inundacion),
    ];
    (metodo, ruta(), version, cabeceras, cuerpo(), conducta)
        .prop_flat_map(|(m, r, v, h, c, d)| {
            let largo = c.len();
            (Just((m, r, v, h, c, d)), marco(largo), any::<bool>())
        })
        .prop_map(|((metodo, ruta, version, cabeceras, cuerpo, conducta), marco, fragmentado)| {
            let mut p = format!("{metodo} {ruta} {version}\r\nHost: mesa\r\n").into_bytes();
            for (k, v) in cabeceras {
                p.extend_from_slice(&k);
                p.extend_from_slice(b": ");
                p.extend_from_slice(&v);
                p.extend_from_slice(b"\r\n");
            }
            let chunked = marco.iter().any(|m| m.contains("chunked"));
            for m in marco {
                p.extend_from_slice(m.as_bytes());
                p.extend_from_slice(b"\r\n");
            }
            p.extend_from_slice(b"\r\n");
            if chunked && fragmentado {
                p.extend_from_slice(format!("{:x}\r\n", cuerpo.len()).as_bytes());
                p.extend_from_slice(&cuerpo);
                p.extend_from_slice(b"\r\n0\r\n\r\n");
            } else {
                p.extend_from_slice(&cuerpo);
            }
            Caso { peticion: p, conducta }
        })
}

/// What became of one case.
#[derive(Debug)]
enum Fin {
    /// Answered with this status.
    Respuesta(u16),
    /// Closed by the server without a whole response.
    Cerrada,
    /// The client went away itself (abandon, flood).
    Abandonada,
}

impl Fin {
    /// How the run's tally names it.
    fn rotulo(&self) -> String {
        match self {
            Fin::Respuesta(estado) => estado.to_string(),
            Fin::Cerrada => "cerrada".into(),
            Fin::Abandonada => "abandonada".into(),
        }
    }
}

/// Runs one case; `Err` says what broke the property.
async fn correr(gw: &GatewayDePrueba, caso: &Caso) -> Result<Fin, String> {
    let direccion = gw.base.trim_start_matches("http://").to_string();
    let conectar = || async { TcpStream::connect(&direccion).await.map_err(|e| format!("connect: {e}")) };
    match &caso.conducta {
        Conducta::Inundacion(n) => {
            let mut abiertas = Vec::new();
            for _ in 0..*n {
                abiertas.push(conectar().await?);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            drop(abiertas);
            Ok(Fin::Abandonada)
        }
        Conducta::Abandono { corte } => {
            let mut c = conectar().await?;
            let corte = (*corte).min(caso.peticion.len());
            let _ = c.write_all(&caso.peticion[..corte]).await;
            Ok(Fin::Abandonada)
        }
        Conducta::Goteo { corte } => {
            let mut c = conectar().await?;
            let corte = (*corte).min(caso.peticion.len().saturating_sub(4));
            let _ = c.write_all(&caso.peticion[..corte]).await;
            // One byte every 250 ms of what is left: the 1 s head deadline cuts it.
            let inicio = Instant::now();
            for b in caso.peticion[corte..].iter().take(40) {
                if c.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
                if inicio.elapsed() > Duration::from_secs(6) {
                    break;
                }
            }
            match cerrada_en(&mut c, Duration::from_secs(6)).await {
                Some(_) => Ok(Fin::Cerrada),
                None => Err("a dripping client was still connected after its deadlines".into()),
            }
        }
        Conducta::Completa => {
            let mut c = conectar().await?;
            // The server may answer (431, 413) and close before it has read
            // everything: a failed write is not the property's concern.
            let _ = c.write_all(&caso.peticion).await;
            // Deadlines: 1 s for a head or a body, 10 s for the worker's reply.
            match tokio::time::timeout(Duration::from_secs(20), leer_respuesta(&mut c)).await {
                Err(_) => Err("neither answered nor closed within 20 s".into()),
                Ok(None) => Ok(Fin::Cerrada),
                Ok(Some((estado, cuerpo))) => {
                    if !ESTADOS.contains(&estado) {
                        return Err(format!("status {estado}: {cuerpo}"));
                    }
                    if estado >= 400
                        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&cuerpo)
                        && (v["error"]["http"] != estado || !v["error"]["codigo"].is_string())
                    {
                        return Err(format!("status {estado} with a body saying otherwise: {cuerpo}"));
                    }
                    Ok(Fin::Respuesta(estado))
                }
            }
        }
    }
}

#[tokio::test]
async fn hostile_http_clients_never_cost_a_steady_client_its_requests() {
    let cuantos: usize = std::env::var("MESA_HOSTIL_HTTP_CASOS").ok().and_then(|n| n.parse().ok()).unwrap_or(300);
    let semilla: u64 =
        std::env::var("MESA_HOSTIL_HTTP_SEMILLA").ok().and_then(|n| n.parse().ok()).unwrap_or_else(rand::random);
    println!("MESA_HOSTIL_HTTP_SEMILLA={semilla} MESA_HOSTIL_HTTP_CASOS={cuantos}");
    let (_app, gw) = con_worker(|s| {
        s.gateway.tiempo_cabeceras = Duration::from_secs(1);
        s.gateway.tiempo_cuerpo = Duration::from_secs(1);
        s.gateway.tiempo_inactivo = Duration::from_secs(2);
        s.gateway.limite_publico = 0;
    })
    .await;
    let gw = Arc::new(gw);

    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&semilla.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    let estrategia = caso();
    let casos: Vec<Caso> = (0..cuantos).map(|_| estrategia.new_tree(&mut runner).unwrap().current()).collect();

    // The steady client: a staff query every 100 ms, each within 5 s.
    let fin = Arc::new(AtomicBool::new(false));
    let (servidas, fallidas) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let constante = {
        let (gw, fin, servidas, fallidas) = (gw.clone(), fin.clone(), servidas.clone(), fallidas.clone());
        tokio::spawn(async move {
            let mesa = token("MESA", None);
            let mut errores = Vec::new();
            while !fin.load(Ordering::SeqCst) {
                let r = gw.get("/api/catalogo", Some(&mesa)).timeout(Duration::from_secs(5)).send().await;
                match r {
                    Ok(r) if r.status() == 200 => {
                        servidas.fetch_add(1, Ordering::SeqCst);
                    }
                    otro => {
                        fallidas.fetch_add(1, Ordering::SeqCst);
                        errores.push(format!("{:?}", otro.map(|r| r.status())));
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            errores
        })
    };

    let mut fines = std::collections::BTreeMap::<String, usize>::new();
    let mut fallos = Vec::new();
    for tanda in casos.chunks(16) {
        let resultados = futures_util::future::join_all(tanda.iter().map(|c| correr(&gw, c))).await;
        for (caso, r) in tanda.iter().zip(resultados) {
            match r {
                Ok(f) => *fines.entry(f.rotulo()).or_default() += 1,
                Err(e) => fallos.push(format!(
                    "{e} — {:?} {:?}",
                    caso.conducta,
                    String::from_utf8_lossy(&caso.peticion[..caso.peticion.len().min(300)])
                )),
            }
        }
    }
    fin.store(true, Ordering::SeqCst);
    let errores = constante.await.unwrap();
    println!(
        "outcomes: {fines:?}; steady client: {} served, {} failed",
        servidas.load(Ordering::SeqCst),
        fallidas.load(Ordering::SeqCst)
    );
    assert!(
        fallos.is_empty(),
        "{} cases broke the property (seed {semilla}): {:#?}",
        fallos.len(),
        &fallos[..fallos.len().min(10)]
    );
    assert!(errores.is_empty(), "the steady client was refused (seed {semilla}): {errores:?}");
    assert!(servidas.load(Ordering::SeqCst) > 0);
    assert_eq!(gw.metricas.reconexiones.get(), 0, "the broker session was never lost (seed {semilla})");
}
