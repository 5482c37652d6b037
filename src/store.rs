//! Persistence: tickets, history, idempotency records and the outbox, over
//! sqlx. Domain values in, domain values out; SQL stays here.

use crate::domain::comando::FiltroListado;
use crate::domain::estado::Operacion;
use crate::domain::sla::{NivelSla, SlaEstado};
use crate::domain::ticket::{Historial, Solicitante, Ticket};
use anyhow::{Context, anyhow};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use uuid::Uuid;

/// Embedded migrations (`migrations/`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    // Plan every statement for its own arguments and the tables as they are
    // now. A cached generic plan is made once, maybe while the tables were
    // still small (a fresh deployment), and then kept: the batch statements
    // joined their `unnest` rows to `tickets` and `comandos` by sequential
    // scan, a cost that grew with every stored row. Planning is per batch,
    // not per command.
    let opciones = PgConnectOptions::from_str(url)?.options([("plan_cache_mode", "force_custom_plan")]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_lazy_with(opciones))
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

/// Claims `message_id`s before their commands' effects; returns those this
/// transaction claimed. A claim held by a transaction still open blocks here
/// until it ends, so two processes never both apply one command. The
/// placeholder reply is replaced when the batch's [`Cambios`] are written.
pub async fn reservar_comandos(conn: &mut PgConnection, reservas: &Reservas) -> Result<HashSet<String>, sqlx::Error> {
    if reservas.ids.is_empty() {
        return Ok(HashSet::new());
    }
    let reclamados: Vec<String> = sqlx::query_scalar(
        "INSERT INTO comandos (message_id, operacion, actor_sub, respuesta) \
         SELECT id, op, sub, 'null' FROM unnest($1::text[], $2::text[], $3::text[]) AS r(id, op, sub) \
         ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
    )
    .bind(&reservas.ids)
    .bind(&reservas.operaciones)
    .bind(&reservas.subs)
    .fetch_all(conn)
    .await?;
    Ok(reclamados.into_iter().collect())
}

/// The `message_id`s a run of mutations claims, column by column.
#[derive(Debug, Default)]
pub struct Reservas {
    pub ids: Vec<String>,
    pub operaciones: Vec<&'static str>,
    /// The verified `sub` of each sender; `None` for public operations.
    pub subs: Vec<Option<String>>,
}

/// A command processed before: what it was, who sent it, what it got.
#[derive(Debug, Clone)]
pub struct Registro {
    pub operacion: Option<Operacion>,
    /// The sender's verified `sub`; `None` for public operations and for
    /// records older than the column.
    pub sub: Option<String>,
    pub respuesta: Value,
}

/// The commands processed before, by `message_id`.
pub async fn respuestas_registradas(
    conn: &mut PgConnection,
    ids: &[String],
) -> Result<HashMap<String, Registro>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let filas: Vec<(String, String, Option<String>, Value)> =
        sqlx::query_as("SELECT message_id, operacion, actor_sub, respuesta FROM comandos WHERE message_id = ANY($1)")
            .bind(ids)
            .fetch_all(conn)
            .await?;
    Ok(filas
        .into_iter()
        .map(|(id, op, sub, respuesta)| (id, Registro { operacion: Operacion::parse(&op), sub, respuesta }))
        .collect())
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

/// Everything one batch writes: tickets in their final state, history and
/// outbox rows in order, and the replies of claimed commands. Written by
/// [`Cambios::escribir`] in ONE statement, so a batch costs a fixed number of
/// round trips however many commands it holds, and a ticket changed several
/// times in a batch is written once.
#[derive(Default)]
pub struct Cambios {
    /// Final state of each touched ticket; `true` when it is new.
    tickets: Vec<(Ticket, bool)>,
    historial: Vec<(Uuid, HistorialLeido, Option<String>)>,
    eventos: Vec<EventoNuevo>,
    /// Replies already serialised: stored as the text they were sent as.
    respuestas: Vec<(String, Option<Uuid>, String)>,
}

