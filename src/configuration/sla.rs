//! `[sla]` compiled into the domain's `ReglasSla`: targets, thresholds,
//! calendars and policies, every problem at once.

use super::*;
use crate::domain::conversacion::Espera;
use crate::domain::sla::PausasQueDetienen;

impl Settings {
    /// The SLA policy, with every target parsed (`4h`, `90m`, `20s`); every
    /// problem at once. Called once, by `Config`'s compilation.
    pub(super) fn reglas_sla(&self) -> Result<ReglasSla, ErrorConfiguracion> {
        let mut problemas = Vec::new();
        let mut problema = |clave: String, mensaje: String| problemas.push(Problema { clave, mensaje, fuente: None });
        let mut prioridades = Vec::new();
        for (nombre, texto) in &self.sla.prioridades {
            match objetivo(texto) {
                Ok(o) => prioridades.push(Prioridad { nombre: nombre.clone(), objetivo: o }),
                Err(e) => problema(format!("sla.prioridades.{nombre}"), e),
            }
        }
        if self.sla.prioridades.is_empty() {
            problema("sla.prioridades".into(), "no puede estar vacío".into());
        }
        for (nombre, texto) in &self.sla.primera_respuesta {
            if let Err(e) = objetivo(texto) {
                problema(format!("sla.primera_respuesta.{nombre}"), e);
            }
            if !self.sla.prioridades.contains_key(nombre) {
                problema(format!("sla.primera_respuesta.{nombre}"), "prioridad desconocida".into());
            }
        }
        if !(1..=99).contains(&self.sla.aviso_porcentaje) {
            problema("sla.aviso_porcentaje".into(), "un porcentaje entre 1 y 99".into());
        }
        if let Some(avisos) = &self.sla.avisos
            && (avisos.is_empty() || avisos.iter().any(|a| !(1..=99).contains(a)))
        {
            problema("sla.avisos".into(), "porcentajes entre 1 y 99, al menos uno".into());
        }
        let calendario = match &self.sla.calendario {
            Some(c) => match c.calendario() {
                Ok(c) => Some(c),
                Err(e) => {
                    problema("sla.calendario".into(), e);
                    None
                }
            },
            None => None,
        };
        let mut calendarios = BTreeMap::new();
        for (nombre, c) in &self.sla.calendarios {
            match c.calendario() {
                Ok(c) => {
                    calendarios.insert(nombre.clone(), c);
                }
                Err(e) => problema(format!("sla.calendarios.{nombre}"), e),
            }
        }
        let avisos = match &self.sla.avisos {
            Some(lista) => Avisos::new(lista.iter().copied()),
            None => Avisos::new([self.sla.aviso_porcentaje]),
        };
        let mut politicas = Vec::new();
        for (i, p) in self.sla.politicas.iter().enumerate() {
            let contexto = PoliticaEnConfig { indice: i, settings: &self.sla, avisos: avisos.as_ref() };
            match contexto.politica(p) {
                Ok(politica) => politicas.push(politica),
                Err(lista) => lista.into_iter().for_each(|(clave, mensaje)| problema(clave, mensaje)),
            }
        }
        let pausas = match &self.sla.pausa_detiene_reloj {
            PausaDetieneRelojSettings::Siempre(true) => PausasQueDetienen::Todas,
            PausaDetieneRelojSettings::Siempre(false) => PausasQueDetienen::Ninguna,
            PausaDetieneRelojSettings::Esperas(nombres) => {
                let mut esperas = Vec::new();
                for (i, nombre) in nombres.iter().enumerate() {
                    match Espera::parse(nombre.trim()) {
                        Some(e) if !esperas.contains(&e) => esperas.push(e),
                        Some(_) => {}
                        None => problema(
                            format!("sla.pausa_detiene_reloj[{i}]"),
                            format!("{:?}: se espera SOLICITANTE, TERCERO u OTRO", recortar(nombre)),
                        ),
                    }
                }
                PausasQueDetienen::Esperas(esperas)
            }
        };
        if !problemas.is_empty() {
            return Err(ErrorConfiguracion(problemas));
        }
        let mut reglas = ReglasSla::new(prioridades, self.sla.aviso_porcentaje, true)
            .con_pausas_que_detienen(pausas)
            .con_primera_respuesta(
                self.sla.primera_respuesta.iter().filter_map(|(n, t)| objetivo(t).ok().map(|o| (n.clone(), o))),
            )
            .con_politicas(calendarios, politicas)
            .con_fin_de_primera_respuesta(self.sla.primera_respuesta_termina);
        if let Some(avisos) = avisos {
            reglas = reglas.con_avisos(avisos);
        }
        Ok(match calendario {
            Some(c) => reglas.con_calendario(c),
            None => reglas,
        })
    }
}

