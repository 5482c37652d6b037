//! Figures every measurement reports: latency percentiles, and the worker
//! process's memory and CPU read from `/proc`.

use serde::Serialize;

/// The value at quantile `p` of sorted values (nearest rank); NaN when empty.
pub(crate) fn percentil(ordenados: &[f64], p: f64) -> f64 {
    if ordenados.is_empty() {
        return f64::NAN;
    }
    let i = ((ordenados.len() as f64 - 1.0) * p).round() as usize;
    ordenados[i]
}

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Serialize)]
pub(crate) struct Latencias {
    pub(crate) n: usize,
    pub(crate) p50_ms: f64,
    pub(crate) p95_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

/// The percentiles of `v`.
pub(crate) fn resumen_ms(mut v: Vec<f64>) -> Latencias {
    v.sort_by(f64::total_cmp);
    Latencias {
        n: v.len(),
        p50_ms: percentil(&v, 0.50),
        p95_ms: percentil(&v, 0.95),
        p99_ms: percentil(&v, 0.99),
        max_ms: v.last().copied().unwrap_or(f64::NAN),
    }
}

/// Peak resident set of a process, in MiB (Linux).
pub(crate) fn rss_pico_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let linea = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = linea.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time (user + system) a process has used so far, in seconds.
pub(crate) fn cpu_segundos(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces: utime and stime are 14th and 15th.
    let campos: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: f64 = campos.get(11)?.parse::<f64>().ok()? + campos.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}
