//! The batch writer: everything one batch changes, written in one statement.

use super::historial::{HISTORIAL_COLUMNS, HistorialLeido};
use super::tickets::TICKET_COLUMNS;
use crate::domain::sla::{NivelSla, SlaEstado};
use crate::domain::ticket::{Historial, Ticket};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

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
