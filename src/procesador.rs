//! Command processing, independent of the broker: decoded messages in,
//! replies and dispositions out. A batch of commands (one, or a lane's group
//! commit) is applied in one transaction: each mutation's change, history
//! entry, outbox event and idempotency record commit together.

use crate::auth::Verificador;
use crate::domain::comando::{ComandoTicket, DatosCreacion, Peticion, cursor, validar};
use crate::domain::estado::{Acceso, Operacion};
use crate::domain::sla::PoliticaSla;
use crate::domain::ticket::{Actor, Alcance, Rechazo, Ticket};
use crate::error::{Disposicion, ErrorContrato, ErrorProceso};
use crate::store::{self, HistorialLeido};
use crate::vistas;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
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

/// The clock's current time at millisecond precision: what Postgres stores
/// round-trips unchanged, so replies and stored rows agree.
pub fn ahora(reloj: &Reloj) -> DateTime<Utc> {
    reloj().trunc_subsecs(3)
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

    /// Handles one command. `Err` only for failures that are not the
    /// command's fault: the caller retries transient ones.
    pub async fn procesar(&self, m: &Mensaje) -> Result<Desenlace, ErrorProceso> {
        Ok(self.procesar_lote(&[m]).await?.pop().expect("one outcome per message"))
    }

    /// Handles commands in order in ONE transaction (group commit): one
    /// outcome per message, all committed together or, on `Err`, none.
    /// Each mutation keeps its own idempotency record, so a batch replayed
    /// after a failure or a crash changes nothing twice.
    pub async fn procesar_lote(&self, mensajes: &[&Mensaje]) -> Result<Vec<Desenlace>, ErrorProceso> {
        let preparados: Vec<Preparado> = mensajes.iter().map(|m| self.preparar(m)).collect();
        if preparados.iter().all(|p| matches!(p, Preparado::Listo(_))) {
            return Ok(preparados
                .into_iter()
                .map(|p| match p {
                    Preparado::Listo(d) => d,
                    _ => unreachable!("checked above"),
                })
                .collect());
        }
        let ahora = ahora(&self.reloj);
        let mut tx = self.pool.begin().await?;
        let mut desenlaces = Vec::with_capacity(mensajes.len());
        let mut cambios = false;
        for (preparado, m) in preparados.into_iter().zip(mensajes) {
            let desenlace = match preparado {
                Preparado::Listo(d) => d,
                Preparado::Rechazado { op, error, message_id } => {
                    // A redelivery whose token expired meanwhile still gets its first reply.
                    let previa = match &message_id {
                        Some(id) => store::respuesta_registrada(&mut tx, id).await?,
                        None => None,
                    };
                    match previa {
                        Some(previa) => Desenlace::repetido(op, previa),
                        None => Desenlace::rechazo(Some(op), &error),
                    }
                }
                Preparado::Valido { op, peticion, actor, message_id } => {
                    let traceparent = m.traceparent.as_deref();
                    let d =
                        self.ejecutar(&mut tx, op, peticion, actor, message_id.as_deref(), ahora, traceparent).await?;
                    cambios |= op.es_mutacion() && d.resultado == "ok";
                    d
                }
            };
            desenlaces.push(desenlace);
        }
        tx.commit().await?;
        if cambios {
            self.outbox.notify_one();
        }
        Ok(desenlaces)
    }

    /// Everything decided without the database: routing, decoding,
    /// `message_id`, token, role and field validation.
    fn preparar(&self, m: &Mensaje) -> Preparado {
        let Some(op) = Operacion::from_routing_key(&m.routing_key) else {
            let e = ErrorContrato::SolicitudInvalida(format!("operación desconocida: {:?}", m.routing_key));
            return Preparado::Listo(Desenlace::veneno(&e));
        };
        let body = match serde_json::from_slice::<Value>(&m.body) {
            Ok(Value::Object(body)) => body,
            Ok(_) => {
                let e = ErrorContrato::SolicitudInvalida("el cuerpo debe ser un objeto JSON".into());
                return Preparado::Listo(Desenlace::veneno(&e));
            }
            Err(e) => {
                let e = ErrorContrato::SolicitudInvalida(format!("el cuerpo no es JSON válido: {e}"));
                return Preparado::Listo(Desenlace::veneno(&e));
            }
        };
        let message_id = m.message_id.as_deref().map(str::trim).filter(|id| !id.is_empty());
        let message_id = if op.es_mutacion() {
            match message_id {
                Some(id) if id.chars().count() <= MESSAGE_ID_MAX => Some(id.to_string()),
                Some(_) => {
                    let e = ErrorContrato::SolicitudInvalida(format!("message_id supera {MESSAGE_ID_MAX} caracteres"));
                    return Preparado::Listo(Desenlace::rechazo(Some(op), &e));
                }
                None => {
                    let e = ErrorContrato::SolicitudInvalida("las mutaciones requieren message_id".into());
                    return Preparado::Listo(Desenlace::rechazo(Some(op), &e));
                }
            }
        } else {
            None
        };
        let rechazo = |error| Preparado::Rechazado { op, error, message_id: message_id.clone() };
        let actor = match op.acceso() {
            Acceso::Publico => None,
            acceso => match self.verificador.verificar(m.authorization.as_deref()) {
                Ok(actor) => {
                    if let Acceso::Roles(roles) = acceso
                        && !roles.iter().any(|r| r.as_str() == actor.rol)
                    {
                        let texto = format!("el rol {} no puede {}", actor.rol, op.as_str());
                        return rechazo(ErrorContrato::Prohibido(texto));
                    }
                    Some(actor)
                }
                Err(e) => return rechazo(e),
            },
        };
        match validar(op, &body, &self.politica) {
            Ok(peticion) => Preparado::Valido { op, peticion, actor, message_id },
            Err(campos) => rechazo(ErrorContrato::Validacion(campos)),
        }
    }

    /// Applies a validated command inside the batch's transaction.
    #[allow(clippy::too_many_arguments)]
    async fn ejecutar(
        &self,
        tx: &mut PgConnection,
        op: Operacion,
        peticion: Peticion,
        actor: Option<Actor>,
        message_id: Option<&str>,
        ahora: DateTime<Utc>,
        traceparent: Option<&str>,
    ) -> Result<Desenlace, ErrorProceso> {
        let consulta = |r: Result<Value, ErrorContrato>| match r {
            Ok(datos) => Desenlace::ok(op, datos),
            Err(e) => Desenlace::rechazo(Some(op), &e),
        };
        Ok(match peticion {
            Peticion::Crear(datos) => {
                let id = message_id.expect("mutations carry a message_id");
                self.crear(tx, *datos, id, ahora, traceparent).await?
            }
            Peticion::Ticket(cmd) => {
                let id = message_id.expect("mutations carry a message_id");
                let actor = actor.expect("ticket mutations are never public");
                self.mutar(tx, &cmd, &actor, id, ahora, traceparent).await?
            }
            Peticion::Consultar { label, email } => {
                consulta(match store::ticket_por_label_y_email(tx, &label, &email).await? {
                    None => Err(ErrorContrato::NoEncontrado("no hay un ticket con esa etiqueta y ese correo".into())),
                    Some(t) => {
                        let ultimo = store::ultimo_historial(tx, t.uuid).await?;
                        Ok(vistas::consulta(&t, ultimo.as_ref(), ahora))
                    }
                })
            }
            Peticion::Detalle { ticket_id } => {
                let actor = actor.expect("detalle needs a token");
                consulta(match store::ticket(tx, ticket_id).await? {
                    None => Err(ErrorContrato::ticket_no_encontrado()),
                    Some(t) if !actor.alcanza(&t) => Err(fuera_de_area()),
                    Some(t) => {
                        let entradas = store::historial(tx, t.uuid).await?;
                        Ok(vistas::detalle(&t, &entradas, ahora))
                    }
                })
            }
            Peticion::Listar(mut filtro) => {
                let actor = actor.expect("listar needs a token");
                let Alcance::Area(area) = actor.alcance(filtro.area.as_deref()) else {
                    return Ok(Desenlace::ok(op, vistas::listado(&[], None, ahora)));
                };
                filtro.area = area;
                let mut tickets = store::listar(tx, &filtro, ahora).await?;
                let siguiente = (tickets.len() as i64 > filtro.limite).then(|| {
                    tickets.truncate(filtro.limite as usize);
                    cursor(tickets.last().expect("limite >= 1").num)
                });
                Desenlace::ok(op, vistas::listado(&tickets, siguiente, ahora))
            }
            Peticion::Estadisticas(filtro) => {
                let actor = actor.expect("estadisticas needs a token");
                let hasta = filtro.hasta.unwrap_or(ahora);
                let desde = filtro.desde.unwrap_or(hasta - TimeDelta::days(30));
                let (e, area) = match actor.alcance(filtro.area.as_deref()) {
                    Alcance::Nada => (store::Estadisticas::default(), filtro.area.clone()),
                    Alcance::Area(area) => (store::estadisticas(tx, desde, hasta, area.as_deref(), ahora).await?, area),
                };
                Desenlace::ok(op, vistas::estadisticas(&e, desde, hasta, area.as_deref()))
            }
            Peticion::Catalogo => Desenlace::ok(op, crate::catalogo::catalogo(&self.politica)),
        })
    }

    /// Claims the `message_id` before any effect. `Some` when it was claimed
    /// already (now or earlier, by this or another process): its first reply.
    async fn reservar(
        &self,
        tx: &mut PgConnection,
        op: Operacion,
        message_id: &str,
    ) -> Result<Option<Desenlace>, ErrorProceso> {
        if store::reservar_comando(tx, message_id, op.as_str()).await? {
            return Ok(None);
        }
        let previa = store::respuesta_registrada(tx, message_id)
            .await?
            .ok_or_else(|| ErrorProceso::Transitorio(anyhow::anyhow!("idempotency record vanished")))?;
        Ok(Some(Desenlace::repetido(op, previa)))
    }

    async fn crear(
        &self,
        tx: &mut PgConnection,
        datos: DatosCreacion,
        message_id: &str,
        ahora: DateTime<Utc>,
        traceparent: Option<&str>,
    ) -> Result<Desenlace, ErrorProceso> {
        if let Some(previa) = self.reservar(tx, Operacion::Crear, message_id).await? {
            return Ok(previa);
        }
        let num = store::siguiente_num(tx).await?;
        let (ticket, entrada) = Ticket::crear(datos, Uuid::new_v4(), num, ahora, &self.politica);
        let actor = Actor {
            id: String::new(),
            nombre: ticket.solicitante.nombre.clone(),
            rol: entrada.actor_rol.clone(),
            area: None,
        };
        store::insertar_ticket(tx, &ticket).await?;
        store::insertar_historial(tx, ticket.uuid, &entrada, Some(message_id)).await?;
        let entrada = HistorialLeido::from(&entrada);
        self.encolar_evento(tx, Operacion::Crear, &ticket, &entrada, message_id, &actor, ahora, traceparent).await?;
        let respuesta = vistas::ok(vistas::creado(&ticket));
        store::guardar_respuesta(tx, message_id, Some(ticket.uuid), &respuesta).await?;
        Ok(Desenlace { respuesta, disposicion: Disposicion::Ack, resultado: "ok", operacion: Some(Operacion::Crear) })
    }

    async fn mutar(
        &self,
        tx: &mut PgConnection,
        cmd: &ComandoTicket,
        actor: &Actor,
        message_id: &str,
        ahora: DateTime<Utc>,
        traceparent: Option<&str>,
    ) -> Result<Desenlace, ErrorProceso> {
        let op = cmd.mutacion.operacion();
        if let Some(previa) = self.reservar(tx, op, message_id).await? {
            return Ok(previa);
        }
        let resultado = match store::bloquear_ticket(tx, cmd.ticket_id).await? {
            None => Err(ErrorContrato::ticket_no_encontrado()),
            Some(t) if !actor.alcanza(&t) => Err(fuera_de_area()),
            Some(t) => match t.aplicar(cmd, actor, ahora, &self.politica) {
                Err(Rechazo::Transicion { operacion, estado }) => {
                    Err(ErrorContrato::TransicionInvalida { operacion, estado })
                }
                Err(Rechazo::Campos(campos)) => Err(ErrorContrato::Validacion(campos)),
                Ok((nuevo, entrada)) => {
                    store::actualizar_ticket(tx, &nuevo).await?;
                    store::insertar_historial(tx, nuevo.uuid, &entrada, Some(message_id)).await?;
                    let entrada = HistorialLeido::from(&entrada);
                    self.encolar_evento(tx, op, &nuevo, &entrada, message_id, actor, ahora, traceparent).await?;
                    Ok(vistas::transicion(&t, &nuevo, ahora))
                }
            },
        };
        // Refusals are recorded too: a re-sent command gets the same answer
        // even if the ticket has moved on since.
        let desenlace = match resultado {
            Ok(datos) => Desenlace::ok(op, datos),
            Err(e) => Desenlace::rechazo(Some(op), &e),
        };
        store::guardar_respuesta(tx, message_id, Some(cmd.ticket_id), &desenlace.respuesta).await?;
        Ok(desenlace)
    }

    #[allow(clippy::too_many_arguments)]
    async fn encolar_evento(
        &self,
        tx: &mut PgConnection,
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
}

/// A message after the checks that need no database.
#[allow(clippy::large_enum_variant)]
enum Preparado {
    /// Decided already (poison, missing message_id...).
    Listo(Desenlace),
    /// Refused by token, role or fields; a stored reply may still win.
    Rechazado { op: Operacion, error: ErrorContrato, message_id: Option<String> },
    /// Valid: to be applied in the transaction.
    Valido { op: Operacion, peticion: Peticion, actor: Option<Actor>, message_id: Option<String> },
}

fn fuera_de_area() -> ErrorContrato {
    ErrorContrato::Prohibido("el ticket pertenece a otra área".into())
}
