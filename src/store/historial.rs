//! History entries as stored and read back.

use super::tickets::FilaInvalida;
use crate::domain::estado::RolActor;
use crate::domain::ticket::Historial;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct HistorialRow {
    fecha: DateTime<Utc>,
    accion: String,
    motivo: Option<String>,
    actor_id: Option<String>,
    actor_nombre: String,
    actor_rol: String,
    estado_antes: Option<String>,
    estado_despues: String,
    prioridad_antes: Option<String>,
    prioridad_despues: Option<String>,
    area_antes: Option<String>,
    area_despues: Option<String>,
    interno: bool,
}

/// A stored history entry, as read back (accion as text).
#[derive(Debug, Clone)]
pub struct HistorialLeido {
    /// When it happened.
    pub fecha: DateTime<Utc>,
    /// What happened (`CREADO`, `ASIGNADO`, ...).
    pub accion: String,
    /// The actor's reason, if any.
    pub motivo: Option<String>,
    /// The actor's `sub`; none for the system.
    pub actor_id: Option<String>,
    /// The actor's display name.
    pub actor_nombre: String,
    /// Parsed once, here, where rows are read.
    pub actor_rol: RolActor,
    /// State before; none on creation.
    pub estado_antes: Option<String>,
    /// State after.
    pub estado_despues: String,
    /// Priority before, if it changed.
    pub prioridad_antes: Option<String>,
    /// Priority after, if it changed.
    pub prioridad_despues: Option<String>,
    /// Area before, if it changed.
    pub area_antes: Option<String>,
    /// Area after, if it changed.
    pub area_despues: Option<String>,
    /// Staff only: an INTERNO note's RESPUESTA, never `consultar`'s latest.
    pub interno: bool,
}

impl From<&Historial> for HistorialLeido {
    fn from(h: &Historial) -> Self {
        HistorialLeido {
            fecha: h.fecha,
            accion: h.accion.as_str().to_string(),
            motivo: h.motivo.clone(),
            actor_id: h.actor_id.clone(),
            actor_nombre: h.actor_nombre.clone(),
            actor_rol: h.actor_rol,
            estado_antes: h.estado_antes.map(|e| e.as_str().to_string()),
            estado_despues: h.estado_despues.as_str().to_string(),
            prioridad_antes: h.prioridad_antes.clone(),
            prioridad_despues: h.prioridad_despues.clone(),
            area_antes: h.area_antes.clone(),
            area_despues: h.area_despues.clone(),
            interno: h.interno,
        }
    }
}

pub(super) const HISTORIAL_COLUMNS: &str = "fecha, accion, motivo, actor_id, actor_nombre, actor_rol, estado_antes, \
    estado_despues, prioridad_antes, prioridad_despues, area_antes, area_despues, interno";

impl TryFrom<HistorialRow> for HistorialLeido {
    type Error = sqlx::Error;
    fn try_from(r: HistorialRow) -> Result<Self, sqlx::Error> {
        let actor_rol = RolActor::parse(&r.actor_rol)
            .ok_or_else(|| sqlx::Error::Decode(FilaInvalida(format!("actor_rol {:?}", r.actor_rol)).into()))?;
        Ok(HistorialLeido {
            fecha: r.fecha,
            accion: r.accion,
            motivo: r.motivo,
            actor_id: r.actor_id,
            actor_nombre: r.actor_nombre,
            actor_rol,
            estado_antes: r.estado_antes,
            estado_despues: r.estado_despues,
            prioridad_antes: r.prioridad_antes,
            prioridad_despues: r.prioridad_despues,
            area_antes: r.area_antes,
            area_despues: r.area_despues,
            interno: r.interno,
        })
    }
}

/// The ticket's history, oldest first.
pub async fn historial(conn: &mut PgConnection, ticket: Uuid) -> Result<Vec<HistorialLeido>, sqlx::Error> {
    let sql = format!("SELECT {HISTORIAL_COLUMNS} FROM historial WHERE ticket_uuid = $1 ORDER BY id");
    let rows: Vec<HistorialRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ticket).fetch_all(conn).await?;
    rows.into_iter().map(HistorialLeido::try_from).collect()
}

/// The latest history entry the requester may know of, for `consultar`:
/// never an INTERNO note's (which would tell that one was written, and by
/// whom). Backwards on `historial_por_ticket`, past the notes only.
pub async fn ultimo_historial(conn: &mut PgConnection, ticket: Uuid) -> Result<Option<HistorialLeido>, sqlx::Error> {
    let sql = format!(
        "SELECT {HISTORIAL_COLUMNS} FROM historial WHERE ticket_uuid = $1 AND NOT interno ORDER BY id DESC LIMIT 1"
    );
    let row: Option<HistorialRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ticket).fetch_optional(conn).await?;
    row.map(HistorialLeido::try_from).transpose()
}
