//! The batch writer: everything one batch changes, written in one statement,
//! one CTE per table and change.

use super::anonimizacion::borrar_copias;
use super::historial::{HISTORIAL_COLUMNS, HistorialLeido};
use super::mensajes::insertar_mensajes;
use super::tickets::{ColumnasTicket, TICKET_COLUMNS, columnas_que_cambian};
use super::unnest::Unnest;
use crate::domain::anonimizacion::DatosPersonales;
use crate::domain::conversacion::MensajeConversacion;
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
    /// Conversation messages, with their ticket, in the order written.
    mensajes: Vec<(Uuid, MensajeConversacion)>,
    /// Replies already serialised: stored as the very text they are sent as.
    respuestas: Vec<(String, Option<Uuid>, Arc<str>)>,
    /// Tickets erased in this batch (§11), with the values their copies
    /// must lose: after the batch statement, [`borrar_copias`].
    anonimizados: Vec<DatosPersonales>,
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

    /// Stages a message of `ticket`'s conversation.
    pub fn mensaje(&mut self, ticket: Uuid, m: MensajeConversacion) {
        self.mensajes.push((ticket, m));
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

    /// A ticket erased by this batch: its copies lose `datos` once the
    /// batch statement wrote it.
    pub fn anonimizado(&mut self, datos: DatosPersonales) {
        self.anonimizados.push(datos);
    }

    /// Whether any event is staged (so the relay must be woken).
    pub fn hay_eventos(&self) -> bool {
        !self.eventos.is_empty()
    }

    /// Writes everything, then starts empty again. One statement of sibling
    /// CTEs, one per function below: they run as one, and the history's
    /// foreign key is checked at its end, so history may name a ticket
    /// inserted in the same batch. The text is the same for every batch: the
    /// prepared statement is reused. A batch that erased tickets then runs
    /// the fixed statements of [`borrar_copias`], which see what this one wrote.
    pub async fn escribir(&mut self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        let Cambios { tickets, historial, eventos, mensajes, respuestas, anonimizados } = std::mem::take(self);
        if tickets.is_empty() && historial.is_empty() && eventos.is_empty() && respuestas.is_empty() {
            return Ok(());
        }
        let mut qb = QueryBuilder::<Postgres>::new("WITH ");
        filas_de_tickets(&mut qb, tickets);
        insertar_tickets(&mut qb);
        actualizar_tickets(&mut qb);
        insertar_historial(&mut qb, historial);
        insertar_eventos(&mut qb, eventos);
        insertar_mensajes(&mut qb, mensajes);
        guardar_respuestas(&mut qb, &respuestas);
        qb.push(" SELECT 1");
        qb.build().execute(&mut *conn).await?;
        borrar_copias(conn, &anonimizados).await
    }
}

/// `filas`: the batch's tickets as rows, each marked `nuevo` or not, read by
/// both the insert and the update.
fn filas_de_tickets(qb: &mut QueryBuilder<Postgres>, tickets: Vec<(Ticket, bool)>) {
    let nuevo: Vec<bool> = tickets.iter().map(|(_, nuevo)| *nuevo).collect();
    let columnas: ColumnasTicket = tickets.into_iter().map(|(t, _)| t).collect();
    qb.push("filas AS (SELECT * FROM ");
    let mut u = Unnest::new(qb);
    columnas.unnest(&mut u);
    u.columna("nuevo", nuevo, "bool").cerrar("f", false);
    qb.push(")");
}

/// `insertados`: the new tickets, every column.
fn insertar_tickets(qb: &mut QueryBuilder<Postgres>) {
    qb.push(format!(
        ", insertados AS ( \
           INSERT INTO tickets ({TICKET_COLUMNS}) SELECT {TICKET_COLUMNS} FROM filas WHERE nuevo \
         )"
    ));
}

/// `actualizados`: the changed tickets, every column but those fixed at
/// creation.
fn actualizar_tickets(qb: &mut QueryBuilder<Postgres>) {
    qb.push(", actualizados AS ( UPDATE tickets t SET ");
    let mut asignaciones = qb.separated(", ");
    for columna in columnas_que_cambian() {
        asignaciones.push(format_args!("{columna} = f.{columna}"));
    }
    qb.push(" FROM filas f WHERE NOT f.nuevo AND t.uuid = f.uuid )");
}

/// `historia`: the history entries, in batch order (`ORDER BY ord`), so their
/// ids follow the order they happened in.
fn insertar_historial(qb: &mut QueryBuilder<Postgres>, historial: Vec<(Uuid, HistorialLeido, Option<String>)>) {
    let h = ColumnasHistorial::from(historial);
    qb.push(format!(
        ", historia AS ( \
           INSERT INTO historial (ticket_uuid, {HISTORIAL_COLUMNS}, comando_id) \
           SELECT ticket_uuid, {HISTORIAL_COLUMNS}, comando_id FROM "
    ));
    Unnest::new(qb)
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
        .columna("interno", h.interno, "bool")
        .columna("comando_id", h.comando_id, "text")
        .cerrar("h", true);
    qb.push(" ORDER BY ord )");
}

/// `eventos`: the outbox rows, in batch order (`ORDER BY ord`): the relay
/// publishes by id, so per-ticket event order holds.
fn insertar_eventos(qb: &mut QueryBuilder<Postgres>, eventos: Vec<EventoNuevo>) {
    let (mut id, mut tipo, mut ticket, mut cuerpo, mut traceparent) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for e in eventos {
        id.push(e.evento_id);
        tipo.push(e.tipo);
        ticket.push(e.ticket);
        cuerpo.push(e.cuerpo);
        traceparent.push(e.traceparent);
    }
    qb.push(
        ", eventos AS ( \
           INSERT INTO outbox (evento_id, tipo, ticket_uuid, cuerpo, traceparent) \
           SELECT evento_id, tipo, ticket_uuid, cuerpo::json, traceparent FROM ",
    );
    Unnest::new(qb)
        .columna("evento_id", id, "uuid")
        .columna("tipo", tipo, "text")
        .columna("ticket_uuid", ticket, "uuid")
        .columna("cuerpo", cuerpo, "text")
        .columna("traceparent", traceparent, "text")
        .cerrar("e", true);
    qb.push(" ORDER BY ord )");
}

/// `respuestas`: each claimed command's reply, stored as the text it is sent
/// as.
fn guardar_respuestas(qb: &mut QueryBuilder<Postgres>, respuestas: &[(String, Option<Uuid>, Arc<str>)]) {
    let (mut id, mut ticket, mut respuesta) = (Vec::new(), Vec::new(), Vec::new());
    for (message_id, uuid, texto) in respuestas {
        id.push(message_id.as_str());
        ticket.push(*uuid);
        respuesta.push(&**texto);
    }
    qb.push(
        ", respuestas AS ( \
           UPDATE comandos c SET respuesta = r.respuesta::json, ticket_uuid = r.ticket_uuid FROM ",
    );
    Unnest::new(qb)
        .columna("message_id", id, "text")
        .columna("ticket_uuid", ticket, "uuid")
        .columna("respuesta", respuesta, "text")
        .cerrar("r", false);
    qb.push(" WHERE c.message_id = r.message_id)");
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
    interno: Vec<bool>,
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
            c.interno.push(e.interno);
            c.comando_id.push(comando);
        }
        c
    }
}
