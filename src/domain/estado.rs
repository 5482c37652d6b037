//! The ticket state machine, operations and who may run them: the one source
//! of truth that the processor, authorization and `catalogo` all read.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// A ticket's state (`estado`).
// The same enum describes the HTTP API's schemas (`gateway::esquemas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schema(as = EstadoTicket)]
pub enum Estado {
    /// `NUEVO`: created, not assigned yet.
    Nuevo,
    /// `ASIGNADO`: assigned to an area or agent, in progress.
    Asignado,
    /// `PAUSADO`: on hold until `reabrir`.
    Pausado,
    /// `TRANSFERIDO`: moved to another area, waiting for `asignar`.
    Transferido,
    /// `RECLASIFICADO`: type, category or priority changed, waiting for `asignar`.
    Reclasificado,
    /// `ACTUALIZADO`: in progress, with a note added.
    Actualizado,
    /// `CANCELADO`: closed by `cancelar`; terminal.
    Cancelado,
    /// `ARCHIVADO`: closed by `archivar`; terminal.
    Archivado,
}

impl Estado {
    /// Every state, in catalog order.
    pub const TODOS: [Estado; 8] = [
        Estado::Nuevo,
        Estado::Asignado,
        Estado::Pausado,
        Estado::Transferido,
        Estado::Reclasificado,
        Estado::Actualizado,
        Estado::Cancelado,
        Estado::Archivado,
    ];

    /// The contract's text (`NUEVO`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Estado::Nuevo => "NUEVO",
            Estado::Asignado => "ASIGNADO",
            Estado::Pausado => "PAUSADO",
            Estado::Transferido => "TRANSFERIDO",
            Estado::Reclasificado => "RECLASIFICADO",
            Estado::Actualizado => "ACTUALIZADO",
            Estado::Cancelado => "CANCELADO",
            Estado::Archivado => "ARCHIVADO",
        }
    }

    /// CANCELADO and ARCHIVADO accept no further operation.
    pub fn es_terminal(self) -> bool {
        matches!(self, Estado::Cancelado | Estado::Archivado)
    }
}

impl fmt::Display for Estado {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Estado {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Estado::TODOS
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("estado desconocido: {s}"))
    }
}

/// Staff roles carried by a verified token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Rol {
    /// `ADMIN`: every operation.
    Admin,
    /// `MESA`: the help desk, over every area.
    Mesa,
    /// `AREA`: staff of one area, over its own tickets only.
    Area,
}

impl Rol {
    /// Every staff role: who may run an operation that takes any valid token.
    pub const TODOS: [Rol; 3] = [Rol::Admin, Rol::Mesa, Rol::Area];

    /// The contract's text (`ADMIN`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Rol::Admin => "ADMIN",
            Rol::Mesa => "MESA",
            Rol::Area => "AREA",
        }
    }
}

/// Who acted, as a history entry names them (`actor_rol`): a staff role from
/// a verified token, the requester who created the ticket, or the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolActor {
    /// ADMIN, MESA or AREA.
    Staff(Rol),
    /// USUARIO: a requester, who has no account.
    Usuario,
    /// SISTEMA: the SLA scheduler.
    Sistema,
}

impl RolActor {
    /// Every actor kind, in the order the contract lists them.
    pub const TODOS: [RolActor; 5] = [
        RolActor::Staff(Rol::Admin),
        RolActor::Staff(Rol::Mesa),
        RolActor::Staff(Rol::Area),
        RolActor::Usuario,
        RolActor::Sistema,
    ];

    /// The contract's text for it.
    pub fn as_str(self) -> &'static str {
        match self {
            RolActor::Staff(rol) => rol.as_str(),
            RolActor::Usuario => "USUARIO",
            RolActor::Sistema => "SISTEMA",
        }
    }

    /// Reads the contract's text back (a stored `actor_rol`).
    pub fn parse(s: &str) -> Option<RolActor> {
        RolActor::TODOS.into_iter().find(|r| r.as_str() == s)
    }
}

/// Serialised as its contract text, so replies and events read as before.
impl Serialize for RolActor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Its schema: the contract's texts.
impl utoipa::PartialSchema for RolActor {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(RolActor::TODOS.map(RolActor::as_str)))
            .description(Some(
                "Who acted: a staff role (ADMIN, MESA, AREA), the requester (USUARIO) or the scheduler (SISTEMA).",
            ))
            .into()
    }
}

