//! The ticket aggregate: creation and every state change, as pure functions
//! from (ticket, command, actor, time) to (new ticket, history entry).

use super::comando::{CampoError, ComandoTicket, DatosCreacion, Mutacion};
use super::estado::{Accion, Estado, Operacion, Rol, RolActor};
use super::sla::{self, NivelSla, PoliticaSla, SlaEstado};
use chrono::{DateTime, Datelike, TimeDelta, Utc};
use uuid::Uuid;

/// Who did something, as written in the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub nombre: String,
    /// From the verified token: an actor is always staff.
    pub rol: Rol,
    /// The `area` claim of an AREA actor.
    pub area: Option<String>,
}

impl Actor {
    pub fn staff(id: String, nombre: String, rol: Rol, area: Option<String>) -> Self {
        Actor { id, nombre, rol, area }
    }

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
    Area(Option<String>),
    Nada,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solicitante {
    pub nombre: String,
    pub email: String,
    pub telefono: Option<String>,
    pub tiene_whatsapp: bool,
    pub documento: Option<String>,
    pub empresa_departamento: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub uuid: Uuid,
    pub num: i64,
    pub label: String,
    pub solicitante: Solicitante,
    pub tipo: String,
    pub categoria: String,
    pub subcategoria: Option<String>,
    pub asunto: Option<String>,
    pub descripcion: String,
    pub respuesta_cliente: Option<String>,
    pub area_asignada: String,
    pub agente_asignado: Option<String>,
    pub prioridad: String,
    pub estado: Estado,
    pub sla_objetivo: TimeDelta,
    pub fecha_limite_sla: DateTime<Utc>,
    /// When the warning window opens (POR_VENCER from then on).
    pub fecha_aviso_sla: DateTime<Utc>,
    /// The last SLA alert sent for the current deadline.
    pub sla_alerta: Option<NivelSla>,
    /// When the scheduler must look at this ticket next; `None` when no alert
    /// can be due (paused, closed, both alerts sent).
    pub proxima_alerta_sla: Option<DateTime<Utc>>,
    pub pausado_desde: Option<DateTime<Utc>>,
    pub pausa_acumulada: TimeDelta,
    /// Frozen CUMPLIDO / INCUMPLIDO once closed.
    pub sla_final: Option<SlaEstado>,
    pub creado_en: DateTime<Utc>,
    pub actualizado_en: DateTime<Utc>,
    pub primera_asignacion_en: Option<DateTime<Utc>>,
    pub cerrado_en: Option<DateTime<Utc>>,
    pub version: i64,
}

/// One `historial` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Historial {
    pub fecha: DateTime<Utc>,
    pub accion: Accion,
    pub motivo: Option<String>,
    /// The verified `sub` of a staff actor; none for a requester (no
    /// account) or the scheduler.
    pub actor_id: Option<String>,
    pub actor_nombre: String,
    pub actor_rol: RolActor,
    pub estado_antes: Option<Estado>,
    pub estado_despues: Estado,
    pub prioridad_antes: Option<String>,
    pub prioridad_despues: Option<String>,
    pub area_antes: Option<String>,
    pub area_despues: Option<String>,
}

