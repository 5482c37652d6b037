//! Test data: the docs' requester, bursts of commands, history reads.

use crate::cliente::Cliente;
use crate::tokens::token;
use mesa_ayuda::procesador::Mensaje;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

/// Publishes, without waiting, `pasos` commands per ticket, tickets
/// interleaved: asignar, then actualizar notes, then pausar. Returns the
/// correlation ids and, per ticket, the history `motivo`s expected in order.
pub async fn publicar_rafaga(cliente: &Cliente, tickets: &[String], pasos: usize) -> (Vec<String>, Vec<Vec<String>>) {
    publicar_pasos(cliente, tickets, 0..pasos, pasos).await
}

/// The steps `tramo` of a burst of `pasos` (so a test can act between parts).
pub async fn publicar_pasos(
    cliente: &Cliente,
    tickets: &[String],
    tramo: std::ops::Range<usize>,
    pasos: usize,
) -> (Vec<String>, Vec<Vec<String>>) {
    let auth = format!("Bearer {}", token("MESA", None));
    let mut correlaciones = vec![];
    let mut esperado: Vec<Vec<String>> = vec![vec![]; tickets.len()];
    for paso in tramo {
        for (i, t) in tickets.iter().enumerate() {
            let (op, cuerpo) = match paso {
                0 => ("asignar", json!({"ticketId": t, "motivo": "inicio"})),
                p if p == pasos - 1 => ("pausar", json!({"ticketId": t, "motivo": "fin"})),
                n => ("actualizar", json!({"ticketId": t, "nota": format!("nota {n}")})),
            };
            esperado[i].push(cuerpo.get("motivo").or(cuerpo.get("nota")).unwrap().as_str().unwrap().to_string());
            let id = Uuid::new_v4().to_string();
            correlaciones.push(
                cliente.publicar(&format!("ticket.{op}"), cuerpo.to_string().as_bytes(), Some(&id), Some(&auth)).await,
            );
        }
    }
    (correlaciones, esperado)
}

/// A ticket's history `motivo`s after creation, in the order applied.
pub async fn motivos(pool: &PgPool, ticket: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT motivo FROM historial WHERE ticket_uuid = $1::uuid AND accion <> 'CREACION' ORDER BY id")
        .bind(ticket)
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The Mesa de Ayuda docs' example requester.
pub fn ana_garcia() -> Value {
    json!({
        "nombre": "Ana García",
        "email": "ana.garcia@empresa.com",
        "telefono": "+573001234567",
        "tieneWhatsapp": true,
        "documento": "12345678",
        "empresaDepartamento": "Recursos Humanos",
        "tipo": "INCIDENTE",
        "categoria": "Sistemas",
        "subcategoria": "Correo electrónico",
        "asunto": "No puedo acceder a mi correo corporativo",
        "descripcion": "Desde esta mañana no puedo iniciar sesión en Outlook. Aparece el error 403 Forbidden.",
        "prioridad": "ALTA",
        "areaAsignada": "MESA"
    })
}

/// A contract date (RFC 3339) read from JSON.
pub fn fecha(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap_or_else(|| panic!("not a date: {v}"))).unwrap().to_utc()
}

/// A command as the consumer hands it to the processor, no broker involved.
pub fn mensaje(op: &str, cuerpo: Value, message_id: Option<&str>, auth: Option<&str>) -> Mensaje {
    Mensaje {
        routing_key: format!("ticket.{op}"),
        message_id: message_id.map(str::to_string),
        authorization: auth.map(str::to_string),
        body: cuerpo.to_string().into_bytes(),
        ..Default::default()
    }
}
