//! `mesa-ayuda gateway` (contract §8) over the real RabbitMQ and a real
//! worker: the seed's curl examples as HTTP, every error status, idempotent
//! retries, a silent worker (504), a broker outage (503) and its recovery,
//! the rate limit, CORS, the access log; every reply body is validated
//! against the schema `/openapi.json` documents for it.

use crate::helpers::{self, Cliente, SECRETO, TestApp, ana_garcia, token, token_con, valor_metrica};
use mesa_ayuda::amqp::Topologia;
use mesa_ayuda::configuration::{Config, Settings};
use mesa_ayuda::gateway::{self, Gateway};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A gateway running in this process, and an HTTP client for it.
pub(crate) struct GatewayDePrueba {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) metricas: Arc<gateway::MetricasGateway>,
    stop: CancellationToken,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl GatewayDePrueba {
    /// A gateway on `settings` (prefix, broker), on a free local port.
    pub(crate) async fn iniciar(settings: &Settings, ajustar: impl FnOnce(&mut Settings)) -> GatewayDePrueba {
        let mut s = settings.clone();
        s.gateway.host = "127.0.0.1".into();
        s.gateway.port = 0;
        ajustar(&mut s);
        let g = Gateway::build(&Config::desde(s).expect("valid settings")).await.expect("bind gateway");
        let base = format!("http://{}", g.direccion().unwrap());
        let metricas = g.metricas.clone();
        let stop = CancellationToken::new();
        let handle = Some(tokio::spawn(g.ejecutar(stop.clone())));
        let http = mesa_ayuda::tls::cliente_http().timeout(Duration::from_secs(30)).build().unwrap();
        GatewayDePrueba { base, http, metricas, stop, handle }
    }

    /// Waits for `/ready` to say 200.
    pub(crate) async fn listo(self) -> Self {
        // Up to 30 s: after an outage the reconnect backoff alone may be 10.
        for _ in 0..300 {
            if let Ok(r) = self.http.get(self.url("/ready")).send().await
                && r.status() == StatusCode::OK
            {
                return self;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the gateway never got ready");
    }

    pub(crate) fn url(&self, ruta: &str) -> String {
        format!("{}{ruta}", self.base)
    }

    pub(crate) fn post(&self, ruta: &str, cuerpo: &Value) -> reqwest::RequestBuilder {
        self.http.post(self.url(ruta)).header("content-type", "application/json").body(cuerpo.to_string())
    }

    pub(crate) fn get(&self, ruta: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let r = self.http.get(self.url(ruta));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// The OpenAPI document it serves.
    pub(crate) async fn documento(&self) -> Value {
        let (estado, doc, _) = respuesta(self.get("/openapi.json", None)).await;
        assert_eq!(estado, StatusCode::OK);
        doc
    }
}

impl Drop for GatewayDePrueba {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

/// Sends; (status, JSON body, Idempotency-Key header).
pub(crate) async fn respuesta(peticion: reqwest::RequestBuilder) -> (StatusCode, Value, Option<String>) {
    let r = peticion.send().await.expect("http");
    let estado = r.status();
    let clave = r.headers().get("idempotency-key").map(|v| v.to_str().unwrap().to_string());
    let texto = r.text().await.unwrap();
    let cuerpo = serde_json::from_str(&texto).unwrap_or_else(|_| panic!("not JSON ({estado}): {texto}"));
    (estado, cuerpo, clave)
}

/// Fails unless `valor` matches the document's component schema `nombre`.
pub(crate) fn validar(doc: &Value, nombre: &str, valor: &Value) {
    let raiz = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{nombre}"),
        "components": doc["components"],
    });
    let validador = jsonschema::validator_for(&raiz).expect("a valid schema");
    let errores: Vec<String> =
        validador.iter_errors(valor).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errores.is_empty(), "{nombre} does not describe {valor:#}: {errores:?}");
}

/// A §4 error body with this status and code, matching its schema.
pub(crate) fn es_error(doc: &Value, estado: StatusCode, cuerpo: &Value, esperado: StatusCode, codigo: &str) {
    assert_eq!(estado, esperado, "{cuerpo}");
    assert_eq!(cuerpo["error"]["codigo"], codigo, "{cuerpo}");
    assert_eq!(cuerpo["error"]["http"], esperado.as_u16(), "{cuerpo}");
    assert!(cuerpo["error"]["mensaje"].is_string(), "{cuerpo}");
    validar(doc, "CuerpoError", cuerpo);
}

/// The worker, and a gateway in front of it whose first broker node is dead
/// (so every test also proves the comma-separated node list).
pub(crate) async fn con_worker(ajustar: impl FnOnce(&mut Settings)) -> (TestApp, GatewayDePrueba) {
    let app = TestApp::spawn().await;
    let real = app.config.settings.amqp.url.expose_secret().to_string();
    let gw = GatewayDePrueba::iniciar(&app.config.settings, |s| {
        s.amqp.url = SecretString::from(format!("amqp://guest:guest@127.0.0.1:1/%2f,{real}"));
        ajustar(s);
    })
    .await
    .listo()
    .await;
    (app, gw)
}

#[tokio::test]
async fn the_seed_curl_examples_answer_in_the_seed_shapes() {
    let (mut app, gw) = con_worker(|_| {}).await;
    let doc = gw.documento().await;
    let (estado, creado, clave) = respuesta(gw.post("/api/tickets/crear", &ana_garcia())).await;
    assert_eq!(estado, StatusCode::OK, "{creado}");
    validar(&doc, "Creado", &creado);
    assert!(clave.is_some_and(|c| uuid::Uuid::parse_str(&c).is_ok()), "a mutation without a key gets a fresh one");
    assert_eq!(creado["estado"], "NUEVO");
    assert_eq!(creado["tipo"], "INCIDENTE");
    assert_eq!(creado["prioridad"], "ALTA");
    assert_eq!(creado["slaHoras"], 4.0);
    assert_eq!(creado["mensaje"], "Su solicitud ha sido registrada exitosamente.");
    assert!(creado["ticketLabel"].as_str().unwrap().starts_with("TKT-"), "{creado}");
    assert!(creado.get("ok").is_none() && creado.get("datos").is_none(), "the body is datos itself: {creado}");
    let id = creado["ticketUuid"].as_str().unwrap().to_string();

    let consulta = json!({"label": creado["ticketLabel"], "email": "ana.garcia@empresa.com"});
    let (estado, c, _) = respuesta(gw.post("/api/tickets/consultar", &consulta)).await;
    assert_eq!(estado, StatusCode::OK, "{c}");
    validar(&doc, "Consulta", &c);
    assert_eq!((c["ticketUuid"].as_str(), c["solicitanteNombre"].as_str()), (Some(id.as_str()), Some("Ana García")));
    assert_eq!((c["ultimaAccion"].as_str(), c["ultimoActorRol"].as_str()), (Some("CREACION"), Some("USUARIO")));

    let mesa = token("MESA", None);
    let (estado, d, _) = respuesta(gw.get(&format!("/api/tickets/{id}"), Some(&mesa))).await;
    assert_eq!(estado, StatusCode::OK, "{d}");
    validar(&doc, "Detalle", &d);
    assert_eq!(d["ticket"]["uuid"], id.as_str());
    assert_eq!(d["solicitante"]["email"], "ana.garcia@empresa.com");
    assert_eq!(d["historial"][0]["accion"], "CREACION");

    // The other routes, each reply against its schema.
    let asignar = json!({"motivo": "primer contacto", "ticketId": "00000000-0000-0000-0000-000000000000"});
    let (estado, t, _) = respuesta(gw.post(&format!("/api/tickets/{id}/asignar"), &asignar).bearer_auth(&mesa)).await;
    assert_eq!(estado, StatusCode::OK, "the path's ticketId wins over the body's: {t}");
    validar(&doc, "Transicion", &t);
    assert_eq!((t["estadoAnterior"].as_str(), t["estado"].as_str()), (Some("NUEVO"), Some("ASIGNADO")));
    let nota = json!({"nota": "revisando el buzón", "respuestaCliente": "Estamos en ello"});
    let (estado, t, _) = respuesta(gw.post(&format!("/api/tickets/{id}/actualizar"), &nota).bearer_auth(&mesa)).await;
    assert_eq!(estado, StatusCode::OK, "{t}");
    validar(&doc, "Transicion", &t);
    let (estado, l, _) = respuesta(gw.get("/api/tickets?estado=ACTUALIZADO&limite=5&area=", Some(&mesa))).await;
    assert_eq!(estado, StatusCode::OK, "{l}");
    validar(&doc, "Listado", &l);
    assert_eq!(l["items"].as_array().map(Vec::len), Some(1), "{l}");
    let (estado, e, _) = respuesta(gw.get("/api/estadisticas?area=MESA", Some(&mesa))).await;
    assert_eq!(estado, StatusCode::OK, "{e}");
    validar(&doc, "EstadisticasVista", &e);
    let (estado, cat, _) = respuesta(gw.get("/api/catalogo", Some(&mesa))).await;
    assert_eq!(estado, StatusCode::OK, "{cat}");
    validar(&doc, "Catalogo", &cat);
    let (estado, estados, _) = respuesta(gw.get("/api/ticket_states", Some(&mesa))).await;
    assert_eq!(estado, StatusCode::OK, "{estados}");
    assert_eq!(estados, cat["estados"], "the catalogue's states, as a list");
    for e in estados.as_array().unwrap() {
        validar(&doc, "EstadoCatalogo", e);
    }
    let (estado, d, _) = respuesta(gw.get(&format!("/api/tickets/{id}"), Some(&mesa))).await;
    assert_eq!(estado, StatusCode::OK);
    validar(&doc, "Detalle", &d);
    assert_eq!(d["historial"].as_array().map(Vec::len), Some(3), "{d}");

    // The same rows the AMQP path would have written.
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 1);
    let r = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    assert_eq!(r["datos"]["ticket"], d["ticket"]);

    let metricas = gw.metricas.texto();
    assert!(
        metricas.contains(r#"mesa_gateway_peticiones_total{ruta="/api/tickets/crear",estado="200"} 1"#),
        "{metricas}"
    );
    assert!(metricas.contains(r#"ruta="/api/tickets/{ticketId}",estado="200"} 2"#), "{metricas}");
    let servidas = gw.http.get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(servidas.contains("mesa_gateway_peticion_duracion_segundos_bucket"), "{servidas}");
}

#[tokio::test]
async fn the_worker_refusals_pass_through_with_their_status_and_body() {
    let (mut app, gw) = con_worker(|_| {}).await;
    let doc = gw.documento().await;
    let id = app.ticket_en("NUEVO").await;
    let mesa = token("MESA", None);
    let detalle = format!("/api/tickets/{id}");

    let (e, c, _) = respuesta(gw.get(&detalle, None)).await;
    es_error(&doc, e, &c, StatusCode::UNAUTHORIZED, "NO_AUTENTICADO");
    let falsificado = token_con("ADMIN", None, 3600, "otro-secreto-de-32-bytes-o-mas-xxxxx");
    let (e, c, _) = respuesta(gw.get(&detalle, Some(&falsificado))).await;
    es_error(&doc, e, &c, StatusCode::UNAUTHORIZED, "NO_AUTENTICADO");
    let (e, c, _) = respuesta(gw.get(&detalle, Some("no-es-un-jwt"))).await;
    es_error(&doc, e, &c, StatusCode::UNAUTHORIZED, "NO_AUTENTICADO");
    let otra_area = token("AREA", Some("CONTABILIDAD"));
    let (e, c, _) = respuesta(gw.get(&detalle, Some(&otra_area))).await;
    es_error(&doc, e, &c, StatusCode::FORBIDDEN, "PROHIBIDO");
    let (e, c, _) = respuesta(gw.get(&format!("/api/tickets/{}", uuid::Uuid::new_v4()), Some(&mesa))).await;
    es_error(&doc, e, &c, StatusCode::NOT_FOUND, "NO_ENCONTRADO");
    let (e, c, _) =
        respuesta(gw.post(&format!("{detalle}/pausar"), &json!({"motivo": "espera"})).bearer_auth(&mesa)).await;
    es_error(&doc, e, &c, StatusCode::CONFLICT, "TRANSICION_INVALIDA");
    assert_eq!(c["error"]["estado"], "NUEVO");
    // No body at all (`curl -X POST …/reabrir`) is the empty object, and reaches the worker.
    let (e, c, _) = respuesta(gw.http.post(gw.url(&format!("{detalle}/reabrir"))).bearer_auth(&mesa)).await;
    es_error(&doc, e, &c, StatusCode::CONFLICT, "TRANSICION_INVALIDA");
    let (e, c, _) = respuesta(gw.post("/api/tickets/crear", &json!({"nombre": "A", "email": "x"}))).await;
    es_error(&doc, e, &c, StatusCode::UNPROCESSABLE_ENTITY, "VALIDACION");
    let campos: Vec<&str> =
        c["error"]["campos"].as_array().unwrap().iter().map(|c| c["campo"].as_str().unwrap()).collect();
    for campo in ["nombre", "email", "tipo", "categoria", "descripcion", "prioridad"] {
        assert!(campos.contains(&campo), "{campo} missing: {c}");
    }
    let (e, c, _) =
        respuesta(gw.post("/api/tickets/consultar", &json!({"label": "TKT-2026-00001", "email": "x@y.z"}))).await;
    es_error(&doc, e, &c, StatusCode::NOT_FOUND, "NO_ENCONTRADO");
    let (e, c, _) = respuesta(gw.get("/api/tickets?limite=diez", Some(&mesa))).await;
    es_error(&doc, e, &c, StatusCode::UNPROCESSABLE_ENTITY, "VALIDACION");
    let (e, c, _) = respuesta(gw.get("/api/catalogo", None)).await;
    es_error(&doc, e, &c, StatusCode::UNAUTHORIZED, "NO_AUTENTICADO");
    // The worker refused, and nothing changed.
    assert_eq!(app.fila(&id).await["estado"], "NUEVO");
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_applies_nothing_twice() {
    let (app, gw) = con_worker(|_| {}).await;
    let crear = || gw.post("/api/tickets/crear", &ana_garcia()).header("idempotency-key", "alta-ana-1");
    let (e1, primero, k1) = respuesta(crear()).await;
    let (e2, segundo, k2) = respuesta(crear()).await;
    assert_eq!((e1, e2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(primero, segundo, "the original reply, again");
    assert_eq!((k1.as_deref(), k2.as_deref()), (Some("alta-ana-1"), Some("alta-ana-1")));
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 1);

    let id = primero["ticketUuid"].as_str().unwrap();
    let mesa = token("MESA", None);
    let asignar = || {
        gw.post(&format!("/api/tickets/{id}/asignar"), &json!({"motivo": "uno"}))
            .bearer_auth(&mesa)
            .header("idempotency-key", "asignar-1")
    };
    let (e1, a1, _) = respuesta(asignar()).await;
    let (e2, a2, _) = respuesta(asignar()).await;
    assert_eq!((e1, e2), (StatusCode::OK, StatusCode::OK), "{a1} {a2}");
    assert_eq!(a1, a2);
    assert_eq!(a1["version"], 2);
    assert_eq!(app.contar_de("SELECT count(*) FROM historial WHERE ticket_uuid = $1::uuid", id).await, 2);
    // A fresh key is a new command: refused now, from ASIGNADO.
    let (e, c, _) = respuesta(
        gw.post(&format!("/api/tickets/{id}/asignar"), &json!({}))
            .bearer_auth(&mesa)
            .header("idempotency-key", "asignar-2"),
    )
    .await;
    assert_eq!(e, StatusCode::CONFLICT, "{c}");
    // A key reused for another ticket is refused, never answered with the
    // other request's reply, and applies nothing.
    let (_, otro, _) =
        respuesta(gw.post("/api/tickets/crear", &ana_garcia()).header("idempotency-key", "alta-ana-2")).await;
    let otro = otro["ticketUuid"].as_str().unwrap();
    let (e, c, _) = respuesta(
        gw.post(&format!("/api/tickets/{otro}/asignar"), &json!({"motivo": "dos"}))
            .bearer_auth(&mesa)
            .header("idempotency-key", "asignar-1"),
    )
    .await;
    assert_eq!(e, StatusCode::UNPROCESSABLE_ENTITY, "{c}");
    assert_eq!(c["error"]["campos"][0]["campo"], "Idempotency-Key", "{c}");
    // An anonymous creation's key on a staff command: the worker tells the
    // signer nothing of the creation, since it is not its sender (§3).
    let (e, c, _) = respuesta(
        gw.post(&format!("/api/tickets/{id}/actualizar"), &json!({"nota": "x"}))
            .bearer_auth(&mesa)
            .header("idempotency-key", "alta-ana-1"),
    )
    .await;
    assert_eq!((e, c["error"]["codigo"].as_str()), (StatusCode::UNAUTHORIZED, Some("NO_AUTENTICADO")), "{c}");
    let (e, c, _) =
        respuesta(gw.post("/api/tickets/crear", &ana_garcia()).header("idempotency-key", "asignar-1")).await;
    // The worker itself keeps a staff command's reply from an anonymous sender.
    assert_eq!((e, c["error"]["codigo"].as_str()), (StatusCode::UNAUTHORIZED, Some("NO_AUTENTICADO")), "{c}");
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 2);
    assert_eq!(app.contar_de("SELECT count(*) FROM historial WHERE ticket_uuid = $1::uuid", id).await, 2);
    assert_eq!(app.contar_de("SELECT count(*) FROM historial WHERE ticket_uuid = $1::uuid", otro).await, 1);
}

#[tokio::test]
async fn bad_requests_are_answered_before_publishing_and_a_silent_worker_is_a_504() {
    // No worker on this prefix: the gateway declares the topology, so what it
    // publishes waits in the queue, where this test counts it.
    let (settings, db) = helpers::settings_de_prueba();
    let amqp_url = settings.amqp.url.expose_secret().to_string();
    let topo = Topologia::de(&settings.topology);
    let _limpieza = Limpieza(Some((db, topo.clone(), amqp_url.clone())));
    let gw = GatewayDePrueba::iniciar(&settings, |s| s.gateway.timeout = Duration::from_secs(1)).await.listo().await;
    let doc = gw.documento().await;
    let cliente = Cliente::new(&amqp_url, &topo).await;
    let mesa = token("MESA", None);
    let id = uuid::Uuid::new_v4();

    let casos: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            gw.http.post(gw.url("/api/tickets/crear")).header("content-type", "application/json").body("{\"nombre\": "),
            StatusCode::BAD_REQUEST,
            "SOLICITUD_INVALIDA",
        ),
        (gw.post("/api/tickets/crear", &json!(["no", "un", "objeto"])), StatusCode::BAD_REQUEST, "SOLICITUD_INVALIDA"),
        (
            gw.post("/api/tickets/no-es-uuid/pausar", &json!({"motivo": "x"})),
            StatusCode::BAD_REQUEST,
            "SOLICITUD_INVALIDA",
        ),
        (
            gw.get("/api/tickets/af97f0cbc6f94437af070ff3452f21bd", Some(&mesa)),
            StatusCode::BAD_REQUEST,
            "SOLICITUD_INVALIDA",
        ),
        (
            gw.post("/api/tickets/crear", &ana_garcia()).header("idempotency-key", "x".repeat(201)),
            StatusCode::BAD_REQUEST,
            "SOLICITUD_INVALIDA",
        ),
        (
            gw.get("/api/tickets?estado=NUEVO&estado=ASIGNADO", Some(&mesa)),
            StatusCode::BAD_REQUEST,
            "SOLICITUD_INVALIDA",
        ),
        (
            gw.http
                .post(gw.url("/api/tickets/crear"))
                .header("content-type", "application/json")
                .body(format!("{{\"descripcion\": \"{}\"}}", "x".repeat(gateway::CUERPO_MAX_BYTES))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "CUERPO_DEMASIADO_GRANDE",
        ),
        (
            gw.http
                .post(gw.url("/api/tickets/crear"))
                .header("content-type", "text/plain")
                .body(ana_garcia().to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "TIPO_NO_SOPORTADO",
        ),
        (
            gw.http.post(gw.url("/api/tickets/crear")).body(ana_garcia().to_string()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "TIPO_NO_SOPORTADO",
        ),
        (gw.get("/api/tickets/crear/otra/cosa", None), StatusCode::NOT_FOUND, "NO_ENCONTRADO"),
        (gw.get(&format!("/api/tickets/{id}/borrar"), Some(&mesa)), StatusCode::NOT_FOUND, "NO_ENCONTRADO"),
        (gw.get("/api/tickets/crear", None), StatusCode::METHOD_NOT_ALLOWED, "METODO_NO_PERMITIDO"),
        (gw.http.delete(gw.url(&format!("/api/tickets/{id}"))), StatusCode::METHOD_NOT_ALLOWED, "METODO_NO_PERMITIDO"),
    ];
    for (peticion, esperado, codigo) in casos {
        let (e, c, _) = respuesta(peticion).await;
        es_error(&doc, e, &c, esperado, codigo);
    }
    assert_eq!(cliente.en_cola(topo.comandos()).await, 0, "nothing was published");

    // A valid command, and no worker to answer it.
    let inicio = std::time::Instant::now();
    let (e, c, clave) =
        respuesta(gw.post("/api/tickets/crear", &ana_garcia()).header("idempotency-key", "k-504")).await;
    es_error(&doc, e, &c, StatusCode::GATEWAY_TIMEOUT, "TIEMPO_AGOTADO");
    assert_eq!(clave.as_deref(), Some("k-504"), "the key to retry with");
    // The gateway's 1 s timeout, not the 10 s default.
    assert!(
        inicio.elapsed() >= Duration::from_secs(1) && inicio.elapsed() < Duration::from_secs(9),
        "{:?}",
        inicio.elapsed()
    );
    assert_eq!(cliente.en_cola(topo.comandos()).await, 1, "the command waits for a worker");
    assert!(gw.metricas.texto().contains("mesa_gateway_tiempos_agotados_total 1"), "{}", gw.metricas.texto());
}

#[tokio::test]
async fn a_broker_outage_is_a_503_and_the_gateway_reconnects() {
    // A gateway whose only broker node is a closed port.
    let (settings, _) = helpers::settings_de_prueba();
    let cerrado = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let gw = GatewayDePrueba::iniciar(&settings, |s| {
        s.amqp.url = SecretString::from(format!("amqp://guest:guest@{cerrado}/%2f"));
    })
    .await;
    let doc = gw.documento().await;
    let (e, c, clave) = respuesta(gw.post("/api/tickets/crear", &ana_garcia())).await;
    es_error(&doc, e, &c, StatusCode::SERVICE_UNAVAILABLE, "NO_DISPONIBLE");
    assert!(clave.is_some(), "the key to retry with");
    let (e, listo, _) = respuesta(gw.get("/ready", None)).await;
    assert_eq!((e, listo["broker"].as_bool()), (StatusCode::SERVICE_UNAVAILABLE, Some(false)), "{listo}");
    let (e, _, _) = respuesta(gw.get("/health", None)).await;
    assert_eq!(e, StatusCode::OK, "alive, just not ready");
    drop(gw);

    // A broker that goes away and comes back, behind a relay this test cuts.
    let (app, relay, gw) = tras_un_relay().await;
    let (e, _, _) = respuesta(gw.post("/api/tickets/crear", &ana_garcia())).await;
    assert_eq!(e, StatusCode::OK);
    relay.cortar();
    let mut visto_503 = false;
    for _ in 0..50 {
        let (e, _, _) = respuesta(gw.get("/ready", None)).await;
        if e == StatusCode::SERVICE_UNAVAILABLE {
            visto_503 = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(visto_503, "/ready says the broker is away");
    let (e, c, _) = respuesta(gw.post("/api/tickets/crear", &ana_garcia())).await;
    es_error(&doc, e, &c, StatusCode::SERVICE_UNAVAILABLE, "NO_DISPONIBLE");
    relay.restablecer();
    let gw = gw.listo().await;
    let (e, c, _) = respuesta(gw.post("/api/tickets/crear", &ana_garcia())).await;
    assert_eq!(e, StatusCode::OK, "{c}");
    assert!(gw.metricas.texto().contains("mesa_gateway_reconexiones_total"), "{}", gw.metricas.texto());
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 2, "one per 200, none for the 503");
}

#[tokio::test]
async fn a_broker_that_keeps_the_session_and_answers_nothing_makes_ready_503_with_no_request() {
    let (app, relay, gw) = tras_un_relay().await;
    // The probe queue holds nothing and keeps no consumer.
    let cola = app.topologia().sonda();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(app.cliente.en_cola(cola.clone()).await, 0);
    // Frozen: the session is up, the broker says nothing. No command is
    // sent: only `/ready` is asked, and it learns it from the probe.
    relay.congelar(true);
    let desde = std::time::Instant::now();
    loop {
        let (e, listo, _) = respuesta(gw.get("/ready", None)).await;
        if e == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(listo["broker"], false, "{listo}");
            break;
        }
        assert!(desde.elapsed() < Duration::from_secs(10), "/ready said 200 for 10 s of a silent broker");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    relay.congelar(false);
    let gw = gw.listo().await;
    let (e, c, _) = respuesta(gw.post("/api/tickets/crear", &ana_garcia())).await;
    assert_eq!(e, StatusCode::OK, "{c}");
    assert_eq!(valor_metrica(&gw.metricas.texto(), "mesa_gateway_reconexiones_total"), Some(0.0), "the same session");
    // An operator deleting the probe queue does not leave the gateway unready.
    let canal = app.cliente.canal.clone();
    canal.queue_delete(cola.as_str().into(), Default::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (e, listo, _) = respuesta(gw.get("/ready", None)).await;
    assert_eq!(e, StatusCode::OK, "{listo}");
    assert_eq!(app.cliente.en_cola(cola).await, 0, "declared again by the probe");
}

#[tokio::test]
async fn public_routes_are_rate_limited_per_client_and_forwarded_for_only_from_trusted_proxies() {
    let (app, gw) = con_worker(|s| {
        s.gateway.limite_publico = 60; // bursts of 10
        s.gateway.proxies_confiables = vec!["127.0.0.1/32".into()];
        s.gateway.cors_origenes = vec!["https://mesa.example".into()];
    })
    .await;
    let doc = gw.documento().await;
    let consulta = json!({"label": "TKT-2026-99999", "email": "ana.garcia@empresa.com"});
    let desde = |ip: &str| gw.post("/api/tickets/consultar", &consulta).header("x-forwarded-for", ip.to_string());
    // The burst of 10 reaches the worker; the allowance then refills at one
    // a second, so before the first 429 at most one more passes per second
    // the burst took (a busy machine may take more than one).
    let inicio = std::time::Instant::now();
    let mut pasadas = 0;
    let r = loop {
        let r = desde("198.51.100.7").send().await.unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            break r;
        }
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "request {pasadas} reaches the worker");
        pasadas += 1;
        assert!(pasadas <= 40, "no 429 after 40 requests in {:?}", inicio.elapsed());
    };
    let permitidas = 10 + inicio.elapsed().as_secs_f64().ceil() as usize;
    assert!((10..=permitidas).contains(&pasadas), "{pasadas} passed in {:?}", inicio.elapsed());
    let espera: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=6).contains(&espera), "Retry-After {espera}");
    let c: Value = r.json().await.unwrap();
    es_error(&doc, StatusCode::TOO_MANY_REQUESTS, &c, StatusCode::TOO_MANY_REQUESTS, "DEMASIADAS_SOLICITUDES");
    // `seguimiento` (v1.2) is a public route too: the same client's allowance.
    let seguimiento = json!({"label": "TKT-2026-99999", "email": "ana.garcia@empresa.com", "texto": "hola"});
    let r = gw.post("/api/tickets/seguimiento", &seguimiento).header("x-forwarded-for", "198.51.100.7").send().await;
    assert_eq!(r.unwrap().status(), StatusCode::TOO_MANY_REQUESTS, "seguimiento is rate-limited");
    // Another client behind the same trusted proxy has its own allowance;
    // staff routes are not limited.
    let (e, _, _) = respuesta(desde("198.51.100.8")).await;
    assert_eq!(e, StatusCode::NOT_FOUND);
    let (e, _, _) = respuesta(gw.get("/api/catalogo", Some(&token("MESA", None)))).await;
    assert_eq!(e, StatusCode::OK);

    // CORS for the configured origin only.
    let preflight = |origen: &str| {
        gw.http
            .request(reqwest::Method::OPTIONS, gw.url("/api/tickets/crear"))
            .header("origin", origen.to_string())
            .header("access-control-request-method", "POST")
    };
    let r = preflight("https://mesa.example").send().await.unwrap();
    assert_eq!(
        r.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap()),
        Some("https://mesa.example")
    );
    let r = preflight("https://malo.example").send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());

    // Without trusted proxies, X-Forwarded-For changes nothing.
    let sin = GatewayDePrueba::iniciar(&app.config.settings, |s| s.gateway.limite_publico = 6).await.listo().await;
    let (e, _, _) = respuesta(sin.post("/api/tickets/consultar", &consulta).header("x-forwarded-for", "1.1.1.1")).await;
    assert_eq!(e, StatusCode::NOT_FOUND);
    let (e, _, _) = respuesta(sin.post("/api/tickets/consultar", &consulta).header("x-forwarded-for", "2.2.2.2")).await;
    assert_eq!(e, StatusCode::TOO_MANY_REQUESTS, "a forged header is not a new client");
    let r = sin.get("/api/catalogo", None).send().await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none(), "CORS off unless configured");
}

