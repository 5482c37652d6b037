//! SLA arithmetic: metas, policies and their selection, deadlines,
//! thresholds, which alerts are due, and `slaEstado`. Pure code: the current
//! time is always passed in.

use super::calendario::Calendario;
use super::conversacion::Espera;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// `slaEstado` values of the contract.
// The same enum describes the HTTP API's schemas (`gateway::esquemas`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SlaEstado {
    /// `EN_TIEMPO`: open, before the warning window.
    EnTiempo,
    /// `POR_VENCER`: open, inside the warning window.
    PorVencer,
    /// `VENCIDO`: open, past the deadline.
    Vencido,
    /// `PAUSADO`: the clock is stopped while the ticket is paused.
    Pausado,
    /// `CUMPLIDO`: closed by the deadline.
    Cumplido,
    /// `INCUMPLIDO`: closed after the deadline.
    Incumplido,
}

impl SlaEstado {
    /// Every value, in catalog order.
    pub const TODOS: [SlaEstado; 6] = [
        SlaEstado::EnTiempo,
        SlaEstado::PorVencer,
        SlaEstado::Vencido,
        SlaEstado::Pausado,
        SlaEstado::Cumplido,
        SlaEstado::Incumplido,
    ];

    /// The contract's text (`EN_TIEMPO`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SlaEstado::EnTiempo => "EN_TIEMPO",
            SlaEstado::PorVencer => "POR_VENCER",
            SlaEstado::Vencido => "VENCIDO",
            SlaEstado::Pausado => "PAUSADO",
            SlaEstado::Cumplido => "CUMPLIDO",
            SlaEstado::Incumplido => "INCUMPLIDO",
        }
    }

    /// The value `s` names, in any case.
    pub fn parse(s: &str) -> Option<SlaEstado> {
        SlaEstado::TODOS.into_iter().find(|e| e.as_str().eq_ignore_ascii_case(s))
    }

    /// The frozen value for a ticket closed at `cerrado_en`.
    pub fn al_cerrar(cerrado_en: DateTime<Utc>, fecha_limite: DateTime<Utc>) -> SlaEstado {
        if cerrado_en <= fecha_limite { SlaEstado::Cumplido } else { SlaEstado::Incumplido }
    }
}

/// A priority of the catalog and its SLA target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prioridad {
    /// Name, upper case (`ALTA`).
    pub nombre: String,
    /// Resolution target, on the SLA calendar.
    pub objetivo: TimeDelta,
}

/// An SLA alert level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NivelSla {
    /// The deadline is near.
    PorVencer,
    /// The deadline has passed.
    Vencido,
}

impl NivelSla {
    /// The contract's text (`POR_VENCER`, `VENCIDO`).
    pub fn as_str(self) -> &'static str {
        match self {
            NivelSla::PorVencer => "POR_VENCER",
            NivelSla::Vencido => "VENCIDO",
        }
    }

    /// The level named exactly `s`, if any.
    pub fn parse(s: &str) -> Option<NivelSla> {
        [NivelSla::PorVencer, NivelSla::Vencido].into_iter().find(|n| n.as_str() == s)
    }

    /// Event type, also the routing key on `P.eventos`.
    pub fn tipo_evento(self) -> &'static str {
        match self {
            NivelSla::PorVencer => "sla.por_vencer",
            NivelSla::Vencido => "sla.vencido",
        }
    }
}

/// The two clocks a ticket runs (contract §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Meta {
    /// From creation until the first `asignar`; only where a target is configured.
    PrimeraRespuesta,
    /// From creation until CANCELADO or ARCHIVADO; every ticket.
    Resolucion,
}

impl Meta {
    /// Both metas, first response first (the order its alerts come in on a tie).
    pub const TODAS: [Meta; 2] = [Meta::PrimeraRespuesta, Meta::Resolucion];

    /// The contract's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Meta::PrimeraRespuesta => "PRIMERA_RESPUESTA",
            Meta::Resolucion => "RESOLUCION",
        }
    }

    /// Reads a contract name, in any case.
    pub fn parse(s: &str) -> Option<Meta> {
        Meta::TODAS.into_iter().find(|m| m.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// How history motivos and operators' tables name it.
    pub fn nombre(self) -> &'static str {
        match self {
            Meta::PrimeraRespuesta => "primera respuesta",
            Meta::Resolucion => "resolución",
        }
    }
}

/// One alert of a meta: a threshold (remaining share of the target, 1–99 %)
/// or the deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Umbral {
    /// `sla.por_vencer` when this percent of the target or less remains.
    Aviso(u8),
    /// `sla.vencido` once the deadline has passed.
    Vencido,
}

impl Umbral {
    /// The event level of this alert.
    pub fn nivel(self) -> NivelSla {
        match self {
            Umbral::Aviso(_) => NivelSla::PorVencer,
            Umbral::Vencido => NivelSla::Vencido,
        }
    }

    /// `umbral` of an alert: the percent, none for VENCIDO.
    pub fn porcentaje(self) -> Option<u8> {
        match self {
            Umbral::Aviso(p) => Some(p),
            Umbral::Vencido => None,
        }
    }
}

