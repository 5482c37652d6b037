//! Command processing, independent of the broker: a decoded message in, a
//! reply and a disposition out. Mutations commit their change, history,
//! outbox event and idempotency record in one transaction.

use crate::auth::Verificador;
use crate::domain::comando::{ComandoTicket, DatosCreacion, Peticion, cursor, validar};
use crate::domain::estado::{Acceso, Operacion};
use crate::domain::sla::PoliticaSla;
use crate::domain::ticket::{Actor, Alcance, Rechazo, Ticket};
use crate::error::{Disposicion, ErrorContrato, ErrorProceso};
use crate::store::{self, HistorialLeido};
use crate::vistas;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde_json::{Map, Value};
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::Notify;
use uuid::Uuid;

/// Longest accepted `message_id` (contract §3).
pub const MESSAGE_ID_MAX: usize = 200;

/// A command as it arrived, stripped of broker types.
#[derive(Debug, Clone, Default)]
pub struct Mensaje {
    pub routing_key: String,
    pub message_id: Option<String>,
    pub authorization: Option<String>,
    pub traceparent: Option<String>,
    pub body: Vec<u8>,
}

impl Mensaje {
    /// The ticket a command is about, when it names one: the key that keeps
    /// commands on one ticket in order.
    pub fn clave_de_orden(&self) -> Option<String> {
        let body: Value = serde_json::from_slice(&self.body).ok()?;
        body.get("ticketId")?.as_str().map(|s| s.trim().to_ascii_lowercase())
    }
}

/// What to answer and what to do with the delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Desenlace {
    pub respuesta: Value,
    pub disposicion: Disposicion,
    /// `ok`, or the error code: for metrics and logs.
    pub resultado: &'static str,
    pub operacion: Option<Operacion>,
}

impl Desenlace {
    fn ok(operacion: Operacion, datos: Value) -> Self {
        Desenlace {
            respuesta: vistas::ok(datos),
            disposicion: Disposicion::Ack,
            resultado: "ok",
            operacion: Some(operacion),
        }
    }

    fn rechazo(operacion: Option<Operacion>, e: &ErrorContrato) -> Self {
        Desenlace { respuesta: e.respuesta(), disposicion: Disposicion::Ack, resultado: e.codigo(), operacion }
    }

    fn veneno(e: &ErrorContrato) -> Self {
        Desenlace {
            respuesta: e.respuesta(),
            disposicion: Disposicion::DeadLetter { motivo: e.to_string() },
            resultado: e.codigo(),
            operacion: None,
        }
    }

    /// A body over the configured size: refused unread.
    pub fn demasiado_grande(max: usize) -> Self {
        Self::veneno(&ErrorContrato::SolicitudInvalida(format!("el cuerpo supera {max} bytes")))
    }

    /// A reply recorded earlier for the same `message_id`.
    fn repetido(operacion: Operacion, respuesta: Value) -> Self {
        Desenlace { respuesta, disposicion: Disposicion::Ack, resultado: "repetido", operacion: Some(operacion) }
    }
}

/// The clock, injectable so tests can move time.
pub type Reloj = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn reloj_del_sistema() -> Reloj {
    Arc::new(Utc::now)
}

#[derive(Clone)]
pub struct Procesador {
    pool: PgPool,
    politica: Arc<PoliticaSla>,
    verificador: Verificador,
    reloj: Reloj,
    /// Wakes the outbox relay after a commit.
    outbox: Arc<Notify>,
}

impl Procesador {
    pub fn new(
        pool: PgPool,
        politica: Arc<PoliticaSla>,
        verificador: Verificador,
        reloj: Reloj,
        outbox: Arc<Notify>,
    ) -> Self {
        Self { pool, politica, verificador, reloj, outbox }
    }

    fn ahora(&self) -> DateTime<Utc> {
        // Postgres keeps microseconds; replies and stored rows must agree.
        (self.reloj)().trunc_subsecs(3)
    }

    /// Handles one command. `Err` only for failures that are not the
    /// command's fault: the caller retries transient ones.
    pub async fn procesar(&self, m: &Mensaje) -> Result<Desenlace, ErrorProceso> {
        let Some(op) = Operacion::from_routing_key(&m.routing_key) else {
            return Ok(Desenlace::veneno(&ErrorContrato::SolicitudInvalida(format!(
                "operación desconocida: {:?}",
                m.routing_key
            ))));
        };
        let body = match serde_json::from_slice::<Value>(&m.body) {
            Ok(Value::Object(body)) => body,
            Ok(_) => {
                return Ok(Desenlace::veneno(&ErrorContrato::SolicitudInvalida(
                    "el cuerpo debe ser un objeto JSON".into(),
                )));
            }
            Err(e) => {
                return Ok(Desenlace::veneno(&ErrorContrato::SolicitudInvalida(format!(
                    "el cuerpo no es JSON válido: {e}"
                ))));
            }
        };
        let message_id = m.message_id.as_deref().map(str::trim).filter(|id| !id.is_empty());
        let message_id = if op.es_mutacion() {
            match message_id {
                Some(id) if id.chars().count() <= MESSAGE_ID_MAX => Some(id),
                Some(_) => {
                    let e = ErrorContrato::SolicitudInvalida(format!("message_id supera {MESSAGE_ID_MAX} caracteres"));
                    return Ok(Desenlace::rechazo(Some(op), &e));
                }
                None => {
                    let e = ErrorContrato::SolicitudInvalida("las mutaciones requieren message_id".into());
                    return Ok(Desenlace::rechazo(Some(op), &e));
                }
            }
        } else {
            None
        };
        match self.atender(op, &body, m, message_id).await? {
            Ok(desenlace) => Ok(desenlace),
            Err(e) => {
                // A redelivery whose token expired meanwhile still gets its first reply.
                if let Some(id) = message_id {
                    let mut conn = self.pool.acquire().await?;
                    if let Some(previa) = store::respuesta_registrada(&mut conn, id).await? {
                        return Ok(Desenlace::repetido(op, previa));
                    }
                }
                Ok(Desenlace::rechazo(Some(op), &e))
            }
        }
    }

