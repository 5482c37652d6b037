//! A hostile property test over the real worker: generated routing keys,
//! bodies, headers, tokens, unicode and sizes, published back to back. Every
//! command gets exactly one reply with a contract code, only undecodable ones
//! are parked (for a documented reason), nothing stays unacked, and the
//! worker never stops or restarts.
//!
//! `MESA_HOSTIL_CASOS` sets the number of commands (default 1000, what CI
//! runs); `MESA_HOSTIL_SEMILLA` replays a run (its seed is printed).

use crate::helpers::*;
use lapin::options::BasicGetOptions;
use lapin::types::{AMQPValue, ByteArray, FieldTable};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};
use std::collections::HashMap;

const OPERACIONES: [&str; 14] = [
    "crear",
    "asignar",
    "transferir",
    "reclasificar",
    "pausar",
    "reabrir",
    "actualizar",
    "cancelar",
    "archivar",
    "consultar",
    "detalle",
    "listar",
    "estadisticas",
    "catalogo",
];

/// The contract's codes and their statuses (§4).
const CODIGOS: [(&str, u64); 6] = [
    ("SOLICITUD_INVALIDA", 400),
    ("NO_AUTENTICADO", 401),
    ("PROHIBIDO", 403),
    ("NO_ENCONTRADO", 404),
    ("VALIDACION", 422),
    ("TRANSICION_INVALIDA", 409),
];

const MAX_CUERPO: usize = 16 * 1024;

/// One generated command.
#[derive(Debug, Clone)]
struct Caso {
    routing_key: String,
    message_id: Option<String>,
    headers: Vec<(String, Encabezado)>,
    cuerpo: Vec<u8>,
}

#[derive(Debug, Clone)]
enum Encabezado {
    Largo(String),
    // No short strings: RabbitMQ reads field type 's' as a short integer.
    Entero(i32),
    Bytes(Vec<u8>),
}

impl Encabezado {
    fn amqp(&self) -> AMQPValue {
        match self {
            Encabezado::Largo(s) => AMQPValue::LongString(s.clone().into()),
            Encabezado::Entero(n) => AMQPValue::LongInt(*n),
            Encabezado::Bytes(b) => AMQPValue::ByteArray(ByteArray::from(b.clone())),
        }
    }
}

/// Text a hostile client would send: unicode, control characters, blanks,
/// lengths around the contract's bounds.
fn texto() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-ZñÑáé ]{0,40}",
        2 => any::<String>(),
        1 => "[\\x00-\\x1f\\x7f]{1,5}",
        1 => (0usize..6).prop_map(|i| "x".repeat([2, 3, 10, 150, 151, 5001][i])),
        1 => Just(" \t\r\n ".to_string()),
        1 => Just("ana.garcia@empresa.com".to_string()),
    ]
}

/// A JSON value where a text was expected, or the text.
fn valor() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => texto().prop_map(Value::String),
        1 => Just(Value::Null),
        1 => any::<i64>().prop_map(|n| json!(n)),
        1 => any::<bool>().prop_map(|b| json!(b)),
        1 => Just(json!([1, "dos", {"tres": null}])),
        1 => Just(json!({"a": {"b": {"c": []}}})),
    ]
}

/// A `ticketId`: one of the worker's tickets in any spelling, or junk.
fn ticket_id(tickets: Vec<String>) -> impl Strategy<Value = Value> {
    let n = tickets.len();
    prop_oneof![
        4 => (0..n, 0usize..5).prop_map(move |(i, forma)| {
            let id: uuid::Uuid = tickets[i].parse().unwrap();
            json!(match forma {
                0 => id.to_string(),
                1 => id.to_string().to_uppercase(),
                2 => id.braced().to_string(),
                3 => id.urn().to_string(),
                _ => id.simple().to_string(),
            })
        }),
        1 => Just(json!(uuid::Uuid::new_v4().to_string())),
        1 => valor(),
    ]
}

const CAMPOS: [&str; 24] = [
    "nombre",
    "email",
    "tipo",
    "categoria",
    "descripcion",
    "prioridad",
    "documento",
    "telefono",
    "tieneWhatsapp",
    "empresaDepartamento",
    "subcategoria",
    "asunto",
    "areaAsignada",
    "area",
    "agente",
    "motivo",
    "nota",
    "respuestaCliente",
    "label",
    "estado",
    "limite",
    "cursor",
    "desde",
    "slaEstado",
];

