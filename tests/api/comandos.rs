//! Every operation's happy path, the full state × operation matrix,
//! validation, and the public lookup.

use crate::helpers::*;
use chrono::{Datelike, TimeDelta, Utc};
use serde_json::{Value, json};

const MUTACIONES: [&str; 8] =
    ["asignar", "transferir", "reclasificar", "pausar", "reabrir", "actualizar", "cancelar", "archivar"];

/// A valid body for each mutation on ticket `id`.
fn cuerpo_valido(op: &str, id: &str) -> Value {
    let mut c = match op {
        "asignar" => json!({"agente": "Luis Pérez", "motivo": "primer nivel"}),
        "transferir" => json!({"area": "INFRAESTRUCTURA", "motivo": "es de red"}),
        "reclasificar" => json!({"motivo": "era urgente", "prioridad": "critica"}),
        "pausar" => json!({"motivo": "esperando al usuario"}),
        "reabrir" => json!({"motivo": "el usuario respondió"}),
        "actualizar" => json!({"nota": "Se reinició la cuenta", "respuestaCliente": "Ya puede ingresar"}),
        "cancelar" => json!({"motivo": "duplicado"}),
        "archivar" => json!({"motivo": "resuelto"}),
        _ => unreachable!(),
    };
    c["ticketId"] = json!(id);
    c
}

#[tokio::test]
async fn crear_answers_every_contract_field() {
    let mut app = TestApp::spawn().await;
    let antes = Utc::now() - TimeDelta::seconds(1);
    let r = app.enviar("crear", ana_garcia(), None).await;
    assert_eq!(r["ok"], true, "{r}");
    let d = &r["datos"];
    uuid::Uuid::parse_str(d["ticketUuid"].as_str().unwrap()).unwrap();
    let label = d["ticketLabel"].as_str().unwrap();
    assert_eq!(label, format!("TKT-{}-00001", Utc::now().year()));
    assert_eq!(d["estado"], "NUEVO");
    assert_eq!(d["tipo"], "INCIDENTE");
    assert_eq!(d["prioridad"], "ALTA");
    assert_eq!(d["slaHoras"], 4.0);
    let creado = fecha(&d["fechaCreacion"]);
    assert!(creado >= antes && creado <= Utc::now());
    assert_eq!(fecha(&d["fechaLimiteSla"]) - creado, TimeDelta::hours(4));
    assert!(d["mensaje"].as_str().unwrap().len() > 5);
    // v1.1 (§6.1): no first-response target and no policy by default.
    assert_eq!((&d["fechaLimitePrimeraRespuesta"], &d["slaPolitica"]), (&json!(null), &json!(null)), "{d}");
    assert_eq!(d.as_object().unwrap().len(), 11, "exactly the contract's fields: {d}");

    // Labels number tickets globally.
    let r2 = app.crear().await;
    assert_eq!(r2["ticketLabel"], format!("TKT-{}-00002", Utc::now().year()));
}

#[tokio::test]
async fn priority_is_case_insensitive_and_defaults_apply() {
    let mut app = TestApp::spawn().await;
    let mut c = ana_garcia();
    c["prioridad"] = json!("critica");
    c.as_object_mut().unwrap().remove("areaAsignada");
    c.as_object_mut().unwrap().remove("tieneWhatsapp");
    let d = app.enviar("crear", c, None).await["datos"].clone();
    assert_eq!(d["prioridad"], "CRITICA");
    assert_eq!(d["slaHoras"], 2.0);
    let detalle = app.enviar("detalle", json!({"ticketId": d["ticketUuid"]}), Some(&token("ADMIN", None))).await;
    assert_eq!(detalle["datos"]["ticket"]["area_asignada"], "MESA");
    assert_eq!(detalle["datos"]["solicitante"]["tieneWhatsapp"], false);
}

