//! `[gateway]` settings: their checks (part of `Settings::problemas`) and
//! the parsed forms the gateway runs with.

use crate::configuration::GatewaySettings;
use axum::http::HeaderValue;
use ipnet::IpNet;
use std::net::IpAddr;
use std::time::Duration;

/// Longest accepted reply timeout.
const TIMEOUT_MAX: Duration = Duration::from_secs(300);
/// Highest accepted `limite_publico` (requests per minute).
const LIMITE_PUBLICO_MAX: u32 = 1_000_000;

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
        for (i, cidr) in self.proxies_confiables.iter().enumerate() {
            if red(cidr).is_none() {
                p.push((
                    format!("gateway.proxies_confiables[{i}]"),
                    format!("{:?}: se espera un CIDR (10.0.0.0/8) o una dirección IP", recortar(cidr)),
                ));
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

    /// The trusted proxies' networks (validated: none is dropped).
    pub fn redes_confiables(&self) -> Vec<IpNet> {
        self.proxies_confiables.iter().filter_map(|c| red(c)).collect()
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
            ..ajustes()
        };
        let claves: Vec<String> = malos.problemas().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            claves,
            [
                "gateway.host",
                "gateway.timeout",
                "gateway.limite_publico",
                "gateway.proxies_confiables[1]",
                "gateway.proxies_confiables[2]",
                "gateway.cors_origenes[2]",
                "gateway.cors_origenes[3]",
            ]
        );
    }

    #[test]
    fn a_bare_address_is_a_single_host_network() {
        assert_eq!(red("192.168.1.7"), Some("192.168.1.7/32".parse().unwrap()));
        assert_eq!(red("::1"), Some("::1/128".parse().unwrap()));
        assert_eq!(red("10.1.0.0/16").unwrap().to_string(), "10.1.0.0/16");
    }
}
