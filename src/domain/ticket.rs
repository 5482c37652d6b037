//! The ticket aggregate: creation and every state change, as pure functions
//! from (ticket, command, actor, time) to (new ticket, history entry).

use super::comando::{CampoError, ComandoTicket, DatosCreacion, Mutacion};
use super::conversacion::{AlVencer, Pausa};
use super::estado::{Accion, Estado, Operacion, Rol, RolActor, Tipo};
use super::sla::{self, Clasificacion, FinPrimeraRespuesta, Meta, Plazo, Progreso, ReglasSla, SlaEstado, Umbral};
use chrono::{DateTime, Datelike, TimeDelta, Utc};
use uuid::Uuid;

/// Who did something, as written in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The verified `sub`.
    pub id: String,
    /// Display name.
    pub nombre: String,
    /// From the verified token: an actor is always staff.
    pub rol: Rol,
    /// The `area` claim of an AREA actor.
    pub area: Option<String>,
}

impl Actor {
    /// A staff actor from a verified token.
    pub fn staff(id: String, nombre: String, rol: Rol, area: Option<String>) -> Self {
        Actor { id, nombre, rol, area }
    }

    /// Whether the actor is AREA staff, limited to its own area.
    pub fn es_area(&self) -> bool {
        self.rol == Rol::Area
    }

    /// The area filter a query may run with. An AREA actor sees only its own
    /// area, whatever it asks for; asking for another yields nothing.
    pub fn alcance(&self, pedida: Option<&str>) -> Alcance {
        match (self.es_area(), pedida) {
            (false, pedida) => Alcance::Area(pedida.map(str::to_string)),
            (true, Some(p)) if Some(p) != self.area.as_deref() => Alcance::Nada,
            (true, _) => Alcance::Area(self.area.clone()),
        }
    }

    /// AREA actors may touch only tickets of their own area.
    pub fn alcanza(&self, ticket: &Ticket) -> bool {
        !self.es_area() || self.area.as_deref() == Some(ticket.area_asignada.as_str())
    }
}

/// What a query may see: one area (or all, `None`), or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alcance {
    /// Tickets of this area, or of every area when none.
    Area(Option<String>),
    /// No ticket at all.
    Nada,
}

/// Who asked for the ticket; has no account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solicitante {
    /// Full name.
    pub nombre: String,
    /// Email, the second key of `consultar`; none once erased (§11).
    pub email: Option<String>,
    /// Phone number, if given.
    pub telefono: Option<String>,
    /// Whether the phone takes WhatsApp.
    pub tiene_whatsapp: bool,
    /// Identity document, if given.
    pub documento: Option<String>,
    /// Company or department, if given.
    pub empresa_departamento: Option<String>,
}

/// A help-desk ticket as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    /// `ticketUuid`: identity and order key.
    pub uuid: Uuid,
    /// `ticketNum`: global number, from 1.
    pub num: i64,
    /// `ticketLabel`: `TKT-<year>-<n>`, `n` zero-padded to 5.
    pub label: String,
    /// Who asked for it.
    pub solicitante: Solicitante,
    /// The request's type.
    pub tipo: Tipo,
    /// Category.
    pub categoria: String,
    /// Subcategory, if any.
    pub subcategoria: Option<String>,
    /// Subject, if given.
    pub asunto: Option<String>,
    /// The requester's description, at most `DESCRIPCION_MAX` characters.
    pub descripcion: String,
    /// The text of the latest PUBLICO message written by staff
    /// (`actualizar`'s `respuestaCliente` or a public `responder`).
    pub respuesta_cliente: Option<String>,
    /// Area in charge (`MESA` by default).
    pub area_asignada: String,
    /// Agent in charge, if assigned.
    pub agente_asignado: Option<String>,
    /// Priority name, upper case.
    pub prioridad: String,
    /// Current state.
    pub estado: Estado,
    /// `RESOLUCION` target, from its SLA policy or priority.
    pub sla_objetivo: TimeDelta,
    /// `fechaLimiteSla`: the `RESOLUCION` deadline, moved forward by pauses that stop the clock.
    pub fecha_limite_sla: DateTime<Utc>,
    /// When the warning window opens (POR_VENCER from then on): the most
    /// lenient threshold of its policy.
    pub fecha_aviso_sla: DateTime<Utc>,
    /// The resolution alerts sent for the current deadline.
    pub sla_progreso: Progreso,
    /// `slaPolitica`: the policy its targets come from; none for the defaults.
    pub sla_politica: Option<String>,
    /// The first-response clock, where a target is configured for the ticket.
    pub primera_respuesta: Option<PrimeraRespuesta>,
    /// When the scheduler must look at this ticket next: the earliest alert
    /// not sent yet of either meta; `None` when none can be due (paused,
    /// closed, every alert sent).
    pub proxima_alerta_sla: Option<DateTime<Utc>>,
    /// Start of the current pause; none unless `PAUSADO`.
    pub pausado_desde: Option<DateTime<Utc>>,
    /// The current pause's wait (v1.2); none unless `PAUSADO`.
    pub pausa: Option<Pausa>,
    /// When the latest PUBLICO message is the requester's: the date of the
    /// first of them since the desk last wrote publicly (the requester
    /// waits for the desk since then); none otherwise.
    pub pendiente_desde: Option<DateTime<Utc>>,
    /// Working time of finished pauses the SLA clocks stood still for (zero when pauses do not stop the clock).
    pub pausa_acumulada: TimeDelta,
    /// Frozen CUMPLIDO / INCUMPLIDO once closed.
    pub sla_final: Option<SlaEstado>,
    /// Creation instant.
    pub creado_en: DateTime<Utc>,
    /// Last change.
    pub actualizado_en: DateTime<Utc>,
    /// First `asignar`, if any.
    pub primera_asignacion_en: Option<DateTime<Utc>>,
    /// When it was cancelled or archived.
    pub cerrado_en: Option<DateTime<Utc>>,
    /// Optimistic-lock version, incremented by every change.
    pub version: i64,
    /// When its requester's data was erased (§11); none until then.
    pub anonimizado_en: Option<DateTime<Utc>>,
}

/// A ticket's first-response clock (contract §6.1): from creation to the
/// first `asignar`, or with `sla.primera_respuesta_termina = "respuesta"`
/// to the first PUBLICO message of staff (§10).
#[derive(Debug, Clone, PartialEq)]
pub struct PrimeraRespuesta {
    /// The target.
    pub objetivo: TimeDelta,
    /// `fechaLimitePrimeraRespuesta`.
    pub fecha_limite: DateTime<Utc>,
    /// Where POR_VENCER begins: the most lenient threshold.
    pub fecha_aviso: DateTime<Utc>,
    /// The alerts sent for the current deadline.
    pub progreso: Progreso,
    /// CUMPLIDO or INCUMPLIDO and when, frozen when the clock stops: the
    /// first `asignar`, or the first PUBLICO message of staff under
    /// "respuesta" (INCUMPLIDO when closed first); none while the clock runs.
    pub resultado: Option<Veredicto>,
}

/// How a stopped first-response clock ended, and when it stopped
/// (`primera_respuesta_final`, `primera_respuesta_en`): what
/// `cumplimientoPrimeraRespuesta` counts, by that date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Veredicto {
    /// CUMPLIDO or INCUMPLIDO.
    pub estado: SlaEstado,
    /// When the clock stopped.
    pub en: DateTime<Utc>,
}

/// An SLA alert due, with its history entry (actor SISTEMA).
#[derive(Debug, Clone, PartialEq)]
pub struct Alerta {
    /// The clock it is about.
    pub meta: Meta,
    /// Which of its alerts.
    pub umbral: Umbral,
    /// That meta's deadline.
    pub fecha_limite: DateTime<Utc>,
    /// Its `historial` entry.
    pub entrada: Historial,
}

/// One `historial` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Historial {
    /// When it happened.
    pub fecha: DateTime<Utc>,
    /// What happened.
    pub accion: Accion,
    /// The actor's reason, if any.
    pub motivo: Option<String>,
    /// The verified `sub` of a staff actor; none for a requester (no
    /// account) or the scheduler.
    pub actor_id: Option<String>,
    /// The actor's display name.
    pub actor_nombre: String,
    /// Who acted: staff, requester or the system.
    pub actor_rol: RolActor,
    /// State before; none on creation.
    pub estado_antes: Option<Estado>,
    /// State after.
    pub estado_despues: Estado,
    /// Priority before, if it changed.
    pub prioridad_antes: Option<String>,
    /// Priority after, if it changed.
    pub prioridad_despues: Option<String>,
    /// Area before, if it changed.
    pub area_antes: Option<String>,
    /// Area after, if it changed.
    pub area_despues: Option<String>,
    /// Staff only: the RESPUESTA of an INTERNO note. `detalle` shows it;
    /// `consultar` never takes it for the latest entry (v1.2).
    pub interno: bool,
}

impl Historial {
    /// An entry of the requester's (USUARIO) about `t` as it now stands,
    /// from `antes`: no motivo (a requester's words are in the conversation),
    /// no id and no e-mail (requesters have no account).
    fn del_solicitante(t: &Ticket, ahora: DateTime<Utc>, accion: Accion, antes: Option<Estado>) -> Historial {
        Historial {
            fecha: ahora,
            accion,
            motivo: None,
            actor_id: None,
            actor_nombre: t.solicitante.nombre.clone(),
            actor_rol: RolActor::Usuario,
            estado_antes: antes,
            estado_despues: t.estado,
            prioridad_antes: None,
            prioridad_despues: None,
            area_antes: None,
            area_despues: None,
            interno: false,
        }
    }
}

/// Why a legal-looking command was refused against the ticket's current data.
#[derive(Debug, Clone, PartialEq)]
pub enum Rechazo {
    /// The operation is not legal from the ticket's state.
    Transicion {
        /// The operation asked for.
        operacion: Operacion,
        /// The ticket's current state.
        estado: Estado,
    },
    /// A field rule that depends on the ticket (e.g. transferring to the same area).
    Campos(Vec<CampoError>),
}