/// Which alerts of a meta's current deadline were sent. Alerts go out in
/// order of severity (a smaller remaining share is more severe, VENCIDO most),
/// so one value says which were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progreso {
    /// None yet.
    #[default]
    Nada,
    /// Every threshold down to this percent. `Aviso(0)` is a row written
    /// before v1.1, whose one warning did not record its percent: every
    /// threshold counts as sent, so an upgrade sends none of them again.
    Aviso(u8),
    /// All of them, VENCIDO included.
    Vencido,
}

impl Progreso {
    /// Whether the alert of `umbral` was sent for the current deadline.
    pub fn enviado(self, umbral: Umbral) -> bool {
        match (self, umbral) {
            (Progreso::Vencido, _) => true,
            (Progreso::Aviso(hasta), Umbral::Aviso(p)) => p >= hasta,
            (Progreso::Aviso(_) | Progreso::Nada, Umbral::Vencido) | (Progreso::Nada, Umbral::Aviso(_)) => false,
        }
    }

    /// The progress once `umbral` is sent.
    pub fn tras(self, umbral: Umbral) -> Progreso {
        match umbral {
            Umbral::Vencido => Progreso::Vencido,
            Umbral::Aviso(p) => match self {
                Progreso::Aviso(hasta) if hasta <= p => self,
                Progreso::Vencido => self,
                _ => Progreso::Aviso(p),
            },
        }
    }

    /// The stored columns: the last level sent and its percent.
    pub fn columnas(self) -> (Option<NivelSla>, Option<i16>) {
        match self {
            Progreso::Nada => (None, None),
            Progreso::Aviso(0) => (Some(NivelSla::PorVencer), None),
            Progreso::Aviso(p) => (Some(NivelSla::PorVencer), Some(i16::from(p))),
            Progreso::Vencido => (Some(NivelSla::Vencido), None),
        }
    }

    /// Reads the stored columns back ([`Progreso::columnas`]).
    pub fn de_columnas(nivel: Option<NivelSla>, umbral: Option<i16>) -> Progreso {
        match nivel {
            None => Progreso::Nada,
            Some(NivelSla::Vencido) => Progreso::Vencido,
            Some(NivelSla::PorVencer) => Progreso::Aviso(umbral.and_then(|u| u8::try_from(u).ok()).unwrap_or(0)),
        }
    }
}

/// Thresholds in percent, most lenient first (`[50, 25, 10]`): the order
/// their alerts come in. Each is 1–99, none twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avisos(Vec<u8>);

impl Avisos {
    /// Sorted and de-duplicated; `None` when one is outside 1–99 or there are none.
    pub fn new(porcentajes: impl IntoIterator<Item = u32>) -> Option<Avisos> {
        let mut v = Vec::new();
        for p in porcentajes {
            v.push(u8::try_from(p).ok().filter(|p| (1..=99).contains(p))?);
        }
        v.sort_unstable_by(|a, b| b.cmp(a));
        v.dedup();
        (!v.is_empty()).then_some(Avisos(v))
    }

    /// The percents, most lenient first.
    pub fn porcentajes(&self) -> &[u8] {
        &self.0
    }

    /// Every alert of a meta in the order they come: the thresholds, then VENCIDO.
    pub fn umbrales(&self) -> impl Iterator<Item = Umbral> + '_ {
        self.0.iter().map(|p| Umbral::Aviso(*p)).chain([Umbral::Vencido])
    }

    /// The most lenient threshold: where `POR_VENCER` begins.
    pub fn primero(&self) -> u8 {
        self.0[0]
    }
}

/// One meta's clock, as a ticket holds it: enough to tell when each of its
/// alerts is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plazo {
    /// When the clock started (the ticket's creation).
    pub inicio: DateTime<Utc>,
    /// The target.
    pub objetivo: TimeDelta,
    /// Time the clock stood still (pauses), counted on the calendar.
    pub pausa: TimeDelta,
    /// Alerts already sent for the current deadline.
    pub progreso: Progreso,
}

impl Plazo {
    /// The deadline on `calendario`.
    pub fn fecha_limite(&self, calendario: &Calendario) -> DateTime<Utc> {
        calendario.sumar(self.inicio, self.objetivo + self.pausa)
    }

    /// When the alert of `umbral` is due: a threshold of `p` % when that share
    /// of the target remains (working time), VENCIDO at the deadline (sent
    /// once the deadline has *passed*).
    pub fn momento(&self, umbral: Umbral, calendario: &Calendario) -> DateTime<Utc> {
        let restante = match umbral {
            Umbral::Aviso(p) => TimeDelta::milliseconds(self.objetivo.num_milliseconds() * i64::from(p) / 100),
            Umbral::Vencido => TimeDelta::zero(),
        };
        calendario.sumar(self.inicio, self.objetivo - restante + self.pausa)
    }

    /// The first alert not sent yet, with the time it is due.
    pub fn proxima(&self, avisos: &Avisos, calendario: &Calendario) -> Option<(Umbral, DateTime<Utc>)> {
        let umbral = avisos.umbrales().find(|u| !self.progreso.enviado(*u))?;
        Some((umbral, self.momento(umbral, calendario)))
    }