impl CalendarioSettings {
    /// The calendar these settings describe, or what is wrong with them.
    pub fn calendario(&self) -> Result<Calendario, String> {
        let zona: chrono_tz::Tz = self.zona.parse().map_err(|_| format!("zona horaria desconocida {:?}", self.zona))?;
        let mut ventanas: [Vec<_>; 7] = Default::default();
        for (dia, lista) in &self.horario {
            let d = dia_de_semana(dia).ok_or_else(|| format!("horario: día desconocido {dia:?}"))?;
            for v in lista {
                ventanas[d.num_days_from_monday() as usize]
                    .push(parse_ventana(v).map_err(|e| format!("horario.{dia}: {e}"))?);
            }
        }
        let mut feriados = Vec::new();
        for f in &self.feriados {
            feriados.push(
                chrono::NaiveDate::parse_from_str(f, "%Y-%m-%d")
                    .map_err(|e| format!("feriados: fecha inválida {f:?}: {e}"))?,
            );
        }
        let laboral = CalendarioLaboral::new(zona, ventanas, feriados)?;
        Ok(Calendario::Laboral(laboral))
    }
}

/// Reads one `[[sla.politicas]]` entry against the rest of `[sla]`.
struct PoliticaEnConfig<'a> {
    indice: usize,
    settings: &'a SlaSettings,
    /// The default thresholds (none when they are themselves invalid).
    avisos: Option<&'a Avisos>,
}

