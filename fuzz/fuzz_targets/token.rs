//! Tokens: raw `Authorization` values, and HS256 tokens correctly signed
//! over arbitrary claims (so that claim handling is reached).
#![no_main]

use arbitrary::Arbitrary;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use libfuzzer_sys::fuzz_target;
use mesa_ayuda_fuzz::{SECRETO, comprobar_token};
use serde_json::{Map, Value, json};

#[derive(Arbitrary, Debug)]
enum Entrada {
    Cruda(String),
    Firmada { claims: Vec<(Nombre, Valor)>, vida: i32, prefijo: bool },
}

#[derive(Arbitrary, Debug)]
enum Nombre {
    Sub,
    Rol,
    Area,
    Nombre,
    Exp,
    Nbf,
    Iss,
    Aud,
    Otro(String),
}

#[derive(Arbitrary, Debug)]
enum Valor {
    Texto(String),
    Rol(u8),
    Entero(i64),
    Real(f64),
    Booleano(bool),
    Nulo,
    Lista(Vec<String>),
    Objeto(Vec<(String, String)>),
}

fn valor(v: Valor) -> Value {
    match v {
        Valor::Texto(s) => json!(s),
        Valor::Rol(i) => json!(["ADMIN", "MESA", "AREA", "admin", "USUARIO", "SISTEMA", " mesa "][usize::from(i) % 7]),
        Valor::Entero(i) => json!(i),
        Valor::Real(f) => json!(f),
        Valor::Booleano(b) => json!(b),
        Valor::Nulo => Value::Null,
        Valor::Lista(l) => json!(l),
        Valor::Objeto(o) => Value::Object(o.into_iter().map(|(k, v)| (k, json!(v))).collect()),
    }
}

fuzz_target!(|e: Entrada| {
    match e {
        Entrada::Cruda(s) => comprobar_token(Some(&s)),
        Entrada::Firmada { claims, vida, prefijo } => {
            let ahora = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
            let mut m = Map::new();
            m.insert("exp".into(), json!(ahora + i64::from(vida)));
            for (n, v) in claims {
                let clave = match n {
                    Nombre::Sub => "sub".to_string(),
                    Nombre::Rol => "rol".to_string(),
                    Nombre::Area => "area".to_string(),
                    Nombre::Nombre => "nombre".to_string(),
                    Nombre::Exp => "exp".to_string(),
                    Nombre::Nbf => "nbf".to_string(),
                    Nombre::Iss => "iss".to_string(),
                    Nombre::Aud => "aud".to_string(),
                    Nombre::Otro(s) => s,
                };
                m.insert(clave, valor(v));
            }
            let t = encode(
                &Header::new(Algorithm::HS256),
                &Value::Object(m),
                &EncodingKey::from_secret(SECRETO.as_bytes()),
            )
            .expect("signing");
            let header = if prefijo { format!("Bearer {t}") } else { t };
            comprobar_token(Some(&header));
        }
    }
});