#[tokio::test]
async fn every_mutation_happy_path_reply_and_history() {
    let mut app = TestApp::spawn().await;
    let mesa = token("MESA", None);
    let creado = app.crear().await;
    let id = creado["ticketUuid"].as_str().unwrap().to_string();
    let limite_inicial = fecha(&creado["fechaLimiteSla"]);
    let pasos = [
        ("asignar", "NUEVO", "ASIGNADO", "MESA", "ALTA"),
        ("actualizar", "ASIGNADO", "ACTUALIZADO", "MESA", "ALTA"),
        ("pausar", "ACTUALIZADO", "PAUSADO", "MESA", "ALTA"),
        ("reabrir", "PAUSADO", "ASIGNADO", "MESA", "ALTA"),
        ("reclasificar", "ASIGNADO", "RECLASIFICADO", "MESA", "CRITICA"),
        ("asignar", "RECLASIFICADO", "ASIGNADO", "MESA", "CRITICA"),
        ("transferir", "ASIGNADO", "TRANSFERIDO", "INFRAESTRUCTURA", "CRITICA"),
        ("asignar", "TRANSFERIDO", "ASIGNADO", "INFRAESTRUCTURA", "CRITICA"),
        ("cancelar", "ASIGNADO", "CANCELADO", "INFRAESTRUCTURA", "CRITICA"),
    ];
    for (i, (op, antes, despues, area, prioridad)) in pasos.iter().enumerate() {
        let r = app.enviar(op, cuerpo_valido(op, &id), Some(&mesa)).await;
        assert_eq!(r["ok"], true, "{op}: {r}");
        let d = &r["datos"];
        assert_eq!(d["ticketUuid"], id.as_str());
        assert_eq!(d["ticketLabel"], creado["ticketLabel"]);
        assert_eq!(d["estadoAnterior"], *antes, "{op}");
        assert_eq!(d["estado"], *despues, "{op}");
        assert_eq!(d["areaAsignada"], *area, "{op}");
        assert_eq!(d["prioridad"], *prioridad, "{op}");
        assert_eq!(d["version"], (i + 2) as i64, "{op}");
        fecha(&d["fechaLimiteSla"]);
        let esperado_sla = match *despues {
            "PAUSADO" => "PAUSADO",
            "CANCELADO" => "CUMPLIDO",
            _ => "EN_TIEMPO",
        };
        assert_eq!(d["slaEstado"], esperado_sla, "{op}");
        for campo in ["fechaLimitePrimeraRespuesta", "slaPrimeraRespuesta", "slaPolitica"] {
            assert_eq!(d[campo], json!(null), "{op}: v1.1 fields, null by default: {d}");
        }
        assert_eq!(d.as_object().unwrap().len(), 12, "{op}: {d}");
        if *op == "reclasificar" {
            // Recomputed from creation with the new 2h target, plus the pause.
            let nuevo = fecha(&d["fechaLimiteSla"]);
            assert!(nuevo < limite_inicial, "a shorter target moves the deadline earlier");
            assert!(nuevo - fecha(&creado["fechaCreacion"]) >= TimeDelta::hours(2));
        }
    }

    let d = app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await;
    assert_eq!(d["ok"], true, "{d}");
    let historial = d["datos"]["historial"].as_array().unwrap();
    let acciones: Vec<&str> = historial.iter().map(|h| h["accion"].as_str().unwrap()).collect();
    assert_eq!(
        acciones,
        [
            "CREACION",
            "ASIGNACION",
            "ACTUALIZACION",
            "PAUSA",
            "REAPERTURA",
            "RECLASIFICACION",
            "ASIGNACION",
            "TRANSFERENCIA",
            "ASIGNACION",
            "CANCELACION"
        ]
    );
    assert_eq!(historial[0]["actor_rol"], "USUARIO");
    assert_eq!(historial[0]["actor_nombre"], "Ana García");
    assert_eq!(historial[1]["actor_rol"], "MESA");
    assert_eq!(historial[1]["actor_nombre"], "Agente MESA");
    assert_eq!(historial[2]["motivo"], "Se reinició la cuenta", "actualizar records its nota");
    assert_eq!(historial[5]["prioridad_antes"], "ALTA");
    assert_eq!(historial[5]["prioridad_despues"], "CRITICA");
    assert_eq!(historial[7]["area_antes"], "MESA");
    assert_eq!(historial[7]["area_despues"], "INFRAESTRUCTURA");
    assert_eq!(historial[7]["motivo"], "es de red");
    for h in historial.windows(2) {
        assert_eq!(h[1]["estado_antes"], h[0]["estado_despues"]);
        assert!(fecha(&h[1]["fecha"]) >= fecha(&h[0]["fecha"]));
    }
    let t = &d["datos"]["ticket"];
    assert_eq!(t["estado"], "CANCELADO");
    assert_eq!(t["sla_estado"], "CUMPLIDO");
    assert_eq!(t["version"], 10);
    assert_eq!(t["agente_asignado"], "Luis Pérez");
    assert_eq!(t["respuesta_cliente"], "Ya puede ingresar");
    assert_eq!(d["datos"]["solicitante"]["email"], "ana.garcia@empresa.com");

    // archivar on a second ticket.
    let otro = app.ticket_en("ASIGNADO").await;
    let r = app.enviar("archivar", json!({"ticketId": otro}), Some(&mesa)).await;
    assert_eq!(r["datos"]["estado"], "ARCHIVADO", "{r}");
    assert_eq!(r["datos"]["slaEstado"], "CUMPLIDO");
}