#[tokio::test]
async fn the_access_log_holds_routes_and_ids_never_bodies_tokens_or_query_values() {
    let app = TestApp::spawn().await;
    let puerto = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ruta_log = std::env::temp_dir().join(format!("{}-gateway.log", app.config.settings.topology.prefix));
    let log = std::fs::File::create(&ruta_log).unwrap();
    let mut hijo = std::process::Command::new(env!("CARGO_BIN_EXE_mesa-ayuda"))
        .arg("gateway")
        .env("MESA__AMQP__URL", app.config.settings.amqp.url.expose_secret())
        .env("MESA__TOPOLOGY__PREFIX", &app.config.settings.topology.prefix)
        .env("MESA__AUTH__JWT_SECRET", SECRETO)
        .env("MESA__GATEWAY__HOST", "127.0.0.1")
        .env("MESA__GATEWAY__PORT", puerto.to_string())
        .env("MESA__LOG__FORMAT", "json")
        .env("RUST_LOG", "trace")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let http = mesa_ayuda::tls::cliente_http().build().unwrap();
    let base = format!("http://127.0.0.1:{puerto}");
    let mut listo = false;
    for _ in 0..100 {
        if http.get(format!("{base}/ready")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
            listo = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listo, "the gateway process never got ready");
    let r = http
        .post(format!("{base}/api/tickets/crear"))
        .header("content-type", "application/json")
        .header("idempotency-key", "registro-1")
        .body(ana_garcia().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mesa = token("MESA", None);
    let r = http.get(format!("{base}/api/tickets?area=AREA-SECRETA-77")).bearer_auth(&mesa).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let _ = std::process::Command::new("kill").args(["-TERM", &hijo.id().to_string()]).status();
    let salida = hijo.wait().unwrap();
    assert!(salida.success(), "SIGTERM drains and exits 0: {salida}");
    let texto = std::fs::read_to_string(&ruta_log).unwrap();
    let _ = std::fs::remove_file(&ruta_log);
    let acceso: Vec<Value> = texto
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "petición HTTP")
        .collect();
    assert!(
        acceso.iter().any(|l| l["ruta"] == "/api/tickets/crear"
            && l["estado"] == 200
            && l["metodo"] == "POST"
            && l["message_id"] == "registro-1"
            && l["latencia_ms"].is_number()),
        "{texto}"
    );
    assert!(acceso.iter().any(|l| l["ruta"] == "/api/tickets"), "{texto}");
    for secreto in ["ana.garcia", "Ana Garc", "12345678", "+57300", "Outlook", "AREA-SECRETA-77", &mesa, SECRETO] {
        assert!(!texto.contains(secreto), "{secreto:?} in the gateway's log:\n{texto}");
    }
}

#[test]
fn docs_openapi_json_is_current() {
    let guardado =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json")).unwrap_or_default();
    assert!(
        guardado == gateway::documento_json(),
        "docs/openapi.json is stale: run `cargo run -- openapi --salida docs/openapi.json`"
    );
    let doc: Value = serde_json::from_str(&guardado).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for ruta in [
        "/api/tickets/crear",
        "/api/tickets/consultar",
        "/api/tickets/{ticketId}",
        "/api/tickets/{ticketId}/asignar",
        "/api/tickets/{ticketId}/archivar",
        "/api/tickets",
        "/api/estadisticas",
        "/api/catalogo",
        "/api/ticket_states",
        "/openapi.json",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(doc["paths"].get(ruta).is_some(), "{ruta} is not documented");
    }
}

/// Drops a test's topology and database even when it panicked.
struct Limpieza(Option<(String, Topologia, String)>);

impl Drop for Limpieza {
    fn drop(&mut self) {
        if let Some((db, topo, amqp)) = self.0.take() {
            helpers::limpiar(db, topo, amqp);
        }
    }
}

/// A worker, and a ready gateway that reaches the broker through a relay
/// the test can cut or freeze.
async fn tras_un_relay() -> (TestApp, RelayAmqp, GatewayDePrueba) {
    let app = TestApp::spawn().await;
    let relay = RelayAmqp::iniciar().await;
    let real = app.config.settings.amqp.url.expose_secret().to_string();
    let gw = GatewayDePrueba::iniciar(&app.config.settings, |s| s.amqp.url = SecretString::from(relay.url(&real)))
        .await
        .listo()
        .await;
    (app, relay, gw)
}

/// A TCP relay to RabbitMQ that a test can cut (open connections dropped,
/// new ones closed at once) and restore: a broker outage for one client;
/// or freeze (connections kept, nothing passed either way): a broker that
/// keeps the session and answers nothing, as a node without its quorum.
struct RelayAmqp {
    direccion: SocketAddr,
    estado: Arc<Mutex<(bool, Vec<tokio::task::AbortHandle>)>>,
    congelado: Arc<std::sync::atomic::AtomicBool>,
    aceptar: JoinHandle<()>,
}

/// Copies `de` to `a` but holds every byte while `congelado`.
async fn copiar_salvo_congelado(
    mut de: tokio::net::tcp::OwnedReadHalf,
    mut a: tokio::net::tcp::OwnedWriteHalf,
    congelado: Arc<std::sync::atomic::AtomicBool>,
) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match de.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while congelado.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if a.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl RelayAmqp {
    async fn iniciar() -> RelayAmqp {
        let escucha = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let direccion = escucha.local_addr().unwrap();
        let estado = Arc::new(Mutex::new((true, Vec::new())));
        let congelado = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (e, hielo) = (estado.clone(), congelado.clone());
        let aceptar = tokio::spawn(async move {
            while let Ok((cliente, _)) = escucha.accept().await {
                let mut e = e.lock().unwrap();
                if !e.0 {
                    continue;
                }
                let hielo = hielo.clone();
                let h = tokio::spawn(async move {
                    if let Ok(servidor) = tokio::net::TcpStream::connect("127.0.0.1:5672").await {
                        let (cl, ce) = cliente.into_split();
                        let (sl, se) = servidor.into_split();
                        tokio::join!(
                            copiar_salvo_congelado(cl, se, hielo.clone()),
                            copiar_salvo_congelado(sl, ce, hielo)
                        );
                    }
                });
                e.1.push(h.abort_handle());
            }
        });
        RelayAmqp { direccion, estado, congelado, aceptar }
    }

    /// `url` (amqp://user:pass@127.0.0.1:5672/vhost) through the relay.
    fn url(&self, url: &str) -> String {
        url.replacen("127.0.0.1:5672", &self.direccion.to_string(), 1)
    }

    fn cortar(&self) {
        let mut e = self.estado.lock().unwrap();
        e.0 = false;
        for h in e.1.drain(..) {
            h.abort();
        }
    }

    fn restablecer(&self) {
        self.estado.lock().unwrap().0 = true;
    }

    fn congelar(&self, si: bool) {
        self.congelado.store(si, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for RelayAmqp {
    fn drop(&mut self) {
        self.aceptar.abort();
        self.cortar();
    }
}
