//! Tokens signed with a secret, as an identity provider would issue them.

use crate::entorno::SECRETO;
use mesa_ayuda::auth::{Claims, emitir};
use secrecy::SecretString;

/// An hour-long token of role `rol` (and `area`), signed with [`SECRETO`].
pub fn token(rol: &str, area: Option<&str>) -> String {
    token_con(rol, area, 3600, SECRETO)
}

/// A token of role `rol` for the actor `<rol>-1`, living `vida_s` seconds (negative: expired).
pub fn token_con(rol: &str, area: Option<&str>, vida_s: i64, secreto: &str) -> String {
    token_de(&format!("{}-1", rol.to_lowercase()), rol, area, vida_s, secreto)
}

/// A token for the actor `sub`.
pub fn token_de(sub: &str, rol: &str, area: Option<&str>, vida_s: i64, secreto: &str) -> String {
    let claims = Claims {
        sub: sub.to_string(),
        nombre: Some(format!("Agente {rol}")),
        rol: rol.to_string(),
        area: area.map(str::to_string),
        exp: chrono::Utc::now().timestamp() + vida_s,
    };
    emitir(&SecretString::from(secreto), &claims).expect("sign token")
}