#[tokio::test]
async fn every_state_times_every_operation() {
    let mut app = TestApp::spawn().await;
    let admin = token("ADMIN", None);
    let legal: &[(&str, &[&str])] = &[
        ("NUEVO", &["asignar"]),
        ("ASIGNADO", &["transferir", "reclasificar", "pausar", "actualizar", "cancelar", "archivar"]),
        ("ACTUALIZADO", &["transferir", "reclasificar", "pausar", "actualizar", "cancelar", "archivar"]),
        ("PAUSADO", &["reabrir"]),
        ("TRANSFERIDO", &["asignar"]),
        ("RECLASIFICADO", &["asignar"]),
        ("CANCELADO", &[]),
        ("ARCHIVADO", &[]),
    ];
    for (estado, permitidas) in legal {
        // One ticket per state for all refused operations, a fresh one per legal move.
        let id = app.ticket_en(estado).await;
        for op in MUTACIONES {
            if permitidas.contains(&op) {
                let fresco = app.ticket_en(estado).await;
                let r = app.enviar(op, cuerpo_valido(op, &fresco), Some(&admin)).await;
                assert_eq!(r["ok"], true, "{op} desde {estado}: {r}");
                assert_eq!(r["datos"]["estadoAnterior"], *estado);
            } else {
                let fila = app.fila(&id).await;
                let historia = app.contar_de("SELECT count(*) FROM historial WHERE ticket_uuid = $1::uuid", &id).await;
                let r = app.enviar(op, cuerpo_valido(op, &id), Some(&admin)).await;
                assert_eq!(r["ok"], false, "{op} desde {estado} debía fallar");
                assert_eq!(r["error"]["codigo"], "TRANSICION_INVALIDA", "{op} desde {estado}: {r}");
                assert_eq!(r["error"]["http"], 409);
                assert!(r["error"]["mensaje"].as_str().unwrap().contains(estado), "{r}");
                assert_eq!(app.fila(&id).await, fila, "{op} desde {estado} cambió la fila");
                assert_eq!(
                    app.contar_de("SELECT count(*) FROM historial WHERE ticket_uuid = $1::uuid", &id).await,
                    historia
                );
            }
        }
    }
}

