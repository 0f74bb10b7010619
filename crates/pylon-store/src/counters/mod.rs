//! Counters that rate limits, quotas and concurrency limits share, behind
//! one trait ([`Counters`]) with two backends:
//!
//! - [`LocalCounters`]: in-process, sharded maps; answers synchronously and
//!   allocates only when a key is seen for the first time. Expired keys are
//!   swept, so memory stays bounded by the keys active in the longest window.
//! - [`RedisCounters`]: one Lua script per check, run atomically by Redis
//!   with Redis's own clock (`TIME`), so every node of a cluster agrees;
//!   every key is prefixed and expires on its own.
//!
//! The algorithms:
//!
//! - [`Gcra`]: the generic cell rate algorithm (a token bucket kept as one
//!   timestamp, the "theoretical arrival time"): `limit` per `period`, up to
//!   `burst` at once. Refused requests cost nothing.
//! - [`Window`]: a sliding window approximated by two fixed windows, the
//!   previous one weighted by how much of it still overlaps the sliding
//!   window (`previous × (1 − elapsed/window) + current`). It keeps two
//!   numbers per key whatever the limit (a log of timestamps would keep one
//!   entry per admitted request: 100 000 per day per client), and is exact
//!   for a burst inside one window; its error comes only from assuming the
//!   previous window's requests were evenly spread. Windows are aligned to
//!   the Unix epoch, so nodes agree on where they start.
//! - Pots ([`Counters::reserve`], [`Counters::settle`]): amounts spent against a
//!   limit, with reservations made before a call and settled after it (budgets,
//!   tokens per minute); see [`reserve`].
//! - Concurrency ([`Counters::acquire`]): a count of leases per key; the
//!   returned [`Lease`] gives its slot back when dropped. In Redis each lease
//!   is a member of a sorted set scored by its expiry, so the slots of a node
//!   that crashed come back after the lease TTL.

mod algo;
mod clock;
mod local;
mod redis;
mod reserve;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use clock::{Clock, ManualClock, SystemClock};
pub use local::LocalCounters;
pub use redis::{RedisConfig, RedisCounters};
pub use reserve::{Actual, Allowance, Reserved, Settled};

/// A boxed future, for the answers of a remote backend.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a counter backend failed at. Callers decide whether to fail open or
/// closed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CounterError {
    #[error("invalid limit: {0}")]
    Invalid(&'static str),
    #[error("counter backend unreachable or failing: {0}")]
    Backend(String),
    #[error("counter backend did not answer within {0:?}")]
    Timeout(Duration),
}

/// The answer of a rate or quota check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// The most the key may spend at once (the GCRA burst, the window limit).
    pub limit: u64,
    /// What is left after this request (if allowed).
    pub remaining: u64,
    /// When the key is back to its full `limit` if nothing else arrives.
    pub reset_after: Duration,
    /// When a refused request of the same cost would be admitted; zero when allowed.
    pub retry_after: Duration,
}

/// An answer available now (local backend: no allocation) or later (remote).
pub enum Reply<T> {
    Ready(Result<T, CounterError>),
    Pending(BoxFuture<Result<T, CounterError>>),
}

impl<T> Reply<T> {
    pub async fn resolve(self) -> Result<T, CounterError> {
        match self {
            Reply::Ready(r) => r,
            Reply::Pending(f) => f.await,
        }
    }
}

/// A GCRA limit: `limit` requests per `period`, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    limit: u64,
    period: Duration,
    burst: u64,
    /// Time between two requests at the sustained rate, in microseconds.
    interval_us: u64,
}

impl Gcra {
    /// `limit` per `period` with up to `burst` at once (`burst` = `limit`
    /// lets the whole period's allowance be spent at once).
    pub fn new(limit: u64, period: Duration, burst: u64) -> Result<Self, CounterError> {
        if limit == 0 {
            return Err(CounterError::Invalid("limit must be at least 1"));
        }
        if burst == 0 {
            return Err(CounterError::Invalid("burst must be at least 1"));
        }
        let period_us = u64::try_from(period.as_micros()).unwrap_or(u64::MAX);
        let interval_us = period_us / limit;
        if interval_us == 0 {
            return Err(CounterError::Invalid(
                "rate too high: more than one request per microsecond",
            ));
        }
        if interval_us.checked_mul(burst).is_none_or(|t| t > 1 << 52) {
            return Err(CounterError::Invalid("burst × period too long"));
        }
        Ok(Self {
            limit,
            period,
            burst,
            interval_us,
        })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    pub fn burst(&self) -> u64 {
        self.burst
    }
}

/// A sliding-window limit: at most `limit` in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    limit: u64,
    window_us: u64,
}

impl Window {
    pub fn new(limit: u64, window: Duration) -> Result<Self, CounterError> {
        if limit == 0 {
            return Err(CounterError::Invalid("limit must be at least 1"));
        }
        let window_us = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        if window_us < 1000 {
            return Err(CounterError::Invalid("window must be at least 1ms"));
        }
        if window_us > 1 << 52 {
            return Err(CounterError::Invalid("window too long"));
        }
        Ok(Self { limit, window_us })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn window(&self) -> Duration {
        Duration::from_micros(self.window_us)
    }
}

/// Shared counters. `key`s are opaque to the backend; callers make them
/// unique per limit and per client. `cost` is usually 1 and must not exceed
/// the limit's burst (a larger cost is always refused).
pub trait Counters: Send + Sync + 'static {
    /// `local` or `redis` (for logs and metrics).
    fn backend(&self) -> &'static str;

    /// Spend `cost` from `key`'s GCRA bucket, if it has that much.
    fn gcra(&self, key: &str, limit: &Gcra, cost: u64) -> Reply<Decision>;

    /// Count `cost` into `key`'s sliding window, if it fits.
    fn sliding_window(&self, key: &str, limit: &Window, cost: u64) -> Reply<Decision>;

    /// Take one of `max` concurrent slots of `key`, released when the lease
    /// is dropped; `None` when all are taken. A remote backend frees a lease
    /// after `ttl` even if it was never released (its holder crashed).
    fn acquire(&self, key: &str, max: u64, ttl: Duration) -> Reply<Option<Lease>>;

    /// Reserve each allowance's amount from its pot, all or none (see [`reserve`]).
    /// `id` names the reservation for [`Counters::settle`]; a remote backend drops it
    /// after `ttl` if it is never settled.
    fn reserve(&self, id: &str, lines: &[Allowance], ttl: Duration) -> Reply<Reserved>;

    /// Release reservation `id` from each pot and add what was really spent.
    fn settle(&self, id: &str, lines: &[Actual]) -> Reply<Vec<Settled>>;

    /// What a pot has spent and has reserved right now.
    fn pot_usage(&self, key: &str) -> Reply<(u64, u64)>;
}

/// A held concurrency slot, given back on drop.
pub struct Lease {
    inner: LeaseInner,
}

// The leases are held for their `Drop`, never read.
#[allow(dead_code)]
enum LeaseInner {
    Local(local::LocalLease),
    Redis(redis::RedisLease),
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.inner {
            LeaseInner::Local(_) => "local",
            LeaseInner::Redis(_) => "redis",
        };
        f.debug_struct("Lease").field("backend", &kind).finish()
    }
}
