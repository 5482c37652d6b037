//! Persistence: tickets, history, idempotency records and the outbox, over
//! sqlx. Domain values in, domain values out; SQL stays here.

use crate::domain::comando::FiltroListado;
use crate::domain::sla::{NivelSla, SlaEstado};
use crate::domain::ticket::{Historial, Solicitante, Ticket};
use anyhow::{Context, anyhow};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder, postgres::PgPoolOptions};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Embedded migrations (`migrations/`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_lazy(url)?)
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("no se pudieron aplicar las migraciones")
}

const TICKET_COLUMNS: &str = "uuid, num, label, solicitante_nombre, solicitante_email, solicitante_telefono, \
    tiene_whatsapp, documento, empresa_departamento, tipo, categoria, subcategoria, asunto, descripcion, \
    respuesta_cliente, area_asignada, agente_asignado, prioridad, estado, sla_objetivo_ms, fecha_limite_sla, \
    fecha_aviso_sla, sla_alerta, proxima_alerta_sla, pausado_desde, pausa_acumulada_ms, sla_final, creado_en, \
    actualizado_en, primera_asignacion_en, cerrado_en, version";

#[derive(sqlx::FromRow)]
struct TicketRow {
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
}

impl TryFrom<TicketRow> for Ticket {
    type Error = anyhow::Error;
    fn try_from(r: TicketRow) -> anyhow::Result<Ticket> {
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
            estado: r.estado.parse().map_err(|e: String| anyhow!(e))?,
            sla_objetivo: TimeDelta::milliseconds(r.sla_objetivo_ms),
            fecha_limite_sla: r.fecha_limite_sla,
            fecha_aviso_sla: r.fecha_aviso_sla,
            sla_alerta: match r.sla_alerta {
                Some(s) => Some(NivelSla::parse(&s).ok_or_else(|| anyhow!("sla_alerta inválido: {s}"))?),
                None => None,
            },
            proxima_alerta_sla: r.proxima_alerta_sla,
            pausado_desde: r.pausado_desde,
            pausa_acumulada: TimeDelta::milliseconds(r.pausa_acumulada_ms),
            sla_final: match r.sla_final {
                Some(s) => Some(SlaEstado::parse(&s).ok_or_else(|| anyhow!("sla_final inválido: {s}"))?),
                None => None,
            },
            creado_en: r.creado_en,
            actualizado_en: r.actualizado_en,
            primera_asignacion_en: r.primera_asignacion_en,
            cerrado_en: r.cerrado_en,
            version: r.version,
        })
    }
}

/// A row as a domain ticket; a row the domain rejects is a decode error.
fn a_ticket(row: TicketRow) -> Result<Ticket, sqlx::Error> {
    Ticket::try_from(row).map_err(|e| sqlx::Error::Decode(e.into()))
}

pub async fn siguiente_num(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT nextval('ticket_num_seq')").fetch_one(conn).await
}

pub async fn insertar_ticket(conn: &mut PgConnection, t: &Ticket) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tickets (uuid, num, label, solicitante_nombre, solicitante_email, solicitante_telefono, \
         tiene_whatsapp, documento, empresa_departamento, tipo, categoria, subcategoria, asunto, descripcion, \
         respuesta_cliente, area_asignada, agente_asignado, prioridad, estado, sla_objetivo_ms, fecha_limite_sla, \
         fecha_aviso_sla, sla_alerta, proxima_alerta_sla, pausado_desde, pausa_acumulada_ms, sla_final, creado_en, \
         actualizado_en, primera_asignacion_en, cerrado_en, version) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,\
         $12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31,$32)",
    )
    .bind(t.uuid)
    .bind(t.num)
    .bind(&t.label)
    .bind(&t.solicitante.nombre)
    .bind(&t.solicitante.email)
    .bind(&t.solicitante.telefono)
    .bind(t.solicitante.tiene_whatsapp)
    .bind(&t.solicitante.documento)
    .bind(&t.solicitante.empresa_departamento)
    .bind(&t.tipo)
    .bind(&t.categoria)
    .bind(&t.subcategoria)
    .bind(&t.asunto)
    .bind(&t.descripcion)
    .bind(&t.respuesta_cliente)
    .bind(&t.area_asignada)
    .bind(&t.agente_asignado)
    .bind(&t.prioridad)
    .bind(t.estado.as_str())
    .bind(t.sla_objetivo.num_milliseconds())
    .bind(t.fecha_limite_sla)
    .bind(t.fecha_aviso_sla)
    .bind(t.sla_alerta.map(NivelSla::as_str))
    .bind(t.proxima_alerta_sla)
    .bind(t.pausado_desde)
    .bind(t.pausa_acumulada.num_milliseconds())
    .bind(t.sla_final.map(SlaEstado::as_str))
    .bind(t.creado_en)
    .bind(t.actualizado_en)
    .bind(t.primera_asignacion_en)
    .bind(t.cerrado_en)
    .bind(t.version)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes back every field a mutation may change.
