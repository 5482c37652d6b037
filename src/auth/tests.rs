use super::*;
use jsonwebtoken::jwk::Jwk;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};

const SECRETO: &str = "un-secreto-de-pruebas-de-32-bytes!";
const RSA: &[u8] = include_bytes!("../../tests/fixtures/claves/rsa.pem");
const RSA_AJENA: &[u8] = include_bytes!("../../tests/fixtures/claves/rsa-ajena.pem");
const EC: &[u8] = include_bytes!("../../tests/fixtures/claves/ec.pem");
const ED: &[u8] = include_bytes!("../../tests/fixtures/claves/ed.pem");

fn secreto() -> SecretString {
    SecretString::from(SECRETO)
}

fn ahora() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(rol: &str, area: Option<&str>, exp_offset: i64) -> Claims {
    Claims {
        sub: "u1".into(),
        nombre: Some("Carlos".into()),
        rol: rol.into(),
        area: area.map(str::to_string),
        exp: ahora() + exp_offset,
    }
}

fn bearer(c: &Claims, s: &SecretString) -> String {
    format!("Bearer {}", emitir(s, c).unwrap())
}

fn clave_privada(alg: Algorithm, pem: &[u8]) -> EncodingKey {
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem),
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(pem),
        otro => panic!("{otro:?}"),
    }
    .unwrap()
}

/// A token signed with a private key, `kid` in its header.
fn firmado(alg: Algorithm, pem: &[u8], kid: Option<&str>, claims: &Value) -> String {
    let mut cabecera = Header::new(alg);
    cabecera.kid = kid.map(str::to_string);
    format!("Bearer {}", encode(&cabecera, claims, &clave_privada(alg, pem)).unwrap())
}

fn jwk(alg: Algorithm, pem: &[u8], kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&clave_privada(alg, pem), alg).unwrap();
    jwk.common.key_id = Some(kid.to_string());
    jwk
}

fn jwks() -> JwkSet {
    JwkSet {
        keys: vec![
            jwk(Algorithm::RS256, RSA, "rsa-1"),
            jwk(Algorithm::ES256, EC, "ec-1"),
            jwk(Algorithm::EdDSA, ED, "ed-1"),
        ],
    }
}

/// A file in the temporary directory, removed when dropped (the key set is
/// read once, at start).
struct Temporal(PathBuf);

