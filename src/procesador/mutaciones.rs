//! Runs of mutations, applied set-wise: [`reservar`] asks the database for
//! everything the run needs in a fixed number of statements (claim every
//! `message_id`, read the replies of those seen before, lock every ticket
//! named, draw the new ticket numbers); [`decidir`] then decides each step
//! in memory, in delivery order, collecting the writes in `store::Cambios`.

use super::{Desenlace, fuera_de_area};
use crate::anonimizacion::{self, Origen};
use crate::contrato::MessageId;
use crate::domain::anonimizacion::Anonimizador;
use crate::domain::comando::{ComandoTicket, DatosAnonimizacion, DatosCreacion, DatosSeguimiento, Mutacion, Titular};
use crate::domain::conversacion::{Escrito, MensajeConversacion};
use crate::domain::estado::RolActor;
use crate::domain::estado::{Acceso, Operacion};
use crate::domain::sla::ReglasSla;
use crate::domain::ticket::{Actor, Historial, Rechazo, Ticket};
use crate::error::{EnSentencia, ErrorContrato, ErrorProceso};
use crate::store::{self, HistorialLeido};
use crate::vistas;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use std::collections::{BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// One step of a run of mutations.
pub(super) enum Paso {
    /// Decided already (poison, a bad `message_id`...).
    Listo(Desenlace),
    /// Refused by token, role or fields; a stored reply may still win.
    Rechazado(Rechazado),
    /// Valid: to apply.
    Mutacion(MutacionPreparada),
}

/// A command refused before the database; its recorded reply, if any, goes
/// to the same signer only (`firmante`: the `sub` of a token whose
/// signature verified, expired or not).
pub(super) struct Rechazado {
    pub(super) op: Operacion,
    pub(super) error: ErrorContrato,
    /// Present for mutations.
    pub(super) message_id: Option<MessageId>,
    pub(super) firmante: Option<String>,
}

/// A valid mutation with what its transaction needs.
pub(super) struct MutacionPreparada {
    pub(super) message_id: MessageId,
    /// A W3C trace context, carried into the event.
    pub(super) traceparent: Option<String>,
    pub(super) cambio: Cambio,
}

/// What a mutation changes: a new ticket (public), or an existing one (staff,
/// with the verified actor).
pub(super) enum Cambio {
    Crear(Box<DatosCreacion>),
    Ticket(Box<CambioTicket>),
    /// The requester's message, by label and e-mail (public, v1.2).
    Seguimiento(Box<DatosSeguimiento>),
    /// A requester's data erased (ADMIN, §11).
    Anonimizar(Box<CambioAnonimizacion>),
}

/// An `anonimizar`, who makes it, and the dead letters still mentioning the
/// e-mail (counted before the transaction: the broker is no part of it).
pub(super) struct CambioAnonimizacion {
    pub(super) datos: DatosAnonimizacion,
    pub(super) actor: Actor,
    /// Set by `Procesador::contar_rechazados`; none without a counter or an e-mail.
    pub(super) rechazados: Option<u64>,
}

/// A mutation of an existing ticket and who makes it.
pub(super) struct CambioTicket {
    pub(super) cmd: ComandoTicket,
    pub(super) actor: Actor,
}

impl Cambio {
    fn operacion(&self) -> Operacion {
        match self {
            Cambio::Crear(_) => Operacion::Crear,
            Cambio::Ticket(c) => c.cmd.mutacion.operacion(),
            Cambio::Seguimiento(_) => Operacion::Seguimiento,
            Cambio::Anonimizar(_) => Operacion::Anonimizar,
        }
    }

    /// The verified `sub` recorded with the reply; none for a public creation.
    fn firmante(&self) -> Option<&str> {
        match self {
            Cambio::Crear(_) | Cambio::Seguimiento(_) => None,
            Cambio::Ticket(c) => Some(&c.actor.id),
            Cambio::Anonimizar(c) => Some(&c.actor.id),
        }
    }
}

/// What the database holds for a run, read before deciding it.
pub(super) struct Reserva {
    /// The `message_id`s this transaction claimed: theirs to apply.
    reclamados: HashSet<String>,
    /// Replies recorded earlier for the other ids.
    previas: HashMap<String, store::Registro>,
    /// The tickets named by claimed commands, locked until commit.
    bloqueados: HashMap<Uuid, Ticket>,
    /// The tickets claimed `seguimiento`s name, by (label, e-mail) as
    /// given: only pairs whose e-mail is the requester's (locked with the others).
    por_label: HashMap<(String, String), Uuid>,
    /// The tickets not erased yet of each e-mail a claimed `anonimizar`
    /// names (locked with the others).
    por_email: HashMap<String, Vec<Uuid>>,
    /// One fresh ticket number per claimed creation.
    nums: Vec<i64>,
}

/// Reads and locks what a run needs, in a fixed number of statements.
pub(super) async fn reservar(tx: &mut PgConnection, tramo: &[Paso]) -> Result<Reserva, ErrorProceso> {
    // The first command with a message_id owns it; later copies in the run
    // get its reply.
    let mut reservas = store::Reservas::default();
    let mut vistos = HashSet::new();
    for paso in tramo {
        if let Paso::Mutacion(m) = paso
            && vistos.insert(m.message_id.as_str())
        {
            reservas.ids.push(m.message_id.as_str().to_string());
            reservas.operaciones.push(m.cambio.operacion().as_str());
            reservas.subs.push(m.cambio.firmante().map(str::to_string));
        }
    }
    let reclamados = store::reservar_comandos(tx, &reservas).await.en("reservar_comandos")?;
    let anteriores: Vec<String> = tramo
        .iter()
        .filter_map(|paso| match paso {
            Paso::Mutacion(m) => Some(&m.message_id),
            Paso::Rechazado(r) => r.message_id.as_ref(),
            Paso::Listo(_) => None,
        })
        .filter(|id| !reclamados.contains(id.as_str()))
        .map(|id| id.as_str().to_string())
        .collect();
    let previas = store::respuestas_registradas(tx, &anteriores).await.en("respuestas_registradas")?;
    let reclamada = |m: &MutacionPreparada| reclamados.contains(m.message_id.as_str());
    let pares = nombrados(tramo, reclamada, |c| match c {
        Cambio::Seguimiento(s) => Some((s.label.clone(), s.email.clone())),
        _ => None,
    });
    let por_label = store::uuids_por_label(tx, &pares).await.en("uuids_por_label")?;
    let emails = nombrados(tramo, reclamada, |c| match c {
        Cambio::Anonimizar(a) => match &a.datos.titular {
            Titular::Email(e) => Some(e.clone()),
            Titular::Ticket(_) => None,
        },
        _ => None,
    });
    let por_email = store::uuids_por_email(tx, &emails).await.en("uuids_por_email")?;
    let nombrados_por_id = nombrados(tramo, reclamada, |c| match c {
        Cambio::Ticket(c) => Some(c.cmd.ticket_id),
        Cambio::Anonimizar(a) => match a.datos.titular {
            Titular::Ticket(id) => Some(id),
            Titular::Email(_) => None,
        },
        _ => None,
    });
    let uuids: Vec<Uuid> = nombrados_por_id
        .into_iter()
        .chain(por_label.values().copied())
        .chain(por_email.values().flatten().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let bloqueados = store::bloquear_tickets(tx, &uuids).await.en("bloquear_tickets")?;
    let creaciones = tramo
        .iter()
        .filter(|paso| matches!(paso, Paso::Mutacion(m @ MutacionPreparada { cambio: Cambio::Crear(_), .. }) if reclamada(m)))
        .count();
    let nums = store::siguientes_nums(tx, creaciones).await.en("siguientes_nums")?;
    Ok(Reserva { reclamados, previas, bloqueados, por_label, por_email, nums })
}

/// The distinct values `leer` finds in the changes of `tramo`'s claimed
/// mutations, sorted (what one statement of `reservar` looks up).
fn nombrados<T: Ord>(
    tramo: &[Paso],
    reclamada: impl Fn(&MutacionPreparada) -> bool,
    leer: impl Fn(&Cambio) -> Option<T>,
) -> Vec<T> {
    let distintos: BTreeSet<T> = tramo
        .iter()
        .filter_map(|paso| match paso {
            Paso::Mutacion(m) if reclamada(m) => leer(&m.cambio),
            _ => None,
        })
        .collect();
    distintos.into_iter().collect()
}

/// A mutation applied earlier in the run: what a copy of its `message_id`
/// is checked against, and where its outcome is in the run's output.
struct Propia {
    operacion: Operacion,
    sub: Option<String>,
    indice: usize,
}

/// What travels with one mutation into its history, event and reply.
struct Contexto<'a> {
    message_id: &'a MessageId,
    ahora: DateTime<Utc>,
    traceparent: Option<&'a str>,
    /// The SLA rules the event's ticket states are shown under.
    reglas: &'a ReglasSla,
}

/// Decides each step of a run, in order, without the database: one outcome
/// per step; the writes go to `cambios`.
pub(super) fn decidir(
    tramo: Vec<Paso>,
    reserva: Reserva,
    cambios: &mut store::Cambios,
    reglas: &ReglasSla,
    ahora: DateTime<Utc>,
) -> Result<Vec<Desenlace>, ErrorProceso> {
    let Reserva { reclamados, previas, bloqueados, por_label, por_email, nums } = reserva;
    let mut nums = nums.into_iter();
    // The ids applied earlier in this run, and where their outcome is.
    let mut propias: HashMap<String, Propia> = HashMap::new();
    let mut salida: Vec<Desenlace> = Vec::with_capacity(tramo.len());
    // A record is built (its reply cloned) only for a replay, which is rare.
    let registro = |id: &MessageId, propias: &HashMap<String, Propia>, salida: &[Desenlace]| {
        previas.get(id.as_str()).cloned().or_else(|| {
            propias.get(id.as_str()).map(|p| store::Registro {
                operacion: Some(p.operacion),
                sub: p.sub.clone(),
                respuesta: salida[p.indice].respuesta.clone(),
            })
        })
    };
    for paso in tramo {
        let desenlace = match paso {
            Paso::Listo(d) => d,
            Paso::Rechazado(Rechazado { op, error, message_id, firmante }) => {
                // A redelivery whose token expired meanwhile still gets its
                // first reply — from the same signer only.
                match message_id.as_ref().and_then(|id| registro(id, &propias, &salida)) {
                    Some(r) if puede_repetir(op, &r, firmante.as_deref()) => Desenlace::repetido(op, r.respuesta),
                    Some(_) if !matches!(error, ErrorContrato::NoAutenticado(_)) => {
                        Desenlace::rechazo(Some(op), &ajeno())
                    }
                    _ => Desenlace::rechazo(Some(op), &error),
                }
            }
            Paso::Mutacion(MutacionPreparada { message_id, traceparent, cambio }) => {
                let op = cambio.operacion();
                let firmante = cambio.firmante().map(str::to_string);
                if let Some(r) = registro(&message_id, &propias, &salida) {
                    if puede_repetir(op, &r, firmante.as_deref()) {
                        Desenlace::repetido(op, r.respuesta)
                    } else {
                        Desenlace::rechazo(Some(op), &ajeno())
                    }
                } else if !reclamados.contains(message_id.as_str()) {
                    // Claimed by someone else, yet no reply to read.
                    return Err(ErrorProceso::RegistroDesaparecido);
                } else {
                    let ctx = Contexto { message_id: &message_id, ahora, traceparent: traceparent.as_deref(), reglas };
                    let (d, ticket) = match cambio {
                        Cambio::Crear(datos) => {
                            let Some(num) = nums.next() else {
                                return Err(ErrorProceso::FaltanNumeros);
                            };
                            let (d, uuid) = crear(cambios, *datos, num, reglas, &ctx);
                            (d, Some(uuid))
                        }
                        Cambio::Ticket(c) => {
                            let CambioTicket { cmd, actor } = *c;
                            let actual = cambios.ticket(cmd.ticket_id).or_else(|| bloqueados.get(&cmd.ticket_id));
                            // Borrowed: `aplicar` makes the one copy the change needs.
                            let (d, cambio) = mutar(actual, &cmd, &actor, reglas, ctx.ahora);
                            if let Some(Efecto { ticket, entrada, mensaje }) = cambio {
                                registrar(cambios, &ticket, &entrada, mensaje, &ctx);
                                cambios.ticket_cambiado(ticket);
                            }
                            (d, Some(cmd.ticket_id))
                        }
                        Cambio::Seguimiento(datos) => {
                            let uuid = por_label.get(&(datos.label.clone(), datos.email.clone())).copied();
                            let actual = uuid.and_then(|u| cambios.ticket(u).or_else(|| bloqueados.get(&u)));
                            let (d, cambio) = seguir(actual, &datos, reglas, ctx.ahora);
                            // Only an applied follow-up names its ticket in the record.
                            let nombrado = cambio.as_ref().map(|e| e.ticket.uuid);
                            if let Some(Efecto { ticket, entrada, mensaje }) = cambio {
                                registrar(cambios, &ticket, &entrada, mensaje, &ctx);
                                cambios.ticket_cambiado(ticket);
                            }
                            (d, nombrado)
                        }
                        Cambio::Anonimizar(c) => {
                            let actual = |u: &Uuid| cambios.ticket(*u).or_else(|| bloqueados.get(u)).cloned();
                            let (tickets, nombrado) = match &c.datos.titular {
                                Titular::Email(e) => {
                                    (por_email.get(e).into_iter().flatten().filter_map(actual).collect(), None)
                                }
                                Titular::Ticket(id) => (actual(id).into_iter().collect::<Vec<_>>(), Some(*id)),
                            };
                            let d = if nombrado.is_some() && tickets.is_empty() {
                                Desenlace::rechazo(Some(op), &ErrorContrato::ticket_no_encontrado())
                            } else {
                                let quien = Anonimizador::Admin(&c.actor, &c.datos.motivo);
                                let origen =
                                    Origen { comando_id: Some(message_id.as_str()), traceparent: ctx.traceparent };
                                let borrados: Vec<Uuid> = tickets
                                    .iter()
                                    .filter_map(|t| anonimizacion::registrar(cambios, t, quien, origen, ctx.ahora))
                                    .collect();
                                Desenlace::ok(op, &vistas::anonimizado(borrados, c.rechazados))
                            };
                            (d, nombrado)
                        }
                    };
                    // Refusals are recorded too: a re-sent command gets the
                    // same answer even if the ticket has moved on since.
                    cambios.respuesta(message_id.as_str(), ticket, d.respuesta.clone());
                    let propia = Propia { operacion: op, sub: firmante, indice: salida.len() };
                    propias.insert(message_id.as_str().to_string(), propia);
                    d
                }
            }
        };
        salida.push(desenlace);
    }
    Ok(salida)
}

fn crear(
    cambios: &mut store::Cambios,
    datos: DatosCreacion,
    num: i64,
    reglas: &ReglasSla,
    ctx: &Contexto<'_>,
) -> (Desenlace, Uuid) {
    let (ticket, entrada) = Ticket::crear(datos, Uuid::new_v4(), num, ctx.ahora, reglas);
    registrar(cambios, &ticket, &entrada, None, ctx);
    let desenlace = Desenlace::ok(Operacion::Crear, &vistas::creado(&ticket));
    let uuid = ticket.uuid;
    cambios.ticket_nuevo(ticket);
    (desenlace, uuid)
}

/// What an applied change writes: the ticket's new state, its history
/// entry, and the conversation message it adds, if any.
struct Efecto {
    ticket: Ticket,
    entrada: Historial,
    mensaje: Option<MensajeConversacion>,
}

/// Decides one mutation of `actual`: its reply and, when it applies, what
/// it writes (for the caller to record).
fn mutar(
    actual: Option<&Ticket>,
    cmd: &ComandoTicket,
    actor: &Actor,
    reglas: &ReglasSla,
    ahora: DateTime<Utc>,
) -> (Desenlace, Option<Efecto>) {
    let op = cmd.mutacion.operacion();
    let resultado = match actual {
        None => Err(ErrorContrato::ticket_no_encontrado()),
        Some(t) if !actor.alcanza(t) => Err(fuera_de_area()),
        Some(t) => match t.aplicar(cmd, actor, ahora, reglas) {
            Err(rechazo) => Err(contrato(rechazo)),
            Ok((nuevo, entrada)) => {
                let mensaje = mensaje_de_staff(&cmd.mutacion, actor, ahora);
                let desenlace = match &mensaje {
                    Some(m) if op == Operacion::Responder => {
                        Desenlace::ok(op, &vistas::respondido(t, &nuevo, ahora, reglas, m.uuid))
                    }
                    _ => Desenlace::ok(op, &vistas::transicion(t, &nuevo, ahora, reglas)),
                };
                Ok((desenlace, Efecto { ticket: nuevo, entrada, mensaje }))
            }
        },
    };
    match resultado {
        Ok((desenlace, efecto)) => (desenlace, Some(efecto)),
        Err(e) => (Desenlace::rechazo(Some(op), &e), None),
    }
}

/// The message a staff mutation adds to the conversation: `responder`'s,
/// or `actualizar`'s `respuestaCliente` as a PUBLICO one of the actor's.
fn mensaje_de_staff(mutacion: &Mutacion, actor: &Actor, ahora: DateTime<Utc>) -> Option<MensajeConversacion> {
    let autor = RolActor::Staff(actor.rol);
    match mutacion {
        Mutacion::Responder(escrito) => Some(escrito.mensaje(Uuid::new_v4(), ahora, &actor.nombre, autor)),
        Mutacion::Actualizar { respuesta_cliente: Some(texto), .. } => {
            let escrito = Escrito { texto: texto.clone(), interno: false, adjuntos: Vec::new() };
            Some(escrito.mensaje(Uuid::new_v4(), ahora, &actor.nombre, autor))
        }
        _ => None,
    }
}

/// Decides a requester's `seguimiento` on the ticket its label names: the
/// same NO_ENCONTRADO as `consultar` for an unknown label or a wrong
/// e-mail, so it never tells which.
fn seguir(
    actual: Option<&Ticket>,
    datos: &DatosSeguimiento,
    reglas: &ReglasSla,
    ahora: DateTime<Utc>,
) -> (Desenlace, Option<Efecto>) {
    let op = Operacion::Seguimiento;
    // The pair was matched in SQL, as `consultar` matches it; a ticket erased
    // earlier in this batch has no e-mail left to match.
    let Some(t) = actual.filter(|t| t.solicitante.email.is_some()) else {
        return (Desenlace::rechazo(Some(op), &ErrorContrato::consulta_no_encontrada()), None);
    };
    match t.seguir(ahora, reglas) {
        Err(rechazo) => (Desenlace::rechazo(Some(op), &contrato(rechazo)), None),
        Ok((nuevo, entrada)) => {
            let mensaje = datos.escrito.mensaje(Uuid::new_v4(), ahora, &t.solicitante.nombre, RolActor::Usuario);
            let desenlace = Desenlace::ok(op, &vistas::seguimiento_registrado(&nuevo, mensaje.uuid));
            (desenlace, Some(Efecto { ticket: nuevo, entrada, mensaje: Some(mensaje) }))
        }
    }
}

/// A domain refusal as the contract's error.
fn contrato(rechazo: Rechazo) -> ErrorContrato {
    match rechazo {
        Rechazo::Transicion { operacion, estado } => ErrorContrato::TransicionInvalida { operacion, estado },
        Rechazo::Campos(campos) => ErrorContrato::Validacion(campos),
    }
}

/// A change's history entry, its event and its message into `cambios`; the
/// event's type and actor follow the entry, converted once for both.
fn registrar(
    cambios: &mut store::Cambios,
    ticket: &Ticket,
    entrada: &Historial,
    mensaje: Option<MensajeConversacion>,
    ctx: &Contexto<'_>,
) {
    let tipo = entrada.accion.tipo_evento();
    let evento_id = Uuid::new_v4();
    let entrada = HistorialLeido::from(entrada);
    let comando = Some(ctx.message_id.as_str());
    let data = vistas::datos_evento_ticket(ticket, &entrada, mensaje.as_ref(), comando, ctx.ahora, ctx.reglas);
    let cuerpo = vistas::evento(evento_id, tipo, ticket.uuid, ctx.ahora, ctx.traceparent, data);
    cambios.historial_leido(ticket.uuid, entrada, Some(ctx.message_id.as_str()));
    if let Some(m) = mensaje {
        cambios.mensaje(ticket.uuid, m);
    }
    cambios.evento(store::EventoNuevo {
        evento_id,
        tipo,
        ticket: Some(ticket.uuid),
        cuerpo,
        traceparent: ctx.traceparent.map(str::to_string),
    });
}

/// Whether a command may be given the reply recorded under its
/// `message_id` (§3): between public operations always; otherwise only for a
/// verified signer with the original sender's `sub`. A public operation's
/// record without a `sub` had an anonymous sender, whom no signer is; a staff
/// command's record without one is older than the `actor_sub` column and
/// names no sender: any verified signer passes.
fn puede_repetir(op: Operacion, registro: &store::Registro, firmante: Option<&str>) -> bool {
    let publica = |o: Operacion| o.acceso() == Acceso::Publico;
    let registro_publico = registro.operacion.is_some_and(publica);
    if publica(op) && registro_publico {
        return true;
    }
    match (firmante, registro.sub.as_deref()) {
        (None, _) => false,
        (Some(_), None) => !registro_publico,
        (Some(f), Some(original)) => f == original,
    }
}

/// A replay from someone other than the original sender: refused as
/// unauthenticated, so nothing recorded is revealed.
fn ajeno() -> ErrorContrato {
    ErrorContrato::NoAutenticado("el message_id pertenece a otro remitente".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procesador::Resultado;
    use serde_json::json;

    fn registro(op: Operacion, sub: Option<&str>) -> store::Registro {
        store::Registro { operacion: Some(op), sub: sub.map(str::to_string), respuesta: r#"{"ok":true}"#.into() }
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
            // An anonymous creation's id on a staff command: the signer is
            // not its (anonymous) sender, so it is not told the new ticket.
            (Reclasificar, registro(Crear, None), Some("area-1"), false),
            (Asignar, registro(Crear, None), Some("carlos"), false),
            // Records from before v1.1 name no sender: any verified signer.
            (Pausar, registro(Pausar, None), Some("quien-sea"), true),
            (Pausar, registro(Pausar, None), None, false),
        ];
        for (op, r, firmante, esperado) in casos {
            assert_eq!(puede_repetir(op, &r, firmante), esperado, "{op:?} {r:?} {firmante:?}");
        }
    }

    fn reglas() -> ReglasSla {
        ReglasSla::new(crate::domain::sla::prioridades_por_defecto(), 20, true)
    }

    fn creacion(id: &str) -> Paso {
        let cuerpo = json!({
            "nombre": "Ana García", "email": "ana@empresa.com", "tipo": "INCIDENTE", "categoria": "Sistemas",
            "descripcion": "No puedo entrar al correo", "prioridad": "ALTA", "areaAsignada": "MESA"
        });
        let Ok(crate::domain::comando::Peticion::Crear(datos)) = crate::domain::comando::validar(
            Operacion::Crear,
            cuerpo.as_object().unwrap(),
            &reglas(),
            chrono::Utc::now(),
        ) else {
            panic!("a valid creation")
        };
        let message_id = MessageId::leer(Some(id)).unwrap();
        Paso::Mutacion(MutacionPreparada { message_id, traceparent: None, cambio: Cambio::Crear(datos) })
    }

    /// An `asignar` without a token, re-using `carlos`'s message id "b".
    fn anonimo_con_id_ajeno() -> Paso {
        Paso::Rechazado(Rechazado {
            op: Operacion::Asignar,
            error: ErrorContrato::NoAutenticado("falta el token".into()),
            message_id: Some(MessageId::leer(Some("b")).unwrap()),
            firmante: None,
        })
    }

    /// "a" claimed here, "b" recorded earlier for `carlos`, one number.
    fn reserva() -> Reserva {
        Reserva {
            reclamados: ["a".to_string()].into(),
            previas: [("b".to_string(), registro(Operacion::Asignar, Some("carlos")))].into(),
            bloqueados: HashMap::new(),
            por_label: HashMap::new(),
            por_email: HashMap::new(),
            nums: vec![7],
        }
    }

    #[test]
    fn decidir_applies_replays_and_refuses_without_a_database() {
        let ahora = chrono::Utc::now();
        let mut cambios = store::Cambios::default();
        let tramo = vec![creacion("a"), creacion("a"), anonimo_con_id_ajeno()];
        let d = decidir(tramo, reserva(), &mut cambios, &reglas(), ahora).unwrap();
        assert_eq!(d.len(), 3, "one outcome per step");
        assert_eq!(d[0].resultado, Resultado::Ok);
        assert!(d[0].json()["datos"]["ticketLabel"].as_str().unwrap().ends_with("-00007"), "{:?}", d[0].respuesta);
        assert_eq!(
            (d[1].resultado, &d[1].respuesta),
            (Resultado::Repetido, &d[0].respuesta),
            "a copy gets the first reply"
        );
        assert_eq!(d[2].resultado.as_str(), "NO_AUTENTICADO", "no recorded reply without the same signer");
        assert!(cambios.hay_eventos());

        // "c" was neither claimed here nor recorded: someone else holds it.
        let tramo = vec![creacion("a"), creacion("c")];
        let d = decidir(tramo, reserva(), &mut store::Cambios::default(), &reglas(), ahora);
        assert!(matches!(d, Err(ErrorProceso::RegistroDesaparecido)));
    }
}
