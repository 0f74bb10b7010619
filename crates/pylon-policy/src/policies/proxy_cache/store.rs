//! Where entries live: one [`Home`] per attachment scope in the gateway's
//! shared state (so the cache survives reloads), holding the current
//! [`Store`] (in memory with `moka`, or Redis) and the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use parking_lot::Mutex;

use super::entry::{Kind, Record};
use super::key::{CacheKey, VARY_SUFFIX};
use super::redis_store::RedisStore;

/// A failure of the cache's backend.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer in time")]
    Timeout,
}

/// Wall-clock milliseconds; settable in tests.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<AtomicU64>>);

impl Clock {
    /// A clock that reads `now` (unix milliseconds), for tests.
    #[cfg(test)]
    pub fn manual(now: Arc<AtomicU64>) -> Self {
        Self(Some(now))
    }

    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            Some(now) => now.load(Ordering::Relaxed),
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    pub fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.now_ms())
    }
}

/// The cache of one scope, kept in [`crate::Shared`] under `proxy-cache:<scope>`.
#[derive(Default)]
pub struct Home {
    pub clock: Clock,
    /// The store and the settings it was made with; a reload with other
    /// backend settings replaces it.
    store: Mutex<Option<(String, Arc<Store>)>>,
}

impl Home {
    #[cfg(test)]
    pub fn with_clock(clock: Clock) -> Self {
        Self {
            clock,
            store: Mutex::default(),
        }
    }

    /// The store made with `settings`, made now by `make` if the current one
    /// has other settings (or there is none).
    pub fn store(&self, settings: &str, make: impl FnOnce() -> Store) -> Arc<Store> {
        let mut slot = self.store.lock();
        match &*slot {
            Some((s, store)) if s == settings => store.clone(),
            _ => {
                let store = Arc::new(make());
                *slot = Some((settings.to_string(), store.clone()));
                store
            }
        }
    }

    pub fn current(&self) -> Option<Arc<Store>> {
        self.store.lock().as_ref().map(|(_, s)| s.clone())
    }
}

/// What to write for one response.
pub struct Write {
    pub key: CacheKey,
    /// The upstream's `Vary` names (empty: none) and this request's variant key.
    pub vary: Option<(Vec<String>, String)>,
    pub record: Record,
    /// Lifetime of the `Vary` list record.
    pub vary_ttl_ms: u64,
}

pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Store {
    pub fn memory(max_bytes: u64) -> Self {
        Store::Memory(MemoryStore::new(max_bytes))
    }

    /// The fresh stored response for a request with `key` and `headers`.
    pub async fn lookup(
        &self,
        key: &CacheKey,
        headers: &HeaderMap,
        now_ms: u64,
    ) -> Result<Option<Arc<Record>>, CacheError> {
        match self {
            Store::Memory(m) => Ok(m.lookup(key, headers, now_ms)),
            Store::Redis(r) => r.lookup(key, headers, now_ms).await,
        }
    }

    pub async fn put(&self, w: Write) -> Result<(), CacheError> {
        match self {
            Store::Memory(m) => {
                m.put(w);
                Ok(())
            }
            Store::Redis(r) => r.put(w).await,
        }
    }

    /// Drop the stored responses whose `<path>?<query>` starts with `prefix`
    /// (all when `None`); the number of responses dropped.
    pub async fn purge(&self, prefix: Option<&str>) -> Result<usize, CacheError> {
        match self {
            Store::Memory(m) => Ok(m.purge(prefix)),
            Store::Redis(r) => r.purge(prefix).await,
        }
    }
}

/// The response under a key: `Ok` with the plain record when it is fresh,
/// else `Err` with the names of the fresh `Vary` list (whose variant is to
/// be read next), if any.
pub fn pick(
    plain: Option<Arc<Record>>,
    spec: Option<Arc<Record>>,
    now_ms: u64,
) -> Result<Arc<Record>, Option<Vec<String>>> {
    if let Some(r) = fresh_response(plain, now_ms) {
        return Ok(r);
    }
    match spec.as_deref() {
        Some(s) if s.fresh(now_ms) => match &s.kind {
            Kind::Vary(names) => Err(Some(names.clone())),
            Kind::Response(_) => Err(None),
        },
        _ => Err(None),
    }
}

/// A fresh response record, or nothing.
pub fn fresh_response(r: Option<Arc<Record>>, now_ms: u64) -> Option<Arc<Record>> {
    r.filter(|r| r.fresh(now_ms) && matches!(r.kind, Kind::Response(_)))
}

/// Entries in this process, bounded by their total size, each expiring after its own TTL.
pub struct MemoryStore {
    cache: moka::sync::Cache<String, Arc<Record>>,
}

struct PerEntryTtl;

impl moka::Expiry<String, Arc<Record>> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, v: &Arc<Record>, _: Instant) -> Option<Duration> {
        Some(Duration::from_millis(v.ttl_ms))
    }

    fn expire_after_update(
        &self,
        _: &String,
        v: &Arc<Record>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(Duration::from_millis(v.ttl_ms))
    }
}

impl MemoryStore {
    pub fn new(max_bytes: u64) -> Self {
        let cache = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &String, v: &Arc<Record>| {
                u32::try_from(k.len() + v.weight()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        Self { cache }
    }

    pub fn lookup(&self, key: &CacheKey, headers: &HeaderMap, now_ms: u64) -> Option<Arc<Record>> {
        let plain = self.cache.get(&key.plain);
        let spec = match &plain {
            Some(r) if r.fresh(now_ms) => None,
            _ => self.cache.get(&key.vary_spec()),
        };
        match pick(plain, spec, now_ms) {
            Ok(r) => Some(r),
            Err(Some(names)) => {
                fresh_response(self.cache.get(&key.variant(&names, headers)), now_ms)
            }
            Err(None) => None,
        }
    }

    pub fn put(&self, w: Write) {
        match w.vary {
            None => {
                self.cache.invalidate(&w.key.vary_spec());
                self.cache.insert(w.key.plain, Arc::new(w.record));
            }
            Some((names, variant)) => {
                self.cache.invalidate(&w.key.plain);
                let spec = Record {
                    stored_at_ms: w.record.stored_at_ms,
                    ttl_ms: w.vary_ttl_ms,
                    kind: Kind::Vary(names),
                };
                self.cache.insert(w.key.vary_spec(), Arc::new(spec));
                self.cache.insert(variant, Arc::new(w.record));
            }
        }
    }

    pub fn purge(&self, prefix: Option<&str>) -> usize {
        let keys: Vec<Arc<String>> = self
            .cache
            .iter()
            .map(|(k, _)| k)
            .filter(|k| prefix.is_none_or(|p| k.starts_with(p)))
            .collect();
        for k in &keys {
            self.cache.invalidate(k.as_str());
        }
        self.cache.run_pending_tasks();
        keys.iter().filter(|k| !k.ends_with(VARY_SUFFIX)).count()
    }
}