/// `motivo` of the scheduler's REAPERTURA when a wait's `hasta` comes.
pub const MOTIVO_RECORDATORIO: &str = "recordatorio";
/// `motivo` of the scheduler's ARCHIVO when a wait with `alVencer` ARCHIVAR runs out.
pub const MOTIVO_CIERRE_AUTOMATICO: &str = "cierre automático: sin respuesta";

/// `TKT-<year>-<n>`, `n` zero-padded to 5 digits.
pub fn label(anio: i32, num: i64) -> String {
    format!("TKT-{anio}-{num:05}")
}

impl Ticket {
    /// A new ticket in NUEVO, and its CREACION entry with the requester as actor.
    pub fn crear(
        datos: DatosCreacion,
        uuid: Uuid,
        num: i64,
        ahora: DateTime<Utc>,
        reglas: &ReglasSla,
    ) -> (Ticket, Historial) {
        let ticket = Ticket {
            uuid,
            num,
            label: label(ahora.year(), num),
            solicitante: Solicitante {
                nombre: datos.nombre,
                email: Some(datos.email),
                telefono: datos.telefono,
                tiene_whatsapp: datos.tiene_whatsapp,
                documento: datos.documento,
                empresa_departamento: datos.empresa_departamento,
            },
            tipo: datos.tipo,
            categoria: datos.categoria,
            subcategoria: datos.subcategoria,
            asunto: datos.asunto,
            descripcion: datos.descripcion,
            respuesta_cliente: None,
            area_asignada: datos.area_asignada,
            agente_asignado: None,
            prioridad: datos.prioridad.nombre,
            estado: Estado::Nuevo,
            // Set from the policy chosen just below.
            sla_objetivo: datos.prioridad.objetivo,
            fecha_limite_sla: ahora,
            fecha_aviso_sla: ahora,
            sla_progreso: Progreso::Nada,
            sla_politica: None,
            primera_respuesta: None,
            proxima_alerta_sla: None,
            pausado_desde: None,
            pausa: None,
            pendiente_desde: None,
            pausa_acumulada: TimeDelta::zero(),
            sla_final: None,
            creado_en: ahora,
            actualizado_en: ahora,
            primera_asignacion_en: None,
            cerrado_en: None,
            version: 1,
            anonimizado_en: None,
        };
        let mut ticket = ticket;
        ticket.replanificar(reglas);
        ticket.proxima_alerta_sla = ticket.proxima_alerta(reglas);
        let entrada = Historial {
            prioridad_despues: Some(ticket.prioridad.clone()),
            area_despues: Some(ticket.area_asignada.clone()),
            ..Historial::del_solicitante(&ticket, ahora, Accion::Creacion, None)
        };
        (ticket, entrada)
    }

    /// Applies a mutation. Area scoping is the caller's check (it is an
    /// authorization question, answered before the state is even looked at).
    pub fn aplicar(
        &self,
        comando: &ComandoTicket,
        actor: &Actor,
        ahora: DateTime<Utc>,
        reglas: &ReglasSla,
    ) -> Result<(Ticket, Historial), Rechazo> {
        let operacion = comando.mutacion.operacion();
        let rechazo = Rechazo::Transicion { operacion, estado: self.estado };
        let destino = match &comando.mutacion {
            // The conversation takes any non-terminal state and keeps it.
            Mutacion::Responder(_) if self.estado.es_terminal() => return Err(rechazo),
            Mutacion::Responder(_) => self.estado,
            _ => operacion.destino_desde(self.estado).ok_or(rechazo)?,
        };
        let mut t = self.clone();
        let mut motivo = comando.motivo.clone();
        match &comando.mutacion {
            Mutacion::Asignar { area, agente } => {
                if let Some(area) = area {
                    t.area_asignada = area.clone();
                }
                if agente.is_some() {
                    t.agente_asignado = agente.clone();
                }
                if t.primera_asignacion_en.is_none() {
                    t.primera_asignacion_en = Some(ahora);
                    if reglas.fin_primera_respuesta() == FinPrimeraRespuesta::Asignar {
                        t.congelar_primera_respuesta(ahora, reglas);
                    }
                }
            }
            Mutacion::Transferir { area } => {
                if area.eq_ignore_ascii_case(&self.area_asignada) {
                    return Err(Rechazo::Campos(vec![CampoError::new("area", "debe ser distinta del área actual")]));
                }
                t.area_asignada = area.clone();
                t.agente_asignado = None;
                t.replanificar(reglas);
            }
            Mutacion::Reclasificar { tipo, categoria, subcategoria, prioridad } => {
                if let Some(tipo) = tipo {
                    t.tipo = *tipo;
                }
                if let Some(categoria) = categoria {
                    t.categoria = categoria.clone();
                }
                if subcategoria.is_some() {
                    t.subcategoria = subcategoria.clone();
                }
                if let Some(p) = prioridad {
                    t.prioridad = p.nombre.clone();
                }
                // Tipo, categoria and prioridad all choose the policy.
                t.replanificar(reglas);
            }
            // `hasta`'s window was checked with the other fields, at this
            // very instant (`comando::validar`), before the state was.
            Mutacion::Pausar(pausa) => {
                t.pausado_desde = Some(ahora);
                t.pausa = Some(*pausa);
            }
            Mutacion::Reabrir => t.reanudar(ahora, reglas),
            Mutacion::Actualizar { nota, respuesta_cliente } => {
                if respuesta_cliente.is_some() {
                    t.respuesta_cliente = respuesta_cliente.clone();
                    t.pendiente_desde = None;
                    t.respuesta_publica(ahora, reglas);
                }
                motivo = motivo.or_else(|| Some(nota.clone()));
            }
            Mutacion::Responder(escrito) => {
                if !escrito.interno {
                    t.respuesta_cliente = Some(escrito.texto.clone());
                    t.pendiente_desde = None;
                    t.respuesta_publica(ahora, reglas);
                }
                // The text is in the conversation, not the history.
                motivo = None;
            }
            Mutacion::Cancelar | Mutacion::Archivar => t.cerrar(ahora),
        }
        t.estado = destino;
        t.actualizado_en = ahora;
        t.version += 1;
        t.proxima_alerta_sla = t.proxima_alerta(reglas);

        let cambio = |antes: &str, despues: &str| {
            (antes != despues).then(|| (Some(antes.to_string()), Some(despues.to_string())))
        };
        let (prioridad_antes, prioridad_despues) = cambio(&self.prioridad, &t.prioridad).unwrap_or_default();
        let (area_antes, area_despues) = cambio(&self.area_asignada, &t.area_asignada).unwrap_or_default();
        let entrada = Historial {
            fecha: ahora,
            accion: comando.mutacion.accion(),
            motivo,
            actor_id: Some(actor.id.clone()),
            actor_nombre: actor.nombre.clone(),
            actor_rol: RolActor::Staff(actor.rol),
            estado_antes: Some(self.estado),
            estado_despues: destino,
            prioridad_antes,
            prioridad_despues,
            area_antes,
            area_despues,
            interno: matches!(&comando.mutacion, Mutacion::Responder(escrito) if escrito.interno),
        };
        Ok((t, entrada))
    }

    /// The requester's `seguimiento` (contract §10): a PUBLICO message of
    /// theirs on any non-terminal ticket; a wait for them ends with it (the
    /// ticket back in ASIGNADO, its clocks resumed as `reabrir` resumes
    /// them), in this one change and its one SEGUIMIENTO entry.
    pub fn seguir(&self, ahora: DateTime<Utc>, reglas: &ReglasSla) -> Result<(Ticket, Historial), Rechazo> {
        if self.estado.es_terminal() {
            return Err(Rechazo::Transicion { operacion: Operacion::Seguimiento, estado: self.estado });
        }
        let mut t = self.clone();
        // A pause of v1.1 (no wait recorded) waits for nobody in particular.
        if self.estado == Estado::Pausado && self.pausa.is_some_and(|p| p.termina_con_seguimiento()) {
            t.reanudar(ahora, reglas);
            t.estado = Estado::Asignado;
        }
        t.pendiente_desde = self.pendiente_desde.or(Some(ahora));
        t.actualizado_en = ahora;
        t.version += 1;
        t.proxima_alerta_sla = t.proxima_alerta(reglas);
        let entrada = Historial::del_solicitante(&t, ahora, Accion::Seguimiento, Some(self.estado));
        Ok((t, entrada))
    }

    /// A PUBLICO message of staff at `ahora`: the first one stops the
    /// first-response clock where the settings say so
    /// (`sla.primera_respuesta_termina = "respuesta"`).
    fn respuesta_publica(&mut self, ahora: DateTime<Utc>, reglas: &ReglasSla) {
        if reglas.fin_primera_respuesta() == FinPrimeraRespuesta::Respuesta {
            self.congelar_primera_respuesta(ahora, reglas);
        }
    }

    /// Closes the ticket at `ahora`: both clocks freeze as they stand.
    fn cerrar(&mut self, ahora: DateTime<Utc>) {
        self.cerrado_en = Some(ahora);
        // Nobody can answer a closed ticket: it leaves the desk's inbox.
        self.pendiente_desde = None;
        self.sla_final = Some(SlaEstado::al_cerrar(ahora, self.fecha_limite_sla));
        if let Some(pr) = self.primera_respuesta.as_mut() {
            pr.resultado.get_or_insert(Veredicto { estado: SlaEstado::Incumplido, en: ahora });
        }
    }

    /// The end of a wait whose `hasta` has come (contract §10), as the
    /// scheduler (SISTEMA) makes it, through legal transitions only: REABRIR
    /// reopens (REAPERTURA, "recordatorio"); ARCHIVAR reopens and then
    /// archives (REAPERTURA, then ARCHIVO "cierre automático: sin
    /// respuesta"). Each step with the ticket as it left it, for its event;
    /// none when nothing is due (not paused, no `hasta`, not yet).
    pub fn vencer_espera(&self, ahora: DateTime<Utc>, reglas: &ReglasSla) -> Vec<(Ticket, Historial)> {
        let Some(pausa) = self.pausa.filter(|p| p.vencida(ahora)) else { return Vec::new() };
        let Some(reabierto) = Operacion::Reabrir.destino_desde(self.estado) else { return Vec::new() };
        let mut t = self.clone();
        t.reanudar(ahora, reglas);
        let mut pasos = vec![t.paso_del_sistema(reabierto, ahora, reglas, Accion::Reapertura, MOTIVO_RECORDATORIO)];
        if pausa.al_vencer == AlVencer::Archivar
            && let Some(archivado) = Operacion::Archivar.destino_desde(t.estado)
        {
            t.cerrar(ahora);
            pasos.push(t.paso_del_sistema(archivado, ahora, reglas, Accion::Archivo, MOTIVO_CIERRE_AUTOMATICO));
        }
        pasos
    }

