//! Wall-clock time in milliseconds for caches and token lifetimes. Tests
//! drive a manual clock instead of sleeping.

#[cfg(test)]
use std::sync::Arc;
#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Default)]
pub(crate) struct Clock {
    #[cfg(test)]
    manual: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// Milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> u64 {
        #[cfg(test)]
        if let Some(m) = &self.manual {
            return m.load(Ordering::SeqCst);
        }
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    /// Seconds since the Unix epoch.
    pub(crate) fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// A clock that only moves when the test moves it; starts at the real time.
    #[cfg(test)]
    pub(crate) fn manual() -> (Self, ManualTime) {
        let start = Clock::default().now_ms();
        let cell = Arc::new(AtomicU64::new(start));
        (
            Self {
                manual: Some(cell.clone()),
            },
            ManualTime(cell),
        )
    }
}

/// The handle a test moves a manual clock with.
#[cfg(test)]
#[derive(Clone)]
pub(crate) struct ManualTime(Arc<AtomicU64>);

#[cfg(test)]
impl ManualTime {
    pub(crate) fn advance(&self, by: std::time::Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

/// The clock the authentication policies use: the system clock, unless a
/// test put a manual one into the shared state first.
pub(crate) fn shared(shared: &crate::shared::Shared) -> std::sync::Arc<Clock> {
    shared.get_or_init(CLOCK_KEY, Clock::default)
}

pub(crate) const CLOCK_KEY: &str = "auth:clock";
