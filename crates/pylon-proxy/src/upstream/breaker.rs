//! Per-target circuit breaker.
//!
//! - **Closed**: every request passes. The breaker opens after
//!   `consecutive_failures` failures in a row, or when the error rate over the
//!   sliding `window` (ten buckets) reaches `error_rate` with at least
//!   `min_requests` requests in it. Either rule is off when its setting is 0.
//! - **Open**: nothing passes for `open_duration`.
//! - **HalfOpen**: the first request after `open_duration` moves the breaker to
//!   half-open, which admits up to `half_open_probes` probe requests. When all of
//!   them succeed the breaker closes (with a clean window); the first failing
//!   probe opens it again. A probe that ends without an outcome (cancelled
//!   request) gives its slot back.
//!
//! Outcomes of requests admitted in an earlier state (for example a slow request
//! that was let through while closed and finishes while half-open) are ignored
//! outside the closed state: only probes decide a half-open breaker.
//!
//! Time is `tokio::time::Instant`, so tests run on paused time. Admission of a
//! closed breaker is one atomic load; everything else takes a short lock.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use pylon_config::CircuitBreakerConfig;
use tokio::time::Instant;

const BUCKETS: usize = 10;

/// The three breaker states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    fn as_u8(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }

    /// Lower-case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// The answer to "may a request go to this target?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Closed: a normal request.
    Allowed,
    /// Half-open: a probe; report its outcome with this generation.
    Probe(u64),
    Rejected,
}

/// A circuit breaker for one target.
#[derive(Debug)]
pub struct CircuitBreaker {
    consecutive_failures: u32,
    error_rate: f64,
    min_requests: u32,
    open_duration: Duration,
    half_open_probes: u32,
    /// Mirror of `inner.state` for the lock-free closed fast path.
    fast: AtomicU8,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    consecutive: u32,
    window: Window,
    open_until: Instant,
    /// Bumped on every move to half-open; probes carry it.
    generation: u64,
    probes_issued: u32,
    probes_succeeded: u32,
}

/// Request and failure counts over a sliding window of `BUCKETS` buckets.
#[derive(Debug)]
struct Window {
    epoch: Instant,
    bucket_ns: u128,
    /// `(bucket sequence number, requests, failures)`.
    buckets: [(u64, u32, u32); BUCKETS],
}

impl Window {
    fn new(window: Duration) -> Self {
        Self {
            epoch: Instant::now(),
            bucket_ns: (window.as_nanos() / BUCKETS as u128).max(1_000_000),
            buckets: [(u64::MAX, 0, 0); BUCKETS],
        }
    }

    fn seq(&self, now: Instant) -> u64 {
        let ns = now.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(ns / self.bucket_ns).unwrap_or(u64::MAX - 1)
    }

    fn record(&mut self, now: Instant, failed: bool) {
        let seq = self.seq(now);
        let b = &mut self.buckets[(seq % BUCKETS as u64) as usize];
        if b.0 != seq {
            *b = (seq, 0, 0);
        }
        b.1 = b.1.saturating_add(1);
        if failed {
            b.2 = b.2.saturating_add(1);
        }
    }

    /// `(requests, failures)` in the window ending at `now`.
    fn totals(&self, now: Instant) -> (u32, u32) {
        let seq = self.seq(now);
        self.buckets
            .iter()
            .filter(|b| b.0 <= seq && seq - b.0 < BUCKETS as u64)
            .fold((0u32, 0u32), |(r, f), b| {
                (r.saturating_add(b.1), f.saturating_add(b.2))
            })
    }

    fn clear(&mut self) {
        self.buckets = [(u64::MAX, 0, 0); BUCKETS];
    }
}