#[tokio::test]
async fn validation_lists_every_broken_field() {
    let mut app = TestApp::spawn().await;
    let r = app
        .enviar(
            "crear",
            json!({"nombre": "Al", "email": "no", "tipo": "OTRO", "descripcion": "corta", "telefono": 5}),
            None,
        )
        .await;
    assert_eq!(r["error"]["codigo"], "VALIDACION", "{r}");
    assert_eq!(r["error"]["http"], 422);
    let mut campos: Vec<&str> =
        r["error"]["campos"].as_array().unwrap().iter().map(|c| c["campo"].as_str().unwrap()).collect();
    campos.sort();
    assert_eq!(campos, ["categoria", "descripcion", "email", "nombre", "prioridad", "telefono", "tipo"]);
    assert_eq!(app.contar("SELECT count(*) FROM tickets").await, 0);

    let mesa = token("MESA", None);
    let id = app.ticket_en("ASIGNADO").await;
    let r = app.enviar("transferir", json!({"ticketId": id, "area": "mesa", "motivo": "x"}), Some(&mesa)).await;
    assert_eq!(r["error"]["codigo"], "VALIDACION", "{r}");
    assert_eq!(r["error"]["campos"][0]["campo"], "area");
    let r = app.enviar("reclasificar", json!({"ticketId": id, "motivo": "x", "prioridad": "YA"}), Some(&mesa)).await;
    assert_eq!(r["error"]["campos"][0]["campo"], "prioridad", "{r}");
    let r = app.enviar("asignar", json!({"ticketId": "no-es-uuid"}), Some(&mesa)).await;
    assert_eq!(r["error"]["campos"][0]["campo"], "ticketId", "{r}");
    let r = app.enviar("asignar", json!({"ticketId": uuid::Uuid::new_v4()}), Some(&mesa)).await;
    assert_eq!(r["error"]["codigo"], "NO_ENCONTRADO", "{r}");
    assert_eq!(r["error"]["http"], 404);
}

#[tokio::test]
async fn consultar_shows_the_requester_view_and_hides_label_existence() {
    let mut app = TestApp::spawn().await;
    let creado = app.crear().await;
    let label = creado["ticketLabel"].as_str().unwrap();
    let id = creado["ticketUuid"].as_str().unwrap();
    let mesa = token("MESA", None);
    app.enviar("asignar", json!({"ticketId": id}), Some(&mesa)).await;
    app.enviar(
        "actualizar",
        json!({"ticketId": id, "nota": "interna", "respuestaCliente": "Revise ahora"}),
        Some(&mesa),
    )
    .await;

    let r =
        app.enviar("consultar", json!({"label": label.to_lowercase(), "email": "ANA.GARCIA@empresa.com"}), None).await;
    assert_eq!(r["ok"], true, "{r}");
    let d = &r["datos"];
    let campos = [
        "ticketUuid",
        "ticketLabel",
        "ticketNum",
        "solicitanteNombre",
        "solicitanteEmail",
        "solicitanteTel",
        "tieneWhatsapp",
        "documento",
        "empresaDepartamento",
        "tipoSolicitud",
        "categoria",
        "subcategoria",
        "asunto",
        "descripcionProblema",
        "respuestaCliente",
        "areaAsignada",
        "prioridadNombre",
        "estadoNombre",
        "creadoEn",
        "actualizadoEn",
        "ultimaFechaHistorial",
        "ultimaAccion",
        "ultimoMotivo",
        "ultimoActorNombre",
        "ultimoActorRol",
        "slaHoras",
        "fechaLimiteSla",
        "slaEstado",
        "fechaLimitePrimeraRespuesta",
        "slaPrimeraRespuesta",
        "slaPolitica",
        // v1.2 (§10): the public thread, and how many older messages it left out.
        "conversacion",
        "mensajesOmitidos",
    ];
    for c in campos {
        assert!(d.get(c).is_some(), "falta {c}");
    }
    assert_eq!(d.as_object().unwrap().len(), campos.len());
    assert_eq!(d["ticketNum"], 1);
    assert_eq!(d["solicitanteTel"], "+573001234567");
    assert_eq!(d["estadoNombre"], "ACTUALIZADO");
    assert_eq!(d["respuestaCliente"], "Revise ahora");
    assert_eq!(d["ultimaAccion"], "ACTUALIZACION");
    assert_eq!(d["ultimoMotivo"], "interna");
    assert_eq!(d["ultimoActorRol"], "MESA");
    assert_eq!(d["slaEstado"], "EN_TIEMPO");

    let email_errado = app.enviar("consultar", json!({"label": label, "email": "otro@empresa.com"}), None).await;
    let label_inexistente =
        app.enviar("consultar", json!({"label": "TKT-2026-99999", "email": "ana.garcia@empresa.com"}), None).await;
    assert_eq!(email_errado["error"]["codigo"], "NO_ENCONTRADO");
    assert_eq!(email_errado, label_inexistente, "the two refusals must be indistinguishable");
}