impl PoliticaEnConfig<'_> {
    /// The policy, or every problem with it; each key names the policy.
    fn politica(&self, p: &PoliticaSettings) -> Result<Politica, Vec<(String, String)>> {
        let mut problemas = Vec::new();
        let nombre = p.nombre.trim();
        let clave = |campo: &str| format!("sla.politicas[{}] ({:?}).{campo}", self.indice, recortar(nombre));
        let mut mal = |campo: &str, mensaje: String| problemas.push((clave(campo), mensaje));
        if nombre.is_empty() || nombre.chars().count() > 100 || !crate::domain::texto::es_imprimible(nombre) {
            mal("nombre", "entre 1 y 100 caracteres imprimibles".into());
        }
        if self.settings.politicas[..self.indice].iter().any(|q| q.nombre.trim() == nombre) {
            mal("nombre", "repetido: cada política necesita un nombre propio".into());
        }
        for valor in p.tipos.iter().flatten() {
            if !TIPOS.iter().any(|t| t.eq_ignore_ascii_case(valor.trim())) {
                mal("tipos", format!("tipo desconocido: {:?}", recortar(valor)));
            }
        }
        for valor in p.prioridades.iter().flatten() {
            if !self.settings.prioridades.keys().any(|k| k.eq_ignore_ascii_case(valor.trim())) {
                mal("prioridades", format!("prioridad desconocida: {:?}", recortar(valor)));
            }
        }
        for (campo, lista) in
            [("tipos", &p.tipos), ("prioridades", &p.prioridades), ("areas", &p.areas), ("categorias", &p.categorias)]
        {
            if lista.as_ref().is_some_and(|l| l.is_empty()) {
                mal(campo, "una lista vacía no se cumple nunca: quítela o nombre al menos uno".into());
            }
        }
        let resolucion = objetivo(&p.resolucion).map_err(|e| mal("resolucion", e)).ok();
        let primera_respuesta = match &p.primera_respuesta {
            Some(t) => objetivo(t).map_err(|e| mal("primera_respuesta", e)).ok(),
            None => None,
        };
        let avisos = match &p.avisos {
            Some(lista) => {
                let a = Avisos::new(lista.iter().copied());
                if a.is_none() {
                    mal("avisos", "porcentajes entre 1 y 99, al menos uno".into());
                }
                a
            }
            None => None,
        };
        let calendario = match &p.calendario {
            Some(c) => {
                let encontrado = self.settings.calendarios.keys().find(|k| k.eq_ignore_ascii_case(c.trim())).cloned();
                if encontrado.is_none() {
                    mal(
                        "calendario",
                        format!("calendario desconocido {:?} (defínalo en [sla.calendarios])", recortar(c)),
                    );
                }
                encontrado
            }
            None => None,
        };
        let mut escalado = Vec::new();
        for (j, paso) in p.escalado.iter().enumerate() {
            let campo = format!("escalado[{j}]");
            let Some(meta) = Meta::parse(&paso.meta) else {
                mal(&campo, format!("meta desconocida {:?}: RESOLUCION o PRIMERA_RESPUESTA", recortar(&paso.meta)));
                continue;
            };
            if meta == Meta::PrimeraRespuesta && primera_respuesta.is_none() && p.primera_respuesta.is_none() {
                mal(&campo, "la política no tiene primera_respuesta: este paso no se aplicaría nunca".into());
            }
            let umbrales = avisos.as_ref().or(self.avisos);
            let en = match &paso.en {
                EnSettings::Texto(t) if t.trim().eq_ignore_ascii_case("VENCIDO") => Some(Umbral::Vencido),
                EnSettings::Umbral(n) => {
                    let u = u8::try_from(*n).ok().map(Umbral::Aviso);
                    match u {
                        Some(Umbral::Aviso(p)) if umbrales.is_none_or(|a| a.porcentajes().contains(&p)) => u,
                        _ => {
                            mal(&campo, format!("en = {n}: no es un umbral de los avisos de la política"));
                            None
                        }
                    }
                }
                EnSettings::Texto(t) => {
                    mal(&campo, format!("en = {:?}: \"VENCIDO\" o un umbral de avisos", recortar(t)));
                    None
                }
            };
            let area = paso.area.as_deref().map(str::trim).filter(|a| !a.is_empty());
            if let Some(a) = area
                && (a.chars().count() < 2 || a.chars().count() > 100 || !crate::domain::texto::es_imprimible(a))
            {
                mal(&campo, "area: entre 2 y 100 caracteres imprimibles".into());
            }
            let prioridad = match paso.prioridad.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
                Some(n) => match self.settings.prioridades.keys().find(|k| k.eq_ignore_ascii_case(n)) {
                    Some(k) => Some(k.clone()),
                    None => {
                        mal(&campo, format!("prioridad desconocida {:?}", recortar(n)));
                        None
                    }
                },
                None => None,
            };
            if area.is_none() && paso.prioridad.as_deref().is_none_or(|p| p.trim().is_empty()) {
                mal(&campo, "no cambia nada: nombre area, prioridad o ambas".into());
            }
            if let Some(en) = en {
                escalado.push(PasoEscalado { meta, en, area: area.map(str::to_string), prioridad });
            }
        }
        let lista = |l: &Option<Vec<String>>| l.as_ref().map(|v| v.iter().map(|x| x.trim().to_string()).collect());
        match (problemas.is_empty(), resolucion) {
            (true, Some(resolucion)) => Ok(Politica {
                nombre: nombre.to_string(),
                condiciones: Condiciones {
                    tipos: lista(&p.tipos),
                    prioridades: lista(&p.prioridades),
                    areas: lista(&p.areas),
                    categorias: lista(&p.categorias),
                },
                resolucion,
                primera_respuesta,
                avisos,
                calendario,
                escalado,
            }),
            _ => Err(problemas),
        }
    }
}

/// An SLA target: a duration above zero and at most [`SLA_OBJETIVO_MAX`].
fn objetivo(texto: &str) -> Result<chrono::TimeDelta, String> {
    let d = humantime::parse_duration(texto).map_err(|e| format!("duración inválida {:?}: {e}", recortar(texto)))?;
    if d.is_zero() || d > SLA_OBJETIVO_MAX {
        return Err(format!("{:?}: debe ser mayor que cero y de 366 días como mucho", recortar(texto)));
    }
    chrono::TimeDelta::from_std(d).map_err(|e| e.to_string())
}
