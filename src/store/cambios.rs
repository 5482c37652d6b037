//! The batch writer: everything one batch changes, written in one statement.

use super::historial::{HISTORIAL_COLUMNS, HistorialLeido};
use super::tickets::TICKET_COLUMNS;
use crate::domain::sla::{NivelSla, SlaEstado};
use crate::domain::ticket::{Historial, Ticket};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use std::sync::Arc;
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
    /// Replies already serialised: stored as the very text they are sent as.
    respuestas: Vec<(String, Option<Uuid>, Arc<str>)>,
}

/// An event to put in the outbox.
pub struct EventoNuevo {
    /// CloudEvent `id`.
    pub evento_id: Uuid,
    /// CloudEvent `type` (`ticket.creado`, ...).
    pub tipo: &'static str,
    /// The ticket it is about; none for events on no ticket.
    pub ticket: Option<Uuid>,
    /// The CloudEvent as JSON text, as published.
    pub cuerpo: String,
    /// W3C `traceparent` of the command that caused it.
    pub traceparent: Option<String>,
}

impl Cambios {
    /// The latest state of a ticket this batch changed, if it did.
    pub fn ticket(&self, uuid: Uuid) -> Option<&Ticket> {
        self.tickets.iter().find(|(t, _)| t.uuid == uuid).map(|(t, _)| t)
    }

    /// Stages a ticket to insert.
    pub fn ticket_nuevo(&mut self, t: Ticket) {
        self.guardar(t, true);
    }

    /// Stages a changed ticket to update.
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

    /// Stages a history entry of `ticket`, from the command `comando_id`.
    pub fn historial(&mut self, ticket: Uuid, h: &Historial, comando_id: Option<&str>) {
        self.historial_leido(ticket, HistorialLeido::from(h), comando_id);
    }

    /// A history entry already converted (for the event it also feeds).
    pub fn historial_leido(&mut self, ticket: Uuid, h: HistorialLeido, comando_id: Option<&str>) {
        self.historial.push((ticket, h, comando_id.map(str::to_string)));
    }

    /// Stages an event for the outbox.
    pub fn evento(&mut self, e: EventoNuevo) {
        self.eventos.push(e);
    }

    /// The reply of a command claimed by [`reservar_comandos`], serialised
    /// (the caller sends the same text).
    pub fn respuesta(&mut self, message_id: &str, ticket: Option<Uuid>, texto: Arc<str>) {
        self.respuestas.push((message_id.to_string(), ticket, texto));
    }

