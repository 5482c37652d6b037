//! Which lane a delivery goes to: the one already holding its ticket's
//! commands, if any is; otherwise the lane that is gathering a batch, so a
//! light load shares one transaction instead of splitting over idle lanes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

/// What a lane is doing, as the consumer sees it when it routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Fase {
    /// Between batches, waiting for the next delivery (some may already be
    /// queued: routing checks the queue too).
    Libre = 0,
    /// Holding an open batch: what arrives now joins its transaction.
    Juntando = 1,
    /// Applying a closed batch: what arrives now waits for the next one.
    Aplicando = 2,
}

impl Fase {
    fn de(n: u8) -> Fase {
        match n {
            0 => Fase::Libre,
            1 => Fase::Juntando,
            _ => Fase::Aplicando,
        }
    }
}

/// Where the commands of each `clave de reparto` (a ticket, or a keyless command's
/// `message_id`) are while any is in flight, and what each lane is doing.
///
/// Order needs only this: while a key has a command in a lane, later ones
/// go to the same lane, behind it (a lane applies in delivery order). Once
/// the lane is done with them, the key may go anywhere. Routing by a fixed
/// hash kept that too, but split a light load over every lane: at 1,000
/// commands a second two lanes each committed half-size batches, paying
/// their round trips and reply flushes twice (#12, docs/performance.md).
/// Keys are hashes: two keys sharing one only share a lane, which is safe.
#[derive(Debug)]
pub(crate) struct Reparto {
    /// Lane and number of its deliveries not yet done, per key in flight.
    en_vuelo: Mutex<HashMap<u64, (usize, u32)>>,
    /// Most deliveries a lane applies in one transaction (`worker.lote`).
    lote: usize,
    /// Each lane's [`Fase`], set by the lane itself.
    fases: Vec<AtomicU8>,
}

impl Reparto {
    /// `carriles` lanes of batches of up to `lote`, all free, nothing in flight.
    pub(crate) fn new(carriles: usize, lote: usize) -> Self {
        let fases = (0..carriles).map(|_| AtomicU8::new(Fase::Libre as u8)).collect();
        Reparto { en_vuelo: Mutex::default(), lote, fases }
    }

    /// The lane for a delivery with `clave de reparto` `clave` (none: it
    /// orders with nothing), given how many deliveries each lane has
    /// queued; counts it in flight there until [`Reparto::hecho`].
    pub(crate) fn elegir(&self, clave: Option<u64>, pendientes: impl Fn(usize) -> usize) -> usize {
        // Relaxed: a phase only steers a free key, and a stale one only
        // routes it less well; order never depends on it.
        let fase = |i: usize| Fase::de(self.fases[i].load(Ordering::Relaxed));
        let Some(clave) = clave else {
            return destino(self.fases.len(), fase, pendientes, self.lote);
        };
        let mut en_vuelo = self.en_vuelo.lock().unwrap_or_else(|e| e.into_inner());
        let (carril, n) =
            en_vuelo.entry(clave).or_insert_with(|| (destino(self.fases.len(), fase, &pendientes, self.lote), 0));
        *n += 1;
        *carril
    }

    /// A lane is done with deliveries of these keys: applied, answered and
    /// settled. Never for a batch a lane abandoned (shutdown mid-outage):
    /// those go back to the queue unapplied, and a later command on the same
    /// key must not be applied elsewhere first.
    pub(crate) fn hecho(&self, claves: impl IntoIterator<Item = u64>) {
        let mut en_vuelo = self.en_vuelo.lock().unwrap_or_else(|e| e.into_inner());
        for clave in claves {
            if let Some((_, n)) = en_vuelo.get_mut(&clave) {
                *n -= 1;
                if *n == 0 {
                    en_vuelo.remove(&clave);
                }
            }
        }
    }

    /// Lane `carril` is now in `fase`.
    pub(crate) fn fase(&self, carril: usize, fase: Fase) {
        self.fases[carril].store(fase as u8, Ordering::Relaxed);
    }
}

