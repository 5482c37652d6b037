//! Identity from verified JWTs — HS256 with the configured secret; RS256,
//! ES256 and EdDSA with an identity provider's key set (JWKS), chosen by
//! `kid` — the only place an actor's id, name, role and area come from.

use crate::configuration::{AuthSettings, ClaimsSettings, JWT_SECRET_MIN_BYTES};
use crate::domain::estado::Rol;
use crate::domain::texto::es_imprimible;
use crate::domain::ticket::Actor;
use crate::error::ErrorContrato;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::time::Instant;

mod autoridad;

use autoridad::Sellador;
pub use autoridad::{VIGENCIA as VIGENCIA_AUTORIDAD, Vinculo};

/// Clock skew tolerated on `exp` and `nbf` (contract §3).
const LEEWAY_S: i64 = 5;
/// An unknown `kid` refetches the JWKS at most this often (contract §3).
const REFRESCO_MINIMO: Duration = Duration::from_secs(60);
/// How long a JWKS fetch may take before the token is refused.
const TIEMPO_DE_DESCARGA: Duration = Duration::from_secs(5);
/// Longest accepted claims: they end up in history rows and events.
const SUB_MAX: usize = 200;
const NOMBRE_MAX: usize = 150;
const AREA_MAX: usize = 100;

/// Claims of the tokens `mesa-ayuda token` mints (HS256).
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the actor's id.
    pub sub: String,
    /// Display name of the actor; none in tokens that omit it.
    #[serde(default)]
    pub nombre: Option<String>,
    /// Staff role: `ADMIN`, `MESA` or `AREA`.
    pub rol: String,
    /// Area of an `AREA` actor; required for that role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: i64,
}

/// Why the verifier could not be built at start.
#[derive(Debug, thiserror::Error)]
pub enum ErrorAuth {
    /// The JWKS file could not be read.
    #[error("no se pudo leer el JWKS {ruta}: {fuente}")]
    Archivo {
        /// The configured JWKS file.
        ruta: PathBuf,
        /// The I/O error.
        fuente: std::io::Error,
    },
    /// The JWKS is not a valid JSON Web Key Set.
    #[error("el JWKS de {origen} no es válido: {fuente}")]
    Formato {
        /// The file or URL it came from.
        origen: String,
        /// The parse error.
        fuente: serde_json::Error,
    },
    /// The HTTP client for a remote JWKS could not be built.
    #[error("no se pudo preparar el cliente HTTP del JWKS: {0}")]
    Cliente(reqwest::Error),
    /// The HS256 secret is shorter than `JWT_SECRET_MIN_BYTES`.
    #[error("el secreto HS256 debe tener al menos {JWT_SECRET_MIN_BYTES} bytes")]
    SecretoCorto,
}

/// What a token says, once checked.
#[derive(Debug)]
pub struct Identidad {
    /// The actor, when the token passes every check.
    pub actor: Result<Actor, ErrorContrato>,
    /// The `sub` of a token whose signature, issuer and audience verified,
    /// expired or not: a replayed `message_id` is matched against it (§3).
    pub firmante: Option<String>,
}

impl Identidad {
    fn rechazo(mensaje: &str) -> Self {
        Identidad { actor: Err(no_autenticado(mensaje)), firmante: None }
    }
}

fn no_autenticado(mensaje: &str) -> ErrorContrato {
    ErrorContrato::NoAutenticado(mensaje.to_string())
}

/// Verifies `authorization: Bearer <JWT>` headers. Cheap to clone.
#[derive(Clone)]
pub struct Verificador {
    interno: Arc<Interno>,
}

struct Interno {
    /// The HS256 key; `None` turns HS256 off.
    hs256: Option<DecodingKey>,
    /// The identity provider's keys; `None` turns RS256/ES256/EdDSA off.
    jwks: Option<Jwks>,
    /// Required `iss`, when configured.
    emisor: Option<String>,
    /// Accepted `aud` values; empty means `aud` is not checked.
    audiencia: Vec<String>,
    /// Where role, area and name are read from.
    rutas: ClaimsSettings,
    /// Seals and opens the authority of parked staff commands
    /// (`autoridad`); `None` when there is no secret to derive its key from.
    sellador: Option<Sellador>,
}

