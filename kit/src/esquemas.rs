//! The published schemas as validators: every reply and event a test's
//! [`crate::Cliente`] receives is checked against the schema the AsyncAPI
//! document gives it (taken from the worker's own views, `mesa_ayuda::vistas`),
//! so a reply or event that drifts from its document fails the test that saw it.

use jsonschema::Validator;
use mesa_ayuda::domain::estado::Operacion;
use mesa_ayuda::vistas;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::LazyLock;

/// The views' schemas, as the document's `components.schemas`.
static COMPONENTES: LazyLock<Value> = LazyLock::new(|| {
    let esquemas: Map<String, Value> = vistas::esquemas().into_iter().map(|(nombre, e)| (nombre, json!(e))).collect();
    json!({"schemas": esquemas})
});

/// One validator per reply shape (by operation) and per event schema.
struct Validadores {
    /// The reply to each operation: its `datos`, or a refusal.
    respuestas: HashMap<Operacion, Validator>,
    /// The reply to a routing key that names no operation: a refusal.
    rechazo: Validator,
    /// `EventoTicket`, `EventoSla` and `EventoAnonimizado`.
    eventos: Vec<(&'static str, Validator)>,
}

fn validador(raiz: Value) -> Validator {
    let mut raiz = raiz;
    raiz["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    raiz["components"] = COMPONENTES.clone();
    // Formats (date-time, uuid) are annotations in 2020-12 unless asked for.
    jsonschema::options()
        .should_validate_formats(true)
        .build(&raiz)
        .unwrap_or_else(|e| panic!("the views' schemas are not valid JSON Schema: {e}"))
}

fn referencia(nombre: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{nombre}")})
}

static VALIDADORES: LazyLock<Validadores> = LazyLock::new(|| Validadores {
    respuestas: Operacion::TODAS
        .iter()
        .map(|&op| {
            let ok = json!({
                "type": "object",
                "required": ["ok", "datos"],
                "properties": {"ok": {"const": true}, "datos": referencia(vistas::esquema_respuesta(op))},
            });
            (op, validador(json!({"oneOf": [ok, referencia("RespuestaError")]})))
        })
        .collect(),
    rechazo: validador(referencia("RespuestaError")),
    eventos: ["EventoTicket", "EventoSla", "EventoAnonimizado"]
        .into_iter()
        .map(|n| (n, validador(referencia(n))))
        .collect(),
});

fn errores(validador: &Validator, valor: &Value) -> Vec<String> {
    validador.iter_errors(valor).map(|e| format!("{e} at {}", e.instance_path())).collect()
}

fn comprobar(validador: &Validator, que: &str, valor: &Value) {
    let errores = errores(validador, valor);
    assert!(errores.is_empty(), "{que} does not match its published schema: {errores:#?}\n{valor:#}");
}

fn validador_de_respuesta(routing_key: &str) -> &'static Validator {
    let v = &*VALIDADORES;
    Operacion::from_routing_key(routing_key).and_then(|op| v.respuestas.get(&op)).unwrap_or(&v.rechazo)
}

/// Panics unless `respuesta`, the reply to a command sent with
/// `routing_key`, matches its schema.
pub fn validar_respuesta(routing_key: &str, respuesta: &Value) {
    comprobar(validador_de_respuesta(routing_key), &format!("the reply to {routing_key:?}"), respuesta);
}

/// Whether `respuesta` matches the schema of the reply to `routing_key`.
pub fn es_respuesta_de(routing_key: &str, respuesta: &Value) -> bool {
    errores(validador_de_respuesta(routing_key), respuesta).is_empty()
}

/// Panics unless `evento`, published with routing key `tipo`, matches its schema.
pub fn validar_evento(tipo: &str, evento: &Value) {
    let nombre = vistas::esquema_evento(tipo);
    let validador = VALIDADORES.eventos.iter().find(|(n, _)| *n == nombre).map(|(_, val)| val);
    match validador {
        Some(validador) => comprobar(validador, &format!("the event {tipo}"), evento),
        None => panic!("no schema named {nombre}"),
    }
}
