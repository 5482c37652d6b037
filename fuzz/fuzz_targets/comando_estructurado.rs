//! Structured commands: a JSON object of the contract's field names (and
//! others) with values of every type, unicode and control characters, huge
//! and empty, serialized and run through decoding and validation.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mesa_ayuda::domain::estado::Operacion;
use mesa_ayuda_fuzz::comprobar_comando;
use serde_json::{Map, Value, json};

const CAMPOS: [&str; 30] = [
    "ticketId",
    "label",
    "email",
    "nombre",
    "telefono",
    "tieneWhatsapp",
    "documento",
    "empresaDepartamento",
    "tipo",
    "categoria",
    "subcategoria",
    "asunto",
    "descripcion",
    "prioridad",
    "areaAsignada",
    "area",
    "agente",
    "motivo",
    "nota",
    "respuestaCliente",
    "estado",
    "slaEstado",
    "limite",
    "cursor",
    "desde",
    "hasta",
    "areaDestino",
    "nuevoTipo",
    "nuevaPrioridad",
    "ticket_id",
];

const TEXTOS: [&str; 16] = [
    "",
    " ",
    "INCIDENTE",
    "ALTA",
    "critica",
    "MESA",
    "ana.garcia@empresa.com",
    "TKT-2026-00001",
    "0b5d6a2e-4f1c-4c1e-9b8a-2f3d4e5f6a7b",
    " 0B5D6A2E-4F1C-4C1E-9B8A-2F3D4E5F6A7B ",
    "{0b5d6a2e-4f1c-4c1e-9b8a-2f3d4e5f6a7b}",
    "0b5d6a2e4f1c4c1e9b8a2f3d4e5f6a7b",
    "a\u{0}b",
    "\u{1b}[31m",
    "línea\r\n\tdos",
    "v1.ff",
];

#[derive(Arbitrary, Debug)]
struct Comando {
    operacion: u8,
    campos: Vec<(Campo, Valor)>,
}

#[derive(Arbitrary, Debug)]
enum Campo {
    DelContrato(u8),
    Otro(String),
}

#[derive(Arbitrary, Debug)]
enum Valor {
    Conocido(u8),
    Texto(String),
    Repetido { texto: u8, veces: u16 },
    ConControl { texto: u8, control: u8 },
    Entero(i64),
    Real(f64),
    Booleano(bool),
    Nulo,
    Lista(Vec<String>),
    Objeto(Vec<(String, i64)>),
}

fn valor(v: Valor) -> Value {
    match v {
        Valor::Conocido(i) => json!(TEXTOS[usize::from(i) % TEXTOS.len()]),
        Valor::Texto(s) => json!(s),
        Valor::Repetido { texto, veces } => json!(TEXTOS[usize::from(texto) % TEXTOS.len()].repeat(usize::from(veces))),
        Valor::ConControl { texto, control } => {
            let c = char::from_u32(u32::from(control) % 0xa0).unwrap_or('\0');
            json!(format!("{c}{}{c}", TEXTOS[usize::from(texto) % TEXTOS.len()]))
        }
        Valor::Entero(i) => json!(i),
        Valor::Real(f) => json!(f),
        Valor::Booleano(b) => json!(b),
        Valor::Nulo => Value::Null,
        Valor::Lista(l) => json!(l),
        Valor::Objeto(o) => Value::Object(o.into_iter().map(|(k, v)| (k, json!(v))).collect()),
    }
}

fuzz_target!(|c: Comando| {
    let op = Operacion::TODAS[usize::from(c.operacion) % Operacion::TODAS.len()];
    let mut m = Map::new();
    for (campo, v) in c.campos {
        let nombre = match campo {
            Campo::DelContrato(i) => CAMPOS[usize::from(i) % CAMPOS.len()].to_string(),
            Campo::Otro(s) => s,
        };
        m.insert(nombre, valor(v));
    }
    let body = serde_json::to_vec(&Value::Object(m)).expect("serializes");
    comprobar_comando(&format!("ticket.{}", op.as_str()), &body);
});