    /// One step of the scheduler's: the ticket moves to `destino`, its
    /// version rises, and the entry names SISTEMA.
    fn paso_del_sistema(
        &mut self,
        destino: Estado,
        ahora: DateTime<Utc>,
        reglas: &ReglasSla,
        accion: Accion,
        motivo: &str,
    ) -> (Ticket, Historial) {
        let mut entrada = self.entrada_sistema(ahora, accion, motivo.to_string());
        entrada.estado_despues = destino;
        self.estado = destino;
        self.actualizado_en = ahora;
        self.version += 1;
        self.proxima_alerta_sla = self.proxima_alerta(reglas);
        (self.clone(), entrada)
    }

    /// Ends a pause: the paused time counts as the settings say, the
    /// deadlines move by it, and the wait is gone.
    fn reanudar(&mut self, ahora: DateTime<Utc>, reglas: &ReglasSla) {
        let espera = self.pausa.take().map(|p| p.espera);
        if let Some(desde) = self.pausado_desde.take() {
            let calendario = reglas.calendario_de(self.sla_politica.as_deref());
            self.pausa_acumulada += reglas.pausa_computable(calendario, espera, desde, ahora);
            self.mover_plazos(reglas);
        }
    }

    /// Whether the SLA treats the ticket as paused under `reglas`
    /// ([`PausasQueDetienen::suspende`](sla::PausasQueDetienen::suspende)):
    /// PAUSADO shown, no alert due.
    fn sla_en_pausa(&self, reglas: &ReglasSla) -> bool {
        self.estado == Estado::Pausado && reglas.pausas_que_detienen().suspende(self.pausa.map(|p| p.espera))
    }

    /// `slaEstado` at `ahora`.
    pub fn sla_estado(&self, ahora: DateTime<Utc>, reglas: &ReglasSla) -> SlaEstado {
        if let Some(final_) = self.sla_final {
            final_
        } else if self.sla_en_pausa(reglas) {
            SlaEstado::Pausado
        } else {
            sla::estado_en_curso(ahora, self.fecha_limite_sla, self.fecha_aviso_sla)
        }
    }

    /// `slaPrimeraRespuesta` at `ahora`; none without a first-response
    /// target. PAUSADO while paused with the clock still running, as
    /// `slaEstado` (only possible with `primera_respuesta_termina =
    /// "respuesta"`: a ticket is paused only once assigned).
    pub fn sla_primera_respuesta(&self, ahora: DateTime<Utc>, reglas: &ReglasSla) -> Option<SlaEstado> {
        let pr = self.primera_respuesta.as_ref()?;
        Some(match pr.resultado {
            Some(veredicto) => veredicto.estado,
            None if self.sla_en_pausa(reglas) => SlaEstado::Pausado,
            None => sla::estado_en_curso(ahora, pr.fecha_limite, pr.fecha_aviso),
        })
    }

