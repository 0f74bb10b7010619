//! State that outlives one config snapshot: limiter counters, key caches,
//! response caches. Policies are rebuilt on every reload; what they keep here
//! under a stable key carries over, so a reload resets no limit and drops no cache.
//! State of an attachment removed by a reload stays until the process restarts
//! (bounded by the number of attachments ever configured; caches and counters
//! inside expire on their own).

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use pylon_telemetry::Metrics;

/// A keyed store of long-lived policy state, owned by the gateway, and the
/// gateway's metrics (for policy rejections and backend failures).
#[derive(Default)]
pub struct Shared {
    map: Mutex<HashMap<(String, std::any::TypeId), Arc<dyn Any + Send + Sync>>>,
    metrics: Metrics,
}

impl Shared {
    /// State with a private metrics registry (for checks and tests).
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// State reporting to the gateway's `metrics`.
    pub fn with_metrics(metrics: Metrics) -> Arc<Self> {
        Arc::new(Self {
            map: Mutex::default(),
            metrics,
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The state of type `T` under `key`, created by `init` on first use.
    pub fn get_or_init<T: Send + Sync + 'static>(
        &self,
        key: &str,
        init: impl FnOnce() -> T,
    ) -> Arc<T> {
        let id = (key.to_string(), std::any::TypeId::of::<T>());
        let mut map = self.map.lock();
        if let Some(found) = map.get(&id).cloned()
            && let Ok(t) = found.downcast::<T>()
        {
            return t;
        }
        let made = Arc::new(init());
        map.insert(id, made.clone());
        made
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn state_is_shared_by_key_and_type() {
        let s = Shared::new();
        let a = s.get_or_init("rl:route:a", || AtomicU64::new(5));
        a.fetch_add(1, Ordering::Relaxed);
        let again = s.get_or_init("rl:route:a", || AtomicU64::new(0));
        assert_eq!(again.load(Ordering::Relaxed), 6);
        let other_type = s.get_or_init("rl:route:a", || String::from("x"));
        assert_eq!(other_type.as_str(), "x");
        let other_key = s.get_or_init("rl:route:b", || AtomicU64::new(0));
        assert_eq!(other_key.load(Ordering::Relaxed), 0);
    }
}