impl CircuitBreaker {
    pub fn new(cfg: &CircuitBreakerConfig) -> Self {
        Self {
            consecutive_failures: cfg.consecutive_failures,
            error_rate: cfg.error_rate,
            min_requests: cfg.min_requests,
            open_duration: cfg.open_duration,
            half_open_probes: cfg.half_open_probes.max(1),
            fast: AtomicU8::new(BreakerState::Closed.as_u8()),
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive: 0,
                window: Window::new(cfg.window),
                open_until: Instant::now(),
                generation: 0,
                probes_issued: 0,
                probes_succeeded: 0,
            }),
        }
    }

    /// The current state, as last recorded (an open breaker whose
    /// `open_duration` has passed stays `Open` until a request arrives).
    pub fn state(&self) -> BreakerState {
        self.inner.lock().state
    }

    /// Whether `try_acquire` would admit a request now, without taking a slot.
    pub fn admits(&self, now: Instant) -> bool {
        if self.fast.load(Ordering::Relaxed) == BreakerState::Closed.as_u8() {
            return true;
        }
        let inner = self.inner.lock();
        match inner.state {
            BreakerState::Closed => true,
            BreakerState::Open => now >= inner.open_until,
            BreakerState::HalfOpen => inner.probes_issued < self.half_open_probes,
        }
    }

    /// Admit a request, taking a probe slot when half-open.
    pub fn try_acquire(&self, now: Instant) -> Admission {
        if self.fast.load(Ordering::Relaxed) == BreakerState::Closed.as_u8() {
            return Admission::Allowed;
        }
        let mut inner = self.inner.lock();
        if inner.state == BreakerState::Open && now >= inner.open_until {
            inner.state = BreakerState::HalfOpen;
            inner.generation += 1;
            inner.probes_issued = 0;
            inner.probes_succeeded = 0;
            self.fast
                .store(BreakerState::HalfOpen.as_u8(), Ordering::Relaxed);
        }
        match inner.state {
            BreakerState::Closed => Admission::Allowed,
            BreakerState::Open => Admission::Rejected,
            BreakerState::HalfOpen if inner.probes_issued < self.half_open_probes => {
                inner.probes_issued += 1;
                Admission::Probe(inner.generation)
            }
            BreakerState::HalfOpen => Admission::Rejected,
        }
    }

    /// Give back the slot of a probe that ended without an outcome.
    pub fn release_probe(&self, generation: u64) {
        let mut inner = self.inner.lock();
        if inner.state == BreakerState::HalfOpen
            && inner.generation == generation
            && inner.probes_issued > 0
        {
            inner.probes_issued -= 1;
        }
    }

    /// Record an outcome; `probe` is the generation of a half-open admission.
    /// Returns the new state when this outcome changed it.
    pub fn record(&self, now: Instant, success: bool, probe: Option<u64>) -> Option<BreakerState> {
        let mut inner = self.inner.lock();
        match inner.state {
            BreakerState::Closed => {
                if probe.is_some() {
                    // A late probe of a half-open period that already closed.
                    return None;
                }
                inner.window.record(now, !success);
                if success {
                    inner.consecutive = 0;
                    return None;
                }
                inner.consecutive = inner.consecutive.saturating_add(1);
                let by_streak =
                    self.consecutive_failures > 0 && inner.consecutive >= self.consecutive_failures;
                let by_rate = self.error_rate > 0.0 && {
                    let (requests, failures) = inner.window.totals(now);
                    requests >= self.min_requests.max(1)
                        && f64::from(failures) >= self.error_rate * f64::from(requests)
                };
                (by_streak || by_rate).then(|| self.open(&mut inner, now))
            }
            BreakerState::Open => None,
            BreakerState::HalfOpen => {
                if probe != Some(inner.generation) {
                    return None;
                }
                if !success {
                    return Some(self.open(&mut inner, now));
                }
                inner.probes_succeeded += 1;
                if inner.probes_succeeded < self.half_open_probes {
                    return None;
                }
                inner.state = BreakerState::Closed;
                inner.consecutive = 0;
                inner.window.clear();
                self.fast
                    .store(BreakerState::Closed.as_u8(), Ordering::Relaxed);
                Some(BreakerState::Closed)
            }
        }
    }

    fn open(&self, inner: &mut Inner, now: Instant) -> BreakerState {
        inner.state = BreakerState::Open;
        inner.open_until = now + self.open_duration;
        inner.consecutive = 0;
        inner.window.clear();
        self.fast
            .store(BreakerState::Open.as_u8(), Ordering::Relaxed);
        BreakerState::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::advance;

    fn cfg() -> CircuitBreakerConfig {
        CircuitBreakerConfig {
            consecutive_failures: 3,
            error_rate: 0.0,
            window: Duration::from_secs(10),
            min_requests: 10,
            open_duration: Duration::from_secs(30),
            half_open_probes: 2,
        }
    }

    fn fail(b: &CircuitBreaker) -> Option<BreakerState> {
        b.record(Instant::now(), false, None)
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_failures_open_then_half_open_then_close() {
        let b = CircuitBreaker::new(&cfg());
        assert_eq!(fail(&b), None);
        assert_eq!(fail(&b), None);
        // A success resets the streak.
        assert_eq!(b.record(Instant::now(), true, None), None);
        assert_eq!(fail(&b), None);
        assert_eq!(fail(&b), None);
        assert_eq!(fail(&b), Some(BreakerState::Open));
        assert!(!b.admits(Instant::now()));
        assert_eq!(b.try_acquire(Instant::now()), Admission::Rejected);

        advance(Duration::from_secs(29)).await;
        assert_eq!(b.try_acquire(Instant::now()), Admission::Rejected);
        advance(Duration::from_secs(1)).await;
        assert!(b.admits(Instant::now()));
        let p1 = b.try_acquire(Instant::now());
        let p2 = b.try_acquire(Instant::now());
        assert_eq!((p1, p2), (Admission::Probe(1), Admission::Probe(1)));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // Only two concurrent probes.
        assert_eq!(b.try_acquire(Instant::now()), Admission::Rejected);
        assert!(!b.admits(Instant::now()));
        // A non-probe outcome does not count while half-open.
        assert_eq!(b.record(Instant::now(), true, None), None);
        assert_eq!(b.record(Instant::now(), true, Some(1)), None);
        assert_eq!(
            b.record(Instant::now(), true, Some(1)),
            Some(BreakerState::Closed)
        );
        assert_eq!(b.try_acquire(Instant::now()), Admission::Allowed);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens() {
        let b = CircuitBreaker::new(&cfg());
        for _ in 0..3 {
            fail(&b);
        }
        advance(Duration::from_secs(30)).await;
        let Admission::Probe(g) = b.try_acquire(Instant::now()) else {
            panic!("expected a probe");
        };
        assert_eq!(
            b.record(Instant::now(), false, Some(g)),
            Some(BreakerState::Open)
        );
        assert_eq!(b.try_acquire(Instant::now()), Admission::Rejected);
        // Open for a full open_duration again.
        advance(Duration::from_secs(29)).await;
        assert!(!b.admits(Instant::now()));
        advance(Duration::from_secs(1)).await;
        // A probe from the previous generation is ignored.
        let Admission::Probe(g2) = b.try_acquire(Instant::now()) else {
            panic!("expected a probe");
        };
        assert_ne!(g, g2);
        assert_eq!(b.record(Instant::now(), false, Some(g)), None);
        assert_eq!(b.state(), BreakerState::HalfOpen);
    }

    #[tokio::test(start_paused = true)]
    async fn released_probe_frees_its_slot() {
        let b = CircuitBreaker::new(&CircuitBreakerConfig {
            half_open_probes: 1,
            ..cfg()
        });
        for _ in 0..3 {
            fail(&b);
        }
        advance(Duration::from_secs(30)).await;
        let Admission::Probe(g) = b.try_acquire(Instant::now()) else {
            panic!("expected a probe");
        };
        assert_eq!(b.try_acquire(Instant::now()), Admission::Rejected);
        b.release_probe(g);
        assert_eq!(b.try_acquire(Instant::now()), Admission::Probe(g));
        assert_eq!(
            b.record(Instant::now(), true, Some(g)),
            Some(BreakerState::Closed)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn error_rate_over_window() {
        let b = CircuitBreaker::new(&CircuitBreakerConfig {
            consecutive_failures: 0,
            error_rate: 0.5,
            min_requests: 10,
            ..cfg()
        });
        let now = Instant::now();
        // 9 requests, all failing: below min_requests.
        for i in 0..9 {
            assert_eq!(b.record(now, i % 2 == 1, None), None);
        }
        // 5 failures of 9; a success is never what opens the breaker, the next
        // failure is checked: 6 of 11 ≥ 50 %.
        assert_eq!(b.record(now, true, None), None);
        assert_eq!(b.record(now, false, None), Some(BreakerState::Open));
    }

    #[tokio::test(start_paused = true)]
    async fn old_buckets_leave_the_window() {
        let b = CircuitBreaker::new(&CircuitBreakerConfig {
            consecutive_failures: 0,
            error_rate: 0.5,
            min_requests: 4,
            ..cfg()
        });
        // Three failures, then they age out of the 10 s window.
        for _ in 0..3 {
            assert_eq!(fail(&b), None);
        }
        advance(Duration::from_secs(11)).await;
        for _ in 0..3 {
            assert_eq!(b.record(Instant::now(), true, None), None);
        }
        // 1 failure of 4 in the window: 25 % < 50 %.
        assert_eq!(fail(&b), None);
        // 2 of 5 = 40 %, then 3 of 6 = 50 %.
        assert_eq!(fail(&b), None);
        assert_eq!(fail(&b), Some(BreakerState::Open));
    }
}
