//! Authentication, the role matrix and AREA scoping.

use crate::helpers::*;
use serde_json::{Value, json};

/// Contract §2, written out independently of the code.
const MATRIZ: &[(&str, &[&str])] = &[
    ("asignar", &["ADMIN", "MESA"]),
    ("transferir", &["ADMIN", "MESA"]),
    ("reclasificar", &["ADMIN", "MESA"]),
    ("reabrir", &["ADMIN", "MESA"]),
    ("pausar", &["ADMIN", "MESA", "AREA"]),
    ("actualizar", &["ADMIN", "MESA", "AREA"]),
    ("cancelar", &["ADMIN", "MESA", "AREA"]),
    ("archivar", &["ADMIN", "MESA", "AREA"]),
    ("detalle", &["ADMIN", "MESA", "AREA"]),
    ("catalogo", &["ADMIN", "MESA", "AREA"]),
];

fn cuerpo(op: &str, id: &str) -> Value {
    json!({"ticketId": id, "motivo": "m", "nota": "n", "area": "OTRA", "tipo": "QUEJA"})
        .as_object()
        .map(|o| {
            let mut o = o.clone();
            if op == "reclasificar" {
                o.remove("area");
            }
            Value::Object(o)
        })
        .unwrap()
}

#[tokio::test]
async fn every_role_times_every_operation() {
    let mut app = TestApp::spawn().await;
    // Tickets in area MESA; the AREA actor belongs to MESA, so only its role limits it.
    for (op, roles) in MATRIZ {
        for rol in ["ADMIN", "MESA", "AREA"] {
            let id = app.ticket_en("ASIGNADO").await;
            let area = (rol == "AREA").then_some("MESA");
            let r = app.enviar(op, cuerpo(op, &id), Some(&token(rol, area))).await;
            if roles.contains(&rol) {
                assert_ne!(r["error"]["codigo"], "PROHIBIDO", "{rol} {op}: {r}");
                assert_ne!(r["error"]["codigo"], "NO_AUTENTICADO", "{rol} {op}: {r}");
            } else {
                assert_eq!(r["error"]["codigo"], "PROHIBIDO", "{rol} {op}: {r}");
                assert_eq!(r["error"]["http"], 403);
                assert_eq!(app.contar_de("SELECT count(*) FROM historial WHERE ticket_uuid = $1::uuid", &id).await, 2);
            }
        }
    }
}

#[tokio::test]
async fn area_actors_act_only_inside_their_area() {
    let mut app = TestApp::spawn().await;
    let dentro = token("AREA", Some("MESA"));
    let fuera = token("AREA", Some("TI"));
    for op in ["pausar", "actualizar", "cancelar", "archivar", "detalle"] {
        let id = app.ticket_en("ASIGNADO").await;
        let fila = app.fila(&id).await;
        let r = app.enviar(op, cuerpo(op, &id), Some(&fuera)).await;
        assert_eq!(r["error"]["codigo"], "PROHIBIDO", "{op}: {r}");
        assert_eq!(app.fila(&id).await, fila);
        let r = app.enviar(op, cuerpo(op, &id), Some(&dentro)).await;
        assert_eq!(r["ok"], true, "{op}: {r}");
    }
    // Identity comes from the token: the body cannot claim another area or role.
    let id = app.ticket_en("ASIGNADO").await;
    let r = app
        .enviar("pausar", json!({"ticketId": id, "motivo": "m", "rol": "ADMIN", "area": "MESA"}), Some(&fuera))
        .await;
    assert_eq!(r["error"]["codigo"], "PROHIBIDO", "{r}");
    let r = app.enviar("pausar", json!({"ticketId": id, "motivo": "m"}), Some(&dentro)).await;
    let d = app.enviar("detalle", json!({"ticketId": id}), Some(&dentro)).await;
    assert_eq!(r["ok"], true);
    let ultimo = d["datos"]["historial"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(ultimo["actor_rol"], "AREA");
    assert_eq!(ultimo["actor_nombre"], "Agente AREA");
}

#[tokio::test]
async fn missing_expired_forged_and_malformed_tokens_are_refused() {
    let mut app = TestApp::spawn().await;
    let id = app.ticket_en("ASIGNADO").await;
    let body = json!({"ticketId": id, "motivo": "m"});
    let casos: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("expired", Some(format!("Bearer {}", token_con("MESA", None, -3600, SECRETO)))),
        ("wrong signature", Some(format!("Bearer {}", token_con("MESA", None, 3600, "otro-secreto")))),
        ("malformed", Some("Bearer abc.def.ghi".into())),
        ("no bearer", Some(token("MESA", None))),
    ];
    for (caso, auth) in casos {
        let c = app
            .cliente
            .publicar(
                "ticket.pausar",
                body.to_string().as_bytes(),
                Some(&uuid::Uuid::new_v4().to_string()),
                auth.as_deref(),
            )
            .await;
        let r = app.cliente.respuesta(&c).await;
        assert_eq!(r["error"]["codigo"], "NO_AUTENTICADO", "{caso}: {r}");
        assert_eq!(r["error"]["http"], 401);
    }
    let fila = app.fila(&id).await;
    assert_eq!(fila["estado"], "ASIGNADO");
}