/// A key set and where it comes from.
struct Jwks {
    origen: OrigenJwks,
    /// The usable keys of the last successful load.
    claves: RwLock<Vec<ClavePublica>>,
    /// When the set was last fetched; held across a fetch, so concurrent
    /// misses wait for one fetch instead of starting their own.
    ultima_descarga: tokio::sync::Mutex<Option<Instant>>,
}

enum OrigenJwks {
    Url { url: String, cliente: reqwest::Client },
    Archivo(PathBuf),
}

/// One verification key of a JWKS, with the one algorithm it verifies.
struct ClavePublica {
    kid: Option<String>,
    alg: Algorithm,
    clave: DecodingKey,
}

impl Verificador {
    /// A verifier of HS256 tokens only (tests, the benchmark).
    pub fn hs256(secreto: &SecretString) -> Self {
        let interno = Interno {
            hs256: Some(DecodingKey::from_secret(secreto.expose_secret().as_bytes())),
            jwks: None,
            emisor: None,
            audiencia: Vec::new(),
            rutas: ClaimsSettings::default(),
            sellador: Some(Sellador::new(secreto)),
        };
        Self { interno: Arc::new(interno) }
    }

    /// The verifier `settings` describe. A JWKS file must load; a JWKS URL
    /// that does not answer at start is only warned about, and fetched again
    /// on the first unknown `kid`.
    pub async fn new(settings: &AuthSettings) -> Result<Self, ErrorAuth> {
        // Configuration refuses it first; this keeps a short or empty key
        // from ever verifying anything, however the settings were built.
        let secreto = settings.secreto_hs256();
        if secreto.as_ref().is_some_and(|s| s.expose_secret().len() < JWT_SECRET_MIN_BYTES) {
            return Err(ErrorAuth::SecretoCorto);
        }
        let origen = match (&settings.jwks_url, &settings.jwks_file) {
            (Some(url), _) => {
                let cliente =
                    crate::tls::cliente_http().timeout(TIEMPO_DE_DESCARGA).build().map_err(ErrorAuth::Cliente)?;
                Some(OrigenJwks::Url { url: url.clone(), cliente })
            }
            (None, Some(ruta)) => Some(OrigenJwks::Archivo(ruta.clone())),
            (None, None) => None,
        };
        let jwks = match origen {
            None => None,
            Some(origen) => {
                let jwks =
                    Jwks { origen, claves: RwLock::new(Vec::new()), ultima_descarga: tokio::sync::Mutex::new(None) };
                match &jwks.origen {
                    OrigenJwks::Archivo(ruta) => {
                        let texto = tokio::fs::read(ruta)
                            .await
                            .map_err(|fuente| ErrorAuth::Archivo { ruta: ruta.clone(), fuente })?;
                        let set: JwkSet = serde_json::from_slice(&texto)
                            .map_err(|fuente| ErrorAuth::Formato { origen: ruta.display().to_string(), fuente })?;
                        jwks.guardar(&set);
                    }
                    OrigenJwks::Url { .. } => {
                        jwks.refrescar().await;
                    }
                }
                Some(jwks)
            }
        };
        let interno = Interno {
            hs256: secreto.as_ref().map(|s| DecodingKey::from_secret(s.expose_secret().as_bytes())),
            jwks,
            emisor: settings.issuer.clone(),
            audiencia: settings.audience.clone(),
            rutas: settings.claims.clone(),
            sellador: settings.secreto_autoridad.as_ref().or(secreto.as_ref()).map(Sellador::new),
        };
        Ok(Self { interno: Arc::new(interno) })
    }

    /// The actor of a verified token, or NO_AUTENTICADO saying why not.
    pub async fn verificar(&self, authorization: Option<&str>) -> Result<Actor, ErrorContrato> {
        self.identificar(authorization).await.actor
    }