    /// The alerts due at `ahora` not sent yet, in order of severity: every
    /// threshold whose time has come, then VENCIDO once the deadline passed.
    pub fn debidas(&self, avisos: &Avisos, calendario: &Calendario, ahora: DateTime<Utc>) -> Vec<Umbral> {
        avisos
            .umbrales()
            .filter(|u| !self.progreso.enviado(*u))
            .take_while(|u| match u {
                Umbral::Aviso(_) => self.momento(*u, calendario) <= ahora,
                Umbral::Vencido => self.fecha_limite(calendario) < ahora,
            })
            .collect()
    }
}

/// What an escalation step changes, and when (contract §6.1, `escalado`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasoEscalado {
    /// The meta whose alert triggers it.
    pub meta: Meta,
    /// The alert that triggers it: a threshold of that meta's `avisos`, or VENCIDO.
    pub en: Umbral,
    /// The area the ticket moves to.
    pub area: Option<String>,
    /// The priority the ticket takes (its deadlines do not move).
    pub prioridad: Option<String>,
}

/// The conditions of a policy: each a list compared case-insensitively; an
/// absent one holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condiciones {
    /// `tipo` of the ticket.
    pub tipos: Option<Vec<String>>,
    /// `prioridad` of the ticket.
    pub prioridades: Option<Vec<String>>,
    /// `areaAsignada` of the ticket.
    pub areas: Option<Vec<String>>,
    /// `categoria` of the ticket.
    pub categorias: Option<Vec<String>>,
}

impl Condiciones {
    /// Whether every condition holds for a ticket classified so.
    pub fn cumple(&self, c: &Clasificacion<'_>) -> bool {
        let vale = |lista: &Option<Vec<String>>, valor: &str| {
            lista.as_ref().is_none_or(|l| l.iter().any(|x| x.trim().eq_ignore_ascii_case(valor.trim())))
        };
        vale(&self.tipos, c.tipo)
            && vale(&self.prioridades, c.prioridad)
            && vale(&self.areas, c.area)
            && vale(&self.categorias, c.categoria)
    }
}

/// What a policy is chosen by.
#[derive(Debug, Clone, Copy)]
pub struct Clasificacion<'a> {
    /// The ticket's `tipo`.
    pub tipo: &'a str,
    /// The ticket's `prioridad`.
    pub prioridad: &'a str,
    /// The ticket's `areaAsignada`.
    pub area: &'a str,
    /// The ticket's `categoria`.
    pub categoria: &'a str,
}

/// One `[[sla.politicas]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Politica {
    /// `slaPolitica` of the tickets it governs.
    pub nombre: String,
    /// When it applies.
    pub condiciones: Condiciones,
    /// Resolution target.
    pub resolucion: TimeDelta,
    /// First-response target; none means the ticket runs no first-response clock.
    pub primera_respuesta: Option<TimeDelta>,
    /// Its thresholds; none means the defaults.
    pub avisos: Option<Avisos>,
    /// The named calendar it counts on; none means the default calendar.
    pub calendario: Option<String>,
    /// Escalation steps, in the order they are applied.
    pub escalado: Vec<PasoEscalado>,
}

/// The targets a ticket runs under: its policy's, or the defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan<'a> {
    /// The policy chosen; none for the defaults.
    pub politica: Option<&'a Politica>,
    /// Resolution target.
    pub resolucion: TimeDelta,
    /// First-response target, where one is configured.
    pub primera_respuesta: Option<TimeDelta>,
}

/// Which pauses stop the SLA clocks (`sla.pausa_detiene_reloj`): every
/// one (`true`, the default), none (`false`), or only the waits listed
/// (v1.2, contract §10: `["SOLICITANTE"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PausasQueDetienen {
    /// Every pause stops the clocks.
    Todas,
    /// No pause does.
    Ninguna,
    /// Only pauses waiting for one of these.
    Esperas(Vec<Espera>),
}

impl PausasQueDetienen {
    /// Whether a pause waiting for `espera` stops the clocks. A pause
    /// recorded before v1.2 waits for nobody in particular: OTRO.
    pub fn detiene(&self, espera: Option<Espera>) -> bool {
        match self {
            PausasQueDetienen::Todas => true,
            PausasQueDetienen::Ninguna => false,
            PausasQueDetienen::Esperas(lista) => lista.contains(&espera.unwrap_or(Espera::Otro)),
        }
    }

    /// Whether the SLA treats a pause waiting for `espera` as a pause at
    /// all: `slaEstado` PAUSADO, no alerts while it lasts. Every pause under
    /// `true` and `false` (v1's meaning: `false` only keeps the deadlines
    /// from moving); under a list only its waits — a pause waiting for
    /// another stops no clock and behaves like no pause.
    pub fn suspende(&self, espera: Option<Espera>) -> bool {
        match self {
            PausasQueDetienen::Todas | PausasQueDetienen::Ninguna => true,
            PausasQueDetienen::Esperas(_) => self.detiene(espera),
        }
    }

    /// The waits that stop the clocks, in the contract's order (`catalogo`).
    pub fn esperas(&self) -> Vec<Espera> {
        Espera::TODAS.into_iter().filter(|e| self.detiene(Some(*e))).collect()
    }
}

/// What stops a ticket's first-response clock (`sla.primera_respuesta_termina`,
/// contract §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinPrimeraRespuesta {
    /// The first `asignar` (the default: v1.1 behaviour).
    #[default]
    Asignar,
    /// The first PUBLICO message of staff: `responder`, or `actualizar` with `respuestaCliente`.
    Respuesta,
}