impl utoipa::ToSchema for RolActor {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("RolActor")
    }
}

/// Who may run an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acceso {
    /// No token needed.
    Publico,
    /// Any valid token, whatever its role.
    CualquierToken,
    /// A valid token with one of these roles.
    Roles(&'static [Rol]),
}

const GESTION: &[Rol] = &[Rol::Admin, Rol::Mesa];
const PERSONAL: &[Rol] = &Rol::TODOS;
/// Who may touch the requesters' data as a whole (§11).
const SOLO_ADMIN: &[Rol] = &[Rol::Admin];

/// Every operation of the contract, named by its routing key `ticket.<operacion>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operacion {
    /// `crear`: a requester opens a ticket (public).
    Crear,
    /// `asignar`: give the ticket an area or agent.
    Asignar,
    /// `transferir`: move the ticket to another area.
    Transferir,
    /// `reclasificar`: change type, category, subcategory or priority.
    Reclasificar,
    /// `pausar`: put the ticket on hold.
    Pausar,
    /// `reabrir`: resume a paused ticket.
    Reabrir,
    /// `actualizar`: add a note, optionally a reply to the requester.
    Actualizar,
    /// `cancelar`: close the ticket as CANCELADO.
    Cancelar,
    /// `archivar`: close the ticket as ARCHIVADO.
    Archivar,
    /// `consultar`: a requester looks up a ticket by label and email (public).
    Consultar,
    /// `detalle`: one ticket with its requester and history.
    Detalle,
    /// `listar`: a filtered page of tickets.
    Listar,
    /// `estadisticas`: counts and durations over a window.
    Estadisticas,
    /// `catalogo`: states, types, priorities and other catalogs.
    Catalogo,
    /// `responder` (v1.2): staff write to the conversation, PUBLICO or INTERNO.
    Responder,
    /// `seguimiento` (v1.2): the requester writes, by label and e-mail (public).
    Seguimiento,
    /// `anonimizar` (v1.2, §11): erase a requester's data, by e-mail or ticket.
    Anonimizar,
    /// `exportar` (v1.2, §11): every ticket of a requester, by e-mail.
    Exportar,
}

impl Operacion {
    /// Every operation, in contract order.
    pub const TODAS: [Operacion; 18] = [
        Operacion::Crear,
        Operacion::Asignar,
        Operacion::Transferir,
        Operacion::Reclasificar,
        Operacion::Pausar,
        Operacion::Reabrir,
        Operacion::Actualizar,
        Operacion::Cancelar,
        Operacion::Archivar,
        Operacion::Responder,
        Operacion::Seguimiento,
        Operacion::Anonimizar,
        Operacion::Consultar,
        Operacion::Detalle,
        Operacion::Listar,
        Operacion::Estadisticas,
        Operacion::Catalogo,
        Operacion::Exportar,
    ];