/// An event to put in the outbox.
pub struct EventoNuevo {
    pub evento_id: Uuid,
    pub tipo: &'static str,
    pub ticket: Option<Uuid>,
    pub cuerpo: Value,
    pub traceparent: Option<String>,
}

impl Cambios {
    /// The latest state of a ticket this batch changed, if it did.
    pub fn ticket(&self, uuid: Uuid) -> Option<&Ticket> {
        self.tickets.iter().find(|(t, _)| t.uuid == uuid).map(|(t, _)| t)
    }

    pub fn ticket_nuevo(&mut self, t: Ticket) {
        self.guardar(t, true);
    }

    pub fn ticket_cambiado(&mut self, t: Ticket) {
        self.guardar(t, false);
    }

    fn guardar(&mut self, t: Ticket, nuevo: bool) {
        match self.tickets.iter_mut().find(|(previo, _)| previo.uuid == t.uuid) {
            // A ticket created in this batch stays an insert, of its last state.
            Some((previo, _)) => *previo = t,
            None => self.tickets.push((t, nuevo)),
        }
    }

    pub fn historial(&mut self, ticket: Uuid, h: &Historial, comando_id: Option<&str>) {
        self.historial.push((ticket, HistorialLeido::from(h), comando_id.map(str::to_string)));
    }

    pub fn evento(&mut self, e: EventoNuevo) {
        self.eventos.push(e);
    }

    /// The reply of a command claimed by [`reservar_comandos`].
    pub fn respuesta(&mut self, message_id: &str, ticket: Option<Uuid>, respuesta: &Value) {
        self.respuestas.push((message_id.to_string(), ticket, respuesta.to_string()));
    }

    pub fn hay_eventos(&self) -> bool {
        !self.eventos.is_empty()
    }

