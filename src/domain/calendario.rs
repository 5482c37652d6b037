//! The SLA clock: either 24x7 or working hours (time zone, windows per
//! weekday, holidays). Pure arithmetic over instants; no clock inside.

use chrono::{DateTime, Datelike, Days, LocalResult, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use std::collections::BTreeSet;

/// How far ahead the working clock looks for time to count before giving up
/// (a calendar with almost no working time left would otherwise loop).
const HORIZONTE_DIAS: u32 = 3 * 366;

/// The clock SLA targets are counted on.
#[derive(Debug, Clone, PartialEq)]
pub enum Calendario {
    /// Every instant counts.
    Continuo,
    /// Only working hours count.
    Laboral(CalendarioLaboral),
}

/// Working windows per weekday in a time zone, minus holidays.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarioLaboral {
    zona: Tz,
    /// Indexed by `Weekday::num_days_from_monday`; windows sorted, disjoint.
    ventanas: [Vec<(NaiveTime, NaiveTime)>; 7],
    feriados: BTreeSet<NaiveDate>,
}

impl CalendarioLaboral {
    /// `ventanas[d]` are `(inicio, fin)` pairs for weekday `d` (Monday = 0).
    pub fn new(
        zona: Tz,
        ventanas: [Vec<(NaiveTime, NaiveTime)>; 7],
        feriados: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Self, String> {
        let mut ventanas = ventanas;
        for (d, dia) in ventanas.iter_mut().enumerate() {
            dia.sort();
            for (inicio, fin) in dia.iter() {
                if inicio >= fin {
                    return Err(format!("día {d}: la ventana {inicio}-{fin} no avanza"));
                }
            }
            if dia.windows(2).any(|w| w[0].1 > w[1].0) {
                return Err(format!("día {d}: ventanas superpuestas"));
            }
        }
        if ventanas.iter().all(Vec::is_empty) {
            return Err("el calendario no tiene ninguna ventana laboral".into());
        }
        Ok(Self { zona, ventanas, feriados: feriados.into_iter().collect() })
    }

    /// A local wall time as an instant. In a DST gap the wall time does not
    /// exist: the window starts when the clock resumes. In a fold, the first.
    fn instante(&self, fecha: NaiveDate, hora: NaiveTime) -> DateTime<Utc> {
        let mut local = fecha.and_time(hora);
        for _ in 0..4 {
            match self.zona.from_local_datetime(&local) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.to_utc(),
                LocalResult::None => local += TimeDelta::minutes(30),
            }
        }
        self.zona.from_utc_datetime(&local).to_utc()
    }

    /// Working intervals of one local date, as instants.
    fn intervalos(&self, fecha: NaiveDate) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        let festivo = self.feriados.contains(&fecha);
        let dia = &self.ventanas[fecha.weekday().num_days_from_monday() as usize];
        dia.iter()
            .filter(move |_| !festivo)
            .map(move |(i, f)| (self.instante(fecha, *i), self.instante(fecha, *f)))
            .filter(|(i, f)| i < f)
    }

    fn fecha_local(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.zona).date_naive()
    }
}

impl Calendario {
    /// The instant when `duracion` of working time has elapsed after `desde`.
    pub fn sumar(&self, desde: DateTime<Utc>, duracion: TimeDelta) -> DateTime<Utc> {
        let Calendario::Laboral(c) = self else { return desde + duracion };
        let mut resto = duracion.max(TimeDelta::zero());
        // Start a day early: a window of yesterday's local date may still be open.
        let primera = c.fecha_local(desde) - Days::new(1);
        let mut ultimo_fin = desde;
        for n in 0..HORIZONTE_DIAS {
            let fecha = primera + Days::new(u64::from(n));
            for (inicio, fin) in c.intervalos(fecha) {
                if fin <= desde {
                    continue;
                }
                let inicio = inicio.max(desde);
                if resto <= fin - inicio {
                    return inicio + resto;
                }
                resto -= fin - inicio;
                ultimo_fin = fin;
            }
        }
        // Unreachable with any real calendar; stay monotone rather than panic.
        ultimo_fin + resto
    }