/// A token with a claim set the worker accepts, signed as given.
fn firmado(cabecera: &jsonwebtoken::Header, clave: &jsonwebtoken::EncodingKey) -> String {
    let claims =
        json!({"sub": "mesa-1", "nombre": "Agente MESA", "rol": "MESA", "exp": chrono::Utc::now().timestamp() + 3600});
    jsonwebtoken::encode(cabecera, &claims, clave).unwrap()
}

/// Issue #25, item 4: an HS256 token whose header says
/// `"crit": ["x-desconocida"]` was accepted (RFC 7515 §4.1.11: it must be
/// refused, and the worker implements no extension).
#[tokio::test]
async fn a_token_with_critical_extensions_is_refused() {
    let mut app = TestApp::spawn().await;
    let hs = jsonwebtoken::EncodingKey::from_secret(SECRETO.as_bytes());
    let sin = firmado(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &hs);
    let r = app.enviar("catalogo", json!({}), Some(&sin)).await;
    assert_eq!(r["ok"], true, "the same token without crit passes: {r}");
    for crit in [vec!["x-desconocida".to_string()], vec!["exp".to_string()], vec![]] {
        let mut cabecera = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        cabecera.crit = Some(crit.clone());
        let r = app.enviar("catalogo", json!({}), Some(&firmado(&cabecera, &hs))).await;
        assert_eq!(r["error"]["codigo"], "NO_AUTENTICADO", "crit {crit:?}: {r}");
    }
}

/// Issue #25, item 4: the header's `jku`, `x5u`, `jwk` and `x5c` are never
/// used to find a key. A token signed with a key of its own, pointing at a
/// server that would serve that key, is refused, and the server sees
/// nothing.
#[tokio::test]
async fn a_token_never_makes_the_worker_fetch_or_trust_its_own_keys() {
    let servidor = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", servidor.local_addr().unwrap());
    let visitas = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let v = visitas.clone();
    let escucha = tokio::spawn(async move {
        while let Ok((mut c, _)) = servidor.accept().await {
            v.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            use tokio::io::AsyncWriteExt;
            let _ = c.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await;
        }
    });
    let mut app = TestApp::spawn().await;
    let pem = include_bytes!("../fixtures/claves/rsa-ajena.pem");
    let ajena = jsonwebtoken::EncodingKey::from_rsa_pem(pem).unwrap();
    let publica = jsonwebtoken::jwk::Jwk::from_encoding_key(&ajena, jsonwebtoken::Algorithm::RS256).unwrap();
    let mut cabecera = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    cabecera.kid = Some("ajena".into());
    cabecera.jku = Some(url.clone());
    cabecera.x5u = Some(url.clone());
    cabecera.jwk = Some(publica);
    cabecera.x5c = Some(vec!["MIIB".into()]);
    let rs = firmado(&cabecera, &ajena);
    // The same pointers on an HS256 token signed with a secret not ours.
    let mut hs_cabecera = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_cabecera.jku = Some(url.clone());
    hs_cabecera.x5u = Some(url);
    let hs = firmado(&hs_cabecera, &jsonwebtoken::EncodingKey::from_secret(b"otro-secreto-de-treinta-y-dos-bytes!"));
    for t in [rs, hs] {
        let r = app.enviar("catalogo", json!({}), Some(&t)).await;
        assert_eq!(r["error"]["codigo"], "NO_AUTENTICADO", "{r}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(visitas.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing was fetched from the token's URLs");
    escucha.abort();
}