    /// Writes everything, then starts empty again.
    pub async fn escribir(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let Cambios { tickets, historial, eventos, respuestas } = std::mem::take(self);
        if tickets.is_empty() && historial.is_empty() && eventos.is_empty() && respuestas.is_empty() {
            return Ok(());
        }
        let t = ColumnasTicket::from(tickets);
        let h = ColumnasHistorial::from(historial);
        let (mut ev_id, mut ev_tipo, mut ev_ticket, mut ev_cuerpo, mut ev_tp) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for e in eventos {
            ev_id.push(e.evento_id);
            ev_tipo.push(e.tipo);
            ev_ticket.push(e.ticket);
            ev_cuerpo.push(e.cuerpo.to_string());
            ev_tp.push(e.traceparent);
        }
        let (mut r_id, mut r_ticket, mut r_respuesta) = (Vec::new(), Vec::new(), Vec::new());
        for (id, ticket, respuesta) in respuestas {
            r_id.push(id);
            r_ticket.push(ticket);
            r_respuesta.push(respuesta);
        }
        sqlx::query(sqlx::AssertSqlSafe(ESCRIBIR_CAMBIOS.as_str()))
            .bind(t.uuid)
            .bind(t.num)
            .bind(t.label)
            .bind(t.solicitante_nombre)
            .bind(t.solicitante_email)
            .bind(t.solicitante_telefono)
            .bind(t.tiene_whatsapp)
            .bind(t.documento)
            .bind(t.empresa_departamento)
            .bind(t.tipo)
            .bind(t.categoria)
            .bind(t.subcategoria)
            .bind(t.asunto)
            .bind(t.descripcion)
            .bind(t.respuesta_cliente)
            .bind(t.area_asignada)
            .bind(t.agente_asignado)
            .bind(t.prioridad)
            .bind(t.estado)
            .bind(t.sla_objetivo_ms)
            .bind(t.fecha_limite_sla)
            .bind(t.fecha_aviso_sla)
            .bind(t.sla_alerta)
            .bind(t.proxima_alerta_sla)
            .bind(t.pausado_desde)
            .bind(t.pausa_acumulada_ms)
            .bind(t.sla_final)
            .bind(t.creado_en)
            .bind(t.actualizado_en)
            .bind(t.primera_asignacion_en)
            .bind(t.cerrado_en)
            .bind(t.version)
            .bind(t.nuevo)
            .bind(h.ticket_uuid)
            .bind(h.fecha)
            .bind(h.accion)
            .bind(h.motivo)
            .bind(h.actor_id)
            .bind(h.actor_nombre)
            .bind(h.actor_rol)
            .bind(h.estado_antes)
            .bind(h.estado_despues)
            .bind(h.prioridad_antes)
            .bind(h.prioridad_despues)
            .bind(h.area_antes)
            .bind(h.area_despues)
            .bind(h.comando_id)
            .bind(ev_id)
            .bind(ev_tipo)
            .bind(ev_ticket)
            .bind(ev_cuerpo)
            .bind(ev_tp)
            .bind(r_id)
            .bind(r_ticket)
            .bind(r_respuesta)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// The one statement that writes a batch's [`Cambios`]: tickets from `unnest`
/// arrays in [`TICKET_COLUMNS`] order (plus `nuevo`), then history, outbox
/// and replies (history in `ticket_uuid, HISTORIAL_COLUMNS, comando_id`
/// order). Sibling CTEs run in one statement; the history's foreign key
/// is checked at its end, so history may name a ticket inserted here. ORDER
/// BY ord keeps history and outbox ids in batch order: the relay publishes by
/// id, so per-ticket event order holds.
static ESCRIBIR_CAMBIOS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH filas AS ( \
               SELECT * FROM unnest($1::uuid[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], \
                 $7::bool[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], \
                 $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::int8[], \
                 $21::timestamptz[], $22::timestamptz[], $23::text[], $24::timestamptz[], $25::timestamptz[], \
                 $26::int8[], $27::text[], $28::timestamptz[], $29::timestamptz[], $30::timestamptz[], \
                 $31::timestamptz[], $32::int8[], $33::bool[]) \
               AS f({TICKET_COLUMNS}, nuevo) \
             ), insertados AS ( \
               INSERT INTO tickets ({TICKET_COLUMNS}) SELECT {TICKET_COLUMNS} FROM filas WHERE nuevo \
             ), actualizados AS ( \
               UPDATE tickets t SET tipo = f.tipo, categoria = f.categoria, subcategoria = f.subcategoria, \
                 respuesta_cliente = f.respuesta_cliente, area_asignada = f.area_asignada, \
                 agente_asignado = f.agente_asignado, prioridad = f.prioridad, estado = f.estado, \
                 sla_objetivo_ms = f.sla_objetivo_ms, fecha_limite_sla = f.fecha_limite_sla, \
                 pausado_desde = f.pausado_desde, pausa_acumulada_ms = f.pausa_acumulada_ms, \
                 sla_final = f.sla_final, actualizado_en = f.actualizado_en, \
                 primera_asignacion_en = f.primera_asignacion_en, cerrado_en = f.cerrado_en, \
                 version = f.version, fecha_aviso_sla = f.fecha_aviso_sla, sla_alerta = f.sla_alerta, \
                 proxima_alerta_sla = f.proxima_alerta_sla \
               FROM filas f WHERE NOT f.nuevo AND t.uuid = f.uuid \
             ), historia AS ( \
               INSERT INTO historial (ticket_uuid, {HISTORIAL_COLUMNS}, comando_id) \
               SELECT ticket_uuid, {HISTORIAL_COLUMNS}, comando_id \
               FROM unnest($34::uuid[], $35::timestamptz[], $36::text[], $37::text[], $38::text[], $39::text[], \
                 $40::text[], $41::text[], $42::text[], $43::text[], $44::text[], $45::text[], $46::text[], \
                 $47::text[]) WITH ORDINALITY AS h(ticket_uuid, {HISTORIAL_COLUMNS}, comando_id, ord) \
               ORDER BY ord \
             ), eventos AS ( \
               INSERT INTO outbox (evento_id, tipo, ticket_uuid, cuerpo, traceparent) \
               SELECT evento_id, tipo, ticket_uuid, cuerpo::json, traceparent \
               FROM unnest($48::uuid[], $49::text[], $50::uuid[], $51::text[], $52::text[]) WITH ORDINALITY \
               AS e(evento_id, tipo, ticket_uuid, cuerpo, traceparent, ord) ORDER BY ord \
             ), respuestas AS ( \
               UPDATE comandos c SET respuesta = r.respuesta::json, ticket_uuid = r.ticket_uuid \
               FROM unnest($53::text[], $54::uuid[], $55::text[]) AS r(message_id, ticket_uuid, respuesta) \
               WHERE c.message_id = r.message_id \
             ) SELECT 1"
    )
});