/// Why a legal-looking command was refused against the ticket's current data.
#[derive(Debug, Clone, PartialEq)]
pub enum Rechazo {
    /// The operation is not legal from the ticket's state.
    Transicion { operacion: Operacion, estado: Estado },
    /// A field rule that depends on the ticket (e.g. transferring to the same area).
    Campos(Vec<CampoError>),
}

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
        politica: &PoliticaSla,
    ) -> (Ticket, Historial) {
        let objetivo = datos.prioridad.objetivo;
        let ticket = Ticket {
            uuid,
            num,
            label: label(ahora.year(), num),
            solicitante: Solicitante {
                nombre: datos.nombre,
                email: datos.email,
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
            sla_objetivo: objetivo,
            fecha_limite_sla: politica.fecha_limite(ahora, objetivo, TimeDelta::zero()),
            fecha_aviso_sla: politica.fecha_aviso(ahora, objetivo, TimeDelta::zero()),
            sla_alerta: None,
            proxima_alerta_sla: None,
            pausado_desde: None,
            pausa_acumulada: TimeDelta::zero(),
            sla_final: None,
            creado_en: ahora,
            actualizado_en: ahora,
            primera_asignacion_en: None,
            cerrado_en: None,
            version: 1,
        };
        let ticket = Ticket { proxima_alerta_sla: ticket.proxima_alerta(), ..ticket };
        let entrada = Historial {
            fecha: ahora,
            accion: Accion::Creacion,
            motivo: None,
            // Requesters have no account: no id, and no e-mail copied into history.
            actor_id: None,
            actor_nombre: ticket.solicitante.nombre.clone(),
            actor_rol: RolActor::Usuario,
            estado_antes: None,
            estado_despues: Estado::Nuevo,
            prioridad_antes: None,
            prioridad_despues: Some(ticket.prioridad.clone()),
            area_antes: None,
            area_despues: Some(ticket.area_asignada.clone()),
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
        politica: &PoliticaSla,
    ) -> Result<(Ticket, Historial), Rechazo> {
        let operacion = comando.mutacion.operacion();
        let destino =
            operacion.destino_desde(self.estado).ok_or(Rechazo::Transicion { operacion, estado: self.estado })?;
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
                t.primera_asignacion_en.get_or_insert(ahora);
            }
            Mutacion::Transferir { area } => {
                if area.eq_ignore_ascii_case(&self.area_asignada) {
                    return Err(Rechazo::Campos(vec![CampoError::new("area", "debe ser distinta del área actual")]));
                }
                t.area_asignada = area.clone();
                t.agente_asignado = None;
            }
            Mutacion::Reclasificar { tipo, categoria, subcategoria, prioridad } => {
                if let Some(tipo) = tipo {
                    t.tipo = tipo.clone();
                }
                if let Some(categoria) = categoria {
                    t.categoria = categoria.clone();
                }
                if subcategoria.is_some() {
                    t.subcategoria = subcategoria.clone();
                }
                if let Some(p) = prioridad {
                    t.prioridad = p.nombre.clone();
                    t.sla_objetivo = p.objetivo;
                    t.mover_plazo(politica);
                }
            }
            Mutacion::Pausar => t.pausado_desde = Some(ahora),
            Mutacion::Reabrir => {
                if let Some(desde) = t.pausado_desde.take() {
                    t.pausa_acumulada += politica.pausa_computable(desde, ahora);
                    t.mover_plazo(politica);
                }
            }
            Mutacion::Actualizar { nota, respuesta_cliente } => {
                if respuesta_cliente.is_some() {
                    t.respuesta_cliente = respuesta_cliente.clone();
                }
                motivo = motivo.or_else(|| Some(nota.clone()));
            }
            Mutacion::Cancelar | Mutacion::Archivar => {
                t.cerrado_en = Some(ahora);
                t.sla_final = Some(SlaEstado::al_cerrar(ahora, t.fecha_limite_sla));
            }
        }
        t.estado = destino;
        t.actualizado_en = ahora;
        t.version += 1;
        t.proxima_alerta_sla = t.proxima_alerta();

        let cambio = |antes: &str, despues: &str| {
            (antes != despues).then(|| (Some(antes.to_string()), Some(despues.to_string())))
        };
        let (prioridad_antes, prioridad_despues) = cambio(&self.prioridad, &t.prioridad).unwrap_or_default();
        let (area_antes, area_despues) = cambio(&self.area_asignada, &t.area_asignada).unwrap_or_default();
        let entrada = Historial {
            fecha: ahora,
            accion: operacion.accion().expect("mutations have an accion"),
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
        };
        Ok((t, entrada))
    }

    /// `slaEstado` at `ahora`.
    pub fn sla_estado(&self, ahora: DateTime<Utc>) -> SlaEstado {
        if let Some(final_) = self.sla_final {
            final_
        } else if self.estado == Estado::Pausado {
            SlaEstado::Pausado
        } else {
            sla::estado_en_curso(ahora, self.fecha_limite_sla, self.fecha_aviso_sla)
        }
    }

    /// Recomputes deadline and warning time from creation, target and pauses.
    /// A deadline that moves may alert again.
    fn mover_plazo(&mut self, politica: &PoliticaSla) {
        let limite = politica.fecha_limite(self.creado_en, self.sla_objetivo, self.pausa_acumulada);
        self.fecha_aviso_sla = politica.fecha_aviso(self.creado_en, self.sla_objetivo, self.pausa_acumulada);
        if limite != self.fecha_limite_sla {
            self.sla_alerta = None;
        }
        self.fecha_limite_sla = limite;
    }

    fn proxima_alerta(&self) -> Option<DateTime<Utc>> {
        if self.cerrado_en.is_some() || self.estado == Estado::Pausado {
            return None;
        }
        match self.sla_alerta {
            None => Some(self.fecha_aviso_sla),
            Some(NivelSla::PorVencer) => Some(self.fecha_limite_sla),
            Some(NivelSla::Vencido) => None,
        }
    }

    /// The SLA alerts due at `ahora`, in order, with their history entries
    /// (actor SISTEMA). A ticket found already overdue gets both, so every
    /// deadline yields exactly one POR_VENCER and one VENCIDO.
    pub fn alertar(&self, ahora: DateTime<Utc>) -> (Ticket, Vec<(NivelSla, Historial)>) {
        let mut t = self.clone();
        let mut alertas = Vec::new();
        if t.proxima_alerta().is_some() {
            if t.sla_alerta.is_none() && ahora >= t.fecha_aviso_sla {
                t.sla_alerta = Some(NivelSla::PorVencer);
                alertas.push(NivelSla::PorVencer);
            }
            if t.sla_alerta == Some(NivelSla::PorVencer) && ahora > t.fecha_limite_sla {
                t.sla_alerta = Some(NivelSla::Vencido);
                alertas.push(NivelSla::Vencido);
            }
        }
        t.proxima_alerta_sla = t.proxima_alerta();
        let entradas = alertas
            .into_iter()
            .map(|nivel| {
                let minutos = sla::minutos_restantes(ahora, t.fecha_limite_sla);
                let (accion, motivo) = match nivel {
                    NivelSla::PorVencer => (Accion::SlaPorVencer, format!("El SLA vence en {minutos} minutos")),
                    NivelSla::Vencido => (Accion::SlaVencido, format!("El SLA venció hace {} minutos", -minutos)),
                };
                let entrada = Historial {
                    fecha: ahora,
                    accion,
                    motivo: Some(motivo),
                    actor_id: None,
                    actor_nombre: "Sistema".to_string(),
                    actor_rol: RolActor::Sistema,
                    estado_antes: Some(t.estado),
                    estado_despues: t.estado,
                    prioridad_antes: None,
                    prioridad_despues: None,
                    area_antes: None,
                    area_despues: None,
                };
                (nivel, entrada)
            })
            .collect();
        (t, entradas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::comando::{Peticion, validar};
    use crate::domain::sla::prioridades_por_defecto;
    use chrono::TimeZone;
    use serde_json::json;

    fn politica() -> PoliticaSla {
        PoliticaSla::new(prioridades_por_defecto(), 20, true)
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 24, 10, 15, 0).unwrap()
    }

    fn nuevo() -> Ticket {
        let body = json!({"nombre": "Ana García", "email": "ana@empresa.com", "tipo": "INCIDENTE",
            "categoria": "Sistemas", "descripcion": "No puedo acceder a mi correo", "prioridad": "ALTA"});
        let Ok(Peticion::Crear(d)) = validar(Operacion::Crear, body.as_object().unwrap(), &politica()) else {
            panic!()
        };
        Ticket::crear(*d, Uuid::nil(), 142, t0(), &politica()).0
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
        let r = t.aplicar(&cmd(Mutacion::Pausar, Some("x")), &mesa(), t0(), &politica());
        assert_eq!(r, Err(Rechazo::Transicion { operacion: Operacion::Pausar, estado: Estado::Nuevo }));
    }

    #[test]
    fn pause_and_reopen_move_the_deadline_by_the_paused_time() {
        let p = politica();
        let (t, _) = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap();
        let (t, _) =
            t.aplicar(&cmd(Mutacion::Pausar, Some("espera")), &mesa(), t0() + TimeDelta::hours(1), &p).unwrap();
        assert_eq!(t.sla_estado(t0() + TimeDelta::hours(9)), SlaEstado::Pausado);
        let (t, h) = t.aplicar(&cmd(Mutacion::Reabrir, None), &mesa(), t0() + TimeDelta::hours(3), &p).unwrap();
        assert_eq!(t.fecha_limite_sla, t0() + TimeDelta::hours(6));
        assert_eq!(h.accion, Accion::Reapertura);
        assert_eq!((h.estado_antes, h.estado_despues), (Some(Estado::Pausado), Estado::Asignado));
        assert_eq!(t.version, 4);
    }

    #[test]
    fn reclassifying_priority_recomputes_from_creation_keeping_pauses() {
        let p = politica();
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
        let p = politica();
        let t = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap().0;
        let r = t.aplicar(&cmd(Mutacion::Transferir { area: "mesa".into() }, Some("x")), &mesa(), t0(), &p);
        assert!(matches!(r, Err(Rechazo::Campos(c)) if c[0].campo == "area"));
    }

    #[test]
    fn closing_freezes_sla_and_update_uses_the_note_as_motivo() {
        let p = politica();
        let t = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap().0;
        let nota = cmd(Mutacion::Actualizar { nota: "Reinicié".into(), respuesta_cliente: None }, None);
        let (t, h) = t.aplicar(&nota, &mesa(), t0(), &p).unwrap();
        assert_eq!(h.motivo.as_deref(), Some("Reinicié"));
        let (t, _) = t.aplicar(&cmd(Mutacion::Archivar, None), &mesa(), t0() + TimeDelta::hours(5), &p).unwrap();
        assert_eq!(t.sla_final, Some(SlaEstado::Incumplido));
        assert_eq!(t.sla_estado(t0()), SlaEstado::Incumplido);
    }

    #[test]
    fn alerts_come_once_per_deadline_and_again_when_it_moves() {
        let p = politica();
        let t = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap().0;
        assert_eq!(t.proxima_alerta_sla, Some(t0() + TimeDelta::minutes(192)));
        let (t, a) = t.alertar(t0() + TimeDelta::minutes(100));
        assert!(a.is_empty());
        let (t, a) = t.alertar(t0() + TimeDelta::minutes(200));
        assert_eq!(a.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [NivelSla::PorVencer]);
        assert_eq!(a[0].1.accion, Accion::SlaPorVencer);
        assert_eq!(a[0].1.actor_rol, RolActor::Sistema);
        assert_eq!(t.proxima_alerta_sla, Some(t.fecha_limite_sla));
        assert!(t.alertar(t0() + TimeDelta::minutes(210)).1.is_empty(), "no second POR_VENCER");
        let (t, a) = t.alertar(t0() + TimeDelta::minutes(241));
        assert_eq!(a.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [NivelSla::Vencido]);
        assert_eq!(t.proxima_alerta_sla, None);
        assert!(t.alertar(t0() + TimeDelta::hours(9)).1.is_empty(), "no second VENCIDO");

        // Paused for an hour and reopened: the deadline moves, alerts may come again.
        let ahora = t0() + TimeDelta::minutes(250);
        let (t, _) = t.aplicar(&cmd(Mutacion::Pausar, Some("m")), &mesa(), ahora, &p).unwrap();
        assert_eq!(t.proxima_alerta_sla, None);
        assert!(t.alertar(ahora + TimeDelta::hours(2)).1.is_empty(), "paused tickets never alert");
        let (t, _) = t.aplicar(&cmd(Mutacion::Reabrir, None), &mesa(), ahora + TimeDelta::hours(2), &p).unwrap();
        assert_eq!(t.fecha_limite_sla, t0() + TimeDelta::hours(6));
        assert_eq!(t.sla_alerta, None);
        let (_, a) = t.alertar(t0() + TimeDelta::hours(7));
        assert_eq!(a.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [NivelSla::PorVencer, NivelSla::Vencido]);
    }

    #[test]
    fn closed_tickets_never_alert() {
        let p = politica();
        let t = nuevo().aplicar(&asignar(), &mesa(), t0(), &p).unwrap().0;
        let (t, _) = t.aplicar(&cmd(Mutacion::Cancelar, Some("m")), &mesa(), t0(), &p).unwrap();
        assert_eq!(t.proxima_alerta_sla, None);
        assert!(t.alertar(t0() + TimeDelta::days(3)).1.is_empty());
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
