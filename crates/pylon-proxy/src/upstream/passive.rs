//! Passive health: ejection of targets that fail live traffic.
//!
//! `consecutive_failures` failures in a row (a success resets the count) make a
//! target due for ejection. The first ejection lasts `base_ejection`; each
//! further one doubles, up to `max_ejection`. The doubling decays: every healthy
//! stretch (time since the last ejection ended) as long as the previous
//! ejection step takes one doubling back, so a target that recovers for good
//! returns to `base_ejection`.
//!
//! This module only keeps one target's state. The decision not to eject the
//! last eligible target is the upstream's (it can see the other targets):
//! `record_failure` says the target is *due*, and the upstream calls `eject`
//! only when some other target would remain.
//!
//! Hot path: `is_ejected` is one atomic load; `record_success` writes only when
//! there is a failure count to reset.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use pylon_config::PassiveHealthCheck;
use tokio::time::Instant;

/// Largest doubling exponent kept (2^20 × base is far past any `max_ejection`).
const MAX_LEVEL: u32 = 20;

/// Passive-health state of one target.
#[derive(Debug)]
pub struct PassiveHealth {
    threshold: u32,
    base: Duration,
    max: Duration,
    epoch: Instant,
    failures: AtomicU32,
    /// End of the current ejection in nanoseconds since `epoch`; 0 = none yet.
    ejected_until: AtomicU64,
    backoff: Mutex<Backoff>,
}

#[derive(Debug, Default)]
struct Backoff {
    /// Number of recent ejections (the doubling exponent of the next one).
    level: u32,
    last_end: Option<Instant>,
}

impl PassiveHealth {
    pub fn new(cfg: &PassiveHealthCheck) -> Self {
        Self {
            threshold: cfg.consecutive_failures.max(1),
            base: cfg.base_ejection,
            max: cfg.max_ejection.max(cfg.base_ejection),
            epoch: Instant::now(),
            failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            backoff: Mutex::new(Backoff::default()),
        }
    }

    fn nanos(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether the target is ejected at `now`.
    pub fn is_ejected(&self, now: Instant) -> bool {
        let until = self.ejected_until.load(Ordering::Relaxed);
        until != 0 && self.nanos(now) < until
    }

    /// A successful request: the failure streak ends.
    pub fn record_success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    /// A failed request. Returns `true` when the streak reached the threshold
    /// and the target is due for ejection. Failures of requests that finish
    /// while the target is ejected are not counted.
    pub fn record_failure(&self, now: Instant) -> bool {
        if self.is_ejected(now) {
            return false;
        }
        self.failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1)
            >= self.threshold
    }

    /// Consecutive failures counted so far.
    #[cfg(test)]
    fn failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }

    fn step(&self, level: u32) -> Duration {
        self.base
            .saturating_mul(1u32 << level.min(MAX_LEVEL))
            .min(self.max)
    }

    /// Eject the target from `now`; returns the ejection time. Does nothing
    /// (and returns `None`) when it is already ejected.
    pub fn eject(&self, now: Instant) -> Option<Duration> {
        let mut b = self.backoff.lock();
        if self.is_ejected(now) {
            return None;
        }
        if let Some(end) = b.last_end {
            let mut healthy = now.saturating_duration_since(end);
            while b.level > 0 {
                let prev = self.step(b.level - 1);
                if healthy < prev {
                    break;
                }
                healthy -= prev;
                b.level -= 1;
            }
        }
        let d = self.step(b.level);
        b.level = (b.level + 1).min(MAX_LEVEL);
        let end = now + d;
        b.last_end = Some(end);
        self.ejected_until
            .store(self.nanos(end).max(1), Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        Some(d)
    }

    /// How many recent ejections the next one builds on.
    #[cfg(test)]
    fn level(&self) -> u32 {
        self.backoff.lock().level
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::advance;

    fn passive() -> PassiveHealth {
        PassiveHealth::new(&PassiveHealthCheck {
            consecutive_failures: 3,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(35),
        })
    }

    fn fail_until_due(p: &PassiveHealth) {
        let now = Instant::now();
        assert!(!p.record_failure(now));
        assert!(!p.record_failure(now));
        assert!(p.record_failure(now));
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_streak() {
        let p = passive();
        let now = Instant::now();
        assert!(!p.record_failure(now));
        assert!(!p.record_failure(now));
        p.record_success();
        assert_eq!(p.failures(), 0);
        fail_until_due(&p);
    }

    #[tokio::test(start_paused = true)]
    async fn ejection_doubles_up_to_max() {
        let p = passive();
        let mut got = Vec::new();
        for _ in 0..4 {
            fail_until_due(&p);
            let d = p.eject(Instant::now()).unwrap();
            got.push(d.as_secs());
            assert!(p.is_ejected(Instant::now()));
            // Failures while ejected do not count.
            assert!(!p.record_failure(Instant::now()));
            advance(d - Duration::from_millis(1)).await;
            assert!(p.is_ejected(Instant::now()));
            advance(Duration::from_millis(1)).await;
            assert!(!p.is_ejected(Instant::now()));
        }
        assert_eq!(got, [10, 20, 35, 35]);
    }

    #[tokio::test(start_paused = true)]
    async fn doubling_decays_after_healthy_period() {
        let p = passive();
        for _ in 0..2 {
            fail_until_due(&p);
            let d = p.eject(Instant::now()).unwrap();
            advance(d).await;
        }
        assert_eq!(p.level(), 2);
        // Healthy for 20 s (the last step): one doubling is taken back.
        advance(Duration::from_secs(20)).await;
        fail_until_due(&p);
        assert_eq!(p.eject(Instant::now()), Some(Duration::from_secs(20)));
        advance(Duration::from_secs(20)).await;
        // A long healthy stretch resets it fully.
        advance(Duration::from_secs(600)).await;
        fail_until_due(&p);
        assert_eq!(p.eject(Instant::now()), Some(Duration::from_secs(10)));
        // Ejecting an ejected target is a no-op.
        assert_eq!(p.eject(Instant::now()), None);
    }
}
