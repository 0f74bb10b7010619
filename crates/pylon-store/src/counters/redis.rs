//! The Redis backend: one Lua script per check (sent as `EVALSHA`, loaded on
//! `NOSCRIPT`), Redis's clock (`TIME`) so that nodes agree, prefixed keys
//! that expire by themselves. The connection is opened on first use and
//! re-opened after failures; every call is bounded by a timeout, and a
//! failure is returned to the caller, which decides to fail open or closed.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::OnceCell;

use super::{
    Actual, Allowance, CounterError, Counters, Decision, Gcra, Lease, LeaseInner, Reply, Reserved,
    Settled, Window,
};

/// Where and how to reach Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://`).
    pub url: String,
    /// Put in front of every key.
    pub prefix: String,
    /// Bound on one call, connecting included.
    pub timeout: Duration,
}

impl RedisConfig {
    /// The default prefix (`pylon:rl:`) and a 500 ms timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "pylon:rl:".into(),
            timeout: Duration::from_millis(500),
        }
    }
}

/// Counters kept in Redis, shared by every node that uses the same server.
#[derive(Clone)]
pub struct RedisCounters {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    conn: OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    gcra: Script,
    window: Script,
    acquire: Script,
    reserve: Script,
    settle: Script,
}

impl RedisCounters {
    /// Parse the URL; no connection is made until the first call.
    pub fn new(config: RedisConfig) -> Result<Self, CounterError> {
        let client =
            Client::open(config.url.as_str()).map_err(|e| CounterError::Backend(e.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                conn: OnceCell::new(),
                prefix: config.prefix,
                timeout: config.timeout,
                gcra: Script::new(include_str!("lua/gcra.lua")),
                window: Script::new(include_str!("lua/window.lua")),
                acquire: Script::new(include_str!("lua/acquire.lua")),
                reserve: Script::new(include_str!("lua/reserve.lua")),
                settle: Script::new(include_str!("lua/settle.lua")),
            }),
        })
    }
}

impl Inner {
    async fn conn(&self) -> Result<ConnectionManager, CounterError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1);
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
            })
            .await
            .map_err(backend)?;
        Ok(conn.clone())
    }

    fn key(&self, kind: &str, key: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + kind.len() + key.len());
        k.push_str(&self.prefix);
        k.push_str(kind);
        k.push_str(key);
        k
    }

    /// Run a pot script (reserve or settle) on `keys` with the reservation `id` and `nums`.
    async fn run_pots<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        keys: &[String],
        id: &str,
        nums: &[u64],
    ) -> Result<T, CounterError> {
        self.bounded(async {
            let mut conn = self.conn().await?;
            let mut inv = script.prepare_invoke();
            for k in keys {
                inv.key(k);
            }
            inv.arg(id);
            for n in nums {
                inv.arg(n);
            }
            inv.invoke_async(&mut conn).await.map_err(backend)
        })
        .await
    }

    /// Run `fut` within the timeout.
    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, CounterError>>,
    ) -> Result<T, CounterError> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .map_err(|_| CounterError::Timeout(self.timeout))?
    }
}

fn backend(e: redis::RedisError) -> CounterError {
    CounterError::Backend(e.to_string())
}

/// `{allowed, remaining, reset_after_us, retry_after_us}` from a script.
fn decision(reply: (i64, i64, i64, i64), limit: u64) -> Decision {
    let us = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
    Decision {
        allowed: reply.0 == 1,
        limit,
        remaining: u64::try_from(reply.1).unwrap_or(0).min(limit),
        reset_after: us(reply.2),
        retry_after: us(reply.3),
    }
}

