//! The pace deliveries reach a lane at, which decides whether the first
//! delivery of a batch waits a moment for others to share its transaction.

use std::time::Duration;
use tokio::time::Instant;

/// The mean gap between a lane's deliveries (an exponential moving average,
/// weight 1/8), kept so a lane waits for company only when company is due:
/// at a trickle of a few commands a second a wait would only add latency,
/// while at hundreds a second it turns one-command transactions (each a
/// handful of round trips and wake-ups) into shared ones.
#[derive(Debug, Clone)]
pub(crate) struct Llegadas {
    /// When the previous delivery came; `None` before the first.
    ultima: Option<Instant>,
    /// The mean gap. Starts at the cap, so a lane never waits until it has
    /// seen a run of close deliveries.
    hueco_medio: Duration,
    /// The longest wait, `worker.juntar`; zero turns waiting off.
    juntar: Duration,
}

impl Llegadas {
    /// No deliveries seen yet.
    pub(crate) fn new(juntar: Duration) -> Self {
        // Configuration caps it at 100ms; clamped here too, so the average's
        // arithmetic (`tope` × 8) can never overflow.
        let juntar = juntar.min(Duration::from_secs(1));
        Self { ultima: None, hueco_medio: Self::tope(juntar), juntar }
    }

    /// A gap longer than this counts as this much: one pause after a busy
    /// spell must not make the lane forget its pace for minutes, nor a
    /// first delivery after an idle hour wait.
    fn tope(juntar: Duration) -> Duration {
        juntar.saturating_mul(16).max(Duration::from_millis(1))
    }

    /// A delivery came at `ahora`.
    pub(crate) fn llega(&mut self, ahora: Instant) {
        if let Some(ultima) = self.ultima {
            let hueco = ahora.saturating_duration_since(ultima).min(Self::tope(self.juntar));
            self.hueco_medio = (self.hueco_medio * 7 + hueco) / 8;
        }
        self.ultima = Some(ahora);
    }

    /// How long the first delivery of a batch waits for others: `juntar`
    /// when, at the pace seen, another is due within it; else nothing.
    pub(crate) fn espera(&self) -> Duration {
        if self.hueco_medio < self.juntar { self.juntar } else { Duration::ZERO }
    }

    /// How long to wait for the next delivery within that window: twice the
    /// mean gap. When the consumer is saturated, deliveries come in bursts
    /// (gaps of microseconds) and then stop while the broker waits for acks
    /// (prefetch spent): a lane waiting out the whole window would hold its
    /// batch for nothing, so it stops as soon as the pace breaks (and, the
    /// timer counting whole milliseconds, does not wait at all when this is
    /// under one: `carril`).
    pub(crate) fn paciencia(&self) -> Duration {
        self.hueco_medio * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JUNTAR: Duration = Duration::from_millis(5);

    fn a_hueco_medios(llegadas: &mut Llegadas, desde: Instant, hueco: Duration, n: u32) -> Instant {
        let mut t = desde;
        for _ in 0..n {
            llegadas.llega(t);
            t += hueco;
        }
        t
    }

    #[test]
    fn a_lane_never_waits_before_it_has_seen_close_deliveries() {
        let mut l = Llegadas::new(JUNTAR);
        assert_eq!(l.espera(), Duration::ZERO);
        l.llega(Instant::now());
        assert_eq!(l.espera(), Duration::ZERO);
    }

    #[test]
    fn close_deliveries_make_the_lane_wait_and_a_trickle_does_not() {
        let t0 = Instant::now();
        let mut l = Llegadas::new(JUNTAR);
        a_hueco_medios(&mut l, t0, Duration::from_millis(1), 40);
        assert_eq!(l.espera(), JUNTAR, "1,000 a second: {l:?}");

        let mut l = Llegadas::new(JUNTAR);
        a_hueco_medios(&mut l, t0, Duration::from_millis(200), 40);
        assert_eq!(l.espera(), Duration::ZERO, "5 a second: {l:?}");
    }

    #[test]
    fn a_lane_stops_waiting_soon_after_the_pace_drops() {
        let mut l = Llegadas::new(JUNTAR);
        let t = a_hueco_medios(&mut l, Instant::now(), Duration::from_millis(1), 100);
        assert_eq!(l.espera(), JUNTAR);
        // Two slow deliveries (50 ms apart) are enough to stop the waits.
        a_hueco_medios(&mut l, t + Duration::from_millis(50), Duration::from_millis(50), 2);
        assert_eq!(l.espera(), Duration::ZERO, "{l:?}");
    }

    #[test]
    fn one_idle_hour_is_forgotten_after_a_short_busy_spell() {
        let mut l = Llegadas::new(JUNTAR);
        let t = a_hueco_medios(&mut l, Instant::now(), Duration::from_millis(1), 100);
        let t = a_hueco_medios(&mut l, t + Duration::from_secs(3600), Duration::from_millis(1), 30);
        assert_eq!(l.espera(), JUNTAR, "{l:?} at {t:?}");
    }

    #[test]
    fn in_a_burst_the_wait_for_the_next_delivery_is_short() {
        let mut l = Llegadas::new(JUNTAR);
        a_hueco_medios(&mut l, Instant::now(), Duration::from_micros(20), 100);
        assert_eq!(l.espera(), JUNTAR);
        // Under the timer's millisecond: the lane takes what is there and goes.
        assert!(l.paciencia() < Duration::from_millis(1), "{l:?}");

        let mut l = Llegadas::new(JUNTAR);
        a_hueco_medios(&mut l, Instant::now(), Duration::from_millis(2), 100);
        let p = l.paciencia();
        assert!(p > Duration::from_millis(3) && p < Duration::from_millis(5), "{p:?}");
    }

    #[test]
    fn zero_turns_waiting_off() {
        let mut l = Llegadas::new(Duration::ZERO);
        a_hueco_medios(&mut l, Instant::now(), Duration::ZERO, 100);
        assert_eq!(l.espera(), Duration::ZERO);
    }
}