    /// Working time in `[desde, hasta)`.
    pub fn entre(&self, desde: DateTime<Utc>, hasta: DateTime<Utc>) -> TimeDelta {
        if hasta <= desde {
            return TimeDelta::zero();
        }
        let Calendario::Laboral(c) = self else { return hasta - desde };
        let mut total = TimeDelta::zero();
        let mut fecha = c.fecha_local(desde) - Days::new(1);
        let ultima = c.fecha_local(hasta) + Days::new(1);
        while fecha <= ultima {
            for (inicio, fin) in c.intervalos(fecha) {
                let (i, f) = (inicio.max(desde), fin.min(hasta));
                if i < f {
                    total += f - i;
                }
            }
            fecha = fecha + Days::new(1);
        }
        total
    }
}

/// Parses `"08:00-12:00"`.
pub fn parse_ventana(s: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let (i, f) = s.split_once('-').ok_or_else(|| format!("ventana inválida {s:?}: use HH:MM-HH:MM"))?;
    let hora = |h: &str| {
        let h = h.trim();
        if h == "24:00" {
            // End of day: the last representable instant before midnight.
            return Ok(NaiveTime::from_hms_nano_opt(23, 59, 59, 999_999_999).expect("valid"));
        }
        NaiveTime::parse_from_str(h, "%H:%M").map_err(|e| format!("hora inválida {h:?}: {e}"))
    };
    Ok((hora(i)?, hora(f)?))
}