pub async fn actualizar_ticket(conn: &mut PgConnection, t: &Ticket) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE tickets SET tipo = $2, categoria = $3, subcategoria = $4, respuesta_cliente = $5, \
         area_asignada = $6, agente_asignado = $7, prioridad = $8, estado = $9, sla_objetivo_ms = $10, \
         fecha_limite_sla = $11, pausado_desde = $12, pausa_acumulada_ms = $13, sla_final = $14, \
         actualizado_en = $15, primera_asignacion_en = $16, cerrado_en = $17, version = $18, \
         fecha_aviso_sla = $19, sla_alerta = $20, proxima_alerta_sla = $21 \
         WHERE uuid = $1",
    )
    .bind(t.uuid)
    .bind(&t.tipo)
    .bind(&t.categoria)
    .bind(&t.subcategoria)
    .bind(&t.respuesta_cliente)
    .bind(&t.area_asignada)
    .bind(&t.agente_asignado)
    .bind(&t.prioridad)
    .bind(t.estado.as_str())
    .bind(t.sla_objetivo.num_milliseconds())
    .bind(t.fecha_limite_sla)
    .bind(t.pausado_desde)
    .bind(t.pausa_acumulada.num_milliseconds())
    .bind(t.sla_final.map(SlaEstado::as_str))
    .bind(t.actualizado_en)
    .bind(t.primera_asignacion_en)
    .bind(t.cerrado_en)
    .bind(t.version)
    .bind(t.fecha_aviso_sla)
    .bind(t.sla_alerta.map(NivelSla::as_str))
    .bind(t.proxima_alerta_sla)
    .execute(conn)
    .await?;
    Ok(())
}

/// Tickets with an SLA alert due at `ahora`, oldest first, locked; rows
/// another scheduler holds are skipped, never waited for.
pub async fn reclamar_alertas_debidas(
    conn: &mut PgConnection,
    ahora: DateTime<Utc>,
    limite: i64,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let sql = format!(
        "SELECT {TICKET_COLUMNS} FROM tickets WHERE proxima_alerta_sla <= $1 \
         ORDER BY proxima_alerta_sla LIMIT $2 FOR UPDATE SKIP LOCKED"
    );
    let rows: Vec<TicketRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ahora).bind(limite).fetch_all(conn).await?;
    rows.into_iter().map(a_ticket).collect()
}

/// Records an alert for (ticket, level, deadline); `false` when it was
/// recorded already, by this or any other process.
pub async fn registrar_alerta(
    conn: &mut PgConnection,
    ticket: &Ticket,
    nivel: NivelSla,
    evento_id: Uuid,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "INSERT INTO sla_alertas (ticket_uuid, nivel, fecha_limite_sla, evento_id) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(ticket.uuid)
    .bind(nivel.as_str())
    .bind(ticket.fecha_limite_sla)
    .bind(evento_id)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Loads a ticket and locks its row until the transaction ends, so two
/// commands on one ticket never interleave.
pub async fn bloquear_ticket(conn: &mut PgConnection, uuid: Uuid) -> Result<Option<Ticket>, sqlx::Error> {
    let sql = format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE uuid = $1 FOR UPDATE");
    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(uuid).fetch_optional(conn).await?.map(a_ticket).transpose()
}

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
}

/// A stored history entry, as read back (accion as text).
#[derive(Debug, Clone)]
pub struct HistorialLeido {
    pub fecha: DateTime<Utc>,
    pub accion: String,
    pub motivo: Option<String>,
    pub actor_id: Option<String>,
    pub actor_nombre: String,
    pub actor_rol: String,
    pub estado_antes: Option<String>,
    pub estado_despues: String,
    pub prioridad_antes: Option<String>,
    pub prioridad_despues: Option<String>,
    pub area_antes: Option<String>,
    pub area_despues: Option<String>,
}

