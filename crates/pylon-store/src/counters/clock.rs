//! Time for the local backend: microseconds since the Unix epoch, read from a
//! monotonic clock (so a wall-clock step does not refill or drain buckets).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of "now" in microseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now_micros(&self) -> u64;
}

/// The wall clock read once at creation, advanced by tokio's monotonic clock
/// (which tests can pause and advance).
#[derive(Debug, Clone)]
pub struct SystemClock {
    base_us: u64,
    origin: tokio::time::Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        let base = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            base_us: u64::try_from(base.as_micros()).unwrap_or(0),
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_micros(&self) -> u64 {
        let elapsed = self.origin.elapsed().as_micros();
        self.base_us
            .saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock showing `start` since the epoch.
    pub fn new(start: Duration) -> Self {
        let us = u64::try_from(start.as_micros()).unwrap_or(u64::MAX);
        Self {
            now: Arc::new(AtomicU64::new(us)),
        }
    }

    pub fn advance(&self, by: Duration) {
        let us = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.now.fetch_add(us, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}
