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