impl<'de> serde::Deserialize<'de> for FinPrimeraRespuesta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let texto = String::deserialize(d)?;
        match texto.trim().to_ascii_lowercase().as_str() {
            "asignar" => Ok(FinPrimeraRespuesta::Asignar),
            "respuesta" => Ok(FinPrimeraRespuesta::Respuesta),
            _ => Err(serde::de::Error::custom(format!("\"asignar\" o \"respuesta\", no {:?}", texto))),
        }
    }
}

/// The SLA rules in force, built from configuration: default targets per
/// priority, default thresholds and calendar, named calendars and policies.
#[derive(Debug, Clone)]
pub struct ReglasSla {
    /// Ordered from the shortest target to the longest.
    prioridades: Vec<Prioridad>,
    /// Default first-response targets, by priority name (upper case).
    primera_respuesta: BTreeMap<String, TimeDelta>,
    /// Default thresholds.
    avisos: Avisos,
    pausa_detiene_reloj: PausasQueDetienen,
    /// What stops the first-response clock.
    fin_primera_respuesta: FinPrimeraRespuesta,
    /// The default calendar.
    calendario: Calendario,
    /// Named calendars, for policies.
    calendarios: BTreeMap<String, Calendario>,
    /// In configuration order: the first whose conditions hold wins.
    politicas: Vec<Politica>,
}

impl ReglasSla {
    /// 24x7 rules with one threshold of `aviso_porcentaje` % (clamped to
    /// 1–99) and no policies: the v1 rules.
    pub fn new(
        prioridades: impl IntoIterator<Item = Prioridad>,
        aviso_porcentaje: u32,
        pausa_detiene_reloj: bool,
    ) -> Self {
        let mut prioridades: Vec<Prioridad> =
            prioridades.into_iter().map(|p| Prioridad { nombre: p.nombre.trim().to_uppercase(), ..p }).collect();
        prioridades.sort_by(|a, b| a.objetivo.cmp(&b.objetivo).then(a.nombre.cmp(&b.nombre)));
        Self {
            prioridades,
            primera_respuesta: BTreeMap::new(),
            avisos: Avisos(vec![aviso_porcentaje.clamp(1, 99) as u8]),
            pausa_detiene_reloj: if pausa_detiene_reloj {
                PausasQueDetienen::Todas
            } else {
                PausasQueDetienen::Ninguna
            },
            fin_primera_respuesta: FinPrimeraRespuesta::Asignar,
            calendario: Calendario::Continuo,
            calendarios: BTreeMap::new(),
            politicas: Vec::new(),
        }
    }

    /// Counts only the calendar's working time by default.
    pub fn con_calendario(self, calendario: Calendario) -> Self {
        Self { calendario, ..self }
    }

    /// Default thresholds.
    pub fn con_avisos(self, avisos: Avisos) -> Self {
        Self { avisos, ..self }
    }

    /// Default first-response targets per priority.
    pub fn con_primera_respuesta(self, objetivos: impl IntoIterator<Item = (String, TimeDelta)>) -> Self {
        let primera_respuesta = objetivos.into_iter().map(|(n, o)| (n.trim().to_uppercase(), o)).collect();
        Self { primera_respuesta, ..self }
    }

    /// Named calendars and policies (checked by configuration first: every
    /// calendar a policy names exists).
    pub fn con_politicas(self, calendarios: BTreeMap<String, Calendario>, politicas: Vec<Politica>) -> Self {
        Self { calendarios, politicas, ..self }
    }

    /// The default calendar.
    pub fn calendario(&self) -> &Calendario {
        &self.calendario
    }

    /// The priorities of the catalog, shortest target first.
    pub fn prioridades(&self) -> &[Prioridad] {
        &self.prioridades
    }

    /// Default first-response targets, by priority.
    pub fn primera_respuesta_por_defecto(&self) -> &BTreeMap<String, TimeDelta> {
        &self.primera_respuesta
    }

    /// Default thresholds.
    pub fn avisos(&self) -> &Avisos {
        &self.avisos
    }

    /// The policies, in the order they are tried.
    pub fn politicas(&self) -> &[Politica] {
        &self.politicas
    }

    /// Whether a pause stops the clock.
    pub fn pausa_detiene_reloj(&self) -> bool {
        self.pausa_detiene_reloj == PausasQueDetienen::Todas
    }

    /// Which pauses stop the clocks.
    pub fn pausas_que_detienen(&self) -> &PausasQueDetienen {
        &self.pausa_detiene_reloj
    }

    /// These rules, the clocks stopped by `pausas`.
    pub fn con_pausas_que_detienen(mut self, pausas: PausasQueDetienen) -> Self {
        self.pausa_detiene_reloj = pausas;
        self
    }

    /// What stops the first-response clock.
    pub fn fin_primera_respuesta(&self) -> FinPrimeraRespuesta {
        self.fin_primera_respuesta
    }

    /// These rules, the first-response clock stopped by `fin`.
    pub fn con_fin_de_primera_respuesta(mut self, fin: FinPrimeraRespuesta) -> Self {
        self.fin_primera_respuesta = fin;
        self
    }