/// Tickets as one array per column, for `unnest`.
#[derive(Default)]
struct ColumnasTicket {
    uuid: Vec<Uuid>,
    num: Vec<i64>,
    label: Vec<String>,
    solicitante_nombre: Vec<String>,
    solicitante_email: Vec<String>,
    solicitante_telefono: Vec<Option<String>>,
    tiene_whatsapp: Vec<bool>,
    documento: Vec<Option<String>>,
    empresa_departamento: Vec<Option<String>>,
    tipo: Vec<String>,
    categoria: Vec<String>,
    subcategoria: Vec<Option<String>>,
    asunto: Vec<Option<String>>,
    descripcion: Vec<String>,
    respuesta_cliente: Vec<Option<String>>,
    area_asignada: Vec<String>,
    agente_asignado: Vec<Option<String>>,
    prioridad: Vec<String>,
    estado: Vec<&'static str>,
    sla_objetivo_ms: Vec<i64>,
    fecha_limite_sla: Vec<DateTime<Utc>>,
    fecha_aviso_sla: Vec<DateTime<Utc>>,
    sla_alerta: Vec<Option<&'static str>>,
    proxima_alerta_sla: Vec<Option<DateTime<Utc>>>,
    pausado_desde: Vec<Option<DateTime<Utc>>>,
    pausa_acumulada_ms: Vec<i64>,
    sla_final: Vec<Option<&'static str>>,
    creado_en: Vec<DateTime<Utc>>,
    actualizado_en: Vec<DateTime<Utc>>,
    primera_asignacion_en: Vec<Option<DateTime<Utc>>>,
    cerrado_en: Vec<Option<DateTime<Utc>>>,
    version: Vec<i64>,
    nuevo: Vec<bool>,
}

impl From<Vec<(Ticket, bool)>> for ColumnasTicket {
    fn from(tickets: Vec<(Ticket, bool)>) -> Self {
        let mut c = ColumnasTicket::default();
        for (t, nuevo) in tickets {
            c.uuid.push(t.uuid);
            c.num.push(t.num);
            c.label.push(t.label);
            c.solicitante_nombre.push(t.solicitante.nombre);
            c.solicitante_email.push(t.solicitante.email);
            c.solicitante_telefono.push(t.solicitante.telefono);
            c.tiene_whatsapp.push(t.solicitante.tiene_whatsapp);
            c.documento.push(t.solicitante.documento);
            c.empresa_departamento.push(t.solicitante.empresa_departamento);
            c.tipo.push(t.tipo);
            c.categoria.push(t.categoria);
            c.subcategoria.push(t.subcategoria);
            c.asunto.push(t.asunto);
            c.descripcion.push(t.descripcion);
            c.respuesta_cliente.push(t.respuesta_cliente);
            c.area_asignada.push(t.area_asignada);
            c.agente_asignado.push(t.agente_asignado);
            c.prioridad.push(t.prioridad);
            c.estado.push(t.estado.as_str());
            c.sla_objetivo_ms.push(t.sla_objetivo.num_milliseconds());
            c.fecha_limite_sla.push(t.fecha_limite_sla);
            c.fecha_aviso_sla.push(t.fecha_aviso_sla);
            c.sla_alerta.push(t.sla_alerta.map(NivelSla::as_str));
            c.proxima_alerta_sla.push(t.proxima_alerta_sla);
            c.pausado_desde.push(t.pausado_desde);
            c.pausa_acumulada_ms.push(t.pausa_acumulada.num_milliseconds());
            c.sla_final.push(t.sla_final.map(SlaEstado::as_str));
            c.creado_en.push(t.creado_en);
            c.actualizado_en.push(t.actualizado_en);
            c.primera_asignacion_en.push(t.primera_asignacion_en);
            c.cerrado_en.push(t.cerrado_en);
            c.version.push(t.version);
            c.nuevo.push(nuevo);
        }
        c
    }
}

