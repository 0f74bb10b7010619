//! Load-balancing algorithms over an upstream's target list.
//!
//! Every algorithm chooses among the targets the caller calls *eligible* (the
//! `eligible` closure: healthy, not ejected, breaker admits, under the in-flight
//! cap, not excluded by a retry); it never sees why a target is refused.
//!
//! - **Round robin**: smooth weighted round robin as in nginx: every eligible
//!   target's `current` grows by its weight, the largest wins and gives back the
//!   sum of the weights. Weights {5,1,1} give `a a b a c a a`.
//! - **Least connections**: lowest `in_flight / weight`; ties go to the first
//!   one found from a rotating start, i.e. round robin.
//! - **Peak EWMA**: power of two choices: two distinct random eligible targets,
//!   the lower `latency × (in_flight + 1) / weight` wins. The latency estimate is
//!   a peak EWMA: a sample above the estimate replaces it, otherwise the
//!   estimate decays towards the sample with time constant `decay`; reads decay
//!   it towards zero too, so a target that stopped getting traffic because it
//!   was slow is tried again later.
//! - **Consistent hash**: a ketama ring (see `hash.rs`); an ineligible owner
//!   passes the request to the next eligible target on the ring; a request
//!   without the key is balanced by smooth weighted round robin.
//!
//! Per-pick cost: no allocation; round robin takes one short lock over the
//! `current` weights, peak EWMA reads two estimates under their own locks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use pylon_config::LoadBalancing;
use tokio::time::Instant;

use super::hash::{HashInput, HashKey, Ring};

/// What the balancer needs to know about a target.
pub(crate) trait LbTarget {
    fn weight(&self) -> u32;
    fn in_flight(&self) -> u32;
    fn ewma(&self) -> &PeakEwma;
}

impl<T: LbTarget> LbTarget for Arc<T> {
    fn weight(&self) -> u32 {
        (**self).weight()
    }
    fn in_flight(&self) -> u32 {
        (**self).in_flight()
    }
    fn ewma(&self) -> &PeakEwma {
        (**self).ewma()
    }
}

/// Peak-EWMA latency estimate of one target.
#[derive(Debug)]
pub struct PeakEwma {
    decay_ns: f64,
    state: Mutex<EwmaState>,
}

#[derive(Debug, Clone, Copy)]
struct EwmaState {
    estimate_ns: f64,
    at: Instant,
}

impl PeakEwma {
    /// A fresh estimate (zero) that decays with time constant `decay`.
    pub fn new(decay: Duration) -> Self {
        Self {
            decay_ns: (decay.as_nanos() as f64).max(1.0),
            state: Mutex::new(EwmaState {
                estimate_ns: 0.0,
                at: Instant::now(),
            }),
        }
    }

    fn weight_at(&self, st: &EwmaState, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(st.at).as_nanos() as f64;
        (-dt / self.decay_ns).exp()
    }

    /// Feed one latency sample.
    pub fn observe(&self, sample: Duration, now: Instant) {
        let s = sample.as_nanos() as f64;
        let mut st = self.state.lock();
        let w = self.weight_at(&st, now);
        let current = st.estimate_ns * w;
        st.estimate_ns = if s > current {
            s
        } else {
            current + s * (1.0 - w)
        };
        st.at = now;
    }

    /// The estimate at `now`, in nanoseconds.
    pub fn estimate_ns(&self, now: Instant) -> f64 {
        let st = *self.state.lock();
        st.estimate_ns * self.weight_at(&st, now)
    }
}

/// A tiny lock-free generator (splitmix64 over an atomic counter): plenty for
/// picking targets, and seedable so tests are deterministic.
#[derive(Debug)]
struct Rng(AtomicU64);

