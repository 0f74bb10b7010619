//! What the limiting policies (`rate-limit`, `concurrency-limit`) share: who
//! a request is counted against (`key_by`), and the counter backend kept in
//! [`crate::Shared`] so that counts survive config reloads.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderName;
use pylon_store::counters::{CounterError, Counters, LocalCounters, RedisConfig, RedisCounters};
use pylon_telemetry::Metrics;
use serde::Deserialize;

use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::registry::BuildEnv;

/// Who a request counts against. When the request has no such thing (no
/// consumer yet, no header), it counts against its client IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyBy {
    Consumer,
    Credential,
    Ip,
    Header,
    Route,
    Service,
    Global,
}

/// Where counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    #[default]
    Local,
    Redis,
}

/// What to do when the backend fails (Redis unreachable or slow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBackendError {
    /// Fail open: let the request through.
    #[default]
    Allow,
    /// Fail closed: refuse it (503).
    Deny,
}

pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// Header values longer than this are counted by their SHA-256 digest.
const MAX_KEY_VALUE: usize = 128;

/// A resolved `key_by`.
pub struct Keyer {
    by: KeyBy,
    header: Option<HeaderName>,
}

impl Keyer {
    /// `header_name` is required (and only allowed) with `key_by: header`.
    pub fn new(by: KeyBy, header_name: Option<&str>) -> Result<Self, PolicyError> {
        let header = match (by, header_name) {
            (KeyBy::Header, Some(n)) => Some(crate::util::header_name("header_name", n)?),
            (KeyBy::Header, None) => {
                return Err(PolicyError::config(
                    "header_name",
                    "required with `key_by: header`",
                ));
            }
            (_, Some(_)) => {
                return Err(PolicyError::config(
                    "header_name",
                    "only used with `key_by: header`",
                ));
            }
            (_, None) => None,
        };
        Ok(Self { by, header })
    }

    /// Append the request's key to `out`: a one-letter kind, `:`, the value
    /// (kinds keep a consumer named like an address apart from the address).
    pub fn write(&self, req: &RequestHead, ctx: &PolicyCtx, out: &mut String) {
        let value: Option<(&str, &str)> = match self.by {
            KeyBy::Consumer => ctx.consumer_name().map(|c| ("c:", c)),
            KeyBy::Credential => ctx.credential.as_deref().map(|c| ("k:", c)),
            KeyBy::Ip => None,
            KeyBy::Header => self
                .header
                .as_ref()
                .and_then(|h| req.parts.headers.get(h))
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(|v| ("h:", v)),
            KeyBy::Route => Some(("r:", &*ctx.route)),
            KeyBy::Service => ctx.service.as_deref().map(|s| ("s:", s)),
            KeyBy::Global => Some(("g:", "*")),
        };
        match value {
            Some((kind, v)) if v.len() > MAX_KEY_VALUE => {
                out.push_str(kind);
                out.push('#');
                out.push_str(&hex::encode(crate::consumer::hash_key(v.as_bytes())));
            }
            Some((kind, v)) => {
                out.push_str(kind);
                out.push_str(v);
            }
            None => {
                let _ = write!(out, "i:{}", ctx.client_ip);
            }
        }
    }
}

/// A counter backend as kept in shared state, with the gate that keeps its
/// failure warnings to one every few seconds.
pub struct Backend {
    pub counters: Arc<dyn Counters>,
    warned_at: AtomicU64,
}

impl Backend {
    fn new(counters: Arc<dyn Counters>) -> Self {
        Self {
            counters,
            warned_at: AtomicU64::new(0),
        }
    }

    /// The process's backend of this kind (one per Redis URL), created on
    /// first use and kept across reloads. Builds no connection. Without a
    /// `backend`, a cluster (`cluster.redis_url`) uses Redis, a single node `local`.
    pub fn get(
        env: &BuildEnv<'_>,
        kind: Option<BackendKind>,
        redis_url: Option<&str>,
        redis_timeout: Duration,
    ) -> Result<Arc<Self>, PolicyError> {
        // In a cluster (`cluster.redis_url` set) counters are shared by default.
        let cluster = env.config.cluster.redis_url.as_deref();
        let kind = kind.unwrap_or(if cluster.is_some() {
            BackendKind::Redis
        } else {
            BackendKind::Local
        });
        match (kind, redis_url) {
            (BackendKind::Local, Some(_)) => Err(PolicyError::config(
                "redis_url",
                "only used with `backend: redis`",
            )),
            (BackendKind::Local, None) => Ok(env.shared.get_or_init("counters:local", || {
                Backend::new(Arc::new(LocalCounters::new()))
            })),
            (BackendKind::Redis, url) => {
                let url = url.or(cluster).unwrap_or(DEFAULT_REDIS_URL);
                if redis_timeout.is_zero() {
                    return Err(PolicyError::config("redis_timeout", "must be above zero"));
                }
                let mut cfg = RedisConfig::new(url);
                cfg.timeout = redis_timeout;
                let counters = RedisCounters::new(cfg).map_err(|e| {
                    PolicyError::config("redis_url", format!("not a Redis URL: {e}"))
                })?;
                let key = format!("counters:redis:{url}:{}", redis_timeout.as_millis());
                Ok(env
                    .shared
                    .get_or_init(&key, || Backend::new(Arc::new(counters))))
            }
        }
    }

    /// Count a failure of the backend and log it (at most one warning per 10 s).
    pub fn report_failure(
        &self,
        policy: &'static str,
        metrics: &Metrics,
        error: &CounterError,
        on_error: OnBackendError,
    ) {
        let backend = self.counters.backend();
        metrics.policy_backend_error(policy, backend);
        if self.should_warn() {
            let action = match on_error {
                OnBackendError::Allow => "allowing the request",
                OnBackendError::Deny => "refusing the request",
            };
            tracing::warn!(policy, backend, error = %error, "counter backend failed; {action}");
        }
    }

    /// Whether a failure warning may be logged now (one per 10 s).
    fn should_warn(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let last = self.warned_at.load(Ordering::Relaxed);
        now >= last.saturating_add(10)
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// Whole seconds, rounded up (for `Retry-After` and `RateLimit-Reset`).
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Backend;
    use crate::Shared;
    use crate::testing::{chain_with, config};

    /// Which counter backends the shared state holds after building `policy`.
    fn backends_after(policy: serde_json::Value, extra: serde_json::Value) -> (bool, bool) {
        let shared = Shared::new();
        chain_with(&config(json!([policy]), extra), &shared);
        let has = |key: &str| {
            let found = std::cell::Cell::new(true);
            shared.get_or_init::<Backend>(key, || {
                found.set(false);
                Backend::new(std::sync::Arc::new(
                    pylon_store::counters::LocalCounters::new(),
                ))
            });
            found.get()
        };
        (
            has("counters:local"),
            has("counters:redis:redis://10.9.9.9:6379:500"),
        )
    }

    #[test]
    fn a_cluster_redis_url_makes_redis_the_default_backend() {
        let limit =
            json!({"name": "rate-limit", "config": {"limits": [{"limit": 5, "per": "minute"}]}});
        let cluster = json!({"cluster": {"redis_url": "redis://10.9.9.9:6379"}});
        assert_eq!(
            backends_after(limit.clone(), cluster.clone()),
            (false, true)
        );
        assert_eq!(backends_after(limit, json!({})), (true, false));
        // An explicit `backend: local` stays local in a cluster.
        let local = json!({"name": "rate-limit", "config": {"backend": "local", "limits": [{"limit": 5, "per": "minute"}]}});
        assert_eq!(backends_after(local, cluster), (true, false));
    }
}
