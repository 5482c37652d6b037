//! The order key against a full parse: for a body that decodes, a key
//! exactly when the object's last `ticketId` is a hyphenated UUID (trimmed),
//! and then that UUID; for one that does not, no panic (it is refused
//! whatever lane it takes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesa_ayuda::domain::comando::clave_de_orden;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let clave = clave_de_orden(data);
    let esperada = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(m)) => m
            .get("ticketId")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| s.len() == 36)
            .and_then(|s| uuid::Uuid::try_parse(s).ok()),
        Ok(_) => None,
        Err(_) => return,
    };
    assert_eq!(clave, esperada);
});