    /// Looks a priority up by name, case-insensitively.
    pub fn prioridad(&self, nombre: &str) -> Option<&Prioridad> {
        let nombre = nombre.trim();
        self.prioridades.iter().find(|p| p.nombre.eq_ignore_ascii_case(nombre))
    }

    /// The targets for a ticket classified so: the first policy whose
    /// conditions all hold, or else the defaults of its priority.
    pub fn seleccionar(&self, c: &Clasificacion<'_>) -> Plan<'_> {
        match self.politicas.iter().find(|p| p.condiciones.cumple(c)) {
            Some(p) => Plan { politica: Some(p), resolucion: p.resolucion, primera_respuesta: p.primera_respuesta },
            None => Plan {
                politica: None,
                // A priority the catalog lost since the ticket was written keeps
                // no target of its own: the longest one is the lenient choice.
                resolucion: self
                    .prioridad(c.prioridad)
                    .or(self.prioridades.last())
                    .map_or(TimeDelta::hours(24), |p| p.objetivo),
                primera_respuesta: self.primera_respuesta.get(&c.prioridad.trim().to_uppercase()).copied(),
            },
        }
    }

    /// A policy by its `nombre`; none for the defaults, or a name the
    /// configuration no longer has.
    pub fn politica(&self, nombre: Option<&str>) -> Option<&Politica> {
        let nombre = nombre?;
        self.politicas.iter().find(|p| p.nombre == nombre)
    }

    /// The thresholds tickets of this policy alert at.
    pub fn avisos_de(&self, politica: Option<&str>) -> &Avisos {
        self.politica(politica).and_then(|p| p.avisos.as_ref()).unwrap_or(&self.avisos)
    }

    /// The calendar tickets of this policy count on.
    pub fn calendario_de(&self, politica: Option<&str>) -> &Calendario {
        self.politica(politica)
            .and_then(|p| p.calendario.as_deref())
            .and_then(|n| self.calendarios.get(n))
            .unwrap_or(&self.calendario)
    }

    /// How much a pause waiting for `espera`, from `desde` to `hasta`, adds
    /// to the clock's standstill: the working time inside it, or nothing
    /// when such pauses do not stop the clock.
    pub fn pausa_computable(
        &self,
        calendario: &Calendario,
        espera: Option<Espera>,
        desde: DateTime<Utc>,
        hasta: DateTime<Utc>,
    ) -> TimeDelta {
        if self.pausa_detiene_reloj.detiene(espera) { calendario.entre(desde, hasta) } else { TimeDelta::zero() }
    }
}

/// `slaEstado` of an open, running (not paused) ticket at `ahora`. The same
/// rule is written in SQL in `store::push_sla_estado`.
pub fn estado_en_curso(ahora: DateTime<Utc>, fecha_limite: DateTime<Utc>, fecha_aviso: DateTime<Utc>) -> SlaEstado {
    if ahora > fecha_limite {
        SlaEstado::Vencido
    } else if ahora >= fecha_aviso {
        SlaEstado::PorVencer
    } else {
        SlaEstado::EnTiempo
    }
}

/// `slaHoras`: the target in hours, fractional when it is not a whole hour.
pub fn horas(objetivo: TimeDelta) -> f64 {
    objetivo.num_milliseconds() as f64 / 3_600_000.0
}

/// Whole minutes from `ahora` to the deadline, rounded down: negative as
/// soon as the deadline has passed.
pub fn minutos_restantes(ahora: DateTime<Utc>, fecha_limite: DateTime<Utc>) -> i64 {
    (fecha_limite - ahora).num_milliseconds().div_euclid(60_000)
}

/// Default targets of contract §6.
pub fn prioridades_por_defecto() -> Vec<Prioridad> {
    [("CRITICA", 2), ("ALTA", 4), ("MEDIA", 24), ("BAJA", 72)]
        .into_iter()
        .map(|(n, h)| Prioridad { nombre: n.into(), objetivo: TimeDelta::hours(h) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::calendario::CalendarioLaboral;
    use chrono::{NaiveDate, NaiveTime, TimeZone};
    use proptest::prelude::*;

    fn reglas(pausa: bool) -> ReglasSla {
        ReglasSla::new(prioridades_por_defecto(), 20, pausa)
    }

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 24, h, m, 0).unwrap()
    }

    fn plazo(inicio: DateTime<Utc>, objetivo: TimeDelta) -> Plazo {
        Plazo { inicio, objetivo, pausa: TimeDelta::zero(), progreso: Progreso::Nada }
    }

    fn clasificacion<'a>(tipo: &'a str, prioridad: &'a str, area: &'a str) -> Clasificacion<'a> {
        Clasificacion { tipo, prioridad, area, categoria: "Sistemas" }
    }

    fn politica(nombre: &str, condiciones: Condiciones, resolucion: TimeDelta) -> Politica {
        Politica {
            nombre: nombre.into(),
            condiciones,
            resolucion,
            primera_respuesta: None,
            avisos: None,
            calendario: None,
            escalado: vec![],
        }
    }

    /// Mon–Fri 08:00–18:00 in Bogotá (UTC-5, no DST), Christmas off.
    fn oficina() -> Calendario {
        let h = |hh| NaiveTime::from_hms_opt(hh, 0, 0).unwrap();
        let mut v: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for d in v.iter_mut().take(5) {
            *d = vec![(h(8), h(18))];
        }
        let navidad = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        Calendario::Laboral(CalendarioLaboral::new(chrono_tz::America::Bogota, v, [navidad]).unwrap())
    }

    #[test]
    fn ana_garcia_alta_gets_four_hours() {
        let r = reglas(true);
        let alta = r.prioridad("alta").unwrap();
        assert_eq!(alta.nombre, "ALTA");
        assert_eq!(horas(alta.objetivo), 4.0);
        let plan = r.seleccionar(&clasificacion("INCIDENTE", "ALTA", "MESA"));
        assert_eq!((plan.politica, plan.resolucion, plan.primera_respuesta), (None, TimeDelta::hours(4), None));
        assert_eq!(plazo(t(10, 15), plan.resolucion).fecha_limite(r.calendario()), t(14, 15));
    }

    #[test]
    fn unknown_priority_is_none() {
        assert!(reglas(true).prioridad("URGENTISIMA").is_none());
    }

    #[test]
    fn warning_window_is_twenty_percent_of_the_target() {
        let r = reglas(true);
        let p = plazo(t(10, 0), TimeDelta::hours(4));
        let limite = p.fecha_limite(r.calendario());
        let aviso = p.momento(Umbral::Aviso(r.avisos().primero()), r.calendario());
        assert_eq!((limite, aviso), (t(14, 0), t(13, 12)));
        assert_eq!(estado_en_curso(t(13, 11), limite, aviso), SlaEstado::EnTiempo);
        assert_eq!(estado_en_curso(t(13, 12), limite, aviso), SlaEstado::PorVencer);
        assert_eq!(estado_en_curso(t(14, 0), limite, aviso), SlaEstado::PorVencer);
        assert_eq!(estado_en_curso(t(14, 1), limite, aviso), SlaEstado::Vencido);
    }

    #[test]
    fn pausing_moves_the_deadline_only_when_the_clock_stops() {
        let c = Calendario::Continuo;
        assert_eq!(reglas(true).pausa_computable(&c, None, t(10, 0), t(11, 30)), TimeDelta::minutes(90));
        assert_eq!(reglas(false).pausa_computable(&c, None, t(10, 0), t(11, 30)), TimeDelta::zero());
        let solo = reglas(true).con_pausas_que_detienen(PausasQueDetienen::Esperas(vec![Espera::Solicitante]));
        let computable = |e| solo.pausa_computable(&c, e, t(10, 0), t(11, 30));
        assert_eq!(computable(Some(Espera::Solicitante)), TimeDelta::minutes(90));
        assert_eq!(computable(Some(Espera::Tercero)), TimeDelta::zero());
        assert_eq!(computable(None), TimeDelta::zero(), "a v1.1 pause is OTRO");
        assert_eq!(solo.pausas_que_detienen().esperas(), [Espera::Solicitante]);
        // Under a list a pause stopping no clock is no pause at all; `true`
        // and `false` keep v1's: every pause shows PAUSADO and withholds alerts.
        let suspende = |r: &ReglasSla, e| r.pausas_que_detienen().suspende(e);
        assert!(suspende(&solo, Some(Espera::Solicitante)) && !suspende(&solo, Some(Espera::Tercero)));
        assert!(!suspende(&solo, None), "a v1.1 pause is OTRO");
        for e in [None, Some(Espera::Solicitante), Some(Espera::Tercero), Some(Espera::Otro)] {
            assert!(suspende(&reglas(true), e) && suspende(&reglas(false), e));
        }
        assert_eq!(reglas(true).pausas_que_detienen().esperas(), Espera::TODAS);
        assert!(reglas(false).pausas_que_detienen().esperas().is_empty());
    }

    #[test]
    fn fractional_targets() {
        assert_eq!(horas(TimeDelta::minutes(90)), 1.5);
    }

    #[test]
    fn closing_freezes_compliance() {
        assert_eq!(SlaEstado::al_cerrar(t(14, 0), t(14, 0)), SlaEstado::Cumplido);
        assert_eq!(SlaEstado::al_cerrar(t(14, 1), t(14, 0)), SlaEstado::Incumplido);
        assert_eq!(minutos_restantes(t(14, 30), t(14, 0)), -30);
        assert_eq!(minutos_restantes(t(14, 0) + TimeDelta::seconds(1), t(14, 0)), -1);
        assert_eq!(minutos_restantes(t(14, 0) + TimeDelta::milliseconds(300), t(14, 0)), -1);
        assert_eq!(minutos_restantes(t(13, 30) + TimeDelta::seconds(1), t(14, 0)), 29);
    }

    #[test]
    fn the_first_policy_whose_conditions_all_hold_wins() {
        let incidentes = Condiciones { tipos: Some(vec!["incidente".into()]), ..Default::default() };
        let criticos = Condiciones {
            tipos: Some(vec!["INCIDENTE".into()]),
            prioridades: Some(vec!["CRITICA".into()]),
            ..Default::default()
        };
        let soporte = Condiciones { areas: Some(vec!["Soporte".into()]), ..Default::default() };
        let r = reglas(true).con_primera_respuesta([("alta".to_string(), TimeDelta::minutes(30))]).con_politicas(
            BTreeMap::new(),
            vec![
                politica("Críticos", criticos, TimeDelta::hours(1)),
                politica("Incidentes", incidentes, TimeDelta::hours(8)),
                politica("Soporte", soporte, TimeDelta::hours(12)),
            ],
        );
        let nombre = |c: Clasificacion<'_>| r.seleccionar(&c).politica.map(|p| p.nombre.as_str());
        assert_eq!(nombre(clasificacion("INCIDENTE", "CRITICA", "SOPORTE")), Some("Críticos"), "order wins");
        assert_eq!(nombre(clasificacion("Incidente", "ALTA", "SOPORTE")), Some("Incidentes"), "any case");
        assert_eq!(nombre(clasificacion("QUEJA", "ALTA", "soporte")), Some("Soporte"));
        let defecto = r.seleccionar(&clasificacion("QUEJA", "alta", "MESA"));
        assert_eq!(defecto.politica, None);
        assert_eq!(
            (defecto.resolucion, defecto.primera_respuesta),
            (TimeDelta::hours(4), Some(TimeDelta::minutes(30)))
        );
        assert_eq!(r.seleccionar(&clasificacion("QUEJA", "BAJA", "MESA")).primera_respuesta, None);
    }

    #[test]
    fn a_policy_counts_on_its_own_calendar_and_thresholds() {
        let mut p = politica("Oficina", Condiciones::default(), TimeDelta::hours(4));
        p.calendario = Some("oficina".into());
        p.avisos = Avisos::new([50, 25]);
        let r = reglas(true).con_politicas(BTreeMap::from([("oficina".to_string(), oficina())]), vec![p]);
        let cal = r.calendario_de(Some("Oficina"));
        assert_eq!(r.avisos_de(Some("Oficina")).porcentajes(), [50, 25]);
        assert_eq!(r.avisos_de(None).porcentajes(), [20]);
        assert_eq!(r.calendario_de(Some("no existe")), &Calendario::Continuo);
        // Friday 16:00 Bogotá (21:00Z) + 4 working hours: 2 on Friday, 2 on Monday → 10:00 (15:00Z).
        let viernes = Utc.with_ymd_and_hms(2026, 3, 27, 21, 0, 0).unwrap();
        let pl = plazo(viernes, TimeDelta::hours(4));
        assert_eq!(pl.fecha_limite(cal), Utc.with_ymd_and_hms(2026, 3, 30, 15, 0, 0).unwrap());
        // Half the target left on Friday at 18:00 Bogotá.
        assert_eq!(pl.momento(Umbral::Aviso(50), cal), Utc.with_ymd_and_hms(2026, 3, 27, 23, 0, 0).unwrap());
        // Christmas Eve 16:00 + 4h: the 25th is a holiday, then the weekend → Monday 28th 10:00.
        let nochebuena = Utc.with_ymd_and_hms(2026, 12, 24, 21, 0, 0).unwrap();
        assert_eq!(
            plazo(nochebuena, TimeDelta::hours(4)).fecha_limite(cal),
            Utc.with_ymd_and_hms(2026, 12, 28, 15, 0, 0).unwrap()
        );
    }

    #[test]
    fn each_policy_counts_on_its_named_calendar_across_a_dst_change() {
        // Mon–Fri 09:00–17:00 in Madrid, which moves to summer time on Sunday 29 March 2026.
        let h = |hh| NaiveTime::from_hms_opt(hh, 0, 0).unwrap();
        let mut v: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for d in v.iter_mut().take(5) {
            *d = vec![(h(9), h(17))];
        }
        let madrid = Calendario::Laboral(CalendarioLaboral::new(chrono_tz::Europe::Madrid, v, []).unwrap());
        let mut en_madrid = politica(
            "Madrid",
            Condiciones { areas: Some(vec!["ES".into()]), ..Default::default() },
            TimeDelta::hours(2),
        );
        en_madrid.calendario = Some("madrid".into());
        let mut en_bogota = politica("Bogotá", Condiciones::default(), TimeDelta::hours(2));
        en_bogota.calendario = Some("oficina".into());
        let r = reglas(true).con_politicas(
            BTreeMap::from([("madrid".to_string(), madrid), ("oficina".to_string(), oficina())]),
            vec![en_madrid, en_bogota],
        );
        let viernes = Utc.with_ymd_and_hms(2026, 3, 27, 15, 0, 0).unwrap(); // 16:00 CET, 10:00 Bogotá
        let p = plazo(viernes, TimeDelta::hours(2));
        // Madrid: one hour on Friday, one on Monday 09:00–10:00 CEST (08:00Z).
        assert_eq!(
            r.seleccionar(&clasificacion("QUEJA", "ALTA", "ES")).politica.map(|p| p.nombre.as_str()),
            Some("Madrid")
        );
        assert_eq!(
            p.fecha_limite(r.calendario_de(Some("Madrid"))),
            Utc.with_ymd_and_hms(2026, 3, 30, 8, 0, 0).unwrap()
        );
        // Bogotá (no DST): the same Friday, 12:00 local (17:00Z).
        assert_eq!(
            p.fecha_limite(r.calendario_de(Some("Bogotá"))),
            Utc.with_ymd_and_hms(2026, 3, 27, 17, 0, 0).unwrap()
        );
        // The default calendar is still 24x7.
        assert_eq!(p.fecha_limite(r.calendario_de(None)), viernes + TimeDelta::hours(2));
    }

    #[test]
    fn thresholds_are_sorted_and_bounded() {
        assert_eq!(Avisos::new([20, 50, 20, 10]).unwrap().porcentajes(), [50, 20, 10]);
        assert_eq!(Avisos::new([]), None);
        assert_eq!(Avisos::new([0]), None);
        assert_eq!(Avisos::new([100]), None);
        assert_eq!(Avisos::new([50, 300]), None);
        let a = Avisos::new([50, 20]).unwrap();
        let u: Vec<Umbral> = a.umbrales().collect();
        assert_eq!(u, [Umbral::Aviso(50), Umbral::Aviso(20), Umbral::Vencido]);
    }

    #[test]
    fn a_v1_warning_counts_as_every_threshold_sent() {
        // A row written before v1.1 knows only that "the warning" went out.
        let legado = Progreso::de_columnas(Some(NivelSla::PorVencer), None);
        assert_eq!(legado, Progreso::Aviso(0));
        assert!(legado.enviado(Umbral::Aviso(50)) && legado.enviado(Umbral::Aviso(1)));
        assert!(!legado.enviado(Umbral::Vencido));
        let p = Plazo { progreso: legado, ..plazo(t(10, 0), TimeDelta::hours(4)) };
        let avisos = Avisos::new([50, 20]).unwrap();
        assert_eq!(p.debidas(&avisos, &Calendario::Continuo, t(23, 0)), [Umbral::Vencido]);
        for progreso in [Progreso::Nada, Progreso::Aviso(20), Progreso::Vencido] {
            let (nivel, umbral) = progreso.columnas();
            assert_eq!(Progreso::de_columnas(nivel, umbral), progreso);
        }
    }

    #[test]
    fn missed_thresholds_come_in_order_then_vencido() {
        let avisos = Avisos::new([50, 25, 10]).unwrap();
        let p = plazo(t(10, 0), TimeDelta::hours(4));
        let c = Calendario::Continuo;
        assert_eq!(p.debidas(&avisos, &c, t(11, 59)), []);
        assert_eq!(p.debidas(&avisos, &c, t(12, 0)), [Umbral::Aviso(50)]);
        assert_eq!(p.debidas(&avisos, &c, t(13, 40)), [Umbral::Aviso(50), Umbral::Aviso(25), Umbral::Aviso(10)]);
        assert_eq!(p.debidas(&avisos, &c, t(14, 0)).last(), Some(&Umbral::Aviso(10)), "due, not yet overdue");
        assert_eq!(p.debidas(&avisos, &c, t(14, 1)).len(), 4);
        let enviado = Plazo { progreso: Progreso::Aviso(25), ..p };
        assert_eq!(enviado.debidas(&avisos, &c, t(14, 1)), [Umbral::Aviso(10), Umbral::Vencido]);
        assert_eq!(enviado.proxima(&avisos, &c), Some((Umbral::Aviso(10), t(13, 36))));
    }

    fn instante() -> impl Strategy<Value = DateTime<Utc>> {
        (1_735_689_600i64..1_830_297_600i64).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    fn objetivo() -> impl Strategy<Value = TimeDelta> {
        (1i64..200 * 3600).prop_map(TimeDelta::seconds)
    }

    fn avisos() -> impl Strategy<Value = Avisos> {
        proptest::collection::vec(1u32..=99, 1..5).prop_map(|v| Avisos::new(v).unwrap())
    }

    proptest! {
        #[test]
        fn a_more_severe_alert_is_never_due_earlier(
            inicio in instante(), o in objetivo(), pausa in 0i64..50 * 3600, a in avisos()
        ) {
            for c in [Calendario::Continuo, oficina()] {
                let p = Plazo { pausa: TimeDelta::seconds(pausa), ..plazo(inicio, o) };
                let momentos: Vec<_> = a.umbrales().map(|u| p.momento(u, &c)).collect();
                prop_assert!(momentos.windows(2).all(|w| w[0] <= w[1]), "{momentos:?}");
                prop_assert_eq!(*momentos.last().unwrap(), p.fecha_limite(&c));
                prop_assert!(momentos[0] >= inicio);
            }
        }

        #[test]
        fn however_often_it_is_scanned_each_alert_comes_once_in_order(
            inicio in instante(), o in objetivo(), a in avisos(),
            pasos in proptest::collection::vec(0i64..20 * 3600, 1..12)
        ) {
            // Scans at arbitrary times, applying what each found, yield exactly the
            // alerts one scan at the last time would: each once, in order of severity.
            let c = oficina();
            let mut p = plazo(inicio, o);
            let mut vistas = Vec::new();
            let mut ahora = inicio;
            for paso in pasos {
                ahora += TimeDelta::seconds(paso);
                for u in p.debidas(&a, &c, ahora) {
                    p.progreso = p.progreso.tras(u);
                    vistas.push(u);
                }
                prop_assert!(p.debidas(&a, &c, ahora).is_empty(), "nothing left due at the same instant");
            }
            let una_vez = plazo(inicio, o).debidas(&a, &c, ahora);
            prop_assert_eq!(vistas, una_vez);
        }
    }
}