#[tokio::test]
async fn pausing_stops_the_clock_until_reopened() {
    let mut app = TestApp::spawn().await;
    let mesa = token("MESA", None);
    let id = app.ticket_en("PAUSADO").await;
    let limite = fecha(
        &app.enviar("detalle", json!({"ticketId": id}), Some(&mesa)).await["datos"]["ticket"]["fecha_limite_sla"],
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = app.enviar("reabrir", json!({"ticketId": id}), Some(&mesa)).await;
    let nuevo = fecha(&r["datos"]["fechaLimiteSla"]);
    assert!(nuevo - limite >= TimeDelta::milliseconds(300), "deadline moved by the pause: {limite} -> {nuevo}");
}

#[tokio::test]
async fn catalogo_describes_the_workflow() {
    let mut app = TestApp::spawn().await;
    let r = app.enviar("catalogo", json!({}), Some(&token("AREA", Some("TI")))).await;
    assert_eq!(r["ok"], true, "{r}");
    let d = &r["datos"];
    assert_eq!(d["estados"].as_array().unwrap().len(), 8);
    assert_eq!(d["tipos"].as_array().unwrap().len(), 7);
    let alta = d["prioridades"].as_array().unwrap().iter().find(|p| p["nombre"] == "ALTA").unwrap();
    assert_eq!(alta["slaHoras"], 4.0);
    assert!(
        d["transiciones"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["desde"] == "PAUSADO" && t["operacion"] == "reabrir" && t["hacia"] == "ASIGNADO")
    );
    let r = app.enviar("catalogo", json!({}), None).await;
    assert_eq!(r["error"]["codigo"], "NO_AUTENTICADO");
}

/// The kit checks every reply and event against the published schemas; this
/// shows the check refuses what drifts from them (a missing field, a state
/// the document does not list), so the suite's silence means conformance.
#[tokio::test]
async fn replies_and_events_that_drift_from_the_published_schemas_are_refused() {
    let mut app = TestApp::spawn().await;
    let r = app.enviar("crear", ana_garcia(), None).await;
    assert_eq!(r["ok"], true, "{r}");
    let (_, tipo, evento) = app.cliente.evento(std::time::Duration::from_secs(10)).await.expect("ticket.creado");
    assert_eq!(tipo, "ticket.creado");
    // What the worker sent conforms.
    validar_respuesta("ticket.crear", &r);
    validar_evento(&tipo, &evento);

    let mut sin_label = r.clone();
    sin_label["datos"].as_object_mut().unwrap().remove("ticketLabel");
    let mut otro_estado = evento.clone();
    otro_estado["data"]["ticket"]["estado"] = json!("ABIERTO");
    let mut fecha_mala = evento.clone();
    fecha_mala["time"] = json!("ayer");
    let mut datos_de_otra_operacion = r.clone();
    datos_de_otra_operacion["datos"] = json!({"items": [], "siguienteCursor": null});
    for (que, caso) in [
        ("a reply without ticketLabel", std::panic::catch_unwind(|| validar_respuesta("ticket.crear", &sin_label))),
        ("an unknown state", std::panic::catch_unwind(|| validar_evento("ticket.creado", &otro_estado))),
        ("a time that is not a date", std::panic::catch_unwind(|| validar_evento("ticket.creado", &fecha_mala))),
        (
            "listar's datos for crear",
            std::panic::catch_unwind(|| validar_respuesta("ticket.crear", &datos_de_otra_operacion)),
        ),
    ] {
        assert!(caso.is_err(), "{que} passed the schema check");
    }
}