impl Drop for Temporal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn archivo_temporal(contenido: &[u8]) -> Temporal {
    let ruta = std::env::temp_dir().join(format!("mesa-jwks-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&ruta, contenido).unwrap();
    Temporal(ruta)
}

fn archivo_jwks(set: &JwkSet) -> Temporal {
    archivo_temporal(&serde_json::to_vec(set).unwrap())
}

fn ajustes() -> AuthSettings {
    AuthSettings {
        jwt_secret: Some(secreto()),
        jwks_url: None,
        jwks_file: None,
        issuer: None,
        audience: Vec::new(),
        claims: ClaimsSettings::default(),
        secreto_autoridad: None,
    }
}

async fn con_jwks(modificar: impl FnOnce(&mut AuthSettings)) -> Verificador {
    let mut s = ajustes();
    let archivo = archivo_jwks(&jwks());
    s.jwks_file = Some(archivo.0.clone());
    modificar(&mut s);
    Verificador::new(&s).await.unwrap()
}

fn proveedor(extra: Value) -> Value {
    let mut c = json!({"sub": "idp-42", "rol": "MESA", "nombre": "Lucía", "exp": ahora() + 600});
    c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    c
}

fn codigo(r: Result<Actor, ErrorContrato>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.codigo(),
    }
}

#[tokio::test]
async fn valid_token_gives_the_actor() {
    let v = Verificador::hs256(&secreto());
    let a = v.verificar(Some(&bearer(&claims("AREA", Some("TI"), 600), &secreto()))).await.unwrap();
    assert_eq!((a.id.as_str(), a.rol.as_str(), a.area.as_deref()), ("u1", "AREA", Some("TI")));
}

#[tokio::test]
async fn missing_expired_forged_and_malformed_tokens_are_refused() {
    let v = Verificador::hs256(&secreto());
    let casos = [
        None,
        Some("Token abc".to_string()),
        Some("Bearer".to_string()),
        Some("Bearer no.es.jwt".to_string()),
        Some(bearer(&claims("MESA", None, -3600), &secreto())),
        Some(bearer(&claims("MESA", None, 600), &SecretString::from("otro-secreto-de-32-bytes-o-mas!!"))),
        // The empty key of issue #11: never the configured one.
        Some(bearer(&claims("ADMIN", None, 600), &SecretString::from(""))),
        Some(bearer(&claims("JEFE", None, 600), &secreto())),
        Some(bearer(&claims("AREA", None, 600), &secreto())),
    ];
    for caso in casos {
        let e = v.verificar(caso.as_deref()).await.unwrap_err();
        assert_eq!(e.codigo(), "NO_AUTENTICADO", "{caso:?}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let v = Verificador::hs256(&secreto());
    let token = emitir(&secreto(), &claims("MESA", None, 600)).unwrap();
    for esquema in ["Bearer", "bearer", "BEARER"] {
        assert!(v.verificar(Some(&format!("{esquema} {token}"))).await.is_ok(), "{esquema}");
    }
}

#[tokio::test]
async fn alg_none_never_passes() {
    let b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    let cuerpo = b64(json!({"sub": "x", "rol": "ADMIN", "exp": ahora() + 600}));
    let v = con_jwks(|_| {}).await;
    for alg in ["none", "None", "NONE"] {
        let token = format!("Bearer {}.{cuerpo}.", b64(json!({"alg": alg, "typ": "JWT"})));
        assert_eq!(codigo(v.verificar(Some(&token)).await), "NO_AUTENTICADO", "{alg}");
    }
}

#[tokio::test]
async fn rs256_es256_and_eddsa_from_a_jwks_are_chosen_by_kid() {
    let v = con_jwks(|_| {}).await;
    for (alg, pem, kid) in
        [(Algorithm::RS256, RSA, "rsa-1"), (Algorithm::ES256, EC, "ec-1"), (Algorithm::EdDSA, ED, "ed-1")]
    {
        let actor = v.verificar(Some(&firmado(alg, pem, Some(kid), &proveedor(json!({}))))).await.unwrap();
        assert_eq!((actor.id.as_str(), actor.rol.as_str(), actor.nombre.as_str()), ("idp-42", "MESA", "Lucía"));
        // The same key under another kid, or no key of that algorithm for the kid.
        assert_eq!(
            codigo(v.verificar(Some(&firmado(alg, pem, Some("otra"), &proveedor(json!({}))))).await),
            "NO_AUTENTICADO"
        );
    }
    // Without a kid, the only key of the token's algorithm.
    assert!(v.verificar(Some(&firmado(Algorithm::ES256, EC, None, &proveedor(json!({}))))).await.is_ok());
    // HS256 still works beside the JWKS when a secret is configured.
    assert!(v.verificar(Some(&bearer(&claims("MESA", None, 600), &secreto()))).await.is_ok());
}

#[tokio::test]
async fn foreign_keys_and_algorithm_confusion_are_refused() {
    let v = con_jwks(|s| s.jwt_secret = None).await;
    let c = proveedor(json!({}));
    // A foreign RSA key claiming a known kid.
    assert_eq!(
        codigo(v.verificar(Some(&firmado(Algorithm::RS256, RSA_AJENA, Some("rsa-1"), &c))).await),
        "NO_AUTENTICADO"
    );
    // An EC token naming the RSA kid.
    assert_eq!(codigo(v.verificar(Some(&firmado(Algorithm::ES256, EC, Some("rsa-1"), &c))).await), "NO_AUTENTICADO");
    // With a JWKS and no secret, HS256 is off — even with the public dev secret.
    let dev = SecretString::from(crate::configuration::DEV_JWT_SECRET);
    assert_eq!(codigo(v.verificar(Some(&bearer(&claims("ADMIN", None, 600), &dev))).await), "NO_AUTENTICADO");
    // HS256 signed with the RSA public key's JWK bytes as a secret.
    let publica = serde_json::to_vec(&jwk(Algorithm::RS256, RSA, "rsa-1")).unwrap();
    let mut cabecera = Header::new(Algorithm::HS256);
    cabecera.kid = Some("rsa-1".into());
    let t = encode(&cabecera, &c, &EncodingKey::from_secret(&publica)).unwrap();
    assert_eq!(codigo(v.verificar(Some(&format!("Bearer {t}"))).await), "NO_AUTENTICADO");
}

#[tokio::test]
async fn symmetric_keys_in_a_jwks_are_ignored() {
    // A key set is public: an `oct` key in it must never verify anything.
    let oct = Jwk::from_encoding_key(&EncodingKey::from_secret(b"publica-en-el-jwks"), Algorithm::HS256).unwrap();
    let mut set = jwks();
    let mut oct = oct;
    oct.common.key_id = Some("oct-1".into());
    set.keys.push(oct);
    let mut s = ajustes();
    s.jwt_secret = None;
    let archivo = archivo_jwks(&set);
    s.jwks_file = Some(archivo.0.clone());
    let v = Verificador::new(&s).await.unwrap();
    let mut cabecera = Header::new(Algorithm::HS256);
    cabecera.kid = Some("oct-1".into());
    let t = encode(&cabecera, &proveedor(json!({})), &EncodingKey::from_secret(b"publica-en-el-jwks")).unwrap();
    assert_eq!(codigo(v.verificar(Some(&format!("Bearer {t}"))).await), "NO_AUTENTICADO");
}

#[tokio::test]
async fn audience_and_issuer_are_checked_only_when_configured() {
    let rs = |extra: Value| firmado(Algorithm::RS256, RSA, Some("rsa-1"), &proveedor(extra));
    // Issue #11, item 6: a token carrying aud was always refused.
    let libre = con_jwks(|_| {}).await;
    assert_eq!(codigo(libre.verificar(Some(&rs(json!({"aud": "account", "iss": "https://idp"})))).await), "ok");

    let estricto = con_jwks(|s| {
        s.audience = vec!["mesa-ayuda".into(), "otra".into()];
        s.issuer = Some("https://idp/realms/mesa".into());
    })
    .await;
    let iss = "https://idp/realms/mesa";
    let casos = [
        (json!({"aud": "mesa-ayuda", "iss": iss}), "ok"),
        (json!({"aud": ["account", "otra"], "iss": iss}), "ok"),
        (json!({"aud": "account", "iss": iss}), "NO_AUTENTICADO"),
        (json!({"iss": iss}), "NO_AUTENTICADO"),
        (json!({"aud": "mesa-ayuda", "iss": "https://otro"}), "NO_AUTENTICADO"),
        (json!({"aud": "mesa-ayuda"}), "NO_AUTENTICADO"),
    ];
    for (extra, esperado) in casos {
        assert_eq!(codigo(estricto.verificar(Some(&rs(extra.clone()))).await), esperado, "{extra}");
    }
}

#[tokio::test]
async fn nbf_and_exp_have_five_seconds_of_leeway() {
    let v = con_jwks(|_| {}).await;
    let rs = |extra: Value| firmado(Algorithm::RS256, RSA, Some("rsa-1"), &proveedor(extra));
    // Each claim is timed from the moment its token is checked, so a
    // stalled test thread cannot eat into the 2 s the `± 3` cases keep.
    type Reclamos = fn(i64) -> Value;
    let casos: [(Reclamos, &str); 6] = [
        (|t| json!({"nbf": t + 3}), "ok"),
        (|t| json!({"nbf": t + 60}), "NO_AUTENTICADO"),
        (|_| json!({"nbf": "mañana"}), "NO_AUTENTICADO"),
        (|t| json!({"exp": t - 3}), "ok"),
        (|t| json!({"exp": t - 60}), "NO_AUTENTICADO"),
        (|_| json!({"exp": "nunca"}), "NO_AUTENTICADO"),
    ];
    for (extra, esperado) in casos {
        let extra = extra(ahora());
        assert_eq!(codigo(v.verificar(Some(&rs(extra.clone()))).await), esperado, "{extra}");
    }
}

#[tokio::test]
async fn an_expired_token_still_names_its_signer_but_a_forged_one_does_not() {
    let v = Verificador::hs256(&secreto());
    let vencido = v.identificar(Some(&bearer(&claims("MESA", None, -3600), &secreto()))).await;
    assert_eq!(vencido.firmante.as_deref(), Some("u1"));
    assert_eq!(codigo(vencido.actor), "NO_AUTENTICADO");
    let ajeno = SecretString::from("otro-secreto-de-32-bytes-o-mas!!");
    let falso = v.identificar(Some(&bearer(&claims("MESA", None, 600), &ajeno))).await;
    assert_eq!(falso.firmante, None);
}

#[tokio::test]
async fn keycloak_style_claims_work_through_configured_paths() {
    let v = con_jwks(|s| {
        s.claims =
            ClaimsSettings { rol: "realm_access.roles".into(), area: "grupo.area".into(), nombre: "nombre".into() };
    })
    .await;
    let kc = |roles: Value, extra: Value| {
        let mut c = json!({"sub": "f1c2", "exp": ahora() + 600, "aud": "account",
            "realm_access": {"roles": roles}, "name": "Marta Ruiz", "preferred_username": "marta"});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        firmado(Algorithm::RS256, RSA, Some("rsa-1"), &c)
    };
    let a = v.verificar(Some(&kc(json!(["offline_access", "mesa", "uma_authorization"]), json!({})))).await.unwrap();
    assert_eq!((a.rol.as_str(), a.nombre.as_str()), ("MESA", "Marta Ruiz"), "nombre falls back to name");
    let a = v.verificar(Some(&kc(json!(["area", "Admin", "mesa"]), json!({})))).await.unwrap();
    assert_eq!(a.rol.as_str(), "ADMIN", "the strongest role of a list");
    let a = v.verificar(Some(&kc(json!(["area"]), json!({"grupo": {"area": "TI"}})))).await.unwrap();
    assert_eq!((a.rol.as_str(), a.area.as_deref()), ("AREA", Some("TI")));
    assert_eq!(codigo(v.verificar(Some(&kc(json!(["area"]), json!({})))).await), "NO_AUTENTICADO", "AREA without area");
    assert_eq!(codigo(v.verificar(Some(&kc(json!(["offline_access"]), json!({})))).await), "NO_AUTENTICADO");
    assert_eq!(codigo(v.verificar(Some(&kc(json!("mesa"), json!({})))).await), "ok", "a single string");
}

#[test]
fn claims_are_found_by_path_or_by_a_name_holding_dots() {
    let c = json!({"https://mesa.example.com/rol": "MESA", "a": {"b": {"c": 1}}});
    assert_eq!(claim(&c, "https://mesa.example.com/rol"), Some(&json!("MESA")));
    assert_eq!(claim(&c, "a.b.c"), Some(&json!(1)));
    assert_eq!(claim(&c, "a.x"), None);
}

#[tokio::test]
async fn claims_with_control_characters_or_oversized_are_refused() {
    let v = con_jwks(|_| {}).await;
    let rs = |extra: Value| firmado(Algorithm::RS256, RSA, Some("rsa-1"), &proveedor(extra));
    let largo = "x".repeat(SUB_MAX + 1);
    for extra in [
        json!({"sub": "idp\u{0}42"}),
        json!({"sub": largo}),
        json!({"sub": "  "}),
        json!({"sub": 42}),
        json!({"nombre": "Luc\u{1b}[31mía"}),
        json!({"rol": "AREA", "area": "T\u{0}I"}),
        json!({"rol": "AREA", "area": ["TI"]}),
    ] {
        assert_eq!(codigo(v.verificar(Some(&rs(extra.clone()))).await), "NO_AUTENTICADO", "{extra}");
    }
    let a = v.verificar(Some(&rs(json!({"nombre": "n".repeat(400)})))).await.unwrap();
    assert_eq!(a.nombre.chars().count(), NOMBRE_MAX);
}

/// Serves a key set over HTTP, counting fetches; the set can be swapped.
async fn servidor_jwks(set: Arc<RwLock<JwkSet>>, visitas: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/certs",
        axum::routing::get(move || {
            let set = set.clone();
            let visitas = visitas.clone();
            async move {
                visitas.fetch_add(1, Ordering::SeqCst);
                axum::Json(set.read().unwrap().clone())
            }
        }),
    );
    let escucha = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let direccion = escucha.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(escucha, app).await });
    format!("http://{direccion}/certs")
}