/// A body: a plausible command with hostile fields, or not JSON at all.
fn cuerpo(tickets: Vec<String>) -> impl Strategy<Value = Vec<u8>> {
    let base = prop_oneof![Just(ana_garcia()), Just(json!({})), Just(json!({"motivo": "revisión", "nota": "avance"}))];
    let objeto = (base, ticket_id(tickets), prop::collection::vec((0..CAMPOS.len(), valor()), 0..6), any::<bool>())
        .prop_map(|(mut cuerpo, ticket, campos, con_ticket)| {
            if con_ticket {
                cuerpo["ticketId"] = ticket;
            }
            for (i, v) in campos {
                cuerpo[CAMPOS[i]] = v;
            }
            cuerpo.to_string().into_bytes()
        });
    prop_oneof![
        16 => objeto,
        1 => prop::collection::vec(any::<u8>(), 0..200),
        1 => prop_oneof![Just(b"[1,2]".to_vec()), Just(b"\"texto\"".to_vec()), Just(b"null".to_vec()), Just(Vec::new())],
        1 => Just(format!("{{\"ticketId\": \"{}\", \"descripcion\": \"{}\"}}", uuid::Uuid::new_v4(), "x".repeat(MAX_CUERPO)).into_bytes()),
        1 => Just(b"{\"ticketId\": \"a\", \"ticketId\": {\"x\": [[[[[[[]]]]]]]}, \"nota\": \"\\ud800\"}".to_vec()),
    ]
}

fn autorizacion() -> impl Strategy<Value = Option<Encabezado>> {
    let valido = (0usize..3).prop_map(|i| {
        let (rol, area) = [("ADMIN", None), ("MESA", None), ("AREA", Some("MESA"))][i];
        format!("Bearer {}", token(rol, area))
    });
    prop_oneof![
        2 => Just(None),
        4 => valido.prop_map(|t| Some(Encabezado::Largo(t))),
        1 => Just(Some(Encabezado::Largo(format!("Bearer {}", token_con("ADMIN", None, -3600, SECRETO))))),
        1 => Just(Some(Encabezado::Largo(format!("Bearer {}", token_con("ADMIN", None, 3600, "un-secreto-ajeno-de-32-bytes-o-mas"))))),
        1 => texto().prop_map(|t| Some(Encabezado::Largo(format!("Bearer {t}")))),
        1 => any::<i32>().prop_map(|n| Some(Encabezado::Entero(n))),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| Some(Encabezado::Bytes(b))),
    ]
}

