//! The public routes' rate limit (contract §8): `limite_publico` requests
//! per minute per client address, in bursts of up to a sixth of it (a GCRA
//! limiter, `governor`), and the client address itself: the peer's, or —
//! only when the peer is a configured proxy — the right-most address of
//! `X-Forwarded-For` that is not one of those proxies.

use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;

/// The limiter of the public routes and the proxies it believes.
pub struct LimitePublico {
    /// `None` when the limit is off (`limite_publico = 0`).
    limitador: Option<DefaultKeyedRateLimiter<IpAddr>>,
    confiables: Vec<IpNet>,
}

impl LimitePublico {
    /// `por_minuto` requests per minute per address (0: no limit).
    pub fn new(por_minuto: u32, confiables: Vec<IpNet>) -> Self {
        let limitador = NonZeroU32::new(por_minuto).map(|n| {
            let rafaga = NonZeroU32::new(por_minuto / 6).unwrap_or(NonZeroU32::MIN);
            RateLimiter::keyed(Quota::per_minute(n).allow_burst(rafaga))
        });
        LimitePublico { limitador, confiables }
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy.
    pub fn cliente(&self, par: IpAddr, cabeceras: &HeaderMap) -> IpAddr {
        let mut cliente = normalizar(par);
        if !self.confiable(cliente) {
            return cliente;
        }
        // Every hop appends; walking from the right, each address is believed
        // only while the one after it (the hop that wrote it) is trusted.
        let saltos: Vec<&str> = cabeceras
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for salto in saltos.into_iter().rev() {
            if !self.confiable(cliente) {
                break;
            }
            match direccion(salto) {
                Some(ip) => cliente = ip,
                None => break,
            }
        }
        cliente
    }

    fn confiable(&self, ip: IpAddr) -> bool {
        self.confiables.iter().any(|red| red.contains(&ip))
    }

    /// `Ok` when `cliente` may make one more request, else the seconds to wait.
    pub fn comprobar(&self, cliente: IpAddr) -> Result<(), u64> {
        let Some(limitador) = &self.limitador else { return Ok(()) };
        limitador.check_key(&cliente).map_err(|no_antes| {
            let espera = no_antes.wait_time_from(DefaultClock::default().now());
            // Retry-After is whole seconds: round up, never 0.
            (espera.as_millis().div_ceil(1000) as u64).max(1)
        })
    }

    /// Forgets addresses whose allowance is full again (bounded memory).
    pub fn olvidar_antiguos(&self) {
        if let Some(l) = &self.limitador {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 one, so both spellings share a key.
fn normalizar(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, maybe with a port or brackets.
fn direccion(texto: &str) -> Option<IpAddr> {
    let t = texto.trim();
    t.parse::<IpAddr>()
        .ok()
        .or_else(|| t.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| t.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
        .map(normalizar)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn xff(valores: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in valores {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let l = LimitePublico::new(60, vec!["10.0.0.0/8".parse().unwrap()]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // An untrusted peer's header is ignored: it could say anything.
        assert_eq!(l.cliente(ip("203.0.113.9"), &xff(&["1.2.3.4"])), ip("203.0.113.9"));
        // Through one trusted proxy.
        assert_eq!(l.cliente(ip("10.0.0.1"), &xff(&["198.51.100.7"])), ip("198.51.100.7"));
        // A client forging an entry to the left of its own: the right-most untrusted wins.
        assert_eq!(l.cliente(ip("10.0.0.1"), &xff(&["1.1.1.1, 198.51.100.7, 10.0.0.2"])), ip("198.51.100.7"));
        assert_eq!(l.cliente(ip("10.0.0.1"), &xff(&["1.1.1.1", "198.51.100.7:4711"])), ip("198.51.100.7"));
        // Garbage stops the walk at the last believable hop.
        assert_eq!(l.cliente(ip("10.0.0.1"), &xff(&["1.1.1.1, basura"])), ip("10.0.0.1"));
        assert_eq!(l.cliente(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        assert_eq!(l.cliente(ip("::ffff:203.0.113.9"), &HeaderMap::new()), ip("203.0.113.9"));
    }

    #[test]
    fn a_burst_is_a_sixth_of_the_minute_then_retry_after() {
        let l = LimitePublico::new(60, vec![]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for i in 0..10 {
            assert_eq!(l.comprobar(a), Ok(()), "request {i} of the burst");
        }
        let espera = l.comprobar(a).unwrap_err();
        assert!((1..=1).contains(&espera), "{espera}");
        // Another address has its own allowance.
        assert_eq!(l.comprobar("192.0.2.2".parse().unwrap()), Ok(()));
        let sin = LimitePublico::new(0, vec![]);
        for _ in 0..1000 {
            assert_eq!(sin.comprobar(a), Ok(()));
        }
    }
}
