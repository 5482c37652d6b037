//! Ticket rows: the one column list, reading rows back as domain tickets,
//! locking them for a batch and drawing ticket numbers.

use crate::domain::sla::{NivelSla, Progreso, SlaEstado};
use crate::domain::ticket::{PrimeraRespuesta, Solicitante, Ticket};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::PgConnection;
use std::collections::HashMap;
use uuid::Uuid;

pub(super) const TICKET_COLUMNS: &str = "uuid, num, label, solicitante_nombre, solicitante_email, solicitante_telefono, \
    tiene_whatsapp, documento, empresa_departamento, tipo, categoria, subcategoria, asunto, descripcion, \
    respuesta_cliente, area_asignada, agente_asignado, prioridad, estado, sla_objetivo_ms, fecha_limite_sla, \
    fecha_aviso_sla, sla_alerta, proxima_alerta_sla, pausado_desde, pausa_acumulada_ms, sla_final, creado_en, \
    actualizado_en, primera_asignacion_en, cerrado_en, version, sla_politica, sla_alerta_umbral, \
    primera_respuesta_objetivo_ms, fecha_limite_primera_respuesta, fecha_aviso_primera_respuesta, \
    primera_respuesta_alerta, primera_respuesta_umbral, primera_respuesta_final";

#[derive(sqlx::FromRow)]
pub(super) struct TicketRow {
    uuid: Uuid,
    num: i64,
    label: String,
    solicitante_nombre: String,
    solicitante_email: String,
    solicitante_telefono: Option<String>,
    tiene_whatsapp: bool,
    documento: Option<String>,
    empresa_departamento: Option<String>,
    tipo: String,
    categoria: String,
    subcategoria: Option<String>,
    asunto: Option<String>,
    descripcion: String,
    respuesta_cliente: Option<String>,
    area_asignada: String,
    agente_asignado: Option<String>,
    prioridad: String,
    estado: String,
    sla_objetivo_ms: i64,
    fecha_limite_sla: DateTime<Utc>,
    fecha_aviso_sla: DateTime<Utc>,
    sla_alerta: Option<String>,
    proxima_alerta_sla: Option<DateTime<Utc>>,
    pausado_desde: Option<DateTime<Utc>>,
    pausa_acumulada_ms: i64,
    sla_final: Option<String>,
    creado_en: DateTime<Utc>,
    actualizado_en: DateTime<Utc>,
    primera_asignacion_en: Option<DateTime<Utc>>,
    cerrado_en: Option<DateTime<Utc>>,
    version: i64,
    sla_politica: Option<String>,
    sla_alerta_umbral: Option<i16>,
    primera_respuesta_objetivo_ms: Option<i64>,
    fecha_limite_primera_respuesta: Option<DateTime<Utc>>,
    fecha_aviso_primera_respuesta: Option<DateTime<Utc>>,
    primera_respuesta_alerta: Option<String>,
    primera_respuesta_umbral: Option<i16>,
    primera_respuesta_final: Option<String>,
}

/// A stored row the domain cannot read (a value no migration allows).
#[derive(Debug, thiserror::Error)]
#[error("fila de ticket inválida: {0}")]
pub(super) struct FilaInvalida(pub(super) String);

