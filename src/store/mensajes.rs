//! The conversation's rows (`mensajes`, contract §10): staged by a batch in
//! its one statement, read back oldest first.

use super::unnest::Unnest;
use crate::domain::conversacion::{Adjunto, MensajeConversacion, Visibilidad};
use crate::domain::estado::RolActor;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

/// `mensajes_nuevos`: the batch's messages, in batch order (`ORDER BY ord`),
/// so their ids follow the order they were written in.
pub(super) fn insertar_mensajes(qb: &mut QueryBuilder<Postgres>, mensajes: Vec<(Uuid, MensajeConversacion)>) {
    let n = mensajes.len();
    let (mut uuid, mut ticket, mut fecha, mut nombre, mut rol, mut visibilidad, mut texto, mut adjuntos) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (t, m) in mensajes {
        uuid.push(m.uuid);
        ticket.push(t);
        fecha.push(m.fecha);
        nombre.push(m.autor_nombre);
        rol.push(m.autor_rol.as_str());
        visibilidad.push(m.visibilidad.as_str());
        texto.push(m.texto);
        adjuntos.push(adjuntos_json(&m.adjuntos));
    }
    qb.push(
        ", mensajes_nuevos AS ( \
           INSERT INTO mensajes (uuid, ticket_uuid, fecha, autor_nombre, autor_rol, visibilidad, texto, adjuntos) \
           SELECT uuid, ticket_uuid, fecha, autor_nombre, autor_rol, visibilidad, texto, adjuntos::jsonb FROM ",
    );
    Unnest::new(qb)
        .columna("uuid", uuid, "uuid")
        .columna("ticket_uuid", ticket, "uuid")
        .columna("fecha", fecha, "timestamptz")
        .columna("autor_nombre", nombre, "text")
        .columna("autor_rol", rol, "text")
        .columna("visibilidad", visibilidad, "text")
        .columna("texto", texto, "text")
        .columna("adjuntos", adjuntos, "text")
        .cerrar("m", true);
    qb.push(" ORDER BY ord )");
}

/// Attachment references as the JSON array stored. Plain data: writing it
/// to memory cannot fail, the same assumption `json!` makes.
fn adjuntos_json(adjuntos: &[Adjunto]) -> String {
    serde_json::to_string(adjuntos).unwrap_or_else(|_| "[]".to_string())
}

#[derive(sqlx::FromRow)]
struct MensajeRow {
    /// How many messages the query matched, beyond the page too.
    total: i64,
    uuid: Uuid,
    fecha: DateTime<Utc>,
    autor_nombre: String,
    autor_rol: String,
    visibilidad: String,
    texto: String,
    adjuntos: sqlx::types::Json<Vec<Adjunto>>,
}

/// A stored message the domain cannot read (a value no migration allows).
#[derive(Debug, thiserror::Error)]
#[error("fila de mensaje inválida: {0}")]
struct MensajeInvalido(String);

impl TryFrom<MensajeRow> for MensajeConversacion {
    type Error = MensajeInvalido;
    fn try_from(r: MensajeRow) -> Result<MensajeConversacion, MensajeInvalido> {
        Ok(MensajeConversacion {
            uuid: r.uuid,
            fecha: r.fecha,
            autor_nombre: r.autor_nombre,
            autor_rol: RolActor::parse(&r.autor_rol).ok_or_else(|| MensajeInvalido(r.autor_rol.clone()))?,
            visibilidad: Visibilidad::parse(&r.visibilidad).ok_or_else(|| MensajeInvalido(r.visibilidad.clone()))?,
            texto: r.texto,
            adjuntos: r.adjuntos.0,
        })
    }
}

/// A ticket's conversation as a reply shows it: its latest messages,
/// oldest first, and how many older ones were left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conversacion {
    /// At most `MENSAJES_POR_RESPUESTA`, oldest first.
    pub mensajes: Vec<MensajeConversacion>,
    /// The older messages not in `mensajes`.
    pub omitidos: u64,
}

/// A ticket's latest `limite` messages, oldest first, and how many older
/// ones there are; only its PUBLICO messages when `solo_publicos` (what the
/// requester may see). Both walk `mensajes_por_ticket`, in one statement.
pub async fn conversacion(
    conn: &mut PgConnection,
    ticket: Uuid,
    solo_publicos: bool,
    limite: usize,
) -> Result<Conversacion, sqlx::Error> {
    let rows: Vec<MensajeRow> = sqlx::query_as(
        "SELECT (SELECT count(*) FROM mensajes WHERE ticket_uuid = $1 AND (NOT $2 OR visibilidad = 'PUBLICO')) AS total, \
                uuid, fecha, autor_nombre, autor_rol, visibilidad, texto, adjuntos \
         FROM (SELECT id, uuid, fecha, autor_nombre, autor_rol, visibilidad, texto, adjuntos FROM mensajes \
               WHERE ticket_uuid = $1 AND (NOT $2 OR visibilidad = 'PUBLICO') ORDER BY id DESC LIMIT $3) m \
         ORDER BY id",
    )
    .bind(ticket)
    .bind(solo_publicos)
    .bind(super::limite_sql(limite))
    .fetch_all(conn)
    .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let mensajes = rows
        .into_iter()
        .map(|r| MensajeConversacion::try_from(r).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .collect::<Result<Vec<_>, _>>()?;
    // Never negative: the count and the page are one statement's snapshot.
    let omitidos = u64::try_from(total).unwrap_or(0).saturating_sub(mensajes.len() as u64);
    Ok(Conversacion { mensajes, omitidos })
}