    /// The contract's name (`crear`, ...), the routing key's last part.
    pub fn as_str(self) -> &'static str {
        match self {
            Operacion::Crear => "crear",
            Operacion::Asignar => "asignar",
            Operacion::Transferir => "transferir",
            Operacion::Reclasificar => "reclasificar",
            Operacion::Pausar => "pausar",
            Operacion::Reabrir => "reabrir",
            Operacion::Actualizar => "actualizar",
            Operacion::Cancelar => "cancelar",
            Operacion::Archivar => "archivar",
            Operacion::Consultar => "consultar",
            Operacion::Detalle => "detalle",
            Operacion::Listar => "listar",
            Operacion::Estadisticas => "estadisticas",
            Operacion::Catalogo => "catalogo",
            Operacion::Responder => "responder",
            Operacion::Seguimiento => "seguimiento",
            Operacion::Anonimizar => "anonimizar",
            Operacion::Exportar => "exportar",
        }
    }

    /// The operation named exactly `s` (lower case), if any.
    pub fn parse(s: &str) -> Option<Operacion> {
        Operacion::TODAS.into_iter().find(|o| o.as_str() == s)
    }

    /// `ticket.asignar` → `asignar`; anything else is not an operation.
    pub fn from_routing_key(key: &str) -> Option<Operacion> {
        key.strip_prefix("ticket.").and_then(Operacion::parse)
    }

    /// Mutations need a `message_id` and produce exactly one event.
    pub fn es_mutacion(self) -> bool {
        !matches!(
            self,
            Operacion::Consultar
                | Operacion::Detalle
                | Operacion::Listar
                | Operacion::Estadisticas
                | Operacion::Catalogo
                | Operacion::Exportar
        )
    }

    /// Who may run this operation.
    pub fn acceso(self) -> Acceso {
        match self {
            Operacion::Crear | Operacion::Consultar | Operacion::Seguimiento => Acceso::Publico,
            Operacion::Catalogo => Acceso::CualquierToken,
            Operacion::Asignar | Operacion::Transferir | Operacion::Reclasificar | Operacion::Reabrir => {
                Acceso::Roles(GESTION)
            }
            Operacion::Pausar
            | Operacion::Actualizar
            | Operacion::Cancelar
            | Operacion::Archivar
            | Operacion::Responder
            | Operacion::Detalle
            | Operacion::Listar
            | Operacion::Estadisticas => Acceso::Roles(PERSONAL),
            Operacion::Anonimizar | Operacion::Exportar => Acceso::Roles(SOLO_ADMIN),
        }
    }

    /// Whether a staff actor of role `rol` may run this operation.
    pub fn permite(self, rol: Rol) -> bool {
        match self.acceso() {
            Acceso::Publico | Acceso::CualquierToken => true,
            Acceso::Roles(roles) => roles.contains(&rol),
        }
    }

    /// States this operation may start from, and where it leads.
    /// `None` for `crear` (no prior state), for queries, and for the
    /// conversation, which any non-terminal state takes and keeps
    /// (`Ticket::aplicar`).
    pub fn transicion(self) -> Option<(&'static [Estado], Estado)> {
        use Estado::*;
        const EN_CURSO: &[Estado] = &[Asignado, Actualizado];
        Some(match self {
            Operacion::Asignar => (&[Nuevo, Transferido, Reclasificado], Asignado),
            Operacion::Pausar => (EN_CURSO, Pausado),
            Operacion::Transferir => (EN_CURSO, Transferido),
            Operacion::Reclasificar => (EN_CURSO, Reclasificado),
            Operacion::Actualizar => (EN_CURSO, Actualizado),
            Operacion::Cancelar => (EN_CURSO, Cancelado),
            Operacion::Archivar => (EN_CURSO, Archivado),
            Operacion::Reabrir => (&[Pausado], Asignado),
            _ => return None,
        })
    }

    /// Target state when this operation is legal from `desde`.
    pub fn destino_desde(self, desde: Estado) -> Option<Estado> {
        self.transicion().and_then(|(origenes, destino)| origenes.contains(&desde).then_some(destino))
    }

    /// History `accion` written by this mutation.
    pub fn accion(self) -> Option<Accion> {
        Some(match self {
            Operacion::Crear => Accion::Creacion,
            Operacion::Asignar => Accion::Asignacion,
            Operacion::Transferir => Accion::Transferencia,
            Operacion::Reclasificar => Accion::Reclasificacion,
            Operacion::Pausar => Accion::Pausa,
            Operacion::Reabrir => Accion::Reapertura,
            Operacion::Actualizar => Accion::Actualizacion,
            Operacion::Cancelar => Accion::Cancelacion,
            Operacion::Archivar => Accion::Archivo,
            Operacion::Responder => Accion::Respuesta,
            Operacion::Seguimiento => Accion::Seguimiento,
            Operacion::Anonimizar => Accion::Anonimizacion,
            _ => return None,
        })
    }

    /// Event type (= routing key on `P.eventos`) of this mutation.
    pub fn tipo_evento(self) -> Option<&'static str> {
        self.accion().map(Accion::tipo_evento)
    }
}

/// History `accion` values of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Accion {
    /// `CREACION`: written by `crear`.
    Creacion,
    /// `ASIGNACION`: written by `asignar`.
    Asignacion,
    /// `TRANSFERENCIA`: written by `transferir`.
    Transferencia,
    /// `RECLASIFICACION`: written by `reclasificar`.
    Reclasificacion,
    /// `PAUSA`: written by `pausar`.
    Pausa,
    /// `REAPERTURA`: written by `reabrir`.
    Reapertura,
    /// `ACTUALIZACION`: written by `actualizar`.
    Actualizacion,
    /// `CANCELACION`: written by `cancelar`.
    Cancelacion,
    /// `ARCHIVO`: written by `archivar`.
    Archivo,
    /// `SLA_POR_VENCER`: the scheduler saw a deadline near (actor SISTEMA).
    SlaPorVencer,
    /// `SLA_VENCIDO`: the scheduler saw a deadline pass (actor SISTEMA).
    SlaVencido,
    /// An escalation step of the ticket's SLA policy (v1.1, §6.1).
    Escalamiento,
    /// `RESPUESTA`: written by `responder` (v1.2).
    Respuesta,
    /// `SEGUIMIENTO`: written by `seguimiento` (v1.2), reopening or not.
    Seguimiento,
    /// `ANONIMIZACION`: the requester's data erased (v1.2, §11), by an ADMIN
    /// or by retention (SISTEMA).
    Anonimizacion,
}