impl Counters for RedisCounters {
    fn backend(&self) -> &'static str {
        "redis"
    }

    fn gcra(&self, key: &str, limit: &Gcra, cost: u64) -> Reply<Decision> {
        let inner = self.inner.clone();
        let key = inner.key("g:", key);
        let limit = *limit;
        Reply::Pending(Box::pin(async move {
            inner
                .bounded(async {
                    let mut conn = inner.conn().await?;
                    let reply: (i64, i64, i64, i64) = inner
                        .gcra
                        .key(&key)
                        .arg(limit.interval_us)
                        .arg(limit.burst)
                        .arg(cost)
                        .invoke_async(&mut conn)
                        .await
                        .map_err(backend)?;
                    Ok(decision(reply, limit.burst))
                })
                .await
        }))
    }

    fn sliding_window(&self, key: &str, limit: &Window, cost: u64) -> Reply<Decision> {
        let inner = self.inner.clone();
        let key = inner.key("w:", key);
        let limit = *limit;
        Reply::Pending(Box::pin(async move {
            inner
                .bounded(async {
                    let mut conn = inner.conn().await?;
                    let reply: (i64, i64, i64, i64) = inner
                        .window
                        .key(&key)
                        .arg(limit.window_us)
                        .arg(limit.limit)
                        .arg(cost)
                        .invoke_async(&mut conn)
                        .await
                        .map_err(backend)?;
                    Ok(decision(reply, limit.limit))
                })
                .await
        }))
    }

    fn acquire(&self, key: &str, max: u64, ttl: Duration) -> Reply<Option<Lease>> {
        let inner = self.inner.clone();
        let key = inner.key("c:", key);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        Reply::Pending(Box::pin(async move {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let conn = inner
                .bounded(async {
                    let mut conn = inner.conn().await?;
                    let got: i64 = inner
                        .acquire
                        .key(&key)
                        .arg(max)
                        .arg(ttl_ms)
                        .arg(&id)
                        .invoke_async(&mut conn)
                        .await
                        .map_err(backend)?;
                    Ok((got == 1).then_some(conn))
                })
                .await?;
            Ok(conn.map(|conn| Lease {
                inner: LeaseInner::Redis(RedisLease {
                    conn,
                    key,
                    id,
                    timeout: inner.timeout,
                }),
            }))
        }))
    }

    fn reserve(&self, id: &str, lines: &[Allowance], ttl: Duration) -> Reply<Reserved> {
        let inner = self.inner.clone();
        let keys = pot_keys(&inner, lines.iter().map(|a| a.key.as_str()));
        let id = id.to_string();
        let mut nums = vec![u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)];
        for a in lines {
            nums.extend([a.limit, a.amount, a.lifetime.as_secs()]);
        }
        Reply::Pending(Box::pin(async move {
            let reply: Vec<i64> = inner.run_pots(&inner.reserve, &keys, &id, &nums).await?;
            let n = |i: usize| u64::try_from(reply.get(i).copied().unwrap_or(0)).unwrap_or(0);
            Ok(match reply.first() {
                Some(0) | None => Reserved::Held,
                Some(_) => Reserved::Refused {
                    index: usize::try_from(n(0)).unwrap_or(1).saturating_sub(1),
                    spent: n(1),
                    reserved: n(2),
                },
            })
        }))
    }

    fn settle(&self, id: &str, lines: &[Actual]) -> Reply<Vec<Settled>> {
        let inner = self.inner.clone();
        let keys = pot_keys(&inner, lines.iter().map(|a| a.key.as_str()));
        let id = id.to_string();
        let nums: Vec<u64> = lines
            .iter()
            .flat_map(|a| [a.amount, a.lifetime.as_secs()])
            .collect();
        Reply::Pending(Box::pin(async move {
            let reply: Vec<(i64, i64)> = inner.run_pots(&inner.settle, &keys, &id, &nums).await?;
            let u = |v: i64| u64::try_from(v).unwrap_or(0);
            Ok(reply
                .into_iter()
                .map(|(b, a)| Settled {
                    before: u(b),
                    after: u(a),
                })
                .collect())
        }))
    }

    fn pot_usage(&self, key: &str) -> Reply<(u64, u64)> {
        let inner = self.inner.clone();
        let key = inner.key("p:", key);
        Reply::Pending(Box::pin(async move {
            inner
                .bounded(async {
                    let mut conn = inner.conn().await?;
                    let mut cmd = redis::cmd("HMGET");
                    cmd.arg(&key).arg("spent").arg("reserved");
                    let (s, r): (Option<u64>, Option<u64>) =
                        cmd.query_async(&mut conn).await.map_err(backend)?;
                    Ok((s.unwrap_or(0), r.unwrap_or(0)))
                })
                .await
        }))
    }
}

/// Each pot's two keys: its hash and its set of reservations.
fn pot_keys<'a>(inner: &Inner, keys: impl Iterator<Item = &'a str>) -> Vec<String> {
    keys.flat_map(|k| [inner.key("p:", k), inner.key("pr:", k)])
        .collect()
}

/// A slot in a Redis sorted set; dropping it removes the member in the
/// background (if no runtime is there, the lease's TTL frees it).
pub(crate) struct RedisLease {
    conn: ConnectionManager,
    key: String,
    id: String,
    timeout: Duration,
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut conn = self.conn.clone();
        let key = std::mem::take(&mut self.key);
        let id = std::mem::take(&mut self.id);
        let timeout = self.timeout;
        rt.spawn(async move {
            let mut zrem = redis::cmd("ZREM");
            zrem.arg(&key).arg(&id);
            let release = zrem.query_async::<i64>(&mut conn);
            match tokio::time::timeout(timeout, release).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(key, error = %e, "releasing a concurrency lease failed; its TTL will free it"),
                Err(_) => tracing::warn!(key, "releasing a concurrency lease timed out; its TTL will free it"),
            }
        });
    }
}
