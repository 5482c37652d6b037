//! SLA arithmetic: targets per priority, deadlines, and `slaEstado`.
//! Pure code: the current time is always passed in.

use super::calendario::Calendario;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// `slaEstado` values of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SlaEstado {
    EnTiempo,
    PorVencer,
    Vencido,
    Pausado,
    Cumplido,
    Incumplido,
}

impl SlaEstado {
    pub const TODOS: [SlaEstado; 6] = [
        SlaEstado::EnTiempo,
        SlaEstado::PorVencer,
        SlaEstado::Vencido,
        SlaEstado::Pausado,
        SlaEstado::Cumplido,
        SlaEstado::Incumplido,
    ];

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
    pub nombre: String,
    pub objetivo: TimeDelta,
}

/// An SLA alert level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NivelSla {
    PorVencer,
    Vencido,
}

impl NivelSla {
    pub fn as_str(self) -> &'static str {
        match self {
            NivelSla::PorVencer => "POR_VENCER",
            NivelSla::Vencido => "VENCIDO",
        }
    }

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

/// The SLA rules in force, built from configuration.
#[derive(Debug, Clone)]
pub struct PoliticaSla {
    /// Ordered from the shortest target to the longest.
    prioridades: Vec<Prioridad>,
    aviso_porcentaje: u32,
    pausa_detiene_reloj: bool,
    calendario: Calendario,
}

impl PoliticaSla {
    /// A 24x7 policy.
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
            aviso_porcentaje: aviso_porcentaje.min(100),
            pausa_detiene_reloj,
            calendario: Calendario::Continuo,
        }
    }

    /// Counts only the calendar's working time.
    pub fn con_calendario(self, calendario: Calendario) -> Self {
        Self { calendario, ..self }
    }

    pub fn calendario(&self) -> &Calendario {
        &self.calendario
    }

    pub fn prioridades(&self) -> &[Prioridad] {
        &self.prioridades
    }

    pub fn aviso_porcentaje(&self) -> u32 {
        self.aviso_porcentaje
    }

    pub fn pausa_detiene_reloj(&self) -> bool {
        self.pausa_detiene_reloj
    }

    /// Looks a priority up by name, case-insensitively.
    pub fn prioridad(&self, nombre: &str) -> Option<&Prioridad> {
        let nombre = nombre.trim();
        self.prioridades.iter().find(|p| p.nombre.eq_ignore_ascii_case(nombre))
    }

    /// Deadline: creation plus target plus the time the clock stood still,
    /// counted on the calendar.
    pub fn fecha_limite(
        &self,
        creado_en: DateTime<Utc>,
        objetivo: TimeDelta,
        pausa_acumulada: TimeDelta,
    ) -> DateTime<Utc> {
        self.calendario.sumar(creado_en, objetivo + pausa_acumulada)
    }

    /// When the warning window opens: `aviso` of working time before the deadline.
    pub fn fecha_aviso(
        &self,
        creado_en: DateTime<Utc>,
        objetivo: TimeDelta,
        pausa_acumulada: TimeDelta,
    ) -> DateTime<Utc> {
        self.calendario.sumar(creado_en, objetivo - self.aviso(objetivo) + pausa_acumulada)
    }

    /// How much a pause from `desde` to `hasta` adds to the clock's standstill:
    /// the working time inside it, or nothing when pauses do not stop the clock.
    pub fn pausa_computable(&self, desde: DateTime<Utc>, hasta: DateTime<Utc>) -> TimeDelta {
        if self.pausa_detiene_reloj { self.calendario.entre(desde, hasta) } else { TimeDelta::zero() }
    }

    /// The warning window: `aviso_porcentaje` % of the target.
    pub fn aviso(&self, objetivo: TimeDelta) -> TimeDelta {
        TimeDelta::milliseconds(objetivo.num_milliseconds() * i64::from(self.aviso_porcentaje) / 100)
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
    use chrono::TimeZone;

    fn politica(pausa: bool) -> PoliticaSla {
        PoliticaSla::new(prioridades_por_defecto(), 20, pausa)
    }

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 24, h, m, 0).unwrap()
    }

    #[test]
    fn ana_garcia_alta_gets_four_hours() {
        let p = politica(true);
        let alta = p.prioridad("alta").unwrap();
        assert_eq!(alta.nombre, "ALTA");
        assert_eq!(horas(alta.objetivo), 4.0);
        assert_eq!(p.fecha_limite(t(10, 15), alta.objetivo, TimeDelta::zero()), t(14, 15));
    }

    #[test]
    fn unknown_priority_is_none() {
        assert!(politica(true).prioridad("URGENTISIMA").is_none());
    }

    #[test]
    fn warning_window_is_twenty_percent_of_the_target() {
        let p = politica(true);
        let objetivo = TimeDelta::hours(4);
        let limite = p.fecha_limite(t(10, 0), objetivo, TimeDelta::zero());
        let aviso = p.fecha_aviso(t(10, 0), objetivo, TimeDelta::zero());
        assert_eq!((limite, aviso), (t(14, 0), t(13, 12)));
        assert_eq!(estado_en_curso(t(13, 11), limite, aviso), SlaEstado::EnTiempo);
        assert_eq!(estado_en_curso(t(13, 12), limite, aviso), SlaEstado::PorVencer);
        assert_eq!(estado_en_curso(t(14, 0), limite, aviso), SlaEstado::PorVencer);
        assert_eq!(estado_en_curso(t(14, 1), limite, aviso), SlaEstado::Vencido);
    }

    #[test]
    fn pausing_moves_the_deadline_only_when_the_clock_stops() {
        assert_eq!(politica(true).pausa_computable(t(10, 0), t(11, 30)), TimeDelta::minutes(90));
        assert_eq!(politica(false).pausa_computable(t(10, 0), t(11, 30)), TimeDelta::zero());
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
}
