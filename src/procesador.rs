//! Command processing, independent of the broker: decoded messages in,
//! replies and dispositions out. A batch of commands (one, or a lane's group
//! commit) is applied in one transaction: each mutation's change, history
//! entry, outbox event and idempotency record commit together.

use crate::auth::Verificador;
use crate::domain::comando::{ComandoTicket, DatosCreacion, Peticion, cursor, validar};
use crate::domain::estado::{Acceso, Operacion};
use crate::domain::sla::PoliticaSla;
use crate::domain::texto::es_imprimible;
use crate::domain::ticket::{Actor, Alcance, Historial, Rechazo, Ticket};
use crate::error::{Disposicion, ErrorContrato, ErrorProceso};
use crate::store::{self, HistorialLeido};
use crate::vistas;
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeSet, HashMap, HashSet};
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
    /// commands on one ticket in order. It is the very id validation reads
    /// (the last `ticketId` of a JSON object, in its one accepted spelling),
    /// so one ticket has exactly one key.
    pub fn clave_de_orden(&self) -> Option<Uuid> {
        crate::domain::comando::clave_de_orden(&self.body)
    }
}

/// A W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), or nothing: any
/// other text in that header is dropped, never logged or stored.
pub fn traceparent_valido(valor: Option<&str>) -> Option<&str> {
    let v = valor?.trim();
    let partes: Vec<&str> = v.split('-').collect();
    let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
    let valido = matches!(partes.as_slice(), [ver, traza, padre, banderas]
        if hex(ver, 2) && *ver != "ff" && hex(traza, 32) && hex(padre, 16) && hex(banderas, 2)
            && traza.bytes().any(|b| b != b'0') && padre.bytes().any(|b| b != b'0'));
    valido.then_some(v)
}