/// The lane for a delivery whose key is not in flight, among `carriles`
/// lanes (at least one: configuration): the first lane gathering a batch
/// its queue still fits in (`lote`); else the applying lane with the
/// shortest queue while that queue still fits in one batch (its next
/// transaction takes it all, so another lane would only add one); else the
/// first free lane with nothing queued; else the one with the fewest queued
/// (the first among equals). So one lane carries a light load, and the next
/// opens only when the first falls a batch behind.
fn destino(carriles: usize, fase: impl Fn(usize) -> Fase, pendientes: impl Fn(usize) -> usize, lote: usize) -> usize {
    if let Some(carril) = (0..carriles).find(|&i| fase(i) == Fase::Juntando && pendientes(i) < lote) {
        return carril;
    }
    let aplicando = (0..carriles).filter(|&i| fase(i) == Fase::Aplicando).min_by_key(|&i| pendientes(i));
    if let Some(carril) = aplicando.filter(|&i| pendientes(i) < lote) {
        return carril;
    }
    if let Some(carril) = (0..carriles).find(|&i| fase(i) == Fase::Libre && pendientes(i) == 0) {
        return carril;
    }
    (0..carriles).min_by_key(|&i| pendientes(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Fase::*;
    use proptest::prelude::*;

    /// `destino` over lanes in these phases with these queues.
    fn elegir(fases: &[Fase], pendientes: impl Fn(usize) -> usize, lote: usize) -> usize {
        destino(fases.len(), |i| fases[i], pendientes, lote)
    }

    #[test]
    fn a_light_load_joins_the_batch_being_gathered() {
        let lote = 4;
        assert_eq!(elegir(&[Aplicando, Juntando], |_| 0, lote), 1);
        assert_eq!(elegir(&[Juntando, Libre], |_| 0, lote), 0);
        // Not into an open batch that is already full behind (a burst).
        assert_eq!(elegir(&[Juntando, Libre], |i| [4, 0][i], lote), 1);
        // Nothing gathering: behind the applying lane, while its queue fits
        // in its next batch...
        assert_eq!(elegir(&[Libre, Aplicando], |i| [0, 3][i], lote), 1);
        assert_eq!(elegir(&[Aplicando, Aplicando, Libre], |i| [3, 2, 0][i], lote), 1);
        // ...and in a free lane once it is a batch behind.
        assert_eq!(elegir(&[Libre, Aplicando], |i| [0, 4][i], lote), 0);
        // Every lane free: the first.
        assert_eq!(elegir(&[Libre, Libre], |_| 0, lote), 0);
        // Every lane a batch behind: the shortest queue.
        assert_eq!(elegir(&[Aplicando, Aplicando, Aplicando], |i| [9, 5, 5][i], lote), 1);
        // A free lane that still has deliveries queued is not free to start.
        assert_eq!(elegir(&[Aplicando, Libre], |i| [4, 6][i], lote), 0);
    }

    #[test]
    fn a_key_in_flight_stays_in_its_lane_until_its_lane_is_done_with_it() {
        let r = Reparto::new(2, 32);
        r.fase(0, Aplicando);
        r.fase(1, Juntando);
        assert_eq!(r.elegir(Some(7), |_| 0), 1);
        // Lane 0 now gathers, but key 7 is still in lane 1.
        r.fase(0, Juntando);
        r.fase(1, Aplicando);
        assert_eq!(r.elegir(Some(7), |_| 0), 1);
        assert_eq!(r.elegir(Some(8), |_| 0), 0, "another key goes where the batch is open");
        r.hecho([7]);
        assert_eq!(r.elegir(Some(7), |_| 0), 1, "one of its two is still in lane 1");
        r.hecho([7, 7]);
        assert_eq!(r.elegir(Some(7), |_| 0), 0, "done with it: it may go anywhere");
        // A keyless delivery orders with nothing and is never tracked.
        assert_eq!(r.elegir(None, |_| 0), 0);
        assert_eq!(r.en_vuelo.lock().unwrap().len(), 2, "keys 7 and 8");
    }

    proptest! {
        /// Whatever the lanes do meanwhile, a key's deliveries in flight are
        /// all in one lane: so each is applied after the ones before it.
        #[test]
        fn a_key_never_has_deliveries_in_two_lanes(
            pasos in prop::collection::vec((0u64..6, 0usize..3, 0u8..3, any::<bool>()), 1..200)
        ) {
            let r = Reparto::new(3, 4);
            // What each lane holds, in order: (key).
            let mut carriles: Vec<Vec<u64>> = vec![vec![]; 3];
            for (clave, carril, fase, terminar) in pasos {
                r.fase(carril, Fase::de(fase));
                if terminar {
                    // That lane finishes one batch: the first `lote` it holds.
                    let n = carriles[carril].len().min(4);
                    let hechas: Vec<u64> = carriles[carril].drain(..n).collect();
                    r.hecho(hechas);
                } else {
                    let i = r.elegir(Some(clave), |j| carriles[j].len());
                    carriles[i].push(clave);
                }
                for (a, ca) in carriles.iter().enumerate() {
                    for (b, cb) in carriles.iter().enumerate() {
                        if a != b {
                            prop_assert!(ca.iter().all(|k| !cb.contains(k)), "{carriles:?}");
                        }
                    }
                }
            }
        }
    }
}
