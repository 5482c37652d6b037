//! `/metrics` in the format its `Content-Type` names (contract §7, v1.2):
//! OpenMetrics 1.0 to a scraper that asks for it (Prometheus does, in its
//! `Accept`), else the classic text format 0.0.4 that `promtool check
//! metrics` and older scrapers read. The registry encodes OpenMetrics; the
//! classic text is derived from it line by line.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashSet;

/// `Content-Type` of OpenMetrics 1.0.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the classic text format.
pub const TEXTO: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The two formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formato {
    /// OpenMetrics 1.0 (`# EOF`, counter families named without `_total`).
    OpenMetrics,
    /// Prometheus text 0.0.4.
    Texto,
}

impl Formato {
    /// The format an `Accept` header asks for, as Prometheus negotiates:
    /// OpenMetrics when it is accepted (q > 0) at least as much as
    /// `text/plain`; otherwise, with no `Accept` at all, or `*/*` alone,
    /// the classic text.
    pub fn negociar(accept: Option<&str>) -> Formato {
        let Some(accept) = accept else { return Formato::Texto };
        let (mut om, mut texto) = (0.0_f32, 0.0_f32);
        for rango in accept.split(',') {
            let mut partes = rango.split(';');
            let tipo = partes.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = partes
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)))
                .unwrap_or(0.0);
            match tipo.as_str() {
                "application/openmetrics-text" => om = om.max(q),
                "text/plain" => texto = texto.max(q),
                _ => {}
            }
        }
        if om > 0.0 && om >= texto { Formato::OpenMetrics } else { Formato::Texto }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Formato::OpenMetrics => OPENMETRICS,
            Formato::Texto => TEXTO,
        }
    }
}

/// The `/metrics` response for a request's headers, from the registry's
/// OpenMetrics text.
pub fn responder(cabeceras: &HeaderMap, openmetrics: String) -> Response {
    let accept = cabeceras.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let formato = Formato::negociar(accept);
    let cuerpo = match formato {
        Formato::OpenMetrics => openmetrics,
        Formato::Texto => texto_clasico(&openmetrics),
    };
    ([(header::CONTENT_TYPE, HeaderValue::from_static(formato.content_type()))], cuerpo).into_response()
}

/// OpenMetrics text as the classic format 0.0.4: a counter family's `HELP`
/// and `TYPE` name its `_total` samples, `unknown` is `untyped`, `info` a
/// gauge of `_info`; `UNIT`, `EOF`, `_created` samples and exemplars go.
pub fn texto_clasico(openmetrics: &str) -> String {
    let mut contadores = HashSet::new();
    let mut infos = HashSet::new();
    for linea in openmetrics.lines() {
        if let Some(resto) = linea.strip_prefix("# TYPE ")
            && let Some((nombre, tipo)) = resto.split_once(' ')
        {
            match tipo.trim() {
                "counter" => contadores.insert(nombre),
                "info" => infos.insert(nombre),
                _ => false,
            };
        }
    }
    let mut salida = String::with_capacity(openmetrics.len() + 16 * contadores.len());
    for linea in openmetrics.lines() {
        if linea == "# EOF" || linea.starts_with("# UNIT ") {
            continue;
        }
        if let Some(resto) = linea.strip_prefix("# HELP ") {
            let (nombre, texto) = resto.split_once(' ').unwrap_or((resto, ""));
            // 0.0.4 escapes only `\` and line feeds in HELP.
            let texto = texto.replace("\\\"", "\"");
            salida.push_str(&format!("# HELP {} {texto}\n", nombre_clasico(nombre, &contadores, &infos)));
            continue;
        }
        if let Some(resto) = linea.strip_prefix("# TYPE ") {
            let (nombre, tipo) = resto.split_once(' ').unwrap_or((resto, "unknown"));
            let tipo = match tipo.trim() {
                t @ ("counter" | "gauge" | "histogram" | "summary") => t,
                "info" => "gauge",
                _ => "untyped",
            };
            salida.push_str(&format!("# TYPE {} {tipo}\n", nombre_clasico(nombre, &contadores, &infos)));
            continue;
        }
        if linea.starts_with('#') || linea.is_empty() {
            continue;
        }
        let nombre = linea.split(['{', ' ']).next().unwrap_or_default();
        if nombre.strip_suffix("_created").is_some_and(|familia| contadores.contains(familia)) {
            continue;
        }
        // An exemplar follows the value after ` # `.
        let muestra = linea.split_once(" # ").map_or(linea, |(m, _)| m);
        salida.push_str(muestra);
        salida.push('\n');
    }
    salida
}

/// The classic name of a family's metadata lines.
fn nombre_clasico(nombre: &str, contadores: &HashSet<&str>, infos: &HashSet<&str>) -> String {
    if contadores.contains(nombre) {
        format!("{nombre}_total")
    } else if infos.contains(nombre) {
        format!("{nombre}_info")
    } else {
        nombre.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

    #[test]
    fn prometheus_gets_openmetrics_and_everyone_else_the_classic_text() {
        assert_eq!(Formato::negociar(Some(PROMETHEUS)), Formato::OpenMetrics);
        assert_eq!(Formato::negociar(Some("application/openmetrics-text")), Formato::OpenMetrics);
        for otro in [
            None,
            Some("*/*"),
            Some("text/plain"),
            Some("text/plain;version=0.0.4"),
            Some("application/openmetrics-text;q=0"),
            Some("application/openmetrics-text;q=0.2, text/plain;q=0.9"),
            Some("application/openmetrics-text;q=nada"),
            Some("application/json"),
            Some(""),
        ] {
            assert_eq!(Formato::negociar(otro), Formato::Texto, "{otro:?}");
        }
    }

    #[test]
    fn counters_are_named_by_their_samples_and_openmetrics_only_lines_go() {
        let om = "# HELP mesa_comandos Commands handled.\n# TYPE mesa_comandos counter\n\
                  mesa_comandos_total{operacion=\"crear\",resultado=\"ok\"} 3\n\
                  mesa_comandos_created{operacion=\"crear\",resultado=\"ok\"} 1.7e9\n\
                  # HELP mesa_duracion_segundos Seconds.\n# TYPE mesa_duracion_segundos histogram\n# UNIT mesa_duracion_segundos seconds\n\
                  mesa_duracion_segundos_bucket{le=\"+Inf\"} 3 # {trace_id=\"a\"} 0.1\n\
                  mesa_duracion_segundos_sum 0.3\nmesa_duracion_segundos_count 3\n\
                  # HELP mesa_x Says \\\"hi\\\".\n# TYPE mesa_x unknown\nmesa_x 1\n# EOF\n";
        let texto = texto_clasico(om);
        assert_eq!(
            texto,
            "# HELP mesa_comandos_total Commands handled.\n# TYPE mesa_comandos_total counter\n\
             mesa_comandos_total{operacion=\"crear\",resultado=\"ok\"} 3\n\
             # HELP mesa_duracion_segundos Seconds.\n# TYPE mesa_duracion_segundos histogram\n\
             mesa_duracion_segundos_bucket{le=\"+Inf\"} 3\n\
             mesa_duracion_segundos_sum 0.3\nmesa_duracion_segundos_count 3\n\
             # HELP mesa_x Says \"hi\".\n# TYPE mesa_x untyped\nmesa_x 1\n"
        );
    }
}