    /// The identity a command carries: its token when it has one, else the
    /// authority the worker sealed when it parked it (`autoridad`), bound to
    /// `vinculo`.
    pub async fn identificar_comando(
        &self,
        authorization: Option<&str>,
        autoridad: Option<&str>,
        vinculo: Vinculo<'_>,
    ) -> Identidad {
        match (authorization, autoridad, &self.interno.sellador) {
            (None, Some(sello), Some(sellador)) => {
                let actor = sellador.abrir(sello, vinculo, chrono::Utc::now().timestamp());
                let firmante = actor.as_ref().ok().map(|a| a.id.clone());
                Identidad { actor, firmante }
            }
            _ => self.identificar(authorization).await,
        }
    }

    /// A seal of the authority of the command `vinculo` for
    /// `x-mesa-autoridad`, when its token verifies now and there is a key.
    pub async fn sellar(&self, authorization: Option<&str>, vinculo: Vinculo<'_>) -> Option<String> {
        let sellador = self.interno.sellador.as_ref()?;
        let actor = self.identificar(authorization).await.actor.ok()?;
        sellador.sellar(&actor, vinculo, chrono::Utc::now().timestamp())
    }

    /// Checks a token: its signature (by algorithm: the HS256 secret or the
    /// JWKS key of its `kid`), issuer and audience when configured, `exp` and
    /// `nbf` with 5 s of leeway, and the claims an actor is made of.
    pub async fn identificar(&self, authorization: Option<&str>) -> Identidad {
        let Some(header) = authorization else { return Identidad::rechazo("falta el token") };
        let token = header
            .split_once(' ')
            .filter(|(esquema, _)| esquema.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Identidad::rechazo("el encabezado authorization debe ser 'Bearer <token>'");
        };
        let Ok(cabecera) = decode_header(token) else { return Identidad::rechazo("el token no es válido") };
        // RFC 7515 §4.1.11: a `crit` name the recipient does not implement
        // makes the token invalid, and this worker implements none. The
        // header's own key pointers (`jku`, `x5u`, `jwk`, `x5c`) are never
        // read: keys come only from the configuration (`clave`).
        if cabecera.crit.is_some() {
            return Identidad::rechazo("el token exige extensiones (crit) que no se admiten");
        }
        let clave = match self.clave(&cabecera).await {
            Ok(clave) => clave,
            Err(mensaje) => return Identidad::rechazo(mensaje),
        };
        let interno = &self.interno;
        let mut validacion = Validation::new(cabecera.alg);
        // exp and nbf are checked below: an expired token still names its
        // signer, which a replay needs (§3).
        validacion.validate_exp = false;
        validacion.validate_nbf = false;
        let mut requeridos = vec!["exp", "sub"];
        if let Some(emisor) = &interno.emisor {
            validacion.set_issuer(&[emisor]);
            requeridos.push("iss");
        }
        validacion.validate_aud = !interno.audiencia.is_empty();
        if validacion.validate_aud {
            validacion.set_audience(&interno.audiencia);
            requeridos.push("aud");
        }
        validacion.set_required_spec_claims(&requeridos);
        let claims = match decode::<Value>(token, &clave, &validacion) {
            Ok(datos) => datos.claims,
            Err(e) => {
                return Identidad::rechazo(match e.kind() {
                    ErrorKind::InvalidSignature => "la firma del token no es válida",
                    ErrorKind::InvalidIssuer => "el emisor del token no es el esperado",
                    ErrorKind::InvalidAudience => "la audiencia del token no es la esperada",
                    ErrorKind::MissingRequiredClaim(_) => "al token le falta un claim obligatorio",
                    _ => "el token no es válido",
                });
            }
        };
        let sub = match claims.get("sub") {
            Some(Value::String(s)) if claim_aceptable(s.trim(), SUB_MAX) => s.trim().to_string(),
            _ => return Identidad::rechazo("el claim sub del token no es válido"),
        };
        let actor = actor(&claims, &sub, &interno.rutas, chrono::Utc::now().timestamp());
        Identidad { actor, firmante: Some(sub) }
    }