    /// What its policy is chosen by.
    pub fn clasificacion(&self) -> Clasificacion<'_> {
        Clasificacion {
            tipo: self.tipo.as_str(),
            prioridad: &self.prioridad,
            area: &self.area_asignada,
            categoria: &self.categoria,
        }
    }

    /// The deadline of a meta; none for a first response without a target.
    pub fn fecha_limite(&self, meta: Meta) -> Option<DateTime<Utc>> {
        match meta {
            Meta::Resolucion => Some(self.fecha_limite_sla),
            Meta::PrimeraRespuesta => self.primera_respuesta.as_ref().map(|pr| pr.fecha_limite),
        }
    }

    /// A meta's clock while it can still alert: neither closed nor paused
    /// (a pause that stops no clock under a list of waits does not count),
    /// and the first response until its clock stopped.
    fn plazo(&self, meta: Meta, reglas: &ReglasSla) -> Option<Plazo> {
        if self.cerrado_en.is_some() || self.sla_en_pausa(reglas) {
            return None;
        }
        match meta {
            Meta::Resolucion => Some(Plazo {
                inicio: self.creado_en,
                objetivo: self.sla_objetivo,
                pausa: self.pausa_acumulada,
                progreso: self.sla_progreso,
            }),
            Meta::PrimeraRespuesta => {
                let pr = self.primera_respuesta.as_ref().filter(|pr| pr.resultado.is_none())?;
                Some(self.plazo_de_primera_respuesta(pr, self.pausa_acumulada))
            }
        }
    }

    /// The first-response clock with `pausa` of standstill. While it runs,
    /// every pause so far fell inside it, so it stood still exactly as long
    /// as the resolution clock (`pausa_acumulada`). Under "asignar" that is
    /// always zero: a ticket is paused only once assigned.
    fn plazo_de_primera_respuesta(&self, pr: &PrimeraRespuesta, pausa: TimeDelta) -> Plazo {
        Plazo { inicio: self.creado_en, objetivo: pr.objetivo, pausa, progreso: pr.progreso }
    }

    fn fijar_progreso(&mut self, meta: Meta, progreso: Progreso) {
        match meta {
            Meta::Resolucion => self.sla_progreso = progreso,
            Meta::PrimeraRespuesta => {
                if let Some(pr) = self.primera_respuesta.as_mut() {
                    pr.progreso = progreso;
                }
            }
        }
    }

    /// Chooses the policy again for the ticket's current classification and
    /// recomputes the deadlines from creation with its targets, keeping the
    /// paused time. A frozen first response stays as it was.
    fn replanificar(&mut self, reglas: &ReglasSla) {
        let plan = reglas.seleccionar(&self.clasificacion());
        self.sla_politica = plan.politica.map(|p| p.nombre.clone());
        self.sla_objetivo = plan.resolucion;
        let congelada = self.primera_respuesta.as_ref().is_some_and(|pr| pr.resultado.is_some());
        // Whether what stops the first-response clock has happened already:
        // then no target is chosen again, nor a clock started that nothing
        // could stop (a ticket from before the target existed).
        let respondida = match reglas.fin_primera_respuesta() {
            FinPrimeraRespuesta::Asignar => self.primera_asignacion_en.is_some(),
            FinPrimeraRespuesta::Respuesta => self.respuesta_cliente.is_some(),
        };
        if !congelada && !respondida && self.cerrado_en.is_none() {
            self.primera_respuesta = match (self.primera_respuesta.take(), plan.primera_respuesta) {
                // Its progress stays unless the deadline moves (`mover_plazos`).
                (Some(pr), Some(objetivo)) => Some(PrimeraRespuesta { objetivo, ..pr }),
                (None, Some(objetivo)) => Some(PrimeraRespuesta {
                    objetivo,
                    fecha_limite: self.creado_en,
                    fecha_aviso: self.creado_en,
                    progreso: Progreso::Nada,
                    resultado: None,
                }),
                (_, None) => None,
            };
        }
        self.mover_plazos(reglas);
    }

    /// Recomputes deadlines and warning times from creation, targets and
    /// pauses. A deadline that moves may alert again.
    fn mover_plazos(&mut self, reglas: &ReglasSla) {
        let calendario = reglas.calendario_de(self.sla_politica.as_deref());
        let primero = Umbral::Aviso(reglas.avisos_de(self.sla_politica.as_deref()).primero());
        let resolucion = Plazo {
            inicio: self.creado_en,
            objetivo: self.sla_objetivo,
            pausa: self.pausa_acumulada,
            progreso: self.sla_progreso,
        };
        let limite = resolucion.fecha_limite(calendario);
        if limite != self.fecha_limite_sla {
            self.sla_progreso = Progreso::Nada;
        }
        self.fecha_limite_sla = limite;
        self.fecha_aviso_sla = resolucion.momento(primero, calendario);
        let Some(pr) = self.primera_respuesta.as_ref().filter(|pr| pr.resultado.is_none()) else { return };
        let plazo = self.plazo_de_primera_respuesta(pr, self.pausa_acumulada);
        let limite = plazo.fecha_limite(calendario);
        let aviso = plazo.momento(primero, calendario);
        if let Some(pr) = self.primera_respuesta.as_mut() {
            if limite != pr.fecha_limite {
                pr.progreso = Progreso::Nada;
            }
            pr.fecha_limite = limite;
            pr.fecha_aviso = aviso;
        }
    }

    /// Stops the first-response clock at `ahora` (the first `asignar`, or
    /// the first public reply of staff) and freezes its result. Stopped
    /// while paused, the pause so far counts as `reabrir` would count it
    /// now, and the frozen deadline shows it.
    fn congelar_primera_respuesta(&mut self, ahora: DateTime<Utc>, reglas: &ReglasSla) {
        let calendario = reglas.calendario_de(self.sla_politica.as_deref());
        let primero = Umbral::Aviso(reglas.avisos_de(self.sla_politica.as_deref()).primero());
        let en_curso = self.pausado_desde.map_or(TimeDelta::zero(), |desde| {
            reglas.pausa_computable(calendario, self.pausa.map(|p| p.espera), desde, ahora)
        });
        let Some(pr) = self.primera_respuesta.as_ref().filter(|pr| pr.resultado.is_none()) else { return };
        let plazo = self.plazo_de_primera_respuesta(pr, self.pausa_acumulada + en_curso);
        let (limite, aviso) = (plazo.fecha_limite(calendario), plazo.momento(primero, calendario));
        if let Some(pr) = self.primera_respuesta.as_mut() {
            pr.fecha_limite = limite;
            pr.fecha_aviso = aviso;
            pr.resultado = Some(Veredicto { estado: SlaEstado::al_cerrar(ahora, limite), en: ahora });
        }
    }

    /// When the next alert of either meta is due.
    fn proxima_alerta(&self, reglas: &ReglasSla) -> Option<DateTime<Utc>> {
        let avisos = reglas.avisos_de(self.sla_politica.as_deref());
        let calendario = reglas.calendario_de(self.sla_politica.as_deref());
        Meta::TODAS
            .into_iter()
            .filter_map(|m| self.plazo(m, reglas)?.proxima(avisos, calendario).map(|(_, cuando)| cuando))
            .min()
    }

    /// The SLA alerts due at `ahora`, in the order they came due (a meta's
    /// in order of severity), each with its history entry. A ticket first
    /// seen past several thresholds gets each of them, then VENCIDO if
    /// overdue; the ticket returned has them recorded as sent.
    pub fn alertar(&self, ahora: DateTime<Utc>, reglas: &ReglasSla) -> (Ticket, Vec<Alerta>) {
        let mut t = self.clone();
        let avisos = reglas.avisos_de(self.sla_politica.as_deref());
        let calendario = reglas.calendario_de(self.sla_politica.as_deref());
        let mut debidas = Vec::new();
        for meta in Meta::TODAS {
            let Some(plazo) = self.plazo(meta, reglas) else { continue };
            let mut progreso = plazo.progreso;
            for umbral in plazo.debidas(avisos, calendario, ahora) {
                progreso = progreso.tras(umbral);
                debidas.push((plazo.momento(umbral, calendario), meta, umbral, plazo.fecha_limite(calendario)));
            }
            t.fijar_progreso(meta, progreso);
        }
        // Stable: a meta's alerts keep their order of severity.
        debidas.sort_by_key(|(cuando, ..)| *cuando);
        t.proxima_alerta_sla = t.proxima_alerta(reglas);
        let alertas = debidas
            .into_iter()
            .map(|(_, meta, umbral, fecha_limite)| {
                let minutos = sla::minutos_restantes(ahora, fecha_limite);
                let (accion, motivo) = match umbral {
                    Umbral::Aviso(p) => (
                        Accion::SlaPorVencer,
                        format!("El SLA de {} vence en {minutos} minutos (aviso {p} %)", meta.nombre()),
                    ),
                    Umbral::Vencido => {
                        (Accion::SlaVencido, format!("El SLA de {} venció hace {} minutos", meta.nombre(), -minutos))
                    }
                };
                let entrada = t.entrada_sistema(ahora, accion, motivo);
                Alerta { meta, umbral, fecha_limite, entrada }
            })
            .collect();
        (t, alertas)
    }

    /// Applies the escalation steps of the ticket's policy that `meta`'s
    /// alert `umbral` triggers: area and/or priority change, state and
    /// deadlines do not. `None` when no step applies or none would change
    /// anything.
    pub fn escalar(
        &self,
        meta: Meta,
        umbral: Umbral,
        ahora: DateTime<Utc>,
        reglas: &ReglasSla,
    ) -> Option<(Ticket, Historial)> {
        let politica = reglas.politica(self.sla_politica.as_deref())?;
        let mut t = self.clone();
        for paso in politica.escalado.iter().filter(|p| p.meta == meta && p.en == umbral) {
            if let Some(area) = &paso.area {
                t.area_asignada = area.clone();
            }
            if let Some(prioridad) = &paso.prioridad {
                t.prioridad = prioridad.clone();
            }
        }
        let cambio = |antes: &str, despues: &str| {
            (antes != despues).then(|| (Some(antes.to_string()), Some(despues.to_string())))
        };
        let prioridad = cambio(&self.prioridad, &t.prioridad);
        let area = cambio(&self.area_asignada, &t.area_asignada);
        if prioridad.is_none() && area.is_none() {
            return None;
        }
        t.actualizado_en = ahora;
        t.version += 1;
        let en = match umbral {
            Umbral::Aviso(p) => format!("aviso {p} %"),
            Umbral::Vencido => "vencido".to_string(),
        };
        let mut entrada = t.entrada_sistema(
            ahora,
            Accion::Escalamiento,
            format!("Escalamiento de la política {:?}: SLA de {}, {en}", politica.nombre, meta.nombre()),
        );
        (entrada.prioridad_antes, entrada.prioridad_despues) = prioridad.unwrap_or_default();
        (entrada.area_antes, entrada.area_despues) = area.unwrap_or_default();
        Some((t, entrada))
    }

    /// A history entry of the scheduler's (actor SISTEMA), state unchanged.
    pub(super) fn entrada_sistema(&self, ahora: DateTime<Utc>, accion: Accion, motivo: String) -> Historial {
        Historial {
            fecha: ahora,
            accion,
            motivo: Some(motivo),
            actor_id: None,
            actor_nombre: "Sistema".to_string(),
            actor_rol: RolActor::Sistema,
            estado_antes: Some(self.estado),
            estado_despues: self.estado,
            prioridad_antes: None,
            prioridad_despues: None,
            area_antes: None,
            area_despues: None,
            interno: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::comando::{Peticion, validar};
    use crate::domain::sla::{Avisos, Condiciones, NivelSla, PasoEscalado, Politica, prioridades_por_defecto};
    use chrono::TimeZone;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn reglas() -> ReglasSla {
        ReglasSla::new(prioridades_por_defecto(), 20, true)
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 24, 10, 15, 0).unwrap()
    }

    fn nuevo() -> Ticket {
        let body = json!({"nombre": "Ana García", "email": "ana@empresa.com", "tipo": "INCIDENTE",
            "categoria": "Sistemas", "descripcion": "No puedo acceder a mi correo", "prioridad": "ALTA"});
        let Ok(Peticion::Crear(d)) = validar(Operacion::Crear, body.as_object().unwrap(), &reglas(), t0()) else {
            panic!()
        };
        Ticket::crear(*d, Uuid::nil(), 142, t0(), &reglas()).0
    }

    fn pausa_otro() -> Pausa {
        Pausa {
            espera: crate::domain::conversacion::Espera::Otro,
            hasta: None,
            al_vencer: crate::domain::conversacion::AlVencer::Reabrir,
        }
    }

    fn mesa() -> Actor {
        Actor::staff("u1".into(), "Carlos Méndez".into(), Rol::Mesa, None)
    }

    fn cmd(mutacion: Mutacion, motivo: Option<&str>) -> ComandoTicket {
        ComandoTicket { ticket_id: Uuid::nil(), motivo: motivo.map(str::to_string), mutacion }
    }

    fn asignar() -> ComandoTicket {
        cmd(Mutacion::Asignar { area: None, agente: Some("Luis".into()) }, None)
    }

    fn niveles(a: &[Alerta]) -> Vec<NivelSla> {
        a.iter().map(|a| a.umbral.nivel()).collect()
    }

    fn pausa(espera: crate::domain::conversacion::Espera, hasta: Option<DateTime<Utc>>) -> Mutacion {
        Mutacion::Pausar(Pausa { espera, hasta, al_vencer: crate::domain::conversacion::AlVencer::Reabrir })
    }

    fn responder(texto: &str, interno: bool) -> ComandoTicket {
        let escrito = crate::domain::conversacion::Escrito { texto: texto.into(), interno, adjuntos: vec![] };
        cmd(Mutacion::Responder(escrito), Some("ignorado"))
    }

    #[test]
    fn a_follow_up_reopens_only_a_wait_for_the_requester_and_resumes_the_clock_as_reabrir_does() {
        use crate::domain::conversacion::Espera;
        let p = reglas();
        let (asignado, _) = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap();
        let una_hora = t0() + TimeDelta::hours(1);
        let tres_horas = t0() + TimeDelta::hours(3);
        for espera in Espera::TODAS {
            let (pausado, _) =
                asignado.aplicar(&cmd(pausa(espera, None), Some("captura")), &mesa(), una_hora, &p).unwrap();
            let (seguido, entrada) = pausado.seguir(tres_horas, &p).unwrap();
            assert_eq!(entrada.accion, Accion::Seguimiento);
            assert_eq!(entrada.actor_rol, RolActor::Usuario);
            assert_eq!(entrada.actor_nombre, "Ana García");
            assert_eq!((entrada.motivo, entrada.actor_id), (None, None), "no text, no id in history");
            assert_eq!(entrada.estado_antes, Some(Estado::Pausado));
            assert_eq!(seguido.version, pausado.version + 1);
            assert_eq!(seguido.pendiente_desde, Some(tres_horas));
            if espera == Espera::Solicitante {
                assert_eq!((seguido.estado, entrada.estado_despues), (Estado::Asignado, Estado::Asignado));
                let (reabierto, _) = pausado.aplicar(&cmd(Mutacion::Reabrir, None), &mesa(), tres_horas, &p).unwrap();
                assert_eq!(seguido.fecha_limite_sla, reabierto.fecha_limite_sla, "resumed exactly as reabrir");
                assert_eq!(seguido.fecha_limite_sla, t0() + TimeDelta::hours(6), "two paused hours added");
                assert_eq!((seguido.pausa, seguido.pausado_desde), (None, None));
            } else {
                assert_eq!(seguido.estado, Estado::Pausado, "{espera:?}: still waiting");
                assert_eq!(seguido.pausa, pausado.pausa);
            }
        }
    }

    #[test]
    fn the_conversation_takes_any_open_state_keeps_it_and_never_a_closed_one() {
        let p = reglas();
        let t = nuevo();
        let (r, entrada) = t.aplicar(&responder("¿Nos envía una captura?", false), &mesa(), t0(), &p).unwrap();
        assert_eq!(
            (r.estado, entrada.estado_despues, entrada.accion),
            (Estado::Nuevo, Estado::Nuevo, Accion::Respuesta)
        );
        assert_eq!(entrada.motivo, None, "the text is in the conversation, not the history");
        assert_eq!(r.respuesta_cliente.as_deref(), Some("¿Nos envía una captura?"));
        assert!(!entrada.interno, "a public reply's entry is the requester's to know of");
        let (interno, nota) = r.aplicar(&responder("nota para el equipo", true), &mesa(), t0(), &p).unwrap();
        assert!(nota.interno, "a note's entry is staff only");
        assert_eq!(
            interno.respuesta_cliente, r.respuesta_cliente,
            "an INTERNO message is never the requester's answer"
        );
        let (asignado, _) = t.aplicar(&asignar(), &mesa(), t0(), &p).unwrap();
        let (cerrado, _) = asignado.aplicar(&cmd(Mutacion::Cancelar, Some("duplicado")), &mesa(), t0(), &p).unwrap();
        assert_eq!(
            cerrado.aplicar(&responder("hola", false), &mesa(), t0(), &p),
            Err(Rechazo::Transicion { operacion: Operacion::Responder, estado: Estado::Cancelado })
        );
        assert_eq!(
            cerrado.seguir(t0(), &p),
            Err(Rechazo::Transicion { operacion: Operacion::Seguimiento, estado: Estado::Cancelado })
        );
    }

    #[test]
    fn the_desk_waits_from_the_first_unanswered_follow_up_until_it_answers_publicly() {
        let p = reglas();
        let (t, _) = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap();
        let (t, _) = t.seguir(t0() + TimeDelta::minutes(1), &p).unwrap();
        let (t, _) = t.seguir(t0() + TimeDelta::minutes(2), &p).unwrap();
        assert_eq!(t.pendiente_desde, Some(t0() + TimeDelta::minutes(1)), "the oldest unanswered one");
        let (t, _) = t.aplicar(&responder("interna", true), &mesa(), t0(), &p).unwrap();
        assert!(t.pendiente_desde.is_some(), "an INTERNO note does not answer the requester");
        let (t, _) = t.aplicar(&responder("Ya lo revisamos", false), &mesa(), t0(), &p).unwrap();
        assert_eq!(t.pendiente_desde, None);
        let (t, _) = t.seguir(t0() + TimeDelta::minutes(9), &p).unwrap();
        let actualizar = Mutacion::Actualizar { nota: "n".into(), respuesta_cliente: Some("Listo".into()) };
        let (t, _) = t.aplicar(&cmd(actualizar, None), &mesa(), t0(), &p).unwrap();
        assert_eq!(t.pendiente_desde, None, "respuestaCliente answers too");
        let (t, _) = t.seguir(t0() + TimeDelta::minutes(20), &p).unwrap();
        let (t, _) = t.aplicar(&cmd(Mutacion::Cancelar, Some("duplicado")), &mesa(), t0(), &p).unwrap();
        assert_eq!(t.pendiente_desde, None, "a closed ticket leaves the inbox: nobody can answer it");
    }

    #[test]
    fn a_wait_keeps_its_hasta_whose_window_validation_checked() {
        // `hasta` in the past or over 90 days ahead is a field error of
        // `comando::validar`, before any state check (issue #26, gap 4).
        use crate::domain::conversacion::Espera;
        let p = reglas();
        let (t, _) = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap();
        let hasta = t0() + TimeDelta::days(90);
        let (pausado, _) =
            t.aplicar(&cmd(pausa(Espera::Solicitante, Some(hasta)), Some("m")), &mesa(), t0(), &p).unwrap();
        assert_eq!(pausado.pausa.and_then(|x| x.hasta), Some(hasta));
    }

    #[test]
    fn a_wait_runs_out_at_hasta_once_through_legal_steps_as_sistema() {
        use crate::domain::conversacion::{AlVencer, Espera};
        let p = reglas();
        let (t, _) = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap();
        let hasta = t0() + TimeDelta::hours(2);
        for al_vencer in AlVencer::TODOS {
            let espera = Mutacion::Pausar(Pausa { espera: Espera::Tercero, hasta: Some(hasta), al_vencer });
            let (pausado, _) = t.aplicar(&cmd(espera, Some("proveedor")), &mesa(), t0(), &p).unwrap();
            assert!(pausado.vencer_espera(hasta - TimeDelta::milliseconds(1), &p).is_empty(), "not yet");
            let pasos = pausado.vencer_espera(hasta, &p);
            let acciones: Vec<(Accion, Estado, RolActor)> =
                pasos.iter().map(|(_, h)| (h.accion, h.estado_despues, h.actor_rol)).collect();
            let versiones: Vec<i64> = pasos.iter().map(|(t, _)| t.version).collect();
            match al_vencer {
                AlVencer::Reabrir => {
                    assert_eq!(acciones, [(Accion::Reapertura, Estado::Asignado, RolActor::Sistema)]);
                    assert_eq!(pasos[0].1.motivo.as_deref(), Some(MOTIVO_RECORDATORIO));
                }
                AlVencer::Archivar => {
                    assert_eq!(
                        acciones,
                        [
                            (Accion::Reapertura, Estado::Asignado, RolActor::Sistema),
                            (Accion::Archivo, Estado::Archivado, RolActor::Sistema)
                        ]
                    );
                    assert_eq!(pasos[1].1.motivo.as_deref(), Some(MOTIVO_CIERRE_AUTOMATICO));
                    assert_eq!(pasos[1].0.sla_final, Some(SlaEstado::Cumplido), "the clock stood still while paused");
                }
            }
            assert_eq!(versiones, (1..=pasos.len() as i64).map(|n| pausado.version + n).collect::<Vec<_>>());
            let (ultimo, _) = pasos.last().unwrap();
            assert!(ultimo.vencer_espera(hasta + TimeDelta::days(30), &p).is_empty(), "never twice");
            assert_eq!(ultimo.pausa, None);
        }
        let sin_hasta = Mutacion::Pausar(pausa_otro());
        let (pausado, _) = t.aplicar(&cmd(sin_hasta, Some("m")), &mesa(), t0(), &p).unwrap();
        assert!(pausado.vencer_espera(t0() + TimeDelta::days(365), &p).is_empty(), "no hasta: only a command ends it");
    }

    #[test]
    fn the_first_response_clock_stops_at_assignment_or_at_the_first_public_staff_reply_as_configured() {
        use crate::domain::sla::FinPrimeraRespuesta;
        let con = |fin| {
            ReglasSla::new(prioridades_por_defecto(), 20, true)
                .con_primera_respuesta([("ALTA".to_string(), TimeDelta::hours(1))])
                .con_fin_de_primera_respuesta(fin)
        };
        let resultado = |t: &Ticket| t.primera_respuesta.as_ref().and_then(|p| p.resultado).map(|v| v.estado);
        // Default (v1.1): the first asignar stops it.
        let p = con(FinPrimeraRespuesta::Asignar);
        let t = Ticket::crear(datos_ana(), Uuid::nil(), 1, t0(), &p).0;
        let (t, _) = t.aplicar(&asignar(), &mesa(), t0() + TimeDelta::minutes(30), &p).unwrap();
        assert_eq!(resultado(&t), Some(SlaEstado::Cumplido));
        let detenido = |t: &Ticket| t.primera_respuesta.as_ref().and_then(|p| p.resultado).map(|v| v.en);
        assert_eq!(detenido(&t), Some(t0() + TimeDelta::minutes(30)), "when the clock stopped");
        // "respuesta": assignment does not; an INTERNO note does not; the first PUBLICO reply does.
        let p = con(FinPrimeraRespuesta::Respuesta);
        let t = Ticket::crear(datos_ana(), Uuid::nil(), 1, t0(), &p).0;
        let (t, _) = t.aplicar(&asignar(), &mesa(), t0() + TimeDelta::minutes(30), &p).unwrap();
        assert_eq!(resultado(&t), None, "assignment is not a response");
        let (t, _) = t.aplicar(&responder("nota", true), &mesa(), t0() + TimeDelta::minutes(40), &p).unwrap();
        assert_eq!(resultado(&t), None, "an INTERNO note is not a response");
        let (t, _) = t.aplicar(&responder("Hola Ana", false), &mesa(), t0() + TimeDelta::minutes(90), &p).unwrap();
        assert_eq!(resultado(&t), Some(SlaEstado::Incumplido), "90 min against a 1 h target");
        let (t2, _) = t.aplicar(&responder("otra", false), &mesa(), t0() + TimeDelta::minutes(95), &p).unwrap();
        assert_eq!(resultado(&t2), resultado(&t), "frozen at the first");
        assert_eq!(detenido(&t2), Some(t0() + TimeDelta::minutes(90)), "stopped at the first");
        // Closed before any reply: INCUMPLIDO, stopped by the close.
        let t = Ticket::crear(datos_ana(), Uuid::nil(), 1, t0(), &p).0;
        let (t, _) = t.aplicar(&asignar(), &mesa(), t0(), &p).unwrap();
        let (t, _) = t.aplicar(&cmd(Mutacion::Cancelar, Some("m")), &mesa(), t0() + TimeDelta::minutes(5), &p).unwrap();
        assert_eq!((resultado(&t), detenido(&t)), (Some(SlaEstado::Incumplido), Some(t0() + TimeDelta::minutes(5))));
        // respuestaCliente of actualizar is a public reply too.
        let t = Ticket::crear(datos_ana(), Uuid::nil(), 1, t0(), &p).0;
        let (t, _) = t.aplicar(&asignar(), &mesa(), t0(), &p).unwrap();
        let actualizar = Mutacion::Actualizar { nota: "n".into(), respuesta_cliente: Some("Listo".into()) };
        let (t, _) = t.aplicar(&cmd(actualizar, None), &mesa(), t0() + TimeDelta::minutes(10), &p).unwrap();
        assert_eq!(resultado(&t), Some(SlaEstado::Cumplido));
    }

    /// Issue #26, gap 1: with `primera_respuesta_termina = "respuesta"` the
    /// first-response clock still runs once assigned, so a pause stops it
    /// exactly as it stops the resolution clock.
    #[test]
    fn a_pause_before_the_first_public_reply_stops_the_first_response_clock_as_it_stops_resolution() {
        use crate::domain::conversacion::Espera;
        use crate::domain::sla::FinPrimeraRespuesta;
        let con = |detiene: bool| {
            ReglasSla::new(prioridades_por_defecto(), 20, detiene)
                .con_primera_respuesta([("ALTA".to_string(), TimeDelta::hours(1))])
                .con_fin_de_primera_respuesta(FinPrimeraRespuesta::Respuesta)
        };
        let minutos = |m: i64| t0() + TimeDelta::minutes(m);
        let p = con(true);
        let resultado = |t: &Ticket| t.primera_respuesta.as_ref().and_then(|p| p.resultado).map(|v| v.estado);
        let t = Ticket::crear(datos_ana(), Uuid::nil(), 1, t0(), &p).0;
        let (t, _) = t.aplicar(&asignar(), &mesa(), minutos(10), &p).unwrap();
        let (pausado, _) = t.aplicar(&cmd(pausa(Espera::Otro, None), Some("m")), &mesa(), minutos(20), &p).unwrap();
        // Paused: neither clock alerts, and the scheduler has nothing to look at.
        assert_eq!(pausado.proxima_alerta_sla, None);
        assert!(pausado.alertar(minutos(180), &p).1.is_empty(), "a paused first response never alerts");
        assert_eq!(pausado.sla_primera_respuesta(minutos(180), &p), Some(SlaEstado::Pausado));
        // Reopened two hours later: both deadlines move by the two paused hours.
        let (reabierto, _) = pausado.aplicar(&cmd(Mutacion::Reabrir, None), &mesa(), minutos(140), &p).unwrap();
        assert_eq!(reabierto.fecha_limite_sla, t0() + TimeDelta::hours(6));
        assert_eq!(reabierto.fecha_limite(Meta::PrimeraRespuesta), Some(minutos(180)));
        assert_eq!(reabierto.sla_primera_respuesta(minutos(150), &p), Some(SlaEstado::EnTiempo));
        // 50 minutes of running clock, against a one-hour target: on time.
        let (r, _) = reabierto.aplicar(&responder("Hola Ana", false), &mesa(), minutos(170), &p).unwrap();
        assert_eq!(resultado(&r), Some(SlaEstado::Cumplido));
        // Answered while still paused: the pause so far counts (20 minutes of clock ran).
        let (r, _) = pausado.aplicar(&responder("Hola Ana", false), &mesa(), minutos(170), &p).unwrap();
        assert_eq!(resultado(&r), Some(SlaEstado::Cumplido));
        assert_eq!(r.fecha_limite(Meta::PrimeraRespuesta), Some(minutos(210)), "the pause so far moved it");
        assert_eq!(r.estado, Estado::Pausado, "a reply does not end the wait");
        // With `pausa_detiene_reloj = false` no pause moves either deadline (v1).
        let p = con(false);
        let t = Ticket::crear(datos_ana(), Uuid::nil(), 1, t0(), &p).0;
        let (t, _) = t.aplicar(&asignar(), &mesa(), minutos(10), &p).unwrap();
        let (t, _) = t.aplicar(&cmd(pausa(Espera::Otro, None), Some("m")), &mesa(), minutos(20), &p).unwrap();
        let (t, _) = t.aplicar(&cmd(Mutacion::Reabrir, None), &mesa(), minutos(140), &p).unwrap();
        assert_eq!(t.fecha_limite(Meta::PrimeraRespuesta), Some(minutos(60)));
        let (t, _) = t.aplicar(&responder("Hola Ana", false), &mesa(), minutos(170), &p).unwrap();
        assert_eq!(resultado(&t), Some(SlaEstado::Incumplido));
    }

    /// Issue #26, gap 2: with `sla.pausa_detiene_reloj` a list, a pause
    /// whose wait is not in it behaves like no pause; `true` and `false`
    /// keep v1's meaning (every pause shows PAUSADO and withholds alerts).
    #[test]
    fn a_pause_whose_wait_does_not_stop_the_clock_behaves_like_no_pause_and_true_false_keep_v1() {
        use crate::domain::conversacion::Espera;
        use crate::domain::sla::PausasQueDetienen;
        let solo = reglas().con_pausas_que_detienen(PausasQueDetienen::Esperas(vec![Espera::Solicitante]));
        let una_hora = t0() + TimeDelta::hours(1);
        let pausado = |espera, p: &ReglasSla| {
            let (t, _) = nuevo().aplicar(&asignar(), &mesa(), t0(), p).unwrap();
            t.aplicar(&cmd(pausa(espera, None), Some("m")), &mesa(), una_hora, p).unwrap().0
        };
        let tercero = pausado(Espera::Tercero, &solo);
        assert_eq!(tercero.sla_estado(una_hora, &solo), SlaEstado::EnTiempo);
        assert_eq!(tercero.sla_estado(t0() + TimeDelta::minutes(200), &solo), SlaEstado::PorVencer);
        assert_eq!(tercero.proxima_alerta_sla, Some(t0() + TimeDelta::minutes(192)), "ALTA: 4 h, warning at 20 %");
        let (_, a) = tercero.alertar(t0() + TimeDelta::hours(5), &solo);
        assert_eq!(niveles(&a), [NivelSla::PorVencer, NivelSla::Vencido], "its alerts come while paused");
        let (reabierto, _) =
            tercero.aplicar(&cmd(Mutacion::Reabrir, None), &mesa(), t0() + TimeDelta::hours(3), &solo).unwrap();
        assert_eq!(reabierto.fecha_limite_sla, t0() + TimeDelta::hours(4), "no paused time counted");
        let solicitante = pausado(Espera::Solicitante, &solo);
        assert_eq!(solicitante.sla_estado(t0() + TimeDelta::hours(9), &solo), SlaEstado::Pausado);
        assert_eq!(solicitante.proxima_alerta_sla, None);
        assert!(solicitante.alertar(t0() + TimeDelta::hours(9), &solo).1.is_empty());
        for detiene in [true, false] {
            let p = ReglasSla::new(prioridades_por_defecto(), 20, detiene);
            let t = pausado(Espera::Tercero, &p);
            assert_eq!(t.sla_estado(t0() + TimeDelta::hours(9), &p), SlaEstado::Pausado, "{detiene}");
            assert_eq!(t.proxima_alerta_sla, None, "{detiene}");
            assert!(t.alertar(t0() + TimeDelta::hours(9), &p).1.is_empty(), "{detiene}");
        }
    }

    fn datos_ana() -> DatosCreacion {
        let body = json!({"nombre": "Ana García", "email": "ana@empresa.com", "tipo": "INCIDENTE",
            "categoria": "Sistemas", "descripcion": "No puedo acceder a mi correo", "prioridad": "ALTA"});
        let Ok(Peticion::Crear(d)) = validar(Operacion::Crear, body.as_object().unwrap(), &reglas(), t0()) else {
            panic!()
        };
        *d
    }

    /// One step of a ticket's life as the conversation drives it.
    #[derive(Debug, Clone)]
    enum Paso {
        Responder(bool),
        Seguir,
        Pausar(crate::domain::conversacion::Espera, Option<i64>, bool),
        Reabrir,
        Archivar,
        Escanear,
    }

    fn paso() -> impl proptest::strategy::Strategy<Value = Paso> {
        use crate::domain::conversacion::Espera;
        use proptest::prelude::*;
        let espera = prop_oneof![Just(Espera::Solicitante), Just(Espera::Tercero), Just(Espera::Otro)];
        prop_oneof![
            any::<bool>().prop_map(Paso::Responder),
            Just(Paso::Seguir),
            (espera, proptest::option::of(1i64..600), any::<bool>()).prop_map(|(e, h, a)| Paso::Pausar(e, h, a)),
            Just(Paso::Reabrir),
            Just(Paso::Archivar),
            Just(Paso::Escanear),
        ]
    }

    proptest::proptest! {
        /// Whatever the requester, the desk and the scheduler do, in any
        /// order and at any pace: every change is a legal transition of the
        /// contract, `version` rises by exactly one per entry, a wait ends
        /// at most once (never after the ticket left it), a follow-up reopens
        /// only a wait for the requester, and nothing touches a closed ticket.
        #[test]
        fn a_conversation_in_any_order_keeps_the_state_machine(
            pasos in proptest::collection::vec((paso(), 0i64..300), 1..40)
        ) {
            use crate::domain::conversacion::{AlVencer, Escrito};
            let p = reglas();
            let (mut t, _) = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap();
            let mut ahora = t0();
            for (paso, avance) in pasos {
                ahora += TimeDelta::seconds(avance);
                let antes = t.clone();
                let cambios: Vec<(Ticket, Historial)> = match paso {
                    Paso::Responder(interno) => {
                        let e = Escrito { texto: "t".into(), interno, adjuntos: vec![] };
                        t.aplicar(&cmd(Mutacion::Responder(e), None), &mesa(), ahora, &p).into_iter().collect()
                    }
                    Paso::Seguir => t.seguir(ahora, &p).into_iter().collect(),
                    Paso::Pausar(espera, hasta, archivar) => {
                        let al_vencer = if archivar && hasta.is_some() { AlVencer::Archivar } else { AlVencer::Reabrir };
                        let hasta = hasta.map(|s| ahora + TimeDelta::seconds(s));
                        let m = Mutacion::Pausar(Pausa { espera, hasta, al_vencer });
                        t.aplicar(&cmd(m, Some("m")), &mesa(), ahora, &p).into_iter().collect()
                    }
                    Paso::Reabrir => t.aplicar(&cmd(Mutacion::Reabrir, None), &mesa(), ahora, &p).into_iter().collect(),
                    Paso::Archivar => t.aplicar(&cmd(Mutacion::Archivar, None), &mesa(), ahora, &p).into_iter().collect(),
                    Paso::Escanear => t.vencer_espera(ahora, &p),
                };
                if antes.estado.es_terminal() {
                    proptest::prop_assert!(cambios.is_empty(), "a closed ticket changed: {cambios:?}");
                }
                let mut previo = antes.clone();
                for (nuevo, entrada) in &cambios {
                    proptest::prop_assert_eq!(entrada.estado_antes, Some(previo.estado));
                    proptest::prop_assert_eq!(entrada.estado_despues, nuevo.estado);
                    proptest::prop_assert_eq!(nuevo.version, previo.version + 1);
                    let legal = match entrada.accion {
                        Accion::Respuesta | Accion::Seguimiento => {
                            nuevo.estado == previo.estado
                                || (previo.estado == Estado::Pausado
                                    && previo.pausa.is_some_and(|w| w.termina_con_seguimiento())
                                    && nuevo.estado == Estado::Asignado)
                        }
                        otra => {
                            let op = Operacion::TODAS.into_iter().find(|o| o.accion() == Some(otra)).unwrap();
                            op.destino_desde(previo.estado) == Some(nuevo.estado)
                        }
                    };
                    proptest::prop_assert!(legal, "{:?}: {:?} → {:?}", entrada.accion, previo.estado, nuevo.estado);
                    proptest::prop_assert_eq!(nuevo.estado == Estado::Pausado, nuevo.pausa.is_some());
                    previo = nuevo.clone();
                }
                if let Some((ultimo, _)) = cambios.last() {
                    t = ultimo.clone();
                }
                // A wait never ends on a ticket that already left it.
                proptest::prop_assert!(
                    t.estado == Estado::Pausado || t.vencer_espera(ahora + TimeDelta::days(365), &p).is_empty()
                );
            }
        }
    }

    #[test]
    fn creation_gives_label_state_and_deadline() {
        let t = nuevo();
        assert_eq!(t.label, "TKT-2026-00142");
        assert_eq!(t.estado, Estado::Nuevo);
        assert_eq!(t.fecha_limite_sla, t0() + TimeDelta::hours(4));
        assert_eq!(label(2026, 123456), "TKT-2026-123456");
    }

    #[test]
    fn illegal_transition_changes_nothing() {
        let t = nuevo();
        let r = t.aplicar(&cmd(Mutacion::Pausar(pausa_otro()), Some("x")), &mesa(), t0(), &reglas());
        assert_eq!(r, Err(Rechazo::Transicion { operacion: Operacion::Pausar, estado: Estado::Nuevo }));
    }

    #[test]
    fn pause_and_reopen_move_the_deadline_by_the_paused_time() {
        let p = reglas();
        let (t, _) = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap();
        let (t, _) = t
            .aplicar(&cmd(Mutacion::Pausar(pausa_otro()), Some("espera")), &mesa(), t0() + TimeDelta::hours(1), &p)
            .unwrap();
        assert_eq!(t.sla_estado(t0() + TimeDelta::hours(9), &p), SlaEstado::Pausado);
        let (t, h) = t.aplicar(&cmd(Mutacion::Reabrir, None), &mesa(), t0() + TimeDelta::hours(3), &p).unwrap();
        assert_eq!(t.fecha_limite_sla, t0() + TimeDelta::hours(6));
        assert_eq!(h.accion, Accion::Reapertura);
        assert_eq!((h.estado_antes, h.estado_despues), (Some(Estado::Pausado), Estado::Asignado));
        assert_eq!(t.version, 4);
    }

    #[test]
    fn under_respuesta_reclassifying_an_assigned_ticket_chooses_its_running_first_response_target_again() {
        use crate::domain::sla::FinPrimeraRespuesta;
        let objetivos = [("ALTA".to_string(), TimeDelta::hours(1)), ("CRITICA".to_string(), TimeDelta::minutes(15))];
        let con = |fin| {
            ReglasSla::new(prioridades_por_defecto(), 20, true)
                .con_primera_respuesta(objetivos.clone())
                .con_fin_de_primera_respuesta(fin)
        };
        let objetivo = |t: &Ticket| t.primera_respuesta.as_ref().map(|p| p.objetivo);
        let p = con(FinPrimeraRespuesta::Respuesta);
        let critica = cmd(
            Mutacion::Reclasificar {
                tipo: None,
                categoria: None,
                subcategoria: None,
                prioridad: p.prioridad("CRITICA").cloned(),
            },
            Some("urgente"),
        );
        let t = Ticket::crear(datos_ana(), Uuid::nil(), 1, t0(), &p).0;
        let (t, _) = t.aplicar(&asignar(), &mesa(), t0() + TimeDelta::minutes(5), &p).unwrap();
        // Assigned, not yet answered: the clock runs, so the new priority's target applies.
        let (r, _) = t.aplicar(&critica, &mesa(), t0() + TimeDelta::minutes(10), &p).unwrap();
        assert_eq!(objetivo(&r), Some(TimeDelta::minutes(15)));
        assert_eq!(r.fecha_limite(Meta::PrimeraRespuesta), Some(t0() + TimeDelta::minutes(15)));
        // Answered first: the clock stopped and its target stays.
        let (respondido, _) =
            t.aplicar(&responder("Hola Ana", false), &mesa(), t0() + TimeDelta::minutes(8), &p).unwrap();
        let (r, _) = respondido.aplicar(&critica, &mesa(), t0() + TimeDelta::minutes(10), &p).unwrap();
        assert_eq!(objetivo(&r), Some(TimeDelta::hours(1)));
        // Under "asignar" (v1.1) the assignment stopped it: unchanged.
        let p = con(FinPrimeraRespuesta::Asignar);
        let t = Ticket::crear(datos_ana(), Uuid::nil(), 1, t0(), &p).0;
        let (t, _) = t.aplicar(&asignar(), &mesa(), t0() + TimeDelta::minutes(5), &p).unwrap();
        let (r, _) = t.aplicar(&critica, &mesa(), t0() + TimeDelta::minutes(10), &p).unwrap();
        assert_eq!(objetivo(&r), Some(TimeDelta::hours(1)));
    }

    #[test]
    fn reclassifying_priority_recomputes_from_creation_keeping_pauses() {
        let p = reglas();
        let mut t = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap().0;
        t.pausa_acumulada = TimeDelta::minutes(30);
        let critica = p.prioridad("CRITICA").cloned();
        let r = cmd(
            Mutacion::Reclasificar { tipo: None, categoria: None, subcategoria: None, prioridad: critica },
            Some("urgente"),
        );
        let (t, h) = t.aplicar(&r, &mesa(), t0() + TimeDelta::minutes(10), &p).unwrap();
        assert_eq!(t.fecha_limite_sla, t0() + TimeDelta::minutes(150));
        assert_eq!(h.prioridad_antes.as_deref(), Some("ALTA"));
        assert_eq!(h.prioridad_despues.as_deref(), Some("CRITICA"));
        assert_eq!(t.estado, Estado::Reclasificado);
    }

    #[test]
    fn transfer_to_the_same_area_is_a_field_error() {
        let p = reglas();
        let t = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap().0;
        let r = t.aplicar(&cmd(Mutacion::Transferir { area: "mesa".into() }, Some("x")), &mesa(), t0(), &p);
        assert!(matches!(r, Err(Rechazo::Campos(c)) if c[0].campo == "area"));
    }

    #[test]
    fn closing_freezes_sla_and_update_uses_the_note_as_motivo() {
        let p = reglas();
        let t = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap().0;
        let nota = cmd(Mutacion::Actualizar { nota: "Reinicié".into(), respuesta_cliente: None }, None);
        let (t, h) = t.aplicar(&nota, &mesa(), t0(), &p).unwrap();
        assert_eq!(h.motivo.as_deref(), Some("Reinicié"));
        let (t, _) = t.aplicar(&cmd(Mutacion::Archivar, None), &mesa(), t0() + TimeDelta::hours(5), &p).unwrap();
        assert_eq!(t.sla_final, Some(SlaEstado::Incumplido));
        assert_eq!(t.sla_estado(t0(), &p), SlaEstado::Incumplido);
    }

    #[test]
    fn alerts_come_once_per_deadline_and_again_when_it_moves() {
        let p = reglas();
        let t = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap().0;
        assert_eq!(t.proxima_alerta_sla, Some(t0() + TimeDelta::minutes(192)));
        let (t, a) = t.alertar(t0() + TimeDelta::minutes(100), &p);
        assert!(a.is_empty());
        let (t, a) = t.alertar(t0() + TimeDelta::minutes(200), &p);
        assert_eq!(niveles(&a), [NivelSla::PorVencer]);
        assert_eq!(a[0].entrada.accion, Accion::SlaPorVencer);
        assert_eq!(a[0].entrada.actor_rol, RolActor::Sistema);
        assert_eq!(t.proxima_alerta_sla, Some(t.fecha_limite_sla));
        assert!(t.alertar(t0() + TimeDelta::minutes(210), &p).1.is_empty(), "no second POR_VENCER");
        let (t, a) = t.alertar(t0() + TimeDelta::minutes(241), &p);
        assert_eq!(niveles(&a), [NivelSla::Vencido]);
        assert_eq!(t.proxima_alerta_sla, None);
        assert!(t.alertar(t0() + TimeDelta::hours(9), &p).1.is_empty(), "no second VENCIDO");

        // Paused for an hour and reopened: the deadline moves, alerts may come again.
        let ahora = t0() + TimeDelta::minutes(250);
        let (t, _) = t.aplicar(&cmd(Mutacion::Pausar(pausa_otro()), Some("m")), &mesa(), ahora, &p).unwrap();
        assert_eq!(t.proxima_alerta_sla, None);
        assert!(t.alertar(ahora + TimeDelta::hours(2), &p).1.is_empty(), "paused tickets never alert");
        let (t, _) = t.aplicar(&cmd(Mutacion::Reabrir, None), &mesa(), ahora + TimeDelta::hours(2), &p).unwrap();
        assert_eq!(t.fecha_limite_sla, t0() + TimeDelta::hours(6));
        assert_eq!(t.sla_progreso, Progreso::Nada);
        let (_, a) = t.alertar(t0() + TimeDelta::hours(7), &p);
        assert_eq!(niveles(&a), [NivelSla::PorVencer, NivelSla::Vencido]);
    }

    #[test]
    fn closed_tickets_never_alert() {
        let p = reglas();
        let t = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap().0;
        let (t, _) = t.aplicar(&cmd(Mutacion::Cancelar, Some("m")), &mesa(), t0(), &p).unwrap();
        assert_eq!(t.proxima_alerta_sla, None);
        assert!(t.alertar(t0() + TimeDelta::days(3), &p).1.is_empty());
    }

    /// Incidents get a policy with a first-response target, thresholds [50, 20]
    /// and escalation; SOPORTE tickets another; everything else the defaults.
    fn con_politicas() -> ReglasSla {
        let incidentes = Politica {
            nombre: "Incidentes".into(),
            condiciones: Condiciones { tipos: Some(vec!["INCIDENTE".into()]), ..Default::default() },
            resolucion: TimeDelta::hours(10),
            primera_respuesta: Some(TimeDelta::hours(1)),
            avisos: Avisos::new([50, 20]),
            calendario: None,
            escalado: vec![
                PasoEscalado {
                    meta: Meta::PrimeraRespuesta,
                    en: Umbral::Vencido,
                    area: Some("SUPERVISION".into()),
                    prioridad: None,
                },
                PasoEscalado {
                    meta: Meta::Resolucion,
                    en: Umbral::Aviso(20),
                    area: Some("GUARDIA".into()),
                    prioridad: Some("CRITICA".into()),
                },
            ],
        };
        let soporte = Politica {
            nombre: "Soporte".into(),
            condiciones: Condiciones { areas: Some(vec!["SOPORTE".into()]), ..Default::default() },
            resolucion: TimeDelta::hours(2),
            primera_respuesta: None,
            avisos: None,
            calendario: None,
            escalado: vec![],
        };
        ReglasSla::new(prioridades_por_defecto(), 20, true).con_politicas(BTreeMap::new(), vec![incidentes, soporte])
    }

    fn incidente(p: &ReglasSla) -> Ticket {
        let body = json!({"nombre": "Ana García", "email": "ana@empresa.com", "tipo": "INCIDENTE",
            "categoria": "Sistemas", "descripcion": "No puedo acceder a mi correo", "prioridad": "ALTA"});
        let Ok(Peticion::Crear(d)) = validar(Operacion::Crear, body.as_object().unwrap(), p, t0()) else { panic!() };
        Ticket::crear(*d, Uuid::nil(), 7, t0(), p).0
    }

    #[test]
    fn a_policy_gives_both_metas_and_is_chosen_again_on_transfer() {
        let p = con_politicas();
        let t = incidente(&p);
        assert_eq!(t.sla_politica.as_deref(), Some("Incidentes"));
        assert_eq!(t.fecha_limite_sla, t0() + TimeDelta::hours(10));
        assert_eq!(t.fecha_aviso_sla, t0() + TimeDelta::hours(5), "POR_VENCER from the most lenient threshold");
        let pr = t.primera_respuesta.clone().unwrap();
        assert_eq!((pr.fecha_limite, pr.fecha_aviso), (t0() + TimeDelta::hours(1), t0() + TimeDelta::minutes(30)));
        assert_eq!(t.sla_primera_respuesta(t0(), &p), Some(SlaEstado::EnTiempo));
        assert_eq!(t.proxima_alerta_sla, Some(t0() + TimeDelta::minutes(30)));
        // No first-response target by default.
        assert_eq!(nuevo().primera_respuesta, None);
        assert_eq!(nuevo().sla_primera_respuesta(t0(), &p), None);

        let (t, _) = t.aplicar(&asignar(), &mesa(), t0() + TimeDelta::minutes(40), &p).unwrap();
        assert_eq!(t.sla_primera_respuesta(t0() + TimeDelta::days(9), &p), Some(SlaEstado::Cumplido), "frozen");
        let a_soporte = cmd(Mutacion::Transferir { area: "SOPORTE".into() }, Some("x"));
        let (t, _) = t.aplicar(&a_soporte, &mesa(), t0() + TimeDelta::minutes(50), &p).unwrap();
        assert_eq!(t.sla_politica.as_deref(), Some("Incidentes"), "the first policy that holds still wins");
        let (t, _) = t.aplicar(&asignar(), &mesa(), t0() + TimeDelta::minutes(52), &p).unwrap();
        let reclasificar = cmd(
            Mutacion::Reclasificar { tipo: Some(Tipo::Queja), categoria: None, subcategoria: None, prioridad: None },
            Some("x"),
        );
        let (t, h) = t.aplicar(&reclasificar, &mesa(), t0() + TimeDelta::minutes(55), &p).unwrap();
        assert_eq!(t.sla_politica.as_deref(), Some("Soporte"), "re-chosen");
        assert_eq!(t.fecha_limite_sla, t0() + TimeDelta::hours(2), "recomputed from creation");
        assert_eq!(h.accion, Accion::Reclasificacion);
        assert_eq!(
            t.primera_respuesta.as_ref().unwrap().resultado.map(|v| v.estado),
            Some(SlaEstado::Cumplido),
            "a frozen first response stays"
        );
        // A QUEJA of SOPORTE transferred back to MESA: no policy holds, the defaults (ALTA, 4 h) apply.
        let (t, _) = t.aplicar(&asignar(), &mesa(), t0() + TimeDelta::minutes(56), &p).unwrap();
        let a_mesa = cmd(Mutacion::Transferir { area: "MESA".into() }, Some("x"));
        let (t, _) = t.aplicar(&a_mesa, &mesa(), t0() + TimeDelta::minutes(57), &p).unwrap();
        assert_eq!(t.sla_politica, None, "re-chosen on transfer");
        assert_eq!(t.fecha_limite_sla, t0() + TimeDelta::hours(4));
    }

    #[test]
    fn first_response_alerts_stop_at_the_first_assignment() {
        let p = con_politicas();
        let t = incidente(&p);
        let (t, a) = t.alertar(t0() + TimeDelta::minutes(31), &p);
        assert_eq!(
            a.iter().map(|a| (a.meta, a.umbral)).collect::<Vec<_>>(),
            [(Meta::PrimeraRespuesta, Umbral::Aviso(50))]
        );
        assert_eq!(a[0].fecha_limite, t0() + TimeDelta::hours(1));
        let (t, _) = t.aplicar(&asignar(), &mesa(), t0() + TimeDelta::minutes(50), &p).unwrap();
        for horas in [1, 2, 5, 9, 11, 30] {
            let (_, a) = t.alertar(t0() + TimeDelta::hours(horas), &p);
            assert!(a.iter().all(|a| a.meta == Meta::Resolucion), "{horas} h: {a:?}");
        }
        let (_, a) = t.alertar(t0() + TimeDelta::hours(11), &p);
        assert_eq!(
            a.iter().map(|a| a.umbral).collect::<Vec<_>>(),
            [Umbral::Aviso(50), Umbral::Aviso(20), Umbral::Vencido]
        );
    }

    #[test]
    fn a_ticket_first_seen_late_gets_every_alert_of_both_metas_in_order() {
        let p = con_politicas();
        let (t, a) = incidente(&p).alertar(t0() + TimeDelta::hours(12), &p);
        let vistas: Vec<_> = a.iter().map(|a| (a.meta, a.umbral)).collect();
        assert_eq!(
            vistas,
            [
                (Meta::PrimeraRespuesta, Umbral::Aviso(50)),
                (Meta::PrimeraRespuesta, Umbral::Aviso(20)),
                (Meta::PrimeraRespuesta, Umbral::Vencido),
                (Meta::Resolucion, Umbral::Aviso(50)),
                (Meta::Resolucion, Umbral::Aviso(20)),
                (Meta::Resolucion, Umbral::Vencido),
            ]
        );
        assert!(
            a.iter().all(|a| a.entrada.actor_rol == RolActor::Sistema && a.entrada.estado_despues == Estado::Nuevo)
        );
        assert_eq!(t.proxima_alerta_sla, None);
        assert!(t.alertar(t0() + TimeDelta::days(30), &p).1.is_empty());
        // The first response missed: frozen INCUMPLIDO at the first assignment.
        let (t, _) = t.aplicar(&asignar(), &mesa(), t0() + TimeDelta::hours(13), &p).unwrap();
        assert_eq!(t.sla_primera_respuesta(t0(), &p), Some(SlaEstado::Incumplido));
    }

    #[test]
    fn escalation_changes_area_and_priority_never_state_or_deadlines() {
        let p = con_politicas();
        let (t, _) = incidente(&p).aplicar(&asignar(), &mesa(), t0(), &p).unwrap();
        let (e, h) = t.escalar(Meta::Resolucion, Umbral::Aviso(20), t0() + TimeDelta::hours(8), &p).unwrap();
        assert_eq!((e.area_asignada.as_str(), e.prioridad.as_str()), ("GUARDIA", "CRITICA"));
        assert_eq!(
            (e.estado, e.fecha_limite_sla, e.fecha_aviso_sla),
            (t.estado, t.fecha_limite_sla, t.fecha_aviso_sla)
        );
        assert_eq!((e.sla_objetivo, e.proxima_alerta_sla), (t.sla_objetivo, t.proxima_alerta_sla));
        assert_eq!(e.primera_respuesta, t.primera_respuesta);
        assert_eq!(e.version, t.version + 1);
        assert_eq!(h.accion, Accion::Escalamiento);
        assert_eq!((h.area_antes.as_deref(), h.area_despues.as_deref()), (Some("MESA"), Some("GUARDIA")));
        assert_eq!((h.prioridad_antes.as_deref(), h.prioridad_despues.as_deref()), (Some("ALTA"), Some("CRITICA")));
        assert_eq!((h.estado_antes, h.estado_despues, h.actor_rol.as_str()), (Some(t.estado), t.estado, "SISTEMA"));
        assert_eq!(e.escalar(Meta::Resolucion, Umbral::Aviso(20), t0(), &p), None, "nothing left to change");
        assert_eq!(t.escalar(Meta::Resolucion, Umbral::Aviso(50), t0(), &p), None, "no step there");
        assert_eq!(nuevo().escalar(Meta::Resolucion, Umbral::Vencido, t0(), &p), None, "defaults never escalate");
        let (s, h) = t.escalar(Meta::PrimeraRespuesta, Umbral::Vencido, t0(), &p).unwrap();
        assert_eq!((s.area_asignada.as_str(), s.prioridad.as_str()), ("SUPERVISION", "ALTA"));
        assert_eq!(h.prioridad_antes, None);
    }

    #[test]
    fn area_actors_reach_only_their_area() {
        let t = nuevo();
        let propia = Actor::staff("a".into(), "A".into(), Rol::Area, Some("MESA".into()));
        let ajena = Actor::staff("b".into(), "B".into(), Rol::Area, Some("TI".into()));
        assert!(propia.alcanza(&t) && !ajena.alcanza(&t) && mesa().alcanza(&t));
        assert_eq!(propia.alcance(None), Alcance::Area(Some("MESA".into())));
        assert_eq!(propia.alcance(Some("MESA")), Alcance::Area(Some("MESA".into())));
        assert_eq!(propia.alcance(Some("TI")), Alcance::Nada);
        assert_eq!(mesa().alcance(None), Alcance::Area(None));
        assert_eq!(mesa().alcance(Some("TI")), Alcance::Area(Some("TI".into())));
    }
}
