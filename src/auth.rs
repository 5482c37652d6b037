//! Identity from HS256 JWTs: the only place an actor's id, name, role and area
//! come from.

use crate::domain::estado::Rol;
use crate::domain::ticket::Actor;
use crate::error::ErrorContrato;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub nombre: Option<String>,
    pub rol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    pub exp: i64,
}

/// Verifies `authorization: Bearer <JWT>` headers.
#[derive(Clone)]
pub struct Verificador {
    clave: DecodingKey,
    validacion: Validation,
}

impl Verificador {
    pub fn new(secreto: &SecretString) -> Self {
        let mut validacion = Validation::new(Algorithm::HS256);
        validacion.set_required_spec_claims(&["exp", "sub"]);
        validacion.leeway = 5;
        Self { clave: DecodingKey::from_secret(secreto.expose_secret().as_bytes()), validacion }
    }

    /// The actor of a verified token, or NO_AUTENTICADO saying why not.
    pub fn verificar(&self, authorization: Option<&str>) -> Result<Actor, ErrorContrato> {
        let no_autenticado = |m: &str| ErrorContrato::NoAutenticado(m.to_string());
        let header = authorization.ok_or_else(|| no_autenticado("falta el token"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| no_autenticado("el encabezado authorization debe ser 'Bearer <token>'"))?;
        let claims = decode::<Claims>(token, &self.clave, &self.validacion)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => no_autenticado("el token expiró"),
                jsonwebtoken::errors::ErrorKind::InvalidSignature => no_autenticado("la firma del token no es válida"),
                _ => no_autenticado("el token no es válido"),
            })?
            .claims;
        let rol = match claims.rol.to_uppercase().as_str() {
            "ADMIN" => Rol::Admin,
            "MESA" => Rol::Mesa,
            "AREA" => Rol::Area,
            _ => return Err(no_autenticado("el rol del token no es válido")),
        };
        let area = claims.area.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
        if rol == Rol::Area && area.is_none() {
            return Err(no_autenticado("un token AREA debe llevar el claim area"));
        }
        let nombre = claims.nombre.unwrap_or_else(|| claims.sub.clone());
        Ok(Actor::staff(claims.sub, nombre, rol, area))
    }
}

/// Mints a token: for `mesa-ayuda token`, local use and tests.
pub fn emitir(secreto: &SecretString, claims: &Claims) -> anyhow::Result<String> {
    Ok(encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secreto.expose_secret().as_bytes()))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secreto() -> SecretString {
        SecretString::from("s3cr3t")
    }

    fn claims(rol: &str, area: Option<&str>, exp_offset: i64) -> Claims {
        Claims {
            sub: "u1".into(),
            nombre: Some("Carlos".into()),
            rol: rol.into(),
            area: area.map(str::to_string),
            exp: chrono::Utc::now().timestamp() + exp_offset,
        }
    }

    fn bearer(c: &Claims, s: &SecretString) -> String {
        format!("Bearer {}", emitir(s, c).unwrap())
    }

    #[test]
    fn valid_token_gives_the_actor() {
        let v = Verificador::new(&secreto());
        let a = v.verificar(Some(&bearer(&claims("AREA", Some("TI"), 600), &secreto()))).unwrap();
        assert_eq!((a.id.as_str(), a.rol.as_str(), a.area.as_deref()), ("u1", "AREA", Some("TI")));
    }

    #[test]
    fn missing_expired_forged_and_malformed_tokens_are_refused() {
        let v = Verificador::new(&secreto());
        let casos = [
            None,
            Some("Token abc".to_string()),
            Some("Bearer no.es.jwt".to_string()),
            Some(bearer(&claims("MESA", None, -3600), &secreto())),
            Some(bearer(&claims("MESA", None, 600), &SecretString::from("otro"))),
            Some(bearer(&claims("JEFE", None, 600), &secreto())),
            Some(bearer(&claims("AREA", None, 600), &secreto())),
        ];
        for caso in casos {
            let e = v.verificar(caso.as_deref()).unwrap_err();
            assert_eq!(e.codigo(), "NO_AUTENTICADO", "{caso:?}");
        }
    }
}