    /// The key for a token's header, or why there is none.
    async fn clave(&self, cabecera: &Header) -> Result<DecodingKey, &'static str> {
        match cabecera.alg {
            Algorithm::HS256 => self.interno.hs256.clone().ok_or("los tokens HS256 no están habilitados"),
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA => {
                let jwks = self.interno.jwks.as_ref().ok_or("no hay un JWKS configurado para este algoritmo")?;
                if let Some(clave) = jwks.buscar(cabecera) {
                    return Ok(clave);
                }
                // A key the provider may have rotated in since the last load.
                if jwks.refrescar_si_toca().await {
                    return jwks.buscar(cabecera).ok_or("el token está firmado con una clave desconocida");
                }
                Err("el token está firmado con una clave desconocida")
            }
            _ => Err("el algoritmo del token no está admitido"),
        }
    }
}

impl Jwks {
    /// The key named by the header's `kid` for its algorithm; without a
    /// `kid`, the only key of that algorithm, if there is exactly one.
    fn buscar(&self, cabecera: &Header) -> Option<DecodingKey> {
        let claves = self.claves.read().unwrap_or_else(|e| e.into_inner());
        let mut candidatas =
            claves.iter().filter(|c| c.alg == cabecera.alg).filter(|c| cabecera.kid.is_none() || c.kid == cabecera.kid);
        let primera = candidatas.next()?;
        match (&cabecera.kid, candidatas.next()) {
            (None, Some(_)) => None,
            _ => Some(primera.clave.clone()),
        }
    }

    /// Refetches the set (URL sources only) unless that happened less than a
    /// minute ago. `true` if a fetch was made now.
    async fn refrescar_si_toca(&self) -> bool {
        if !matches!(self.origen, OrigenJwks::Url { .. }) {
            return false;
        }
        let ultima = self.ultima_descarga.lock().await;
        if ultima.is_some_and(|t| t.elapsed() < REFRESCO_MINIMO) {
            return false;
        }
        drop(ultima);
        self.refrescar().await
    }

    /// Fetches the set from its URL and keeps its usable keys. A failure is
    /// logged and leaves the keys loaded before.
    async fn refrescar(&self) -> bool {
        let OrigenJwks::Url { url, cliente } = &self.origen else { return false };
        let mut ultima = self.ultima_descarga.lock().await;
        if ultima.is_some_and(|t| t.elapsed() < REFRESCO_MINIMO) {
            // Another caller fetched while this one waited for the lock.
            return true;
        }
        *ultima = Some(Instant::now());
        let respuesta = async { cliente.get(url).send().await?.error_for_status()?.json::<JwkSet>().await }.await;
        match respuesta {
            Ok(set) => {
                self.guardar(&set);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "no se pudo descargar el JWKS; se conservan las claves anteriores");
                false
            }
        }
    }

    /// Keeps the keys of `set` that can verify signatures: RSA, P-256 and
    /// Ed25519 public keys. Symmetric (`oct`) keys are refused: a key set is
    /// public, and a shared secret in it would let anyone sign.
    fn guardar(&self, set: &JwkSet) {
        let mut claves = Vec::new();
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone();
            if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
                continue;
            }
            let por_tipo = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Some(Algorithm::ES256),
                AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Some(Algorithm::EdDSA),
                _ => None,
            };
            let declarado = jwk.common.key_algorithm.map(|a| match a {
                KeyAlgorithm::RS256 => Some(Algorithm::RS256),
                KeyAlgorithm::ES256 => Some(Algorithm::ES256),
                KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
                _ => None,
            });
            let alg = match (por_tipo, declarado) {
                (Some(t), None) => t,
                (Some(t), Some(Some(d))) if t == d => t,
                _ => {
                    tracing::warn!(kid = kid.as_deref().unwrap_or(""), "clave del JWKS no admitida; se ignora");
                    continue;
                }
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(clave) => claves.push(ClavePublica { kid, alg, clave }),
                Err(_) => tracing::warn!(kid = kid.as_deref().unwrap_or(""), "clave del JWKS inválida; se ignora"),
            }
        }
        tracing::info!(claves = claves.len(), "JWKS cargado");
        *self.claves.write().unwrap_or_else(|e| e.into_inner()) = claves;
    }
}

