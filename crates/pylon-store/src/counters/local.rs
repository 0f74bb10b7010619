//! The in-process backend: sharded maps (`dashmap`), no global lock. A check
//! hashes the key, locks one shard, updates a few integers and returns; it
//! allocates only for a key it has not seen. Keys whose state no longer
//! counts are swept every `sweep_every`, by whichever check comes first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;

use super::algo::{self, WindowState};
use super::clock::{Clock, SystemClock};
use super::reserve::LocalPots;
use super::{
    Actual, Allowance, Counters, Decision, Gcra, Lease, LeaseInner, Reply, Reserved, Settled,
    Window,
};

/// A sliding window's state and its length (to know when it expires).
#[derive(Clone, Copy)]
struct WindowEntry {
    state: WindowState,
    window_us: u64,
}

/// In-process counters for one gateway process.
pub struct LocalCounters {
    clock: Arc<dyn Clock>,
    tats: DashMap<Box<str>, u64>,
    windows: DashMap<Box<str>, WindowEntry>,
    leases: Arc<DashMap<Box<str>, u64>>,
    pots: LocalPots,
    next_sweep: AtomicU64,
    sweep_every_us: u64,
}

impl Default for LocalCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalCounters {
    /// Counters on the system clock, swept every 10 seconds.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock::new()), Duration::from_secs(10))
    }

    /// Counters on `clock`, swept every `sweep_every`.
    pub fn with_clock(clock: Arc<dyn Clock>, sweep_every: Duration) -> Self {
        let sweep_every_us = u64::try_from(sweep_every.as_micros()).unwrap_or(u64::MAX);
        let now = clock.now_micros();
        Self {
            clock,
            tats: DashMap::new(),
            windows: DashMap::new(),
            leases: Arc::new(DashMap::new()),
            pots: LocalPots::default(),
            next_sweep: AtomicU64::new(now.saturating_add(sweep_every_us)),
            sweep_every_us,
        }
    }

    /// How many keys are held (rate, window and concurrency), for tests and stats.
    pub fn keys(&self) -> usize {
        self.tats.len() + self.windows.len() + self.leases.len()
    }

    /// GCRA check, synchronously.
    pub fn check_gcra(&self, key: &str, limit: &Gcra, cost: u64) -> Decision {
        let now = self.now();
        if let Some(mut tat) = self.tats.get_mut(key) {
            let (next, d) = algo::gcra(*tat, now, limit, cost);
            if let Some(t) = next {
                *tat = t;
            }
            return d;
        }
        let (next, d) = algo::gcra(0, now, limit, cost);
        if next.is_some() {
            // Another thread may have created the key meanwhile: decide again
            // under the entry's lock.
            let mut tat = self.tats.entry(Box::from(key)).or_insert(0);
            let (next, d) = algo::gcra(*tat, now, limit, cost);
            if let Some(t) = next {
                *tat = t;
            }
            return d;
        }
        d
    }

    /// Sliding-window check, synchronously.
    pub fn check_window(&self, key: &str, limit: &Window, cost: u64) -> Decision {
        let now = self.now();
        let update = |e: &mut WindowEntry| {
            if e.window_us != limit.window_us {
                *e = WindowEntry {
                    state: WindowState::default(),
                    window_us: limit.window_us,
                };
            }
            let (next, d) = algo::window(e.state, now, limit, cost);
            if let Some(s) = next {
                e.state = s;
            }
            d
        };
        if let Some(mut e) = self.windows.get_mut(key) {
            return update(&mut e);
        }
        let mut e = self.windows.entry(Box::from(key)).or_insert(WindowEntry {
            state: WindowState::default(),
            window_us: limit.window_us,
        });
        update(&mut e)
    }

    /// Take a concurrency slot, synchronously.
    pub fn try_acquire(&self, key: &str, max: u64) -> Option<Lease> {
        self.now();
        let taken = match self.leases.get_mut(key) {
            Some(mut n) => take(&mut n, max),
            None => take(&mut self.leases.entry(Box::from(key)).or_insert(0), max),
        };
        if !taken {
            // Do not keep an empty entry for a key that never held a slot.
            self.leases.remove_if(key, |_, n| *n == 0);
            return None;
        }
        Some(Lease {
            inner: LeaseInner::Local(LocalLease {
                map: self.leases.clone(),
                key: Box::from(key),
            }),
        })
    }

    /// The clock's time; sweeps expired keys when it is time to.
    fn now(&self) -> u64 {
        let now = self.clock.now_micros();
        let due = self.next_sweep.load(Ordering::Relaxed);
        if now >= due
            && self
                .next_sweep
                .compare_exchange(
                    due,
                    now.saturating_add(self.sweep_every_us),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.sweep(now);
        }
        now
    }

    /// Drop every key whose state no longer counts at `now`.
    fn sweep(&self, now: u64) {
        self.tats.retain(|_, tat| *tat > now);
        self.windows
            .retain(|_, e| !e.state.expired(now, e.window_us));
    }
}

fn take(n: &mut u64, max: u64) -> bool {
    if *n >= max {
        return false;
    }
    *n += 1;
    true
}

impl Counters for LocalCounters {
    fn backend(&self) -> &'static str {
        "local"
    }

    fn gcra(&self, key: &str, limit: &Gcra, cost: u64) -> Reply<Decision> {
        Reply::Ready(Ok(self.check_gcra(key, limit, cost)))
    }

    fn sliding_window(&self, key: &str, limit: &Window, cost: u64) -> Reply<Decision> {
        Reply::Ready(Ok(self.check_window(key, limit, cost)))
    }

    fn acquire(&self, key: &str, max: u64, _ttl: Duration) -> Reply<Option<Lease>> {
        Reply::Ready(Ok(self.try_acquire(key, max)))
    }

    fn reserve(&self, id: &str, lines: &[Allowance], _ttl: Duration) -> Reply<Reserved> {
        Reply::Ready(Ok(self.pots.reserve(self.now(), id, lines)))
    }

    fn settle(&self, id: &str, lines: &[Actual]) -> Reply<Vec<Settled>> {
        Reply::Ready(Ok(self.pots.settle(self.now(), id, lines)))
    }

    fn pot_usage(&self, key: &str) -> Reply<(u64, u64)> {
        Reply::Ready(Ok(self.pots.usage(self.now(), key)))
    }
}

/// A local concurrency slot; its drop gives the slot back and forgets the
/// key once no slot is held.
pub(crate) struct LocalLease {
    map: Arc<DashMap<Box<str>, u64>>,
    key: Box<str>,
}

impl Drop for LocalLease {
    fn drop(&mut self) {
        self.map.remove_if_mut(&*self.key, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}
