//! What every fuzz target checks: an input gets a contract outcome, and what
//! passes validation or verification holds the contract's rules.

use mesa_ayuda::auth::Verificador;
use mesa_ayuda::domain::comando::{Peticion, clave_de_orden, validar};
use mesa_ayuda::domain::estado::Operacion;
use mesa_ayuda::domain::sla::{ReglasSla, prioridades_por_defecto};
use mesa_ayuda::error::ErrorContrato;
use mesa_ayuda::procesador::decodificar;
use secrecy::SecretString;
use std::sync::OnceLock;

/// The contract's error codes (§4).
pub const CODIGOS: [&str; 6] =
    ["SOLICITUD_INVALIDA", "NO_AUTENTICADO", "PROHIBIDO", "NO_ENCONTRADO", "VALIDACION", "TRANSICION_INVALIDA"];

/// The HS256 secret the token target signs with.
pub const SECRETO: &str = "secreto-de-fuzzing-de-32-bytes-o-mas";

fn politica() -> &'static ReglasSla {
    static P: OnceLock<ReglasSla> = OnceLock::new();
    P.get_or_init(|| ReglasSla::new(prioridades_por_defecto(), 20, true))
}

/// An error is a contract outcome: a known code and a reply that serializes.
pub fn comprobar_error(e: &ErrorContrato) {
    assert!(CODIGOS.contains(&e.codigo()), "unknown code {}", e.codigo());
    // The reply is already serialized: it must read back as §4's shape.
    let respuesta: serde_json::Value = serde_json::from_str(&mesa_ayuda::vistas::error(e)).expect("a reply is JSON");
    assert_eq!(respuesta["ok"], false);
    assert_eq!(respuesta["error"]["codigo"], e.codigo());
}

/// Decodes and validates one command the way the worker does, and checks
/// its outcome.
pub fn comprobar_comando(routing_key: &str, body: &[u8]) {
    let (op, mapa) = match decodificar(routing_key, body) {
        Ok(x) => x,
        Err(e) => {
            assert_eq!(e.codigo(), "SOLICITUD_INVALIDA");
            return comprobar_error(&e);
        }
    };
    // A fixed instant: a run replays the same way whatever day it is.
    let ahora = "2026-12-08T10:00:00Z".parse().expect("an RFC 3339 instant");
    match validar(op, &mapa, politica(), ahora) {
        Err(campos) => {
            assert!(!campos.is_empty(), "a refusal names at least one field");
            assert!(campos.iter().all(|c| !c.campo.is_empty() && !c.mensaje.is_empty()));
            comprobar_error(&ErrorContrato::Validacion(campos));
        }
        Ok(p) => comprobar_peticion(op, &p, body),
    }
}

fn comprobar_peticion(op: Operacion, p: &Peticion, body: &[u8]) {
    let depurado = format!("{p:?}");
    assert!(sin_controles(&depurado), "a control character passed validation: {depurado}");
    match p {
        Peticion::Crear(d) => {
            assert_eq!(op, Operacion::Crear);
            assert!(d.descripcion.chars().count() <= mesa_ayuda::domain::comando::DESCRIPCION_MAX);
        }
        Peticion::Ticket(c) => {
            assert_eq!(c.mutacion.operacion(), op);
            // One order key per ticket: the lane is chosen by the ticket validated.
            assert_eq!(clave_de_orden(body), Some(c.ticket_id), "order key differs from the validated ticketId");
        }
        Peticion::Detalle { ticket_id } => {
            assert_eq!(clave_de_orden(body), Some(*ticket_id), "order key differs from the validated ticketId");
        }
        _ => {}
    }
}

/// No control character but tab, line feed and carriage return in a value's
/// `Debug` text (which escapes them: `\0`, `\u{1b}`, ...).
pub fn sin_controles(depurado: &str) -> bool {
    let mut chars = depurado.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
                return false;
            }
            continue;
        }
        match chars.next() {
            Some('0') => return false,
            Some('u') => {
                let hex: String = chars.by_ref().skip(1).take_while(|c| *c != '}').collect();
                let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) else { return false };
                if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

/// Verifies one `Authorization` value and checks the outcome.
pub fn comprobar_token(authorization: Option<&str>) {
    static V: OnceLock<(tokio::runtime::Runtime, Verificador)> = OnceLock::new();
    let (rt, v) = V.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        (rt, Verificador::hs256(&SecretString::from(SECRETO)))
    });
    let identidad = rt.block_on(v.identificar(authorization));
    match identidad.actor {
        Err(e) => {
            assert_eq!(e.codigo(), "NO_AUTENTICADO", "{e:?}");
            comprobar_error(&e);
        }
        Ok(actor) => {
            assert!(["ADMIN", "MESA", "AREA"].contains(&actor.rol.as_str()), "{actor:?}");
            let area = actor.rol == mesa_ayuda::domain::estado::Rol::Area;
            assert!(!actor.id.is_empty() && actor.id.chars().count() <= 200, "{actor:?}");
            assert!(actor.nombre.chars().count() <= 150, "{actor:?}");
            assert!(actor.area.as_ref().is_none_or(|a| !a.is_empty() && a.chars().count() <= 100), "{actor:?}");
            // Area scoping needs the area: an AREA actor always has one (others may carry one, unused).
            assert!(!area || actor.area.is_some(), "an AREA actor without an area: {actor:?}");
            assert!(sin_controles(&format!("{actor:?}")), "{actor:?}");
            assert_eq!(identidad.firmante.as_deref(), Some(actor.id.as_str()));
        }
    }
}