/// Builds the actor from verified claims: `exp`/`nbf` against `ahora`, then
/// role, area and name from their configured paths.
fn actor(claims: &Value, sub: &str, rutas: &ClaimsSettings, ahora: i64) -> Result<Actor, ErrorContrato> {
    let instante = |nombre: &str| claims.get(nombre).and_then(Value::as_f64).map(|t| t as i64);
    match instante("exp") {
        Some(exp) if exp + LEEWAY_S >= ahora => {}
        Some(_) => return Err(no_autenticado("el token expiró")),
        None => return Err(no_autenticado("el claim exp del token no es válido")),
    }
    match (claims.get("nbf"), instante("nbf")) {
        (None, _) => {}
        (Some(_), Some(nbf)) if nbf - LEEWAY_S <= ahora => {}
        (Some(_), Some(_)) => return Err(no_autenticado("el token aún no es válido")),
        (Some(_), None) => return Err(no_autenticado("el claim nbf del token no es válido")),
    }
    let rol = rol(claim(claims, &rutas.rol)).ok_or_else(|| no_autenticado("el rol del token no es válido"))?;
    let area = match claim(claims, &rutas.area) {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) if a.trim().is_empty() => None,
        Some(Value::String(a)) if claim_aceptable(a.trim(), AREA_MAX) => Some(a.trim().to_string()),
        Some(_) => return Err(no_autenticado("el claim area del token no es válido")),
    };
    if rol == Rol::Area && area.is_none() {
        return Err(no_autenticado("un token AREA debe llevar el claim area"));
    }
    let nombre = [claim(claims, &rutas.nombre), claims.get("name")]
        .into_iter()
        .flatten()
        .find_map(|v| v.as_str().map(str::trim).filter(|n| !n.is_empty()))
        .unwrap_or(sub);
    if !es_imprimible(nombre) {
        return Err(no_autenticado("el claim nombre del token no es válido"));
    }
    // Longer names are cut rather than refused: they come from a directory.
    let nombre: String = nombre.chars().take(NOMBRE_MAX).collect();
    Ok(Actor::staff(sub.to_string(), nombre, rol, area))
}

/// A claim by dotted path (`realm_access.roles`); a top-level claim whose
/// name itself holds dots (`https://mesa.example.com/rol`) is found first.
fn claim<'a>(claims: &'a Value, ruta: &str) -> Option<&'a Value> {
    claims.get(ruta).or_else(|| ruta.split('.').try_fold(claims, |v, parte| v.get(parte)))
}

/// The role of a claim holding a string or a list of strings: from a list,
/// the strongest of ADMIN > MESA > AREA; other entries are ignored.
fn rol(valor: Option<&Value>) -> Option<Rol> {
    let uno = |s: &str| match s.trim().to_ascii_uppercase().as_str() {
        "ADMIN" => Some(Rol::Admin),
        "MESA" => Some(Rol::Mesa),
        "AREA" => Some(Rol::Area),
        _ => None,
    };
    match valor? {
        Value::String(s) => uno(s),
        Value::Array(lista) => lista.iter().filter_map(Value::as_str).filter_map(uno).min_by_key(|r| match r {
            Rol::Admin => 0,
            Rol::Mesa => 1,
            Rol::Area => 2,
        }),
        _ => None,
    }
}

/// Non-empty, printable, at most `max` characters: claims end up in history
/// rows and events.
fn claim_aceptable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max && es_imprimible(s)
}

/// Mints an HS256 token: for `mesa-ayuda token`, local use and tests.
pub fn emitir(secreto: &SecretString, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secreto.expose_secret().as_bytes()))
}

#[cfg(test)]
mod tests;