impl Accion {
    /// The contract's text (`CREACION`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Accion::Creacion => "CREACION",
            Accion::Asignacion => "ASIGNACION",
            Accion::Transferencia => "TRANSFERENCIA",
            Accion::Reclasificacion => "RECLASIFICACION",
            Accion::Pausa => "PAUSA",
            Accion::Reapertura => "REAPERTURA",
            Accion::Actualizacion => "ACTUALIZACION",
            Accion::Cancelacion => "CANCELACION",
            Accion::Archivo => "ARCHIVO",
            Accion::SlaPorVencer => "SLA_POR_VENCER",
            Accion::SlaVencido => "SLA_VENCIDO",
            Accion::Escalamiento => "ESCALAMIENTO",
            Accion::Respuesta => "RESPUESTA",
            Accion::Seguimiento => "SEGUIMIENTO",
            Accion::Anonimizacion => "ANONIMIZACION",
        }
    }

    /// The event (= routing key on `P.eventos`) a change recorded with this
    /// `accion` publishes.
    pub fn tipo_evento(self) -> &'static str {
        match self {
            Accion::Creacion => "ticket.creado",
            Accion::Asignacion => "ticket.asignado",
            Accion::Transferencia => "ticket.transferido",
            Accion::Reclasificacion => "ticket.reclasificado",
            Accion::Pausa => "ticket.pausado",
            Accion::Reapertura => "ticket.reabierto",
            Accion::Actualizacion => "ticket.actualizado",
            Accion::Cancelacion => "ticket.cancelado",
            Accion::Archivo => "ticket.archivado",
            Accion::SlaPorVencer => "sla.por_vencer",
            Accion::SlaVencido => "sla.vencido",
            Accion::Escalamiento => "ticket.escalado",
            Accion::Respuesta => "ticket.respondido",
            Accion::Seguimiento => "ticket.seguimiento",
            Accion::Anonimizacion => "ticket.anonimizado",
        }
    }
}

/// What kind of request a ticket is (`tipo`, contract §3): a closed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tipo {
    /// `PETICION`: a request for something.
    Peticion,
    /// `QUEJA`: a complaint about a service.
    Queja,
    /// `RECLAMO`: a claim for something owed.
    Reclamo,
    /// `SUGERENCIA`: a suggestion.
    Sugerencia,
    /// `INCIDENTE`: something broke.
    Incidente,
    /// `SOLICITUD`: a service request.
    Solicitud,
    /// `CONSULTA`: a question.
    Consulta,
}

impl Tipo {
    /// Every type, in catalog order.
    pub const TODOS: [Tipo; 7] = [
        Tipo::Peticion,
        Tipo::Queja,
        Tipo::Reclamo,
        Tipo::Sugerencia,
        Tipo::Incidente,
        Tipo::Solicitud,
        Tipo::Consulta,
    ];

    /// The contract's text (`PETICION`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Tipo::Peticion => "PETICION",
            Tipo::Queja => "QUEJA",
            Tipo::Reclamo => "RECLAMO",
            Tipo::Sugerencia => "SUGERENCIA",
            Tipo::Incidente => "INCIDENTE",
            Tipo::Solicitud => "SOLICITUD",
            Tipo::Consulta => "CONSULTA",
        }
    }

    /// The type named `texto`, in any case.
    pub fn parse(texto: &str) -> Option<Tipo> {
        Tipo::TODOS.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(texto))
    }
}

