//! Entries in Redis under `<prefix>:<scope>:<key>`, in their binary form,
//! each with its TTL set in Redis (`SET .. PX`). The connection is made on
//! first use and re-made by the connection manager after failures; every
//! operation is bounded by the configured timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::entry::{Kind, Record};
use super::key::{CacheKey, VARY_SUFFIX};
use super::store::{CacheError, Write, fresh_response, pick};

pub struct RedisStore {
    client: redis::Client,
    /// `<prefix>:<scope>:`
    base: String,
    timeout: Duration,
    conn: Mutex<Option<ConnectionManager>>,
}

impl RedisStore {
    /// A store for `client` (no connection yet).
    pub fn new(client: redis::Client, prefix: &str, scope: &str, timeout: Duration) -> Self {
        Self {
            client,
            base: format!("{prefix}:{scope}:"),
            timeout,
            conn: Mutex::new(None),
        }
    }

    /// The connection manager, made on first use (it needs the runtime).
    fn conn(&self) -> Result<ConnectionManager, CacheError> {
        let mut slot = self.conn.lock();
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let made = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        *slot = Some(made.clone());
        Ok(made)
    }

    async fn bounded<T>(
        &self,
        op: impl Future<Output = Result<T, redis::RedisError>>,
    ) -> Result<T, CacheError> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(CacheError::Timeout),
        }
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.base)
    }

    pub async fn lookup(
        &self,
        key: &CacheKey,
        headers: &HeaderMap,
        now_ms: u64,
    ) -> Result<Option<Arc<Record>>, CacheError> {
        let mut conn = self.conn()?;
        let keys = [self.full(&key.plain), self.full(&key.vary_spec())];
        let found: Vec<Option<Vec<u8>>> = self
            .bounded(redis::cmd("MGET").arg(&keys).query_async(&mut conn))
            .await?;
        let mut found = found.into_iter().map(decode);
        let plain = found.next().flatten();
        let spec = found.next().flatten();
        match pick(plain, spec, now_ms) {
            Ok(r) => Ok(Some(r)),
            Err(Some(names)) => {
                let variant = self.full(&key.variant(&names, headers));
                let data: Option<Vec<u8>> = self
                    .bounded(redis::cmd("GET").arg(variant).query_async(&mut conn))
                    .await?;
                Ok(fresh_response(decode(data), now_ms))
            }
            Err(None) => Ok(None),
        }
    }

    pub async fn put(&self, w: Write) -> Result<(), CacheError> {
        let mut conn = self.conn()?;
        let mut pipe = redis::pipe();
        let ttl = w.record.ttl_ms.max(1);
        match &w.vary {
            None => {
                pipe.cmd("DEL").arg(self.full(&w.key.vary_spec())).ignore();
                pipe.cmd("SET")
                    .arg(self.full(&w.key.plain))
                    .arg(w.record.encode())
                    .arg("PX")
                    .arg(ttl)
                    .ignore();
            }
            Some((names, variant)) => {
                let spec = Record {
                    stored_at_ms: w.record.stored_at_ms,
                    ttl_ms: w.vary_ttl_ms,
                    kind: Kind::Vary(names.clone()),
                };
                pipe.cmd("DEL").arg(self.full(&w.key.plain)).ignore();
                pipe.cmd("SET")
                    .arg(self.full(&w.key.vary_spec()))
                    .arg(spec.encode())
                    .arg("PX")
                    .arg(w.vary_ttl_ms.max(1))
                    .ignore();
                pipe.cmd("SET")
                    .arg(self.full(variant))
                    .arg(w.record.encode())
                    .arg("PX")
                    .arg(ttl)
                    .ignore();
            }
        }
        self.bounded(pipe.exec_async(&mut conn)).await
    }

    /// `SCAN` for the keys under the prefix and `UNLINK` them, batch by batch.
    pub async fn purge(&self, prefix: Option<&str>) -> Result<usize, CacheError> {
        let mut conn = self.conn()?;
        let pattern = format!(
            "{}{}*",
            glob_escape(&self.base),
            glob_escape(prefix.unwrap_or(""))
        );
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .bounded(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut conn),
                )
                .await?;
            if !keys.is_empty() {
                let _: u64 = self
                    .bounded(redis::cmd("UNLINK").arg(&keys).query_async(&mut conn))
                    .await?;
                removed += keys.iter().filter(|k| !k.ends_with(VARY_SUFFIX)).count();
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }
}

fn decode(data: Option<Vec<u8>>) -> Option<Arc<Record>> {
    Record::decode(Bytes::from(data?)).map(Arc::new)
}

/// `s` with Redis glob characters escaped, to match literally.
pub fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