/// The operation a routing key names and the JSON object a body holds, or
/// why the message cannot be decoded at all (answered and dead-lettered).
/// With [`validar`], everything decided from a body alone.
pub fn decodificar(routing_key: &str, body: &[u8]) -> Result<(Operacion, Map<String, Value>), ErrorContrato> {
    let Some(op) = Operacion::from_routing_key(routing_key) else {
        return Err(ErrorContrato::SolicitudInvalida(format!("operación desconocida: {routing_key:?}")));
    };
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(body)) => Ok((op, body)),
        Ok(_) => Err(ErrorContrato::SolicitudInvalida("el cuerpo debe ser un objeto JSON".into())),
        Err(e) => Err(ErrorContrato::SolicitudInvalida(format!("el cuerpo no es JSON válido: {e}"))),
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
        let mut preparados: Vec<Option<Preparado>> = Vec::with_capacity(mensajes.len());
        for m in mensajes {
            preparados.push(Some(self.preparar(m).await));
        }
        if preparados.iter().all(|p| matches!(p, Some(Preparado::Listo(_)))) {
            return Ok(preparados
                .into_iter()
                .map(|p| match p {
                    Some(Preparado::Listo(d)) => d,
                    _ => unreachable!("checked above"),
                })
                .collect());
        }
        let ahora = ahora(&self.reloj);
        let mut tx = self.pool.begin().await?;
        let mut desenlaces: Vec<Option<Desenlace>> = vec![None; mensajes.len()];
        let mut eventos = false;
        // Runs of mutations are applied set-wise; a query in between first
        // sees what the mutations before it wrote.
        let mut inicio = 0;
        while inicio < mensajes.len() {
            let fin = (inicio..mensajes.len())
                .find(|&i| matches!(&preparados[i], Some(Preparado::Valido { op, .. }) if !op.es_mutacion()))
                .unwrap_or(mensajes.len());
            if fin > inicio {
                let tramo: Vec<(usize, Preparado)> =
                    (inicio..fin).map(|i| (i, preparados[i].take().expect("taken once"))).collect();
                let mut cambios = store::Cambios::default();
                for (i, d) in self.mutar_tramo(&mut tx, tramo, mensajes, &mut cambios, ahora).await? {
                    desenlaces[i] = Some(d);
                }
                eventos |= cambios.hay_eventos();
                cambios.escribir(&mut tx).await?;
            }
            if fin < mensajes.len() {
                let Some(Preparado::Valido { op, peticion, actor, .. }) = preparados[fin].take() else {
                    unreachable!("the run ends at a query")
                };
                desenlaces[fin] = Some(self.consultar(&mut tx, op, peticion, actor, ahora).await?);
            }
            inicio = fin + 1;
        }
        tx.commit().await?;
        if eventos {
            self.outbox.notify_one();
        }
        Ok(desenlaces.into_iter().map(|d| d.expect("one outcome per message")).collect())
    }

    /// Everything decided without the database: routing, decoding,
    /// `message_id`, token, role and field validation.
    async fn preparar(&self, m: &Mensaje) -> Preparado {
        let (op, body) = match decodificar(&m.routing_key, &m.body) {
            Ok(decodificado) => decodificado,
            Err(e) => return Preparado::Listo(Desenlace::veneno(&e)),
        };
        let message_id = m.message_id.as_deref().map(str::trim).filter(|id| !id.is_empty());
        let message_id = if op.es_mutacion() {
            match message_id {
                Some(id) if id.chars().count() > MESSAGE_ID_MAX => {
                    let e = ErrorContrato::SolicitudInvalida(format!("message_id supera {MESSAGE_ID_MAX} caracteres"));
                    return Preparado::Listo(Desenlace::rechazo(Some(op), &e));
                }
                Some(id) if !es_imprimible(id) => {
                    let e = ErrorContrato::SolicitudInvalida("message_id contiene caracteres de control".into());
                    return Preparado::Listo(Desenlace::rechazo(Some(op), &e));
                }
                Some(id) => Some(id.to_string()),
                None => {
                    let e = ErrorContrato::SolicitudInvalida("las mutaciones requieren message_id".into());
                    return Preparado::Listo(Desenlace::rechazo(Some(op), &e));
                }
            }
        } else {
            None
        };
        let (actor, firmante) = match op.acceso() {
            Acceso::Publico => (None, None),
            acceso => {
                let identidad = self.verificador.identificar(m.authorization.as_deref()).await;
                let rechazo = |error| Preparado::Rechazado {
                    op,
                    error,
                    message_id: message_id.clone(),
                    firmante: identidad.firmante.clone(),
                };
                match identidad.actor {
                    Ok(actor) => {
                        if let Acceso::Roles(roles) = acceso
                            && !roles.iter().any(|r| r.as_str() == actor.rol)
                        {
                            let texto = format!("el rol {} no puede {}", actor.rol, op.as_str());
                            return rechazo(ErrorContrato::Prohibido(texto));
                        }
                        (Some(actor), identidad.firmante)
                    }
                    Err(e) => return rechazo(e),
                }
            }
        };
        let rechazo =
            |error| Preparado::Rechazado { op, error, message_id: message_id.clone(), firmante: firmante.clone() };
        match validar(op, &body, &self.politica) {
            Ok(peticion) => Preparado::Valido { op, peticion, actor, message_id },
            Err(campos) => rechazo(ErrorContrato::Validacion(campos)),
        }
    }

    /// Answers a query inside the batch's transaction.
    async fn consultar(
        &self,
        tx: &mut PgConnection,
        op: Operacion,
        peticion: Peticion,
        actor: Option<Actor>,
        ahora: DateTime<Utc>,
    ) -> Result<Desenlace, ErrorProceso> {
        let consulta = |r: Result<Value, ErrorContrato>| match r {
            Ok(datos) => Desenlace::ok(op, datos),
            Err(e) => Desenlace::rechazo(Some(op), &e),
        };
        Ok(match peticion {
            Peticion::Crear(_) | Peticion::Ticket(_) => unreachable!("mutations are applied by mutar_tramo"),
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

    /// Applies a run of mutations (and refusals) in order, with a fixed
    /// number of statements whatever its length: claim every `message_id`,
    /// read the replies of those seen before, lock every ticket named, draw
    /// the new ticket numbers; then decide each command in memory, in
    /// delivery order, collecting the writes in `cambios`.
    async fn mutar_tramo(
        &self,
        tx: &mut PgConnection,
        tramo: Vec<(usize, Preparado)>,
        mensajes: &[&Mensaje],
        cambios: &mut store::Cambios,
        ahora: DateTime<Utc>,
    ) -> Result<Vec<(usize, Desenlace)>, ErrorProceso> {
        // The first command with a message_id owns it; later copies in the
        // batch get its reply.
        let mut reservas = store::Reservas::default();
        let mut vistos = HashSet::new();
        for (_, p) in &tramo {
            if let Preparado::Valido { op, message_id: Some(id), actor, .. } = p
                && vistos.insert(id.as_str())
            {
                reservas.ids.push(id.clone());
                reservas.operaciones.push(op.as_str());
                reservas.subs.push(actor.as_ref().map(|a| a.id.clone()));
            }
        }
        let reclamados = store::reservar_comandos(tx, &reservas).await?;
        let anteriores: Vec<String> = tramo
            .iter()
            .filter_map(|(_, p)| match p {
                Preparado::Valido { message_id, .. } | Preparado::Rechazado { message_id, .. } => message_id.as_ref(),
                Preparado::Listo(_) => None,
            })
            .filter(|id| !reclamados.contains(*id))
            .cloned()
            .collect();
        let previas = store::respuestas_registradas(tx, &anteriores).await?;
        let uuids: Vec<Uuid> = tramo
            .iter()
            .filter_map(|(_, p)| match p {
                Preparado::Valido { peticion: Peticion::Ticket(cmd), message_id: Some(id), .. }
                    if reclamados.contains(id) =>
                {
                    Some(cmd.ticket_id)
                }
                _ => None,
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let bloqueados = store::bloquear_tickets(tx, &uuids).await?;
        let creaciones = tramo
            .iter()
            .filter(|(_, p)| {
                matches!(p, Preparado::Valido { peticion: Peticion::Crear(_), message_id: Some(id), .. }
                    if reclamados.contains(id))
            })
            .count();
        let mut nums = store::siguientes_nums(tx, creaciones).await?.into_iter();

        // A message_id applied earlier in this run → its record and where
        // its outcome sits in `salida`.
        let mut propias: HashMap<String, (store::Registro, usize)> = HashMap::new();
        let mut salida: Vec<(usize, Desenlace)> = Vec::with_capacity(tramo.len());
        let registro = |id: &String, propias: &HashMap<String, (store::Registro, usize)>| {
            previas.get(id).cloned().or_else(|| propias.get(id).map(|(r, _)| r.clone()))
        };
        for (i, preparado) in tramo {
            let desenlace = match preparado {
                Preparado::Listo(d) => d,
                Preparado::Rechazado { op, error, message_id, firmante } => {
                    // A redelivery whose token expired meanwhile still gets
                    // its first reply — from the same signer only.
                    match message_id.as_ref().and_then(|id| registro(id, &propias)) {
                        Some(r) if puede_repetir(op, &r, firmante.as_deref()) => Desenlace::repetido(op, r.respuesta),
                        Some(_) if !matches!(error, ErrorContrato::NoAutenticado(_)) => {
                            Desenlace::rechazo(Some(op), &ajeno())
                        }
                        _ => Desenlace::rechazo(Some(op), &error),
                    }
                }
                Preparado::Valido { op, peticion, actor, message_id } => {
                    let id = message_id.expect("mutations carry a message_id");
                    let firmante = actor.as_ref().map(|a| a.id.clone());
                    if let Some(r) = registro(&id, &propias) {
                        if puede_repetir(op, &r, firmante.as_deref()) {
                            Desenlace::repetido(op, r.respuesta)
                        } else {
                            Desenlace::rechazo(Some(op), &ajeno())
                        }
                    } else if !reclamados.contains(&id) {
                        // Claimed by someone else, yet no reply to read.
                        return Err(ErrorProceso::Transitorio(anyhow::anyhow!("idempotency record vanished")));
                    } else {
                        let traceparent = traceparent_valido(mensajes[i].traceparent.as_deref());
                        let (d, ticket) = match peticion {
                            Peticion::Crear(datos) => {
                                let num = nums.next().expect("one number per creation");
                                self.crear(cambios, *datos, num, &id, ahora, traceparent)
                            }
                            Peticion::Ticket(cmd) => {
                                let actor = actor.expect("ticket mutations are never public");
                                let actual = cambios.ticket(cmd.ticket_id).or_else(|| bloqueados.get(&cmd.ticket_id));
                                let d = self.mutar(cambios, actual.cloned(), &cmd, &actor, &id, ahora, traceparent);
                                (d, cmd.ticket_id)
                            }
                            _ => unreachable!("queries are answered by consultar"),
                        };
                        // Refusals are recorded too: a re-sent command gets the
                        // same answer even if the ticket has moved on since.
                        cambios.respuesta(&id, Some(ticket), &d.respuesta);
                        let r = store::Registro { operacion: Some(op), sub: firmante, respuesta: d.respuesta.clone() };
                        propias.insert(id, (r, salida.len()));
                        d
                    }
                }
            };
            salida.push((i, desenlace));
        }
        Ok(salida)
    }

    fn crear(
        &self,
        cambios: &mut store::Cambios,
        datos: DatosCreacion,
        num: i64,
        message_id: &str,
        ahora: DateTime<Utc>,
        traceparent: Option<&str>,
    ) -> (Desenlace, Uuid) {
        let (ticket, entrada) = Ticket::crear(datos, Uuid::new_v4(), num, ahora, &self.politica);
        let actor = Actor {
            id: String::new(),
            nombre: ticket.solicitante.nombre.clone(),
            rol: entrada.actor_rol.clone(),
            area: None,
        };
        cambios.historial(ticket.uuid, &entrada, Some(message_id));
        self.encolar_evento(cambios, Operacion::Crear, &ticket, &entrada, message_id, &actor, ahora, traceparent);
        let desenlace = Desenlace::ok(Operacion::Crear, vistas::creado(&ticket));
        let uuid = ticket.uuid;
        cambios.ticket_nuevo(ticket);
        (desenlace, uuid)
    }

    #[allow(clippy::too_many_arguments)]
    fn mutar(
        &self,
        cambios: &mut store::Cambios,
        actual: Option<Ticket>,
        cmd: &ComandoTicket,
        actor: &Actor,
        message_id: &str,
        ahora: DateTime<Utc>,
        traceparent: Option<&str>,
    ) -> Desenlace {
        let op = cmd.mutacion.operacion();
        let resultado = match actual {
            None => Err(ErrorContrato::ticket_no_encontrado()),
            Some(t) if !actor.alcanza(&t) => Err(fuera_de_area()),
            Some(t) => match t.aplicar(cmd, actor, ahora, &self.politica) {
                Err(Rechazo::Transicion { operacion, estado }) => {
                    Err(ErrorContrato::TransicionInvalida { operacion, estado })
                }
                Err(Rechazo::Campos(campos)) => Err(ErrorContrato::Validacion(campos)),
                Ok((nuevo, entrada)) => {
                    cambios.historial(nuevo.uuid, &entrada, Some(message_id));
                    self.encolar_evento(cambios, op, &nuevo, &entrada, message_id, actor, ahora, traceparent);
                    let datos = vistas::transicion(&t, &nuevo, ahora);
                    cambios.ticket_cambiado(nuevo);
                    Ok(datos)
                }
            },
        };
        match resultado {
            Ok(datos) => Desenlace::ok(op, datos),
            Err(e) => Desenlace::rechazo(Some(op), &e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn encolar_evento(
        &self,
        cambios: &mut store::Cambios,
        op: Operacion,
        ticket: &Ticket,
        entrada: &Historial,
        message_id: &str,
        actor: &Actor,
        ahora: DateTime<Utc>,
        traceparent: Option<&str>,
    ) {
        let tipo = op.tipo_evento().expect("mutations have an event type");
        let evento_id = Uuid::new_v4();
        let entrada = HistorialLeido::from(entrada);
        let data = vistas::datos_evento_ticket(ticket, &entrada, message_id, actor, ahora);
        let cuerpo = vistas::evento(evento_id, tipo, ticket.uuid, ahora, traceparent, data);
        cambios.evento(store::EventoNuevo {
            evento_id,
            tipo,
            ticket: Some(ticket.uuid),
            cuerpo,
            traceparent: traceparent.map(str::to_string),
        });
    }
}

/// A message after the checks that need no database.
#[allow(clippy::large_enum_variant)]
enum Preparado {
    /// Decided already (poison, missing message_id...).
    Listo(Desenlace),
    /// Refused by token, role or fields; a stored reply may still win, for
    /// the same signer (`firmante`: the `sub` of a token whose signature
    /// verified, expired or not).
    Rechazado { op: Operacion, error: ErrorContrato, message_id: Option<String>, firmante: Option<String> },
    /// Valid: to be applied in the transaction.
    Valido { op: Operacion, peticion: Peticion, actor: Option<Actor>, message_id: Option<String> },
}

/// Whether a command may be given the reply recorded under its
/// `message_id` (§3): between public operations always; otherwise only for a
/// verified signer with the original sender's `sub`. A record older than the
/// `actor_sub` column names no sender: any verified signer passes.
fn puede_repetir(op: Operacion, registro: &store::Registro, firmante: Option<&str>) -> bool {
    let publica = |o: Operacion| o.acceso() == Acceso::Publico;
    if publica(op) && registro.operacion.is_some_and(publica) {
        return true;
    }
    match (firmante, registro.sub.as_deref()) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(f), Some(original)) => f == original,
    }
}

/// A replay from someone other than the original sender: refused as
/// unauthenticated, so nothing recorded is revealed.
fn ajeno() -> ErrorContrato {
    ErrorContrato::NoAutenticado("el message_id pertenece a otro remitente".into())
}

fn fuera_de_area() -> ErrorContrato {
    ErrorContrato::Prohibido("el ticket pertenece a otra área".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_w3c_traceparents_are_kept() {
        let bueno = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(traceparent_valido(Some(bueno)), Some(bueno));
        for malo in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473\u{0}-00f067aa0ba902b7-01",
            "ana.garcia@empresa.com",
        ] {
            assert_eq!(traceparent_valido(Some(malo)), None, "{malo:?}");
        }
    }

    fn registro(op: Operacion, sub: Option<&str>) -> store::Registro {
        store::Registro { operacion: Some(op), sub: sub.map(str::to_string), respuesta: json!({"ok": true}) }
    }

    #[test]
    fn a_recorded_reply_goes_only_to_the_same_signer() {
        use Operacion::*;
        let casos = [
            // Public both ways: always.
            (Crear, registro(Crear, None), None, true),
            // Issue #11, item 3: no token at all got a staff command's reply.
            (Asignar, registro(Asignar, Some("carlos")), None, false),
            (Asignar, registro(Asignar, Some("carlos")), Some("carlos"), true),
            (Asignar, registro(Asignar, Some("carlos")), Some("intruso"), false),
            // A public operation replaying a staff command's id reveals nothing.
            (Crear, registro(Asignar, Some("carlos")), None, false),
            (Consultar, registro(Cancelar, Some("carlos")), None, false),
            // Records from before v1.1 name no sender: any verified signer.
            (Pausar, registro(Pausar, None), Some("quien-sea"), true),
            (Pausar, registro(Pausar, None), None, false),
        ];
        for (op, r, firmante, esperado) in casos {
            assert_eq!(puede_repetir(op, &r, firmante), esperado, "{op:?} {r:?} {firmante:?}");
        }
    }
}
