//! Retry budget: retries may add at most `ratio` of the recent requests, plus a
//! floor of `min_per_second` retries per second.
//!
//! The window is the last `WINDOW_SECS` seconds, kept as one-second buckets.
//! A retry is admitted when, counting it, the retries in the window stay within
//! `ratio × requests in the window + min_per_second × WINDOW_SECS` (the floor
//! accrues over the window, as in Finagle's budget).
//!
//! Lock-free: each bucket counter is one `AtomicU64` packing the bucket's second
//! (high 32 bits) with its count (low 32 bits), so rotating a bucket and
//! counting in it is a single compare-and-swap. `try_retry` counts the retry
//! first and takes it back when over budget, so concurrent retries never
//! overshoot (under contention they may undershoot by a little).
//!
//! Call `on_request` once per client request (not per attempt) and
//! `try_retry` before each retry.

use std::sync::atomic::{AtomicU64, Ordering};

use pylon_config::RetryBudget as RetryBudgetConfig;
use tokio::time::Instant;

/// Length of the sliding window, in seconds (one bucket per second).
pub const WINDOW_SECS: u64 = 10;
const BUCKETS: usize = WINDOW_SECS as usize;
const COUNT_MASK: u64 = 0xFFFF_FFFF;

/// A retry budget shared by all requests to one upstream.
#[derive(Debug)]
pub struct RetryBudget {
    ratio: f64,
    min_per_second: u32,
    epoch: Instant,
    requests: [AtomicU64; BUCKETS],
    retries: [AtomicU64; BUCKETS],
}

impl RetryBudget {
    pub fn new(cfg: &RetryBudgetConfig) -> Self {
        Self {
            ratio: if cfg.ratio.is_finite() {
                cfg.ratio.max(0.0)
            } else {
                0.0
            },
            min_per_second: cfg.min_per_second,
            epoch: Instant::now(),
            requests: Default::default(),
            retries: Default::default(),
        }
    }

    fn second(&self) -> u32 {
        u32::try_from(
            Instant::now()
                .saturating_duration_since(self.epoch)
                .as_secs(),
        )
        .unwrap_or(u32::MAX)
    }

    /// Count one client request.
    pub fn on_request(&self) {
        let sec = self.second();
        add(&self.requests[sec as usize % BUCKETS], sec);
    }

    /// Ask for one retry; `true` means go ahead (and it is counted).
    pub fn try_retry(&self) -> bool {
        let sec = self.second();
        let slot = &self.retries[sec as usize % BUCKETS];
        add(slot, sec);
        let requests = sum(&self.requests, sec) as f64;
        let retries = sum(&self.retries, sec) as f64;
        let allowed = self.ratio * requests + f64::from(self.min_per_second) * WINDOW_SECS as f64;
        if retries <= allowed {
            return true;
        }
        take_back(slot, sec);
        false
    }

    /// `(requests, retries)` in the current window, for metrics and tests.
    pub fn window_counts(&self) -> (u64, u64) {
        let sec = self.second();
        (sum(&self.requests, sec), sum(&self.retries, sec))
    }
}

fn pack(sec: u32, count: u64) -> u64 {
    (u64::from(sec) << 32) | (count & COUNT_MASK)
}

/// Count one in `slot` for second `sec`, resetting it if it holds an older second.
fn add(slot: &AtomicU64, sec: u32) {
    let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        let (s, c) = ((v >> 32) as u32, v & COUNT_MASK);
        Some(if s == sec {
            pack(sec, c.saturating_add(1).min(COUNT_MASK))
        } else {
            pack(sec, 1)
        })
    });
}

/// Undo one `add` made for second `sec` (nothing if the bucket rotated since).
fn take_back(slot: &AtomicU64, sec: u32) {
    let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        let (s, c) = ((v >> 32) as u32, v & COUNT_MASK);
        (s == sec && c > 0).then(|| pack(sec, c - 1))
    });
}

/// Total of the buckets whose second lies in the window ending at `sec`.
fn sum(slots: &[AtomicU64; BUCKETS], sec: u32) -> u64 {
    slots
        .iter()
        .map(|a| a.load(Ordering::Acquire))
        .filter(|v| {
            let s = (v >> 32) as u32;
            s <= sec && u64::from(sec - s) < WINDOW_SECS
        })
        .map(|v| v & COUNT_MASK)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::time::advance;

    fn budget(ratio: f64, min_per_second: u32) -> RetryBudget {
        RetryBudget::new(&RetryBudgetConfig {
            ratio,
            min_per_second,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn ratio_of_recent_requests() {
        let b = budget(0.2, 0);
        assert!(!b.try_retry());
        for _ in 0..100 {
            b.on_request();
        }
        for i in 0..20 {
            assert!(b.try_retry(), "retry {i}");
        }
        assert!(!b.try_retry());
        assert_eq!(b.window_counts(), (100, 20));
        // Ten more requests earn two more retries.
        for _ in 0..10 {
            b.on_request();
        }
        assert!(b.try_retry());
        assert!(b.try_retry());
        assert!(!b.try_retry());
    }

    #[tokio::test(start_paused = true)]
    async fn requests_and_retries_age_out() {
        let b = budget(0.5, 0);
        for _ in 0..10 {
            b.on_request();
        }
        advance(Duration::from_secs(5)).await;
        for _ in 0..5 {
            assert!(b.try_retry());
        }
        assert!(!b.try_retry());
        // At 10 s the requests leave the window; the retries (at 5 s) remain.
        advance(Duration::from_secs(5)).await;
        assert_eq!(b.window_counts(), (0, 5));
        for _ in 0..20 {
            b.on_request();
        }
        // 0.5 × 20 = 10 allowed, 5 already used.
        for _ in 0..5 {
            assert!(b.try_retry());
        }
        assert!(!b.try_retry());
        advance(Duration::from_secs(30)).await;
        assert_eq!(b.window_counts(), (0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn floor_per_second() {
        let b = budget(0.0, 2);
        for _ in 0..20 {
            assert!(b.try_retry());
        }
        assert!(!b.try_retry());
        // As seconds pass, old retries leave the window and free the floor.
        advance(Duration::from_secs(10)).await;
        assert!(b.try_retry());
    }

    #[test]
    fn packing_rotates_buckets() {
        let a = AtomicU64::new(0);
        add(&a, 3);
        add(&a, 3);
        assert_eq!(a.load(Ordering::Relaxed), pack(3, 2));
        add(&a, 13);
        assert_eq!(a.load(Ordering::Relaxed), pack(13, 1));
        take_back(&a, 3);
        assert_eq!(a.load(Ordering::Relaxed), pack(13, 1));
        take_back(&a, 13);
        assert_eq!(a.load(Ordering::Relaxed), pack(13, 0));
    }
}