/// Ticket types' texts (`tipo`), in catalog order: what `catalogo` lists
/// and configuration conditions are checked against.
pub const TIPOS: [&str; 7] = {
    let mut textos = [""; 7];
    let mut i = 0;
    while i < Tipo::TODOS.len() {
        textos[i] = Tipo::TODOS[i].as_str();
        i += 1;
    }
    textos
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tipo_reads_back_its_own_text_in_any_case_and_nothing_else() {
        for t in Tipo::TODOS {
            assert_eq!(Tipo::parse(t.as_str()), Some(t));
            assert_eq!(Tipo::parse(&t.as_str().to_lowercase()), Some(t));
        }
        assert_eq!(TIPOS.to_vec(), Tipo::TODOS.map(Tipo::as_str).to_vec());
        for malo in ["", "OTRO", "PETICION ", "PETICIÓN"] {
            assert_eq!(Tipo::parse(malo), None, "{malo:?}");
        }
    }

    /// A stored `actor_rol` reads back as the role that wrote it, and every
    /// role serialises as the very text it is stored as.
    #[test]
    fn rol_actor_round_trips_through_its_contract_text() {
        let todos = [
            (RolActor::Staff(Rol::Admin), "ADMIN"),
            (RolActor::Staff(Rol::Mesa), "MESA"),
            (RolActor::Staff(Rol::Area), "AREA"),
            (RolActor::Usuario, "USUARIO"),
            (RolActor::Sistema, "SISTEMA"),
        ];
        for (rol, texto) in todos {
            assert_eq!(rol.as_str(), texto);
            assert_eq!(RolActor::parse(texto), Some(rol));
            assert_eq!(serde_json::to_value(rol).unwrap(), serde_json::json!(texto));
        }
        assert_eq!(RolActor::parse("admin"), None, "stored text is upper case only");
    }

    /// The contract's transition table, written out independently.
    const TABLA: &[(&str, &[&str], &str)] = &[
        ("asignar", &["NUEVO", "TRANSFERIDO", "RECLASIFICADO"], "ASIGNADO"),
        ("pausar", &["ASIGNADO", "ACTUALIZADO"], "PAUSADO"),
        ("transferir", &["ASIGNADO", "ACTUALIZADO"], "TRANSFERIDO"),
        ("reclasificar", &["ASIGNADO", "ACTUALIZADO"], "RECLASIFICADO"),
        ("actualizar", &["ASIGNADO", "ACTUALIZADO"], "ACTUALIZADO"),
        ("cancelar", &["ASIGNADO", "ACTUALIZADO"], "CANCELADO"),
        ("archivar", &["ASIGNADO", "ACTUALIZADO"], "ARCHIVADO"),
        ("reabrir", &["PAUSADO"], "ASIGNADO"),
    ];

    #[test]
    fn every_state_and_operation_matches_the_contract_table() {
        for (op, desde, hacia) in TABLA {
            let op = Operacion::parse(op).unwrap();
            for estado in Estado::TODOS {
                let esperado = desde.contains(&estado.as_str()).then(|| hacia.parse().unwrap());
                assert_eq!(op.destino_desde(estado), esperado, "{op:?} desde {estado}");
            }
        }
    }

    #[test]
    fn terminal_states_allow_nothing() {
        for op in Operacion::TODAS {
            assert_eq!(op.destino_desde(Estado::Cancelado), None);
            assert_eq!(op.destino_desde(Estado::Archivado), None);
        }
    }

    #[test]
    fn role_matrix_matches_the_contract() {
        use Rol::*;
        let gestion = ["asignar", "transferir", "reclasificar", "reabrir"];
        // Contract §2, v1.2: the requesters' data as a whole is ADMIN's only.
        let solo_admin = ["anonimizar", "exportar"];
        for op in Operacion::TODAS {
            let name = op.as_str();
            assert!(op.permite(Admin), "{name}");
            assert_eq!(op.permite(Mesa), !solo_admin.contains(&name), "{name}");
            assert_eq!(op.permite(Area), !gestion.contains(&name) && !solo_admin.contains(&name), "{name}");
        }
        assert_eq!(Operacion::Crear.acceso(), Acceso::Publico);
        assert_eq!(Operacion::Consultar.acceso(), Acceso::Publico);
        assert_eq!(Operacion::Catalogo.acceso(), Acceso::CualquierToken);
    }

    #[test]
    fn routing_keys() {
        assert_eq!(Operacion::from_routing_key("ticket.asignar"), Some(Operacion::Asignar));
        assert_eq!(Operacion::from_routing_key("ticket.borrar"), None);
        assert_eq!(Operacion::from_routing_key("asignar"), None);
    }
}