    /// Whether any event is staged (so the relay must be woken).
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
            ev_cuerpo.push(e.cuerpo);
            ev_tp.push(e.traceparent);
        }
        let (mut r_id, mut r_ticket, mut r_respuesta) = (Vec::new(), Vec::new(), Vec::new());
        for (id, ticket, respuesta) in &respuestas {
            r_id.push(id.as_str());
            r_ticket.push(*ticket);
            r_respuesta.push(&**respuesta);
        }
        // Each column's name, values and SQL type go in one call, so the
        // placeholders, the binds and the names cannot drift apart. The text
        // is the same for every batch: the prepared statement is reused.
        let mut qb = QueryBuilder::<Postgres>::new("WITH filas AS (SELECT * FROM ");
        Unnest::new(&mut qb)
            .columna("uuid", t.uuid, "uuid")
            .columna("num", t.num, "int8")
            .columna("label", t.label, "text")
            .columna("solicitante_nombre", t.solicitante_nombre, "text")
            .columna("solicitante_email", t.solicitante_email, "text")
            .columna("solicitante_telefono", t.solicitante_telefono, "text")
            .columna("tiene_whatsapp", t.tiene_whatsapp, "bool")
            .columna("documento", t.documento, "text")
            .columna("empresa_departamento", t.empresa_departamento, "text")
            .columna("tipo", t.tipo, "text")
            .columna("categoria", t.categoria, "text")
            .columna("subcategoria", t.subcategoria, "text")
            .columna("asunto", t.asunto, "text")
            .columna("descripcion", t.descripcion, "text")
            .columna("respuesta_cliente", t.respuesta_cliente, "text")
            .columna("area_asignada", t.area_asignada, "text")
            .columna("agente_asignado", t.agente_asignado, "text")
            .columna("prioridad", t.prioridad, "text")
            .columna("estado", t.estado, "text")
            .columna("sla_objetivo_ms", t.sla_objetivo_ms, "int8")
            .columna("fecha_limite_sla", t.fecha_limite_sla, "timestamptz")
            .columna("fecha_aviso_sla", t.fecha_aviso_sla, "timestamptz")
            .columna("sla_alerta", t.sla_alerta, "text")
            .columna("proxima_alerta_sla", t.proxima_alerta_sla, "timestamptz")
            .columna("pausado_desde", t.pausado_desde, "timestamptz")
            .columna("pausa_acumulada_ms", t.pausa_acumulada_ms, "int8")
            .columna("sla_final", t.sla_final, "text")
            .columna("creado_en", t.creado_en, "timestamptz")
            .columna("actualizado_en", t.actualizado_en, "timestamptz")
            .columna("primera_asignacion_en", t.primera_asignacion_en, "timestamptz")
            .columna("cerrado_en", t.cerrado_en, "timestamptz")
            .columna("version", t.version, "int8")
            .columna("sla_politica", t.sla_politica, "text")
            .columna("sla_alerta_umbral", t.sla_alerta_umbral, "int2")
            .columna("primera_respuesta_objetivo_ms", t.primera_respuesta_objetivo_ms, "int8")
            .columna("fecha_limite_primera_respuesta", t.fecha_limite_primera_respuesta, "timestamptz")
            .columna("fecha_aviso_primera_respuesta", t.fecha_aviso_primera_respuesta, "timestamptz")
            .columna("primera_respuesta_alerta", t.primera_respuesta_alerta, "text")
            .columna("primera_respuesta_umbral", t.primera_respuesta_umbral, "int2")
            .columna("primera_respuesta_final", t.primera_respuesta_final, "text")
            .columna("nuevo", t.nuevo, "bool")
            .cerrar("f", false);
        qb.push(format!(
            "), insertados AS ( \
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
                 proxima_alerta_sla = f.proxima_alerta_sla, sla_politica = f.sla_politica, \
                 sla_alerta_umbral = f.sla_alerta_umbral, \
                 primera_respuesta_objetivo_ms = f.primera_respuesta_objetivo_ms, \
                 fecha_limite_primera_respuesta = f.fecha_limite_primera_respuesta, \
                 fecha_aviso_primera_respuesta = f.fecha_aviso_primera_respuesta, \
                 primera_respuesta_alerta = f.primera_respuesta_alerta, \
                 primera_respuesta_umbral = f.primera_respuesta_umbral, \
                 primera_respuesta_final = f.primera_respuesta_final \
               FROM filas f WHERE NOT f.nuevo AND t.uuid = f.uuid \
             ), historia AS ( \
               INSERT INTO historial (ticket_uuid, {HISTORIAL_COLUMNS}, comando_id) \
               SELECT ticket_uuid, {HISTORIAL_COLUMNS}, comando_id FROM "
        ));
        Unnest::new(&mut qb)
            .columna("ticket_uuid", h.ticket_uuid, "uuid")
            .columna("fecha", h.fecha, "timestamptz")
            .columna("accion", h.accion, "text")
            .columna("motivo", h.motivo, "text")
            .columna("actor_id", h.actor_id, "text")
            .columna("actor_nombre", h.actor_nombre, "text")
            .columna("actor_rol", h.actor_rol, "text")
            .columna("estado_antes", h.estado_antes, "text")
            .columna("estado_despues", h.estado_despues, "text")
            .columna("prioridad_antes", h.prioridad_antes, "text")
            .columna("prioridad_despues", h.prioridad_despues, "text")
            .columna("area_antes", h.area_antes, "text")
            .columna("area_despues", h.area_despues, "text")
            .columna("comando_id", h.comando_id, "text")
            .cerrar("h", true);
        qb.push(
            " ORDER BY ord \
             ), eventos AS ( \
               INSERT INTO outbox (evento_id, tipo, ticket_uuid, cuerpo, traceparent) \
               SELECT evento_id, tipo, ticket_uuid, cuerpo::json, traceparent FROM ",
        );
        Unnest::new(&mut qb)
            .columna("evento_id", ev_id, "uuid")
            .columna("tipo", ev_tipo, "text")
            .columna("ticket_uuid", ev_ticket, "uuid")
            .columna("cuerpo", ev_cuerpo, "text")
            .columna("traceparent", ev_tp, "text")
            .cerrar("e", true);
        qb.push(
            " ORDER BY ord \
             ), respuestas AS ( \
               UPDATE comandos c SET respuesta = r.respuesta::json, ticket_uuid = r.ticket_uuid FROM ",
        );
        Unnest::new(&mut qb)
            .columna("message_id", r_id, "text")
            .columna("ticket_uuid", r_ticket, "uuid")
            .columna("respuesta", r_respuesta, "text")
            .cerrar("r", false);
        qb.push(" WHERE c.message_id = r.message_id) SELECT 1");
        qb.build().execute(conn).await?;
        Ok(())
    }
}