#[tokio::test]
async fn a_jwks_url_is_fetched_at_start_and_again_on_an_unknown_kid_at_most_once_a_minute() {
    let set = Arc::new(RwLock::new(JwkSet { keys: vec![jwk(Algorithm::RS256, RSA, "rsa-1")] }));
    let visitas = Arc::new(AtomicUsize::new(0));
    let mut s = ajustes();
    s.jwks_url = Some(servidor_jwks(set.clone(), visitas.clone()).await);
    let v = Verificador::new(&s).await.unwrap();
    assert_eq!(visitas.load(Ordering::SeqCst), 1, "fetched at start");
    let c = proveedor(json!({}));
    assert!(v.verificar(Some(&firmado(Algorithm::RS256, RSA, Some("rsa-1"), &c))).await.is_ok());
    assert_eq!(visitas.load(Ordering::SeqCst), 1, "a known kid is served from the cache");

    // The provider rotates in an EC key; but the start fetch was just now.
    set.write().unwrap().keys.push(jwk(Algorithm::ES256, EC, "ec-2"));
    let nuevo = firmado(Algorithm::ES256, EC, Some("ec-2"), &c);
    assert_eq!(codigo(v.verificar(Some(&nuevo)).await), "NO_AUTENTICADO");
    assert_eq!(visitas.load(Ordering::SeqCst), 1, "not refetched within a minute");

    // A minute later, the unknown kid refetches once and passes.
    *v.interno.jwks.as_ref().unwrap().ultima_descarga.lock().await = Instant::now().checked_sub(REFRESCO_MINIMO);
    assert!(v.verificar(Some(&nuevo)).await.is_ok());
    assert_eq!(visitas.load(Ordering::SeqCst), 2);
    for _ in 0..5 {
        let desconocido = firmado(Algorithm::ES256, EC, Some("ec-9"), &c);
        assert_eq!(codigo(v.verificar(Some(&desconocido)).await), "NO_AUTENTICADO");
    }
    assert_eq!(visitas.load(Ordering::SeqCst), 2, "a flood of unknown kids fetches nothing more");
}