fn caso(tickets: Vec<String>) -> impl Strategy<Value = Caso> {
    // Only keys the queue's binding (`ticket.*`) routes reach the worker:
    // hostile words go after `ticket.`.
    let routing_key = prop_oneof![
        8 => (0..OPERACIONES.len()).prop_map(|i| format!("ticket.{}", OPERACIONES[i])),
        1 => "ticket\\.[a-z\\x00-\\x1f#*]{1,30}",
        1 => any::<String>().prop_map(|s| format!("ticket.{}", s.replace('.', "").chars().take(60).collect::<String>())),
    ];
    let message_id = prop_oneof![
        4 => Just(None).prop_map(|_: Option<()>| Some(uuid::Uuid::new_v4().to_string())),
        1 => Just(None),
        1 => texto().prop_map(|s| Some(s.chars().take(80).collect())),
        1 => Just(Some("x".repeat(201))),
    ];
    let traceparent = prop_oneof![
        2 => Just(None),
        1 => Just(Some(Encabezado::Largo("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()))),
        1 => texto().prop_map(|t| Some(Encabezado::Largo(t.chars().take(60).collect()))),
    ];
    (routing_key, message_id, autorizacion(), traceparent, cuerpo(tickets)).prop_map(
        |(routing_key, message_id, auth, traceparent, cuerpo)| {
            let mut headers = Vec::new();
            if let Some(a) = auth {
                headers.push(("authorization".to_string(), a));
            }
            if let Some(t) = traceparent {
                headers.push(("traceparent".to_string(), t));
            }
            Caso { routing_key, message_id, headers, cuerpo }
        },
    )
}

/// A short-string field holds at most 255 bytes on the wire.
fn corto(s: &str) -> bool {
    s.len() <= 255
}

#[tokio::test]
async fn every_hostile_command_gets_one_contract_reply_and_the_worker_stays_up() {
    let cuantos: usize = std::env::var("MESA_HOSTIL_CASOS").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let semilla: u64 =
        std::env::var("MESA_HOSTIL_SEMILLA").ok().and_then(|n| n.parse().ok()).unwrap_or_else(rand::random);
    println!("MESA_HOSTIL_SEMILLA={semilla} MESA_HOSTIL_CASOS={cuantos}");
    let mut app = TestApp::spawn_with(|s| s.amqp.max_cuerpo_bytes = MAX_CUERPO).await;
    let mut tickets = Vec::new();
    for estado in ["NUEVO", "ASIGNADO", "PAUSADO", "ACTUALIZADO", "CANCELADO"] {
        tickets.push(app.ticket_en(estado).await);
    }

    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&semilla.to_le_bytes());
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    let estrategia = caso(tickets);
    let casos: Vec<Caso> = (0..cuantos)
        .map(|_| estrategia.new_tree(&mut runner).unwrap().current())
        .filter(|c| corto(&c.routing_key) && c.message_id.as_deref().is_none_or(corto))
        .collect();
    // A `message_id` several cases share (a short generated text may repeat)
    // is answered with the reply recorded under it, perhaps another
    // operation's (§3): those replies are checked below, not by the client.
    let mut usos: HashMap<&str, usize> = HashMap::new();
    for id in casos.iter().filter_map(|c| c.message_id.as_deref()) {
        *usos.entry(id).or_default() += 1;
    }
    let compartido = |c: &Caso| c.message_id.as_deref().is_some_and(|id| usos[id] > 1);
    let mut enviados: Vec<(String, &Caso)> = Vec::with_capacity(casos.len());
    for c in &casos {
        let mut h = FieldTable::default();
        for (k, v) in &c.headers {
            h.insert(k.clone().into(), v.amqp());
        }
        let correlacion = app.cliente.publicar_con_headers(&c.routing_key, &c.cuerpo, c.message_id.as_deref(), h).await;
        if compartido(c) {
            app.cliente.sin_esquema(&correlacion);
        }
        enviados.push((correlacion, c));
    }

    let mut respuestas = Vec::with_capacity(enviados.len());
    for (correlacion, c) in &enviados {
        let Some(r) = app.cliente.respuesta_en(correlacion, std::time::Duration::from_secs(15)).await else {
            panic!("no reply for {c:?}");
        };
        respuestas.push(r);
    }

    // A reply to a shared `message_id` is its own operation's, or the very
    // reply another case under that id got, matching that case's operation.
    let mut repeticiones = 0;
    for (i, (_, c)) in enviados.iter().enumerate().filter(|(_, (_, c))| compartido(c)) {
        let r = &respuestas[i];
        if es_respuesta_de(&c.routing_key, r) {
            continue;
        }
        let original = enviados.iter().zip(&respuestas).any(|((_, otro), otra)| {
            otro.message_id == c.message_id && otra == r && es_respuesta_de(&otro.routing_key, r)
        });
        assert!(original, "a reply that is neither this operation's nor a replay of its message_id's: {c:?}\n{r}");
        repeticiones += 1;
    }

    let mut resultados: HashMap<String, usize> = HashMap::new();
    for ((_, c), r) in enviados.iter().zip(&respuestas) {
        let resultado = match r["ok"].as_bool() {
            Some(true) => {
                assert!(r["datos"].is_object(), "{c:?}\n{r}");
                "ok".to_string()
            }
            Some(false) => {
                let codigo = r["error"]["codigo"].as_str().unwrap_or_default();
                let http = CODIGOS.iter().find(|(c, _)| *c == codigo).map(|(_, h)| *h);
                assert_eq!(http, r["error"]["http"].as_u64(), "not a contract code: {c:?}\n{r}");
                assert!(r["error"]["campos"].is_array(), "{c:?}\n{r}");
                if codigo == "VALIDACION" {
                    assert!(!r["error"]["campos"].as_array().unwrap().is_empty(), "{c:?}\n{r}");
                }
                codigo.to_string()
            }
            None => panic!("a reply without ok: {c:?}\n{r}"),
        };
        *resultados.entry(resultado).or_default() += 1;
    }
    println!("{repeticiones} replays of another operation's reply");
    println!("{} commands: {resultados:?}", enviados.len());

    // Parked: only what cannot be decoded at all, each with its reason.
    let topo = app.topologia();
    let mut parqueados = 0;
    while let Some(m) =
        app.cliente.canal.basic_get(topo.rechazados().into(), BasicGetOptions { no_ack: true }).await.unwrap()
    {
        parqueados += 1;
        let motivo = mesa_ayuda::amqp::header(&m.delivery.properties, "x-mesa-motivo").unwrap_or_default();
        let documentado =
            ["operación desconocida", "el cuerpo debe ser un objeto JSON", "el cuerpo no es JSON", "el cuerpo supera"];
        assert!(documentado.iter().any(|d| motivo.starts_with(d)), "parked for {motivo:?}");
        assert!(mesa_ayuda::amqp::header(&m.delivery.properties, "authorization").is_none(), "a credential parked");
    }
    println!("{parqueados} parked");

    // The worker is still the same session — never a reconnection, never an
    // internal error — and gives everything back when it stops: nothing was
    // left unacked.
    assert_eq!(app.enviar("catalogo", json!({}), Some(&token("MESA", None))).await["ok"], true);
    let metricas = app.metricas.texto();
    // The series exist from the start, at zero.
    let mut reconexiones = metricas.lines().filter(|l| l.starts_with("mesa_reconexiones_total{"));
    assert!(reconexiones.all(|l| l.ends_with(" 0")), "the worker reconnected:\n{metricas}");
    assert!(!metricas.contains("error_interno"), "an internal error:\n{metricas}");
    app.detener().await;
    assert_eq!(app.cliente.en_cola(topo.comandos()).await, 0, "deliveries left unacked");
}