impl From<&Historial> for HistorialLeido {
    fn from(h: &Historial) -> Self {
        HistorialLeido {
            fecha: h.fecha,
            accion: h.accion.as_str().to_string(),
            motivo: h.motivo.clone(),
            actor_id: Some(h.actor_id.clone()).filter(|id| !id.is_empty()),
            actor_nombre: h.actor_nombre.clone(),
            actor_rol: h.actor_rol.clone(),
            estado_antes: h.estado_antes.map(|e| e.as_str().to_string()),
            estado_despues: h.estado_despues.as_str().to_string(),
            prioridad_antes: h.prioridad_antes.clone(),
            prioridad_despues: h.prioridad_despues.clone(),
            area_antes: h.area_antes.clone(),
            area_despues: h.area_despues.clone(),
        }
    }
}

pub async fn insertar_historial(
    conn: &mut PgConnection,
    ticket: Uuid,
    h: &Historial,
    comando_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    let leido = HistorialLeido::from(h);
    sqlx::query(
        "INSERT INTO historial (ticket_uuid, fecha, accion, motivo, actor_id, actor_nombre, actor_rol, \
         estado_antes, estado_despues, prioridad_antes, prioridad_despues, area_antes, area_despues, comando_id) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
    )
    .bind(ticket)
    .bind(leido.fecha)
    .bind(leido.accion)
    .bind(leido.motivo)
    .bind(leido.actor_id)
    .bind(leido.actor_nombre)
    .bind(leido.actor_rol)
    .bind(leido.estado_antes)
    .bind(leido.estado_despues)
    .bind(leido.prioridad_antes)
    .bind(leido.prioridad_despues)
    .bind(leido.area_antes)
    .bind(leido.area_despues)
    .bind(comando_id)
    .execute(conn)
    .await?;
    Ok(())
}

const HISTORIAL_COLUMNS: &str = "fecha, accion, motivo, actor_id, actor_nombre, actor_rol, estado_antes, \
    estado_despues, prioridad_antes, prioridad_despues, area_antes, area_despues";

impl From<HistorialRow> for HistorialLeido {
    fn from(r: HistorialRow) -> Self {
        HistorialLeido {
            fecha: r.fecha,
            accion: r.accion,
            motivo: r.motivo,
            actor_id: r.actor_id,
            actor_nombre: r.actor_nombre,
            actor_rol: r.actor_rol,
            estado_antes: r.estado_antes,
            estado_despues: r.estado_despues,
            prioridad_antes: r.prioridad_antes,
            prioridad_despues: r.prioridad_despues,
            area_antes: r.area_antes,
            area_despues: r.area_despues,
        }
    }
}

/// The ticket's history, oldest first.
pub async fn historial(conn: &mut PgConnection, ticket: Uuid) -> Result<Vec<HistorialLeido>, sqlx::Error> {
    let sql = format!("SELECT {HISTORIAL_COLUMNS} FROM historial WHERE ticket_uuid = $1 ORDER BY id");
    let rows: Vec<HistorialRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ticket).fetch_all(conn).await?;
    Ok(rows.into_iter().map(HistorialLeido::from).collect())
}

/// The latest history entry, for `consultar`.
pub async fn ultimo_historial(conn: &mut PgConnection, ticket: Uuid) -> Result<Option<HistorialLeido>, sqlx::Error> {
    let sql = format!("SELECT {HISTORIAL_COLUMNS} FROM historial WHERE ticket_uuid = $1 ORDER BY id DESC LIMIT 1");
    let row: Option<HistorialRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(ticket).fetch_optional(conn).await?;
    Ok(row.map(HistorialLeido::from))
}

/// Claims a `message_id` before the command's effects: `false` when it was
/// claimed already. A claim by a transaction still open blocks here until it
/// ends, so two processes never both apply one command. The placeholder
/// reply is replaced by `guardar_respuesta` in the same transaction.
pub async fn reservar_comando(conn: &mut PgConnection, message_id: &str, operacion: &str) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO comandos (message_id, operacion, respuesta) VALUES ($1, $2, 'null') \
         ON CONFLICT (message_id) DO NOTHING",
    )
    .bind(message_id)
    .bind(operacion)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