/// History entries as one array per column, for `unnest`.
#[derive(Default)]
struct ColumnasHistorial {
    ticket_uuid: Vec<Uuid>,
    fecha: Vec<DateTime<Utc>>,
    accion: Vec<String>,
    motivo: Vec<Option<String>>,
    actor_id: Vec<Option<String>>,
    actor_nombre: Vec<String>,
    actor_rol: Vec<String>,
    estado_antes: Vec<Option<String>>,
    estado_despues: Vec<String>,
    prioridad_antes: Vec<Option<String>>,
    prioridad_despues: Vec<Option<String>>,
    area_antes: Vec<Option<String>>,
    area_despues: Vec<Option<String>>,
    comando_id: Vec<Option<String>>,
}

impl From<Vec<(Uuid, HistorialLeido, Option<String>)>> for ColumnasHistorial {
    fn from(entradas: Vec<(Uuid, HistorialLeido, Option<String>)>) -> Self {
        let mut c = ColumnasHistorial::default();
        for (ticket, e, comando) in entradas {
            c.ticket_uuid.push(ticket);
            c.fecha.push(e.fecha);
            c.accion.push(e.accion);
            c.motivo.push(e.motivo);
            c.actor_id.push(e.actor_id);
            c.actor_nombre.push(e.actor_nombre);
            c.actor_rol.push(e.actor_rol);
            c.estado_antes.push(e.estado_antes);
            c.estado_despues.push(e.estado_despues);
            c.prioridad_antes.push(e.prioridad_antes);
            c.prioridad_despues.push(e.prioridad_despues);
            c.area_antes.push(e.area_antes);
            c.area_despues.push(e.area_despues);
            c.comando_id.push(comando);
        }
        c
    }
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventoPendiente {
    pub id: i64,
    pub evento_id: Uuid,
    pub tipo: String,
    /// The CloudEvent as stored: published byte for byte.
    pub cuerpo: String,
    pub traceparent: Option<String>,
}

/// Claims up to `limite` unsent events, oldest first, skipping rows another
/// relay holds. The lock lasts until the transaction ends.
pub async fn reclamar_eventos(conn: &mut PgConnection, limite: i64) -> Result<Vec<EventoPendiente>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, evento_id, tipo, cuerpo::text AS cuerpo, traceparent FROM outbox WHERE publicado_en IS NULL \
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

/// Deletes up to `limite` published events sent before `corte`; unpublished
/// ones are never touched. Returns how many went.
pub async fn podar_eventos_publicados(pool: &PgPool, corte: DateTime<Utc>, limite: i64) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM outbox WHERE id IN \
               (SELECT id FROM outbox WHERE publicado_en < $1 ORDER BY id LIMIT $2)";
    Ok(sqlx::query(sql).bind(corte).bind(limite).execute(pool).await?.rows_affected())
}

/// Deletes up to `limite` idempotency records processed before `corte`.
pub async fn podar_comandos(pool: &PgPool, corte: DateTime<Utc>, limite: i64) -> Result<u64, sqlx::Error> {
    let sql = "DELETE FROM comandos WHERE message_id IN \
               (SELECT message_id FROM comandos WHERE procesado_en < $1 LIMIT $2)";
    Ok(sqlx::query(sql).bind(corte).bind(limite).execute(pool).await?.rows_affected())
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
