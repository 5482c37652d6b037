//! `[gateway]` settings: their checks (part of `Settings::problemas`) and
//! the parsed forms the gateway runs with (compiled once into `Config`).

use crate::configuration::GatewaySettings;
use crate::servidor::{LimitesHttp, MIN_CABECERAS};
use axum::http::HeaderValue;
use ipnet::IpNet;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

/// Longest accepted reply timeout.
const TIMEOUT_MAX: Duration = Duration::from_secs(300);
/// Highest accepted `limite_publico` (requests per minute).
const LIMITE_PUBLICO_MAX: u32 = 1_000_000;
/// Largest accepted `max_cabeceras_bytes`: well inside a broker frame, and
/// a bound on what one connection's head may cost.
const MAX_CABECERAS_MAX: usize = 1024 * 1024;
/// Longest accepted head, body and idle deadlines.
const TIEMPO_MAX: Duration = Duration::from_secs(3600);

/// A CIDR or a bare address (a /32 or /128).
pub(crate) fn red(texto: &str) -> Option<IpNet> {
    let t = texto.trim();
    t.parse::<IpNet>().ok().or_else(|| t.parse::<IpAddr>().ok().map(IpNet::from))
}

/// `*`, or an origin as browsers send it: `http(s)://host[:port]`, no path.
fn origen_valido(texto: &str) -> bool {
    if texto == "*" {
        return true;
    }
    let Some(resto) = texto.strip_prefix("https://").or_else(|| texto.strip_prefix("http://")) else {
        return false;
    };
    !resto.is_empty() && !resto.contains(['/', '?', '#', ' ']) && HeaderValue::from_str(texto).is_ok()
}

impl GatewaySettings {
    /// Every problem of the section, as (dotted key, message).
    pub(crate) fn problemas(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        if self.host.trim().is_empty() {
            p.push(("gateway.host".into(), "no puede estar vacío".into()));
        }
        if self.timeout.is_zero() || self.timeout > TIMEOUT_MAX {
            p.push(("gateway.timeout".into(), "mayor que cero y de 5 minutos como mucho".into()));
        }
        if self.limite_publico > LIMITE_PUBLICO_MAX {
            p.push(("gateway.limite_publico".into(), "entre 0 (sin límite) y 1000000 por minuto".into()));
        }
        if !(MIN_CABECERAS..=MAX_CABECERAS_MAX).contains(&self.max_cabeceras_bytes) {
            p.push((
                "gateway.max_cabeceras_bytes".into(),
                format!("entre {MIN_CABECERAS} y {MAX_CABECERAS_MAX} bytes"),
            ));
        }
        for (clave, tiempo) in [
            ("gateway.tiempo_cabeceras", self.tiempo_cabeceras),
            ("gateway.tiempo_cuerpo", self.tiempo_cuerpo),
            ("gateway.tiempo_inactivo", self.tiempo_inactivo),
        ] {
            if tiempo.is_zero() || tiempo > TIEMPO_MAX {
                p.push((clave.into(), "mayor que cero y de una hora como mucho".into()));
            }
        }
        for (i, origen) in self.cors_origenes.iter().enumerate() {
            if !origen_valido(origen) {
                p.push((
                    format!("gateway.cors_origenes[{i}]"),
                    format!("{:?}: se espera \"*\" o un origen http(s)://anfitrión[:puerto]", recortar(origen)),
                ));
            }
        }
        p
    }

    /// The connection limits the gateway's listener applies. hyper's own
    /// wall sits at twice the head limit: a head between the two gets the
    /// contract's 431 with its body, a larger one hyper's bare 431.
    pub fn limites_http(&self) -> LimitesHttp {
        LimitesHttp {
            max_cabeceras: NonZeroUsize::new(2 * self.max_cabeceras_bytes).unwrap_or(NonZeroUsize::MIN),
            tiempo_cabeceras: self.tiempo_cabeceras,
            tiempo_inactivo: self.tiempo_inactivo,
            max_conexiones: self.max_conexiones,
        }
    }

    /// The trusted proxies' networks, parsed once by `Config`; every entry
    /// that is not one is a problem, none is dropped.
    pub(crate) fn redes_confiables(&self) -> Result<Vec<IpNet>, Vec<(String, String)>> {
        let mut redes = Vec::new();
        let mut problemas = Vec::new();
        for (i, cidr) in self.proxies_confiables.iter().enumerate() {
            match red(cidr) {
                Some(r) => redes.push(r),
                None => problemas.push((
                    format!("gateway.proxies_confiables[{i}]"),
                    format!("{:?}: se espera un CIDR (10.0.0.0/8) o una dirección IP", recortar(cidr)),
                )),
            }
        }
        if problemas.is_empty() { Ok(redes) } else { Err(problemas) }
    }
}

/// A value as quoted in a problem: at most 40 characters.
fn recortar(texto: &str) -> String {
    texto.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ajustes() -> GatewaySettings {
        GatewaySettings {
            host: "0.0.0.0".into(),
            port: 8080,
            timeout: Duration::from_secs(10),
            limite_publico: 60,
            proxies_confiables: vec![],
            cors_origenes: vec![],
            max_cabeceras_bytes: 16 * 1024,
            tiempo_cabeceras: Duration::from_secs(10),
            tiempo_cuerpo: Duration::from_secs(10),
            tiempo_inactivo: Duration::from_secs(60),
            max_conexiones: NonZeroUsize::new(10_000).unwrap(),
        }
    }

    #[test]
    fn the_defaults_pass_and_each_bad_value_is_named() {
        assert!(ajustes().problemas().is_empty());
        let malos = GatewaySettings {
            host: " ".into(),
            timeout: Duration::ZERO,
            limite_publico: 2_000_000,
            proxies_confiables: vec!["10.0.0.0/8".into(), "10.0.0.0/33".into(), "proxy".into()],
            cors_origenes: vec![
                "*".into(),
                "https://a.example".into(),
                "https://a.example/x".into(),
                "a.example".into(),
            ],
            max_cabeceras_bytes: 4096,
            tiempo_cuerpo: Duration::ZERO,
            tiempo_inactivo: Duration::from_secs(7200),
            ..ajustes()
        };
        let claves: Vec<String> = malos.problemas().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            claves,
            [
                "gateway.host",
                "gateway.timeout",
                "gateway.limite_publico",
                "gateway.max_cabeceras_bytes",
                "gateway.tiempo_cuerpo",
                "gateway.tiempo_inactivo",
                "gateway.cors_origenes[2]",
                "gateway.cors_origenes[3]",
            ]
        );
        let claves: Vec<String> = malos.redes_confiables().unwrap_err().into_iter().map(|(k, _)| k).collect();
        assert_eq!(claves, ["gateway.proxies_confiables[1]", "gateway.proxies_confiables[2]"]);
        assert_eq!(ajustes().redes_confiables(), Ok(vec![]));
    }

    #[test]
    fn a_bare_address_is_a_single_host_network() {
        assert_eq!(red("192.168.1.7"), Some("192.168.1.7/32".parse().unwrap()));
        assert_eq!(red("::1"), Some("::1/128".parse().unwrap()));
        assert_eq!(red("10.1.0.0/16").unwrap().to_string(), "10.1.0.0/16");
    }
}