impl TryFrom<TicketRow> for Ticket {
    type Error = FilaInvalida;
    fn try_from(r: TicketRow) -> Result<Ticket, FilaInvalida> {
        Ok(Ticket {
            uuid: r.uuid,
            num: r.num,
            label: r.label,
            solicitante: Solicitante {
                nombre: r.solicitante_nombre,
                email: r.solicitante_email,
                telefono: r.solicitante_telefono,
                tiene_whatsapp: r.tiene_whatsapp,
                documento: r.documento,
                empresa_departamento: r.empresa_departamento,
            },
            tipo: r.tipo,
            categoria: r.categoria,
            subcategoria: r.subcategoria,
            asunto: r.asunto,
            descripcion: r.descripcion,
            respuesta_cliente: r.respuesta_cliente,
            area_asignada: r.area_asignada,
            agente_asignado: r.agente_asignado,
            prioridad: r.prioridad,
            estado: r.estado.parse().map_err(FilaInvalida)?,
            sla_objetivo: TimeDelta::milliseconds(r.sla_objetivo_ms),
            fecha_limite_sla: r.fecha_limite_sla,
            fecha_aviso_sla: r.fecha_aviso_sla,
            sla_progreso: Progreso::de_columnas(nivel(r.sla_alerta, "sla_alerta")?, r.sla_alerta_umbral),
            sla_politica: r.sla_politica,
            primera_respuesta: match (
                r.primera_respuesta_objetivo_ms,
                r.fecha_limite_primera_respuesta,
                r.fecha_aviso_primera_respuesta,
            ) {
                (Some(ms), Some(fecha_limite), Some(fecha_aviso)) => Some(PrimeraRespuesta {
                    objetivo: TimeDelta::milliseconds(ms),
                    fecha_limite,
                    fecha_aviso,
                    progreso: Progreso::de_columnas(
                        nivel(r.primera_respuesta_alerta, "primera_respuesta_alerta")?,
                        r.primera_respuesta_umbral,
                    ),
                    resultado: sla_estado(r.primera_respuesta_final, "primera_respuesta_final")?,
                }),
                (None, None, None) => None,
                _ => return Err(FilaInvalida("primera respuesta incompleta".into())),
            },
            proxima_alerta_sla: r.proxima_alerta_sla,
            pausado_desde: r.pausado_desde,
            pausa_acumulada: TimeDelta::milliseconds(r.pausa_acumulada_ms),
            sla_final: sla_estado(r.sla_final, "sla_final")?,
            creado_en: r.creado_en,
            actualizado_en: r.actualizado_en,
            primera_asignacion_en: r.primera_asignacion_en,
            cerrado_en: r.cerrado_en,
            version: r.version,
        })
    }
}

fn nivel(texto: Option<String>, columna: &str) -> Result<Option<NivelSla>, FilaInvalida> {
    texto.map(|s| NivelSla::parse(&s).ok_or_else(|| FilaInvalida(format!("{columna} {s:?}")))).transpose()
}

fn sla_estado(texto: Option<String>, columna: &str) -> Result<Option<SlaEstado>, FilaInvalida> {
    texto.map(|s| SlaEstado::parse(&s).ok_or_else(|| FilaInvalida(format!("{columna} {s:?}")))).transpose()
}

/// A row as a domain ticket; a row the domain rejects is a decode error.
pub(super) fn a_ticket(row: TicketRow) -> Result<Ticket, sqlx::Error> {
    Ticket::try_from(row).map_err(|e| sqlx::Error::Decode(e.into()))
}

/// The ticket `uuid`, if it exists.
pub async fn ticket(conn: &mut PgConnection, uuid: Uuid) -> Result<Option<Ticket>, sqlx::Error> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE uuid = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(uuid).fetch_optional(conn).await?.map(a_ticket).transpose()
}

/// The ticket with this label whose requester has this e-mail (compared
/// case-insensitively). One query either way, so a wrong e-mail and an
/// unknown label cannot be told apart.
pub async fn ticket_por_label_y_email(
    conn: &mut PgConnection,
    label: &str,
    email: &str,
) -> Result<Option<Ticket>, sqlx::Error> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE label = $1 AND lower(solicitante_email) = lower($2)");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(label)
        .bind(email)
        .fetch_optional(conn)
        .await?
        .map(a_ticket)
        .transpose()
}

/// Loads tickets and locks their rows until the transaction ends, so two
/// commands on one ticket never interleave. Locked in uuid order, so two
/// batches sharing tickets cannot deadlock.
pub async fn bloquear_tickets(conn: &mut PgConnection, uuids: &[Uuid]) -> Result<HashMap<Uuid, Ticket>, sqlx::Error> {
    if uuids.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE uuid = ANY($1) ORDER BY uuid FOR UPDATE");
    let rows: Vec<TicketRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(uuids).fetch_all(conn).await?;
    rows.into_iter().map(|r| a_ticket(r).map(|t| (t.uuid, t))).collect()
}

/// `n` fresh ticket numbers.
pub async fn siguientes_nums(conn: &mut PgConnection, n: usize) -> Result<Vec<i64>, sqlx::Error> {
    if n == 0 {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT nextval('ticket_num_seq') FROM generate_series(1, $1)")
        .bind(n as i64)
        .fetch_all(conn)
        .await
}