/// `unnest($a::t[], $b::u[], …) [WITH ORDINALITY] AS alias(a, b, … [, ord])`,
/// one column per call: the statement a batch's [`Cambios`] are written with
/// is built from these. Sibling CTEs run in one statement; the history's
/// foreign key is checked at its end, so history may name a ticket inserted
/// in the same batch. `ORDER BY ord` keeps history and outbox ids in batch
/// order: the relay publishes by id, so per-ticket event order holds.
struct Unnest<'b> {
    qb: &'b mut QueryBuilder<Postgres>,
    nombres: Vec<&'static str>,
}

impl<'b> Unnest<'b> {
    fn new(qb: &'b mut QueryBuilder<Postgres>) -> Self {
        qb.push("unnest(");
        Unnest { qb, nombres: Vec::new() }
    }

    /// A column: its name, its values (one array bind) and their SQL type.
    fn columna<T>(&mut self, nombre: &'static str, valores: T, tipo: &str) -> &mut Self
    where
        T: for<'t> sqlx::Encode<'t, Postgres> + sqlx::Type<Postgres>,
    {
        if !self.nombres.is_empty() {
            self.qb.push(", ");
        }
        self.qb.push_bind(valores).push("::").push(tipo).push("[]");
        self.nombres.push(nombre);
        self
    }

    fn cerrar(&mut self, alias: &str, ordinalidad: bool) {
        let orden = if ordinalidad { " WITH ORDINALITY" } else { "" };
        let extra = if ordinalidad { ", ord" } else { "" };
        self.qb.push(format!("){orden} AS {alias}({}{extra})", self.nombres.join(", ")));
    }
}

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
    sla_politica: Vec<Option<String>>,
    sla_alerta_umbral: Vec<Option<i16>>,
    primera_respuesta_objetivo_ms: Vec<Option<i64>>,
    fecha_limite_primera_respuesta: Vec<Option<DateTime<Utc>>>,
    fecha_aviso_primera_respuesta: Vec<Option<DateTime<Utc>>>,
    primera_respuesta_alerta: Vec<Option<&'static str>>,
    primera_respuesta_umbral: Vec<Option<i16>>,
    primera_respuesta_final: Vec<Option<&'static str>>,
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
            let (alerta, umbral) = t.sla_progreso.columnas();
            c.sla_alerta.push(alerta.map(NivelSla::as_str));
            c.sla_alerta_umbral.push(umbral);
            c.proxima_alerta_sla.push(t.proxima_alerta_sla);
            c.pausado_desde.push(t.pausado_desde);
            c.pausa_acumulada_ms.push(t.pausa_acumulada.num_milliseconds());
            c.sla_final.push(t.sla_final.map(SlaEstado::as_str));
            c.creado_en.push(t.creado_en);
            c.actualizado_en.push(t.actualizado_en);
            c.primera_asignacion_en.push(t.primera_asignacion_en);
            c.cerrado_en.push(t.cerrado_en);
            c.version.push(t.version);
            c.sla_politica.push(t.sla_politica);
            let pr = t.primera_respuesta;
            c.primera_respuesta_objetivo_ms.push(pr.as_ref().map(|p| p.objetivo.num_milliseconds()));
            c.fecha_limite_primera_respuesta.push(pr.as_ref().map(|p| p.fecha_limite));
            c.fecha_aviso_primera_respuesta.push(pr.as_ref().map(|p| p.fecha_aviso));
            let (alerta, umbral) = pr.as_ref().map(|p| p.progreso.columnas()).unwrap_or_default();
            c.primera_respuesta_alerta.push(alerta.map(NivelSla::as_str));
            c.primera_respuesta_umbral.push(umbral);
            c.primera_respuesta_final.push(pr.and_then(|p| p.resultado).map(SlaEstado::as_str));
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
    actor_rol: Vec<&'static str>,
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
            c.actor_rol.push(e.actor_rol.as_str());
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
