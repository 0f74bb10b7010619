//! Per-deployment run-time numbers for routing: calls in flight (least busy)
//! and a moving average of time to first token (lowest latency). Kept in
//! [`crate::AiShared`] across reloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

/// Weight of a new sample in the moving average.
const ALPHA: f64 = 0.3;

#[derive(Debug, Default)]
pub struct DeploymentStats {
    in_flight: AtomicU32,
    /// Moving average of time to first token in ms; `None` until measured.
    ttft_ms: Mutex<Option<f64>>,
}

impl DeploymentStats {
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn ttft_ms(&self) -> Option<f64> {
        *self.ttft_ms.lock()
    }

    pub fn observe_ttft(&self, ms: f64) {
        let mut g = self.ttft_ms.lock();
        *g = Some(match *g {
            Some(avg) => avg + ALPHA * (ms - avg),
            None => ms,
        });
    }

    /// Count a call in flight until the guard drops.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// A call in flight on a deployment.
#[derive(Debug)]
pub struct InFlight(Arc<DeploymentStats>);

impl InFlight {
    pub fn observe_ttft(&self, ms: f64) {
        self.0.observe_ttft(ms);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_counts_and_ewma_moves() {
        let s = Arc::new(DeploymentStats::default());
        let a = s.start();
        let b = s.start();
        assert_eq!(s.in_flight(), 2);
        drop(a);
        assert_eq!(s.in_flight(), 1);
        drop(b);
        assert_eq!(s.in_flight(), 0);
        s.observe_ttft(100.0);
        s.observe_ttft(200.0);
        assert!((s.ttft_ms().unwrap() - 130.0).abs() < 1e-9);
    }
}