    async fn atender(
        &self,
        op: Operacion,
        body: &Map<String, Value>,
        m: &Mensaje,
        message_id: Option<&str>,
    ) -> Result<Result<Desenlace, ErrorContrato>, ErrorProceso> {
        let actor = match op.acceso() {
            Acceso::Publico => None,
            acceso => match self.verificador.verificar(m.authorization.as_deref()) {
                Ok(actor) => {
                    if let Acceso::Roles(roles) = acceso
                        && !roles.iter().any(|r| r.as_str() == actor.rol)
                    {
                        return Ok(Err(ErrorContrato::Prohibido(format!(
                            "el rol {} no puede {}",
                            actor.rol,
                            op.as_str()
                        ))));
                    }
                    Some(actor)
                }
                Err(e) => return Ok(Err(e)),
            },
        };
        let peticion = match validar(op, body, &self.politica) {
            Ok(p) => p,
            Err(campos) => return Ok(Err(ErrorContrato::Validacion(campos))),
        };
        let ahora = self.ahora();
        let traceparent = m.traceparent.as_deref();
        match peticion {
            Peticion::Crear(datos) => {
                let id = message_id.expect("mutations carry a message_id");
                self.crear(*datos, id, ahora, traceparent).await.map(Ok)
            }
            Peticion::Ticket(cmd) => {
                let id = message_id.expect("mutations carry a message_id");
                let actor = actor.expect("ticket mutations are never public");
                self.mutar(&cmd, &actor, id, ahora, traceparent).await.map(Ok)
            }
            Peticion::Consultar { label, email } => {
                let mut conn = self.pool.acquire().await?;
                let Some(t) = store::ticket_por_label_y_email(&mut conn, &label, &email).await? else {
                    return Ok(Err(ErrorContrato::NoEncontrado(
                        "no hay un ticket con esa etiqueta y ese correo".into(),
                    )));
                };
                let ultimo = store::ultimo_historial(&mut conn, t.uuid).await?;
                Ok(Ok(Desenlace::ok(op, vistas::consulta(&t, ultimo.as_ref(), ahora))))
            }
            Peticion::Detalle { ticket_id } => {
                let actor = actor.expect("detalle needs a token");
                let mut conn = self.pool.acquire().await?;
                let Some(t) = store::ticket(&mut conn, ticket_id).await? else {
                    return Ok(Err(ErrorContrato::ticket_no_encontrado()));
                };
                if !actor.alcanza(&t) {
                    return Ok(Err(fuera_de_area()));
                }
                let entradas = store::historial(&mut conn, t.uuid).await?;
                Ok(Ok(Desenlace::ok(op, vistas::detalle(&t, &entradas, ahora))))
            }
            Peticion::Listar(mut filtro) => {
                let actor = actor.expect("listar needs a token");
                let Alcance::Area(area) = actor.alcance(filtro.area.as_deref()) else {
                    return Ok(Ok(Desenlace::ok(op, vistas::listado(&[], None, ahora))));
                };
                filtro.area = area;
                let mut conn = self.pool.acquire().await?;
                let mut tickets = store::listar(&mut conn, &filtro, ahora).await?;
                let siguiente = (tickets.len() as i64 > filtro.limite).then(|| {
                    tickets.truncate(filtro.limite as usize);
                    cursor(tickets.last().expect("limite >= 1").num)
                });
                Ok(Ok(Desenlace::ok(op, vistas::listado(&tickets, siguiente, ahora))))
            }
            Peticion::Estadisticas(filtro) => {
                let actor = actor.expect("estadisticas needs a token");
                let hasta = filtro.hasta.unwrap_or(ahora);
                let desde = filtro.desde.unwrap_or(hasta - TimeDelta::days(30));
                let e = match actor.alcance(filtro.area.as_deref()) {
                    Alcance::Nada => (store::Estadisticas::default(), filtro.area.clone()),
                    Alcance::Area(area) => {
                        let mut conn = self.pool.acquire().await?;
                        (store::estadisticas(&mut conn, desde, hasta, area.as_deref(), ahora).await?, area)
                    }
                };
                Ok(Ok(Desenlace::ok(op, vistas::estadisticas(&e.0, desde, hasta, e.1.as_deref()))))
            }
            Peticion::Catalogo => Ok(Ok(Desenlace::ok(op, crate::catalogo::catalogo(&self.politica)))),
        }
    }

