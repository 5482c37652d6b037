//! The authority a parked staff command keeps (`x-mesa-autoridad`): sealed
//! by the worker when a failure of its own parks the command, opened when
//! the command is re-driven.
//!
//! The worker never parks a token (a credential has no business in a queue
//! operators browse), so a staff command parked by a bug would come back
//! from `mesa-ayuda rechazados reenviar` with no identity at all. Instead,
//! when it parks one whose token verifies, it adds a seal: an HS256 JWT
//! signed with a key of its own, saying who sent it (the token's `sub`,
//! role, area and name, exactly as verified) and binding that to this one
//! command (`message_id`, routing key, SHA-256 of the body). Why that is
//! safe:
//!
//! - only the worker can make one: the key is derived (HMAC-SHA256 with a
//!   label of its own) from `auth.secreto_autoridad`, or else from the
//!   HS256 secret, which only the replicas hold; a seal never verifies as a
//!   user token, nor a user token as a seal (different keys, and a seal
//!   must say `typ` `x-mesa-autoridad`);
//! - it is good for one command only: a changed body, routing key or
//!   `message_id` does not match, and the command itself is applied once
//!   however often it is re-driven (its `message_id` is its idempotency key);
//! - it grants nothing the sender did not have when the worker verified
//!   their token, and it runs out after [`VIGENCIA`];
//! - an `authorization` header, when the command carries one, always wins:
//!   a seal is read only on a command without a token.
//!
//! Without any secret (a JWKS-only deployment and no
//! `auth.secreto_autoridad`) nothing is sealed and a re-driven staff
//! command gets NO_AUTENTICADO, as before.

use super::{LEEWAY_S, no_autenticado};
use crate::domain::estado::Rol;
use crate::domain::ticket::Actor;
use crate::error::ErrorContrato;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How long a seal opens after the command was parked.
pub const VIGENCIA: chrono::TimeDelta = chrono::TimeDelta::days(7);
/// The seal's `typ` claim, and the label its key is derived with.
const TIPO: &str = "x-mesa-autoridad";
const ETIQUETA: &[u8] = b"mesa-ayuda x-mesa-autoridad v1";

/// The command a seal is bound to, as it was published.
#[derive(Debug, Clone, Copy)]
pub struct Vinculo<'a> {
    /// Its `message_id`, as received (empty when it had none).
    pub message_id: &'a str,
    /// Its routing key.
    pub routing_key: &'a str,
    /// Its body, as received.
    pub cuerpo: &'a [u8],
}