#[tokio::test]
async fn an_unreachable_jwks_url_starts_with_no_keys_and_refuses_tokens() {
    let mut s = ajustes();
    s.jwks_url = Some("http://127.0.0.1:9/certs".into());
    let v = Verificador::new(&s).await.unwrap();
    let t = firmado(Algorithm::RS256, RSA, Some("rsa-1"), &proveedor(json!({})));
    assert_eq!(codigo(v.verificar(Some(&t)).await), "NO_AUTENTICADO");
}

#[tokio::test]
async fn a_jwks_file_that_cannot_be_read_or_parsed_stops_the_start() {
    let mut s = ajustes();
    s.jwks_file = Some("/no/existe/jwks.json".into());
    assert!(matches!(Verificador::new(&s).await, Err(ErrorAuth::Archivo { .. })));
    let archivo = archivo_temporal(b"{\"keys\": 7}");
    s.jwks_file = Some(archivo.0.clone());
    assert!(matches!(Verificador::new(&s).await, Err(ErrorAuth::Formato { .. })));
}

#[tokio::test]
async fn a_short_or_empty_secret_never_verifies_anything() {
    // Issue #11, item 2: an empty secret accepted tokens signed with the empty key.
    for corto in ["", "corto", &"x".repeat(JWT_SECRET_MIN_BYTES - 1)] {
        let mut s = ajustes();
        s.jwt_secret = Some(SecretString::from(corto.to_string()));
        assert!(matches!(Verificador::new(&s).await, Err(ErrorAuth::SecretoCorto)), "{corto:?}");
    }
    let mut s = ajustes();
    s.jwt_secret = None;
    assert!(Verificador::new(&s).await.is_ok(), "unset: the development secret, which is long enough");
}