/// Stores the reply a claimed command got.
pub async fn guardar_respuesta(
    conn: &mut PgConnection,
    message_id: &str,
    ticket: Option<Uuid>,
    respuesta: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE comandos SET respuesta = $2, ticket_uuid = $3 WHERE message_id = $1")
        .bind(message_id)
        .bind(respuesta)
        .bind(ticket)
        .execute(conn)
        .await?;
    Ok(())
}

/// The reply first given to a command, if it was processed before.
pub async fn respuesta_registrada(conn: &mut PgConnection, message_id: &str) -> Result<Option<Value>, sqlx::Error> {
    sqlx::query_scalar("SELECT respuesta FROM comandos WHERE message_id = $1")
        .bind(message_id)
        .fetch_optional(conn)
        .await
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventoPendiente {
    pub id: i64,
    pub evento_id: Uuid,
    pub tipo: String,
    pub cuerpo: Value,
    pub traceparent: Option<String>,
}

pub async fn encolar_evento(
    conn: &mut PgConnection,
    evento_id: Uuid,
    tipo: &str,
    ticket: Option<Uuid>,
    cuerpo: &Value,
    traceparent: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO outbox (evento_id, tipo, ticket_uuid, cuerpo, traceparent) VALUES ($1, $2, $3, $4, $5)")
        .bind(evento_id)
        .bind(tipo)
        .bind(ticket)
        .bind(cuerpo)
        .bind(traceparent)
        .execute(conn)
        .await?;
    Ok(())
}

/// Claims up to `limite` unsent events, oldest first, skipping rows another
/// relay holds. The lock lasts until the transaction ends.
pub async fn reclamar_eventos(conn: &mut PgConnection, limite: i64) -> Result<Vec<EventoPendiente>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, evento_id, tipo, cuerpo, traceparent FROM outbox WHERE publicado_en IS NULL \
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(limite)
    .fetch_all(conn)
    .await
}

pub async fn marcar_publicados(conn: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE outbox SET publicado_en = now() WHERE id = ANY($1)").bind(ids).execute(conn).await?;
    Ok(())
}

/// Unsent events and the age of the oldest, for `/metrics`.
pub async fn backlog_outbox(pool: &PgPool) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(creado_en))::float8, 0) \
         FROM outbox WHERE publicado_en IS NULL",
    )
    .fetch_one(pool)
    .await
}

/// `slaEstado` computed in SQL, the same rule as `sla::estado_en_curso`:
/// frozen when closed, PAUSADO while paused, else by deadline and warning time.
fn push_sla_estado(qb: &mut QueryBuilder<Postgres>, ahora: DateTime<Utc>) {
    qb.push(
        "(CASE WHEN sla_final IS NOT NULL THEN sla_final \
         WHEN estado = 'PAUSADO' THEN 'PAUSADO' WHEN fecha_limite_sla < ",
    )
    .push_bind(ahora)
    .push(" THEN 'VENCIDO' WHEN fecha_aviso_sla <= ")
    .push_bind(ahora)
    .push(" THEN 'POR_VENCER' ELSE 'EN_TIEMPO' END)");
}

/// One page of tickets, newest first, after the cursor. Fetches one row more
/// than asked so the caller knows whether another page exists.
pub async fn listar(
    conn: &mut PgConnection,
    filtro: &FiltroListado,
    ahora: DateTime<Utc>,
) -> Result<Vec<Ticket>, sqlx::Error> {
    let mut qb = QueryBuilder::<Postgres>::new(format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE TRUE"));
    if let Some(estado) = filtro.estado {
        qb.push(" AND estado = ").push_bind(estado.as_str());
    }
    if let Some(area) = &filtro.area {
        qb.push(" AND area_asignada = ").push_bind(area.clone());
    }
    if let Some(prioridad) = &filtro.prioridad {
        qb.push(" AND prioridad = ").push_bind(prioridad.clone());
    }
    if let Some(tipo) = &filtro.tipo {
        qb.push(" AND tipo = ").push_bind(tipo.clone());
    }
    if let Some(sla) = filtro.sla_estado {
        qb.push(" AND ");
        push_sla_estado(&mut qb, ahora);
        qb.push(" = ").push_bind(sla.as_str());
    }
    if let Some(num) = filtro.despues_de {
        qb.push(" AND num < ").push_bind(num);
    }
    qb.push(" ORDER BY num DESC LIMIT ").push_bind(filtro.limite + 1);
    let rows: Vec<TicketRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
    rows.into_iter().map(a_ticket).collect()
}

/// Distribution of one dimension: value → count.
pub type Conteo = BTreeMap<String, i64>;

/// `estadisticas` over tickets created in `[desde, hasta)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Estadisticas {
    pub total: i64,
    pub por_estado: Conteo,
    pub por_tipo: Conteo,
    pub por_prioridad: Conteo,
    pub por_area: Conteo,
    pub abiertos_por_sla: Conteo,
    pub cerrados: i64,
    pub cumplidos: i64,
    pub asignacion: Percentiles,
    pub cierre: Percentiles,
}

