//! Erasure's copies (§11): after the batch statement wrote the erased
//! tickets' own state, every other place the worker put their requesters'
//! data loses it, in the same transaction.
//!
//! Recorded replies (`comandos.respuesta`) need nothing: no reply view
//! carries a requester's field (the end-to-end test searches every table).

use crate::domain::anonimizacion::{DatosPersonales, NOMBRE_ANONIMIZADO, TEXTO_ANONIMIZADO};
use crate::domain::estado::RolActor;
use sqlx::PgConnection;
use uuid::Uuid;

/// Erases the requesters' data of these tickets everywhere but their own
/// `cambia` columns (written by the batch statement): the personal columns
/// of the row, the requester's messages and name in the conversation, the
/// requester's name in history, and every outbox row of the ticket, sent or
/// not (an unsent one is then published anonymised). A fixed number of
/// statements however many tickets.
pub async fn borrar_copias(conn: &mut PgConnection, datos: &[DatosPersonales]) -> Result<(), sqlx::Error> {
    if datos.is_empty() {
        return Ok(());
    }
    let uuids: Vec<Uuid> = datos.iter().map(|d| d.ticket).collect();
    let usuario = RolActor::Usuario.as_str();
    sqlx::query(
        "UPDATE tickets SET solicitante_nombre = $2, solicitante_email = NULL, solicitante_telefono = NULL, \
         tiene_whatsapp = FALSE, documento = NULL, empresa_departamento = NULL, \
         asunto = CASE WHEN asunto IS NULL THEN NULL ELSE $3 END, descripcion = $3 WHERE uuid = ANY($1)",
    )
    .bind(&uuids)
    .bind(NOMBRE_ANONIMIZADO)
    .bind(TEXTO_ANONIMIZADO)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE mensajes SET autor_nombre = $2, texto = $3, adjuntos = '[]' \
         WHERE ticket_uuid = ANY($1) AND autor_rol = $4",
    )
    .bind(&uuids)
    .bind(NOMBRE_ANONIMIZADO)
    .bind(TEXTO_ANONIMIZADO)
    .bind(usuario)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE historial SET actor_nombre = $2 WHERE ticket_uuid = ANY($1) AND actor_rol = $3")
        .bind(&uuids)
        .bind(NOMBRE_ANONIMIZADO)
        .bind(usuario)
        .execute(&mut *conn)
        .await?;
    // The events are JSON text, each erased by the pure rule the domain
    // tests; only those that change are written back. Locked in `id` order,
    // as the pruning deletes them, so the two cannot deadlock. A row the
    // relay is publishing is waited for: once published it is erased too.
    let filas: Vec<(i64, Uuid, String)> = sqlx::query_as(
        "SELECT id, ticket_uuid, cuerpo::text FROM outbox WHERE ticket_uuid = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(&uuids)
    .fetch_all(&mut *conn)
    .await?;
    let (mut ids, mut cuerpos) = (Vec::new(), Vec::new());
    for (id, ticket, cuerpo) in filas {
        let (Some(d), Ok(mut valor)) =
            (datos.iter().find(|d| d.ticket == ticket), serde_json::from_str::<serde_json::Value>(&cuerpo))
        else {
            continue;
        };
        if d.borrar_de(&mut valor) {
            ids.push(id);
            cuerpos.push(valor.to_string());
        }
    }
    if !ids.is_empty() {
        sqlx::query(
            "UPDATE outbox SET cuerpo = v.cuerpo::json FROM unnest($1::int8[], $2::text[]) AS v(id, cuerpo) \
             WHERE outbox.id = v.id",
        )
        .bind(&ids)
        .bind(&cuerpos)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