impl Vinculo<'_> {
    fn huella(&self) -> String {
        let digest = Sha256::digest(self.cuerpo);
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What a seal says.
#[derive(Debug, Serialize, Deserialize)]
struct Sello {
    typ: String,
    sub: String,
    nombre: String,
    rol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    area: Option<String>,
    /// The bound command: `message_id`, routing key, SHA-256 of the body (hex).
    mid: String,
    rk: String,
    sha256: String,
    iat: i64,
    exp: i64,
}

/// Seals and opens authorities with the worker's derived key.
pub(super) struct Sellador {
    firmar: EncodingKey,
    verificar: DecodingKey,
}

impl Sellador {
    /// The sealer whose key `secreto` derives.
    pub(super) fn new(secreto: &SecretString) -> Self {
        // HMAC accepts a key of any length: `new_from_slice` cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secreto.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(ETIQUETA);
        let clave = mac.finalize().into_bytes();
        Sellador { firmar: EncodingKey::from_secret(&clave), verificar: DecodingKey::from_secret(&clave) }
    }

    /// A seal of `actor`'s authority over the command `vinculo`, at `ahora`
    /// (seconds since the epoch).
    pub(super) fn sellar(&self, actor: &Actor, vinculo: Vinculo<'_>, ahora: i64) -> Option<String> {
        let sello = Sello {
            typ: TIPO.into(),
            sub: actor.id.clone(),
            nombre: actor.nombre.clone(),
            rol: actor.rol.as_str().into(),
            area: actor.area.clone(),
            mid: vinculo.message_id.into(),
            rk: vinculo.routing_key.into(),
            sha256: vinculo.huella(),
            iat: ahora,
            exp: ahora + VIGENCIA.num_seconds(),
        };
        encode(&Header::new(Algorithm::HS256), &sello, &self.firmar).ok()
    }

    /// The actor `sello` vouches for, if it is this worker's, has not run
    /// out at `ahora`, and is bound to `vinculo`.
    pub(super) fn abrir(&self, sello: &str, vinculo: Vinculo<'_>, ahora: i64) -> Result<Actor, ErrorContrato> {
        let mut validacion = Validation::new(Algorithm::HS256);
        // Checked below, against the `ahora` passed in.
        validacion.validate_exp = false;
        validacion.set_required_spec_claims(&["exp", "sub"]);
        let invalida = || no_autenticado("la autoridad sellada no es válida");
        let s = decode::<Sello>(sello.trim(), &self.verificar, &validacion).map_err(|_| invalida())?.claims;
        if s.typ != TIPO {
            return Err(invalida());
        }
        if s.exp + LEEWAY_S < ahora {
            return Err(no_autenticado("la autoridad sellada expiró"));
        }
        if s.mid != vinculo.message_id || s.rk != vinculo.routing_key || s.sha256 != vinculo.huella() {
            return Err(no_autenticado("la autoridad sellada es de otro comando"));
        }
        let rol = Rol::TODOS.into_iter().find(|r| r.as_str() == s.rol).ok_or_else(invalida)?;
        Ok(Actor::staff(s.sub, s.nombre, rol, s.area))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AHORA: i64 = 1_800_000_000;

    fn sellador(secreto: &str) -> Sellador {
        Sellador::new(&SecretString::from(secreto))
    }

    fn carlos() -> Actor {
        Actor::staff("carlos".into(), "Carlos Méndez".into(), Rol::Area, Some("Soporte".into()))
    }

    const VINCULO: Vinculo<'static> =
        Vinculo { message_id: "m-1", routing_key: "ticket.asignar", cuerpo: br#"{"ticketId":"x"}"# };

    #[test]
    fn a_seal_opens_to_its_actor_for_its_command_only() {
        let s = sellador("un-secreto-de-pruebas-de-32-bytes!");
        let sello = s.sellar(&carlos(), VINCULO, AHORA).unwrap();
        assert_eq!(s.abrir(&sello, VINCULO, AHORA + 60).unwrap(), carlos());
        let otro = |v: Vinculo<'_>| s.abrir(&sello, v, AHORA).unwrap_err().to_string();
        assert!(otro(Vinculo { message_id: "m-2", ..VINCULO }).contains("otro comando"));
        assert!(otro(Vinculo { routing_key: "ticket.cerrar", ..VINCULO }).contains("otro comando"));
        assert!(otro(Vinculo { cuerpo: br#"{"ticketId":"y"}"#, ..VINCULO }).contains("otro comando"));
    }

    #[test]
    fn a_seal_runs_out() {
        let s = sellador("un-secreto-de-pruebas-de-32-bytes!");
        let sello = s.sellar(&carlos(), VINCULO, AHORA).unwrap();
        assert!(s.abrir(&sello, VINCULO, AHORA + VIGENCIA.num_seconds()).is_ok());
        let tarde = s.abrir(&sello, VINCULO, AHORA + VIGENCIA.num_seconds() + LEEWAY_S + 1);
        assert!(tarde.unwrap_err().to_string().contains("expiró"));
    }

    #[test]
    fn seals_and_user_tokens_never_stand_for_each_other() {
        let secreto = SecretString::from("un-secreto-de-pruebas-de-32-bytes!");
        let s = Sellador::new(&secreto);
        // A user token signed with the HS256 secret itself is no seal ...
        let claims = super::super::Claims {
            sub: "carlos".into(),
            nombre: None,
            rol: "ADMIN".into(),
            area: None,
            exp: AHORA + 3600,
        };
        let token = super::super::emitir(&secreto, &claims).unwrap();
        assert!(s.abrir(&token, VINCULO, AHORA).is_err());
        // ... nor a seal made with it, even with every claim right.
        let falsa = Sello {
            typ: TIPO.into(),
            sub: "carlos".into(),
            nombre: "Carlos".into(),
            rol: "ADMIN".into(),
            area: None,
            mid: VINCULO.message_id.into(),
            rk: VINCULO.routing_key.into(),
            sha256: VINCULO.huella(),
            iat: AHORA,
            exp: AHORA + 3600,
        };
        let clave = EncodingKey::from_secret(secreto.expose_secret().as_bytes());
        let falsa = encode(&Header::new(Algorithm::HS256), &falsa, &clave).unwrap();
        assert!(s.abrir(&falsa, VINCULO, AHORA).is_err());
        // A seal is not a user token: the verifier's HS256 key differs.
        let sello = s.sellar(&carlos(), VINCULO, AHORA).unwrap();
        let decodificar = DecodingKey::from_secret(secreto.expose_secret().as_bytes());
        assert!(decode::<serde_json::Value>(&sello, &decodificar, &Validation::new(Algorithm::HS256)).is_err());
        // Another deployment's seal does not open here.
        let ajena = sellador("otro-secreto-de-pruebas-de-32-bytes").sellar(&carlos(), VINCULO, AHORA).unwrap();
        assert!(s.abrir(&ajena, VINCULO, AHORA).is_err());
        for basura in ["", "a.b.c", "Bearer x", "\u{0}"] {
            assert!(s.abrir(basura, VINCULO, AHORA).is_err(), "{basura:?}");
        }
    }
}