#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct Percentiles {
    pub muestras: i64,
    pub mediana_s: Option<f64>,
    pub p90_s: Option<f64>,
}

fn push_ventana(qb: &mut QueryBuilder<Postgres>, desde: DateTime<Utc>, hasta: DateTime<Utc>, area: Option<&str>) {
    qb.push(" WHERE creado_en >= ").push_bind(desde).push(" AND creado_en < ").push_bind(hasta);
    if let Some(area) = area {
        qb.push(" AND area_asignada = ").push_bind(area.to_string());
    }
}

/// All figures computed in Postgres; only the aggregates travel.
pub async fn estadisticas(
    conn: &mut PgConnection,
    desde: DateTime<Utc>,
    hasta: DateTime<Utc>,
    area: Option<&str>,
    ahora: DateTime<Utc>,
) -> Result<Estadisticas, sqlx::Error> {
    let mut e = Estadisticas::default();

    let mut qb = QueryBuilder::<Postgres>::new("SELECT estado, tipo, prioridad, area_asignada, count(*) FROM tickets");
    push_ventana(&mut qb, desde, hasta, area);
    qb.push(" GROUP BY GROUPING SETS ((estado), (tipo), (prioridad), (area_asignada), ())");
    // (estado, tipo, prioridad, area, count): one non-null key per grouping set.
    type Fila = (Option<String>, Option<String>, Option<String>, Option<String>, i64);
    let filas: Vec<Fila> = qb.build_query_as().fetch_all(&mut *conn).await?;
    for (estado, tipo, prioridad, area, n) in filas {
        match (estado, tipo, prioridad, area) {
            (Some(v), ..) => e.por_estado.insert(v, n),
            (_, Some(v), ..) => e.por_tipo.insert(v, n),
            (_, _, Some(v), _) => e.por_prioridad.insert(v, n),
            (.., Some(v)) => e.por_area.insert(v, n),
            _ => {
                e.total = n;
                None
            }
        };
    }

    let mut qb = QueryBuilder::<Postgres>::new("SELECT ");
    push_sla_estado(&mut qb, ahora);
    qb.push(" AS sla, count(*) FROM tickets");
    push_ventana(&mut qb, desde, hasta, area);
    qb.push(" AND cerrado_en IS NULL GROUP BY 1");
    let filas: Vec<(String, i64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    e.abiertos_por_sla = filas.into_iter().collect();

    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT count(cerrado_en), count(*) FILTER (WHERE sla_final = 'CUMPLIDO') FROM tickets",
    );
    push_ventana(&mut qb, desde, hasta, area);
    (e.cerrados, e.cumplidos) = qb.build_query_as().fetch_one(&mut *conn).await?;

    for (columna, destino) in [("primera_asignacion_en", &mut e.asignacion), ("cerrado_en", &mut e.cierre)] {
        let segundos = format!("EXTRACT(EPOCH FROM {columna} - creado_en)");
        let mut qb = QueryBuilder::<Postgres>::new(format!(
            "SELECT count({columna}) AS muestras, \
             (percentile_cont(0.5) WITHIN GROUP (ORDER BY {segundos}))::float8 AS mediana_s, \
             (percentile_cont(0.9) WITHIN GROUP (ORDER BY {segundos}))::float8 AS p90_s FROM tickets"
        ));
        push_ventana(&mut qb, desde, hasta, area);
        *destino = qb.build_query_as().fetch_one(&mut *conn).await?;
    }
    Ok(e)
}