    async fn crear(
        &self,
        datos: DatosCreacion,
        message_id: &str,
        ahora: DateTime<Utc>,
        traceparent: Option<&str>,
    ) -> Result<Desenlace, ErrorProceso> {
        let mut tx = self.pool.begin().await?;
        let num = store::siguiente_num(&mut tx).await?;
        let (ticket, entrada) = Ticket::crear(datos, Uuid::new_v4(), num, ahora, &self.politica);
        let actor = Actor {
            id: String::new(),
            nombre: ticket.solicitante.nombre.clone(),
            rol: entrada.actor_rol.clone(),
            area: None,
        };
        store::insertar_ticket(&mut tx, &ticket).await?;
        store::insertar_historial(&mut tx, ticket.uuid, &entrada, Some(message_id)).await?;
        self.encolar_evento(
            &mut tx,
            Operacion::Crear,
            &ticket,
            &HistorialLeido::from(&entrada),
            message_id,
            &actor,
            ahora,
            traceparent,
        )
        .await?;
        let respuesta = vistas::ok(vistas::creado(&ticket));
        self.confirmar(tx, Operacion::Crear, message_id, Some(ticket.uuid), respuesta, "ok").await
    }

    async fn mutar(
        &self,
        cmd: &ComandoTicket,
        actor: &Actor,
        message_id: &str,
        ahora: DateTime<Utc>,
        traceparent: Option<&str>,
    ) -> Result<Desenlace, ErrorProceso> {
        let op = cmd.mutacion.operacion();
        let mut tx = self.pool.begin().await?;
        let resultado = match store::bloquear_ticket(&mut tx, cmd.ticket_id).await? {
            None => Err(ErrorContrato::ticket_no_encontrado()),
            Some(t) if !actor.alcanza(&t) => Err(fuera_de_area()),
            Some(t) => match t.aplicar(cmd, actor, ahora, &self.politica) {
                Err(Rechazo::Transicion { operacion, estado }) => {
                    Err(ErrorContrato::TransicionInvalida { operacion, estado })
                }
                Err(Rechazo::Campos(campos)) => Err(ErrorContrato::Validacion(campos)),
                Ok((nuevo, entrada)) => {
                    store::actualizar_ticket(&mut tx, &nuevo).await?;
                    store::insertar_historial(&mut tx, nuevo.uuid, &entrada, Some(message_id)).await?;
                    self.encolar_evento(
                        &mut tx,
                        op,
                        &nuevo,
                        &HistorialLeido::from(&entrada),
                        message_id,
                        actor,
                        ahora,
                        traceparent,
                    )
                    .await?;
                    Ok(vistas::transicion(&t, &nuevo, ahora))
                }
            },
        };
        // Refusals are recorded too: a re-sent command gets the same answer
        // even if the ticket has moved on since.
        let (respuesta, codigo) = match resultado {
            Ok(datos) => (vistas::ok(datos), "ok"),
            Err(e) => (e.respuesta(), e.codigo()),
        };
        self.confirmar(tx, op, message_id, Some(cmd.ticket_id), respuesta, codigo).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn encolar_evento(
        &self,
        tx: &mut sqlx::PgConnection,
        op: Operacion,
        ticket: &Ticket,
        entrada: &HistorialLeido,
        message_id: &str,
        actor: &Actor,
        ahora: DateTime<Utc>,
        traceparent: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let tipo = op.tipo_evento().expect("mutations have an event type");
        let id = Uuid::new_v4();
        let data = vistas::datos_evento_ticket(ticket, entrada, message_id, actor, ahora);
        let cuerpo = vistas::evento(id, tipo, ticket.uuid, ahora, traceparent, data);
        store::encolar_evento(tx, id, tipo, Some(ticket.uuid), &cuerpo, traceparent).await
    }

    /// Records the reply under the `message_id` and commits, or, when that id
    /// was processed already, rolls everything back and replays its reply.
    async fn confirmar(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        op: Operacion,
        message_id: &str,
        ticket: Option<Uuid>,
        respuesta: Value,
        resultado: &'static str,
    ) -> Result<Desenlace, ErrorProceso> {
        if !store::registrar_comando(&mut tx, message_id, op.as_str(), ticket, &respuesta).await? {
            tx.rollback().await?;
            let mut conn = self.pool.acquire().await?;
            let previa = store::respuesta_registrada(&mut conn, message_id)
                .await?
                .ok_or_else(|| ErrorProceso::Transitorio(anyhow::anyhow!("idempotency record vanished")))?;
            return Ok(Desenlace::repetido(op, previa));
        }
        tx.commit().await?;
        self.outbox.notify_one();
        Ok(Desenlace { respuesta, disposicion: Disposicion::Ack, resultado, operacion: Some(op) })
    }
}

fn fuera_de_area() -> ErrorContrato {
    ErrorContrato::Prohibido("el ticket pertenece a otra área".into())
}