impl Rng {
    fn next(&self) -> u64 {
        const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut z = self
            .0
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// Smooth weighted round robin state.
#[derive(Debug)]
struct SmoothWrr {
    current: Mutex<Vec<i64>>,
}

impl SmoothWrr {
    fn new(n: usize) -> Self {
        Self {
            current: Mutex::new(vec![0; n]),
        }
    }

    fn pick<T: LbTarget>(&self, targets: &[T], eligible: impl Fn(usize) -> bool) -> Option<usize> {
        let mut current = self.current.lock();
        let mut total = 0i64;
        let mut best: Option<(usize, i64)> = None;
        for ((i, t), c) in targets.iter().enumerate().zip(current.iter_mut()) {
            if !eligible(i) {
                continue;
            }
            let w = i64::from(t.weight().max(1));
            *c += w;
            total += w;
            if best.is_none_or(|(_, bc)| *c > bc) {
                best = Some((i, *c));
            }
        }
        let (b, _) = best?;
        if let Some(c) = current.get_mut(b) {
            *c -= total;
        }
        Some(b)
    }
}

/// The algorithm of one upstream, with its state.
#[derive(Debug)]
pub(crate) struct Balancer {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    RoundRobin(SmoothWrr),
    LeastConnections {
        cursor: AtomicUsize,
    },
    PeakEwma {
        rng: Rng,
    },
    ConsistentHash {
        key: HashKey,
        ring: Ring,
        fallback: SmoothWrr,
    },
}

impl Balancer {
    /// State for `cfg` over targets given as `(key, weight)` in index order.
    /// Fails only on an invalid `hash_on` header name.
    pub(crate) fn new(cfg: &LoadBalancing, targets: &[(&str, u32)]) -> Result<Self, String> {
        Self::with_seed(cfg, targets, rand::random())
    }

    pub(crate) fn with_seed(
        cfg: &LoadBalancing,
        targets: &[(&str, u32)],
        seed: u64,
    ) -> Result<Self, String> {
        let n = targets.len();
        let kind = match cfg {
            LoadBalancing::RoundRobin => Kind::RoundRobin(SmoothWrr::new(n)),
            LoadBalancing::LeastConnections => Kind::LeastConnections {
                cursor: AtomicUsize::new(0),
            },
            LoadBalancing::PeakEwma { .. } => Kind::PeakEwma {
                rng: Rng(AtomicU64::new(seed)),
            },
            LoadBalancing::ConsistentHash { hash_on } => Kind::ConsistentHash {
                key: HashKey::new(hash_on)?,
                ring: Ring::new(targets),
                fallback: SmoothWrr::new(n),
            },
        };
        Ok(Self { kind })
    }

    /// Pick an eligible target, or `None` when no target is eligible.
    pub(crate) fn pick<T: LbTarget>(
        &self,
        targets: &[T],
        input: &HashInput<'_>,
        now: Instant,
        eligible: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        match &self.kind {
            Kind::RoundRobin(wrr) => wrr.pick(targets, eligible),
            Kind::LeastConnections { cursor } => least_connections(targets, cursor, eligible),
            Kind::PeakEwma { rng } => two_choices(targets, rng, now, eligible),
            Kind::ConsistentHash {
                key,
                ring,
                fallback,
            } => match key.hash(input) {
                Some(h) => ring.lookup(h, |i| i < targets.len() && eligible(i)),
                None => fallback.pick(targets, eligible),
            },
        }
    }
}

/// Lowest `in_flight / weight`, scanning from a rotating start so that ties
/// are broken round robin.
fn least_connections<T: LbTarget>(
    targets: &[T],
    cursor: &AtomicUsize,
    eligible: impl Fn(usize) -> bool,
) -> Option<usize> {
    let n = targets.len();
    if n == 0 {
        return None;
    }
    let start = cursor.fetch_add(1, Ordering::Relaxed) % n;
    let mut best: Option<(usize, u64, u64)> = None;
    for k in 0..n {
        let i = (start + k) % n;
        if !eligible(i) {
            continue;
        }
        let t = &targets[i];
        let (load, weight) = (u64::from(t.in_flight()), u64::from(t.weight().max(1)));
        // load/weight < best_load/best_weight, without division.
        if best.is_none_or(|(_, bl, bw)| load * bw < bl * weight) {
            best = Some((i, load, weight));
        }
    }
    best.map(|(i, _, _)| i)
}

/// Cost used by power of two choices.
fn cost<T: LbTarget>(t: &T, now: Instant) -> f64 {
    // The +1 ns keeps the in-flight factor meaningful for targets without samples.
    (t.ewma().estimate_ns(now) + 1.0) * (f64::from(t.in_flight()) + 1.0)
        / f64::from(t.weight().max(1))
}

/// Random draws tried before power of two choices falls back to a scan.
const P2C_DRAWS: usize = 4;

/// Power of two choices over peak-EWMA cost.
fn two_choices<T: LbTarget>(
    targets: &[T],
    rng: &Rng,
    now: Instant,
    eligible: impl Fn(usize) -> bool,
) -> Option<usize> {
    let better = |x: usize, y: usize| {
        if cost(&targets[y], now) < cost(&targets[x], now) {
            y
        } else {
            x
        }
    };
    // Fast path (everything eligible, the usual case): rejection sampling,
    // O(1) and still uniform over the eligible targets.
    let n = targets.len();
    if n >= 2 {
        let mut first = None;
        for _ in 0..P2C_DRAWS {
            let i = rng.below(n);
            if first == Some(i) || !eligible(i) {
                continue;
            }
            match first {
                None => first = Some(i),
                Some(a) => return Some(better(a, i)),
            }
        }
    }
    // Slow path: count the eligible targets and draw two distinct ranks.
    let count = (0..n).filter(|i| eligible(*i)).count();
    if count == 0 {
        return None;
    }
    if count == 1 {
        return (0..n).find(|i| eligible(*i));
    }
    let a = rng.below(count);
    let mut b = rng.below(count - 1);
    if b >= a {
        b += 1;
    }
    let (mut ia, mut ib) = (None, None);
    for (rank, i) in (0..n).filter(|i| eligible(*i)).enumerate() {
        if rank == a {
            ia = Some(i);
        }
        if rank == b {
            ib = Some(i);
        }
    }
    match (ia, ib) {
        (Some(x), Some(y)) => Some(better(x, y)),
        // Eligibility changed between the two scans.
        (x, y) => x.or(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pylon_config::HashOn;

    struct T {
        w: u32,
        inflight: u32,
        ewma: PeakEwma,
    }

    impl LbTarget for T {
        fn weight(&self) -> u32 {
            self.w
        }
        fn in_flight(&self) -> u32 {
            self.inflight
        }
        fn ewma(&self) -> &PeakEwma {
            &self.ewma
        }
    }

    fn targets(weights: &[u32]) -> Vec<T> {
        weights
            .iter()
            .map(|w| T {
                w: *w,
                inflight: 0,
                ewma: PeakEwma::new(Duration::from_secs(10)),
            })
            .collect()
    }

    fn balancer(cfg: &LoadBalancing, ts: &[T]) -> Balancer {
        let keys: Vec<String> = (0..ts.len()).map(|i| format!("10.0.0.{i}:80")).collect();
        let pairs: Vec<(&str, u32)> = keys
            .iter()
            .zip(ts)
            .map(|(k, t)| (k.as_str(), t.w))
            .collect();
        Balancer::with_seed(cfg, &pairs, 7).unwrap()
    }

    #[test]
    fn smooth_wrr_sequence() {
        let ts = targets(&[5, 1, 1]);
        let b = balancer(&LoadBalancing::RoundRobin, &ts);
        let now = Instant::now();
        let seq: Vec<usize> = (0..14)
            .map(|_| b.pick(&ts, &HashInput::none(), now, |_| true).unwrap())
            .collect();
        assert_eq!(seq, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn wrr_skips_ineligible_and_handles_none() {
        let ts = targets(&[1, 1, 1]);
        let b = balancer(&LoadBalancing::RoundRobin, &ts);
        let now = Instant::now();
        let seq: Vec<usize> = (0..4)
            .map(|_| b.pick(&ts, &HashInput::none(), now, |i| i != 1).unwrap())
            .collect();
        assert_eq!(seq, [0, 2, 0, 2]);
        assert_eq!(b.pick(&ts, &HashInput::none(), now, |_| false), None);
    }

    #[test]
    fn least_connections_prefers_idle_and_rotates_ties() {
        let mut ts = targets(&[1, 1, 1]);
        ts[0].inflight = 3;
        ts[1].inflight = 0;
        ts[2].inflight = 2;
        let b = balancer(&LoadBalancing::LeastConnections, &ts);
        let now = Instant::now();
        for _ in 0..5 {
            assert_eq!(b.pick(&ts, &HashInput::none(), now, |_| true), Some(1));
        }
        // Weighted: 4 in flight on weight 4 beats 2 on weight 1.
        let mut ts = targets(&[4, 1]);
        ts[0].inflight = 4;
        ts[1].inflight = 2;
        assert_eq!(b.pick(&ts, &HashInput::none(), now, |_| true), Some(0));
        // Ties are spread.
        let ts = targets(&[1, 1, 1]);
        let mut seen = [0; 3];
        for _ in 0..30 {
            seen[b.pick(&ts, &HashInput::none(), now, |_| true).unwrap()] += 1;
        }
        assert_eq!(seen, [10, 10, 10]);
        assert_eq!(b.pick(&ts, &HashInput::none(), now, |i| i == 2), Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn peak_ewma_avoids_slow_target() {
        let ts = targets(&[1, 1, 1]);
        let now = Instant::now();
        ts[0].ewma.observe(Duration::from_millis(5), now);
        ts[1].ewma.observe(Duration::from_millis(500), now);
        ts[2].ewma.observe(Duration::from_millis(6), now);
        let b = balancer(
            &LoadBalancing::PeakEwma {
                decay: Duration::from_secs(10),
            },
            &ts,
        );
        let mut seen = [0; 3];
        for _ in 0..300 {
            seen[b.pick(&ts, &HashInput::none(), now, |_| true).unwrap()] += 1;
        }
        assert_eq!(seen[1], 0, "{seen:?}");
        assert!(seen[0] > 0 && seen[2] > 0, "{seen:?}");
        // A single eligible target is always chosen.
        assert_eq!(b.pick(&ts, &HashInput::none(), now, |i| i == 1), Some(1));
    }

    #[tokio::test(start_paused = true)]
    async fn peak_ewma_peaks_and_decays() {
        let e = PeakEwma::new(Duration::from_secs(10));
        let t0 = Instant::now();
        e.observe(Duration::from_millis(10), t0);
        assert_eq!(e.estimate_ns(t0), 10_000_000.0);
        // A peak replaces the estimate at once.
        e.observe(Duration::from_millis(100), t0);
        assert_eq!(e.estimate_ns(t0), 100_000_000.0);
        // A lower sample only pulls it down gradually.
        let t1 = t0 + Duration::from_secs(1);
        e.observe(Duration::from_millis(10), t1);
        let est = e.estimate_ns(t1) / 1e6;
        assert!(est > 90.0 && est < 100.0, "{est}");
        // With no samples it decays towards zero.
        let late = e.estimate_ns(t1 + Duration::from_secs(60)) / 1e6;
        assert!(late < 1.0, "{late}");
    }

    #[test]
    fn consistent_hash_sticks_and_falls_back() {
        let ts = targets(&[1, 1, 1, 1]);
        let cfg = LoadBalancing::ConsistentHash {
            hash_on: HashOn::Path,
        };
        let b = balancer(&cfg, &ts);
        let now = Instant::now();
        for i in 0..200 {
            let path = format!("/item/{i}");
            let input = HashInput {
                path: Some(&path),
                ..HashInput::none()
            };
            let first = b.pick(&ts, &input, now, |_| true).unwrap();
            assert_eq!(b.pick(&ts, &input, now, |_| true), Some(first));
            let other = b.pick(&ts, &input, now, |i| i != first).unwrap();
            assert_ne!(other, first);
        }
        // No key: round robin.
        let seq: Vec<usize> = (0..4)
            .map(|_| b.pick(&ts, &HashInput::none(), now, |_| true).unwrap())
            .collect();
        assert_eq!(seq, [0, 1, 2, 3]);
    }

    #[test]
    fn rng_is_uniform_enough() {
        let r = Rng(AtomicU64::new(1));
        let mut c = [0; 4];
        for _ in 0..4000 {
            c[r.below(4)] += 1;
        }
        assert!(c.iter().all(|n| (800..1200).contains(n)), "{c:?}");
    }
}