/// The weekday a Spanish day name (`lunes` … `domingo`, any case) names.
pub fn dia_de_semana(nombre: &str) -> Option<Weekday> {
    Some(match nombre.to_lowercase().as_str() {
        "lunes" => Weekday::Mon,
        "martes" => Weekday::Tue,
        "miercoles" | "miércoles" => Weekday::Wed,
        "jueves" => Weekday::Thu,
        "viernes" => Weekday::Fri,
        "sabado" | "sábado" => Weekday::Sat,
        "domingo" => Weekday::Sun,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(hh: u32, mm: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(hh, mm, 0).unwrap()
    }

    /// Mon–Fri 08:00–12:00 and 14:00–18:00 in Bogotá (UTC-5, no DST), Christmas off.
    fn bogota() -> Calendario {
        let laborable = vec![(h(8, 0), h(12, 0)), (h(14, 0), h(18, 0))];
        let mut v: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for d in v.iter_mut().take(5) {
            *d = laborable.clone();
        }
        let navidad = NaiveDate::from_ymd_opt(2026, 12, 25).unwrap();
        Calendario::Laboral(CalendarioLaboral::new(chrono_tz::America::Bogota, v, [navidad]).unwrap())
    }

    /// Mon–Fri 09:00–17:00 in Madrid (DST).
    fn madrid() -> Calendario {
        let mut v: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for d in v.iter_mut().take(5) {
            *d = vec![(h(9, 0), h(17, 0))];
        }
        Calendario::Laboral(CalendarioLaboral::new(chrono_tz::Europe::Madrid, v, []).unwrap())
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn continuous_clock_is_plain_addition() {
        let t = utc("2026-03-24T10:15:00Z");
        assert_eq!(Calendario::Continuo.sumar(t, TimeDelta::hours(4)), utc("2026-03-24T14:15:00Z"));
        assert_eq!(Calendario::Continuo.entre(t, t + TimeDelta::hours(3)), TimeDelta::hours(3));
    }

    #[test]
    fn lunch_break_and_evening_are_skipped() {
        // Tuesday 10:15 Bogotá (15:15Z) + 4h: 1h45 before lunch, 2h15 after → 16:15 local.
        let c = bogota();
        assert_eq!(c.sumar(utc("2026-03-24T15:15:00Z"), TimeDelta::hours(4)), utc("2026-03-24T21:15:00Z"));
        // Created after hours: the clock starts next morning.
        assert_eq!(c.sumar(utc("2026-03-24T23:30:00Z"), TimeDelta::hours(1)), utc("2026-03-25T14:00:00Z"));
    }

    #[test]
    fn weekends_are_skipped() {
        // Friday 17:00 Bogotá + 2h → Monday 09:00.
        let c = bogota();
        assert_eq!(c.sumar(utc("2026-03-27T22:00:00Z"), TimeDelta::hours(2)), utc("2026-03-30T14:00:00Z"));
        assert_eq!(c.entre(utc("2026-03-27T22:00:00Z"), utc("2026-03-30T14:00:00Z")), TimeDelta::hours(2));
    }

    #[test]
    fn holidays_are_skipped() {
        // Thursday 24 Dec 17:00 + 2h: one hour that day; Friday 25 is Christmas,
        // then the weekend → Monday 28 at 08:00–09:00.
        let c = bogota();
        assert_eq!(c.sumar(utc("2026-12-24T22:00:00Z"), TimeDelta::hours(2)), utc("2026-12-28T14:00:00Z"));
    }

    #[test]
    fn dst_change_keeps_local_working_hours() {
        // Madrid moves to summer time on Sunday 29 March 2026. Friday 16:00 CET
        // (15:00Z) + 2h → 1h on Friday, 1h on Monday 09:00–10:00 CEST = 08:00Z.
        let c = madrid();
        assert_eq!(c.sumar(utc("2026-03-27T15:00:00Z"), TimeDelta::hours(2)), utc("2026-03-30T08:00:00Z"));
        // A full working week across the change is still 40 hours.
        assert_eq!(c.entre(utc("2026-03-23T00:00:00Z"), utc("2026-04-04T00:00:00Z")), TimeDelta::hours(80));
    }

    #[test]
    fn windows_are_validated() {
        let mut v: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        assert!(CalendarioLaboral::new(chrono_tz::UTC, v.clone(), []).is_err());
        v[0] = vec![(h(9, 0), h(8, 0))];
        assert!(CalendarioLaboral::new(chrono_tz::UTC, v.clone(), []).is_err());
        v[0] = vec![(h(8, 0), h(12, 0)), (h(11, 0), h(13, 0))];
        assert!(CalendarioLaboral::new(chrono_tz::UTC, v, []).is_err());
        assert_eq!(parse_ventana("08:00-12:30").unwrap(), (h(8, 0), h(12, 30)));
        assert!(parse_ventana("8-12").is_err());
        assert_eq!(dia_de_semana("Miércoles"), Some(Weekday::Wed));
    }

    fn instante() -> impl Strategy<Value = DateTime<Utc>> {
        // 2025–2028, covering DST changes and year ends.
        (1_735_689_600i64..1_830_297_600i64).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    fn duracion() -> impl Strategy<Value = TimeDelta> {
        (0i64..400 * 3600).prop_map(TimeDelta::seconds)
    }

    proptest! {
        #[test]
        fn deadline_never_before_creation(t in instante(), d in duracion()) {
            for c in [Calendario::Continuo, bogota(), madrid()] {
                prop_assert!(c.sumar(t, d) >= t);
            }
        }

        #[test]
        fn deadline_is_monotone_in_the_target(t in instante(), a in duracion(), b in duracion()) {
            let (corto, largo) = if a <= b { (a, b) } else { (b, a) };
            for c in [bogota(), madrid()] {
                prop_assert!(c.sumar(t, corto) <= c.sumar(t, largo));
            }
        }

        #[test]
        fn working_time_added_is_working_time_counted(t in instante(), d in duracion()) {
            for c in [bogota(), madrid()] {
                prop_assert_eq!(c.entre(t, c.sumar(t, d)), d);
            }
        }

        #[test]
        fn pausing_never_shortens_the_deadline(t in instante(), d in duracion(), inicio in 0i64..100 * 3600, largo in 0i64..200 * 3600) {
            // A pause from p to q adds the working time inside it to the target.
            for c in [bogota(), madrid()] {
                let p = t + TimeDelta::seconds(inicio);
                let q = p + TimeDelta::seconds(largo);
                prop_assert!(c.sumar(t, d + c.entre(p, q)) >= c.sumar(t, d));
            }
        }
    }
}
