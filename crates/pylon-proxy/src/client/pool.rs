//! Keep-alive pool of one upstream, keyed per target.
//!
//! HTTP/1.1 connections are checked out exclusively and come back when hyper
//! reports them ready again (response fully read, connection kept alive); the
//! most recently used one is reused first. HTTP/2 connections are shared: one
//! per target, cloned for every request. A reaper task, started when the pool
//! holds something and stopped when it is empty, closes connections idle
//! longer than the idle timeout.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use hyper::client::conn::{http1, http2};
use parking_lot::Mutex;

use super::ProxyBody;
use super::connect::Target;

pub(crate) type H1Sender = http1::SendRequest<ProxyBody>;
pub(crate) type H2Sender = http2::SendRequest<ProxyBody>;

/// A pool entry's identity: the target, and whether TLS was restricted to
/// `http/1.1` (upgrade requests on an upstream that could negotiate h2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    pub(crate) target: Target,
    pub(crate) http1_only: bool,
}

struct Idle {
    tx: H1Sender,
    since: Instant,
}

struct Shared {
    tx: H2Sender,
    last_used: Instant,
}

#[derive(Default)]
struct Entry {
    idle: Vec<Idle>,
    h2: Option<Shared>,
    /// TLS ALPN last chose http/1.1 here, so new connections need no h2 lock.
    learned_http1: bool,
    /// Serialises connection set-up while an h2 connection may result, so that
    /// a burst of requests opens one shared connection instead of many.
    connect_lock: Arc<tokio::sync::Mutex<()>>,
}

impl Entry {
    fn is_unused(&self) -> bool {
        self.idle.is_empty() && self.h2.is_none() && Arc::strong_count(&self.connect_lock) == 1
    }
}

#[derive(Default)]
struct State {
    entries: HashMap<PoolKey, Entry>,
    reaper_running: bool,
}

/// The connections of one upstream.
pub(crate) struct Pool {
    max_idle: usize,
    idle_timeout: Duration,
    state: Mutex<State>,
}

impl Pool {
    /// A pool keeping up to `max_idle` idle HTTP/1.1 connections per target for
    /// at most `idle_timeout`; either being zero disables keep-alive reuse.
    pub(crate) fn new(max_idle: usize, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            max_idle,
            idle_timeout,
            state: Mutex::new(State::default()),
        })
    }

    fn keeps_connections(&self) -> bool {
        self.max_idle > 0 && !self.idle_timeout.is_zero()
    }

    /// An idle HTTP/1.1 connection to reuse, newest first.
    pub(crate) fn checkout_http1(&self, key: &PoolKey) -> Option<H1Sender> {
        let mut state = self.state.lock();
        let entry = state.entries.get_mut(key)?;
        while let Some(idle) = entry.idle.pop() {
            if idle.since.elapsed() < self.idle_timeout && idle.tx.is_ready() {
                return Some(idle.tx);
            }
        }
        None
    }

    /// Returns a ready HTTP/1.1 connection; the oldest idle one is dropped when
    /// the target is over its limit.
    pub(crate) fn checkin_http1(self: &Arc<Self>, key: PoolKey, tx: H1Sender) {
        if !self.keeps_connections() || !tx.is_ready() {
            return;
        }
        let mut state = self.state.lock();
        let entry = state.entries.entry(key).or_default();
        entry.idle.push(Idle {
            tx,
            since: Instant::now(),
        });
        if entry.idle.len() > self.max_idle {
            let excess = entry.idle.len() - self.max_idle;
            entry.idle.drain(..excess);
        }
        self.ensure_reaper(&mut state);
    }

    /// The shared HTTP/2 connection to the target, if one is open.
    pub(crate) fn shared_http2(&self, key: &PoolKey) -> Option<H2Sender> {
        let mut state = self.state.lock();
        let entry = state.entries.get_mut(key)?;
        let shared = entry.h2.as_mut()?;
        if shared.tx.is_closed() || !shared.tx.is_ready() {
            entry.h2 = None;
            return None;
        }
        shared.last_used = Instant::now();
        Some(shared.tx.clone())
    }

    /// Makes `tx` the target's shared HTTP/2 connection.
    pub(crate) fn put_http2(self: &Arc<Self>, key: PoolKey, tx: H2Sender) {
        if !self.keeps_connections() {
            return;
        }
        let mut state = self.state.lock();
        let entry = state.entries.entry(key).or_default();
        entry.h2 = Some(Shared {
            tx,
            last_used: Instant::now(),
        });
        entry.learned_http1 = false;
        self.ensure_reaper(&mut state);
    }

    pub(crate) fn learned_http1(&self, key: &PoolKey) -> bool {
        self.state
            .lock()
            .entries
            .get(key)
            .is_some_and(|e| e.learned_http1)
    }

    pub(crate) fn set_learned_http1(&self, key: PoolKey) {
        self.state
            .lock()
            .entries
            .entry(key)
            .or_default()
            .learned_http1 = true;
    }

    pub(crate) fn connect_lock(&self, key: &PoolKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut state = self.state.lock();
        state
            .entries
            .entry(key.clone())
            .or_default()
            .connect_lock
            .clone()
    }

    /// Idle HTTP/1.1 connections plus shared HTTP/2 connections held.
    pub(crate) fn idle_count(&self) -> usize {
        let state = self.state.lock();
        state
            .entries
            .values()
            .map(|e| e.idle.len() + usize::from(e.h2.is_some()))
            .sum()
    }

    /// Drops expired and closed connections; returns whether the pool is empty.
    fn reap(&self) -> bool {
        let mut state = self.state.lock();
        let timeout = self.idle_timeout;
        for entry in state.entries.values_mut() {
            entry
                .idle
                .retain(|i| i.since.elapsed() < timeout && !i.tx.is_closed());
            if entry
                .h2
                .as_ref()
                .is_some_and(|s| s.last_used.elapsed() >= timeout || s.tx.is_closed())
            {
                entry.h2 = None;
            }
        }
        state
            .entries
            .retain(|_, e| !e.is_unused() || e.learned_http1);
        let empty = state
            .entries
            .values()
            .all(|e| e.idle.is_empty() && e.h2.is_none());
        if empty {
            state.reaper_running = false;
        }
        empty
    }

    fn ensure_reaper(self: &Arc<Self>, state: &mut State) {
        if state.reaper_running {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        state.reaper_running = true;
        let period =
            (self.idle_timeout / 2).clamp(Duration::from_millis(50), Duration::from_secs(30));
        runtime.spawn(reaper(Arc::downgrade(self), period));
    }
}

async fn reaper(pool: Weak<Pool>, period: Duration) {
    loop {
        tokio::time::sleep(period).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        if pool.reap() {
            return;
        }
    }
}
