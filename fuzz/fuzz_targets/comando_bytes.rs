//! Raw bytes as a command: the first byte picks the routing key (an
//! operation, or raw bytes as a key), the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesa_ayuda::domain::estado::Operacion;
use mesa_ayuda_fuzz::comprobar_comando;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, resto)) = data.split_first() else { return };
    let (routing_key, body) = match Operacion::TODAS.get(usize::from(selector) % 16) {
        Some(op) => (format!("ticket.{}", op.as_str()), resto),
        None => {
            let n = usize::from(selector).min(resto.len()) % 64;
            (String::from_utf8_lossy(&resto[..n]).into_owned(), &resto[n..])
        }
    };
    comprobar_comando(&routing_key, body);
});
