//! `concurrency-limit` settings.

use std::time::Duration;

use serde::Deserialize;

use crate::policies::limiting::{BackendKind, KeyBy, OnBackendError};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConcurrencyLimitConfig {
    /// Requests in flight allowed per key (required, at least 1).
    pub max: u64,
    pub key_by: KeyBy,
    /// The header counted by with `key_by: header`.
    pub header_name: Option<String>,
    /// Status of a refusal: 429 (the client should slow down) or 503.
    pub status: u16,
    /// Sent as `Retry-After` (whole seconds, rounded up) with a refusal.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
    /// Default: `redis` when `cluster.redis_url` is set, else `local`.
    pub backend: Option<BackendKind>,
    /// With `backend: redis` (default `cluster.redis_url`, else `redis://127.0.0.1:6379`).
    pub redis_url: Option<String>,
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
    /// Redis only: a slot not given back within this time (its node
    /// crashed, or the request is longer) is freed.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    pub on_backend_error: OnBackendError,
}

impl Default for ConcurrencyLimitConfig {
    fn default() -> Self {
        Self {
            max: 0,
            key_by: KeyBy::Consumer,
            header_name: None,
            status: 429,
            retry_after: Duration::from_secs(1),
            backend: None,
            redis_url: None,
            redis_timeout: Duration::from_millis(500),
            lease_ttl: Duration::from_secs(300),
            on_backend_error: OnBackendError::Allow,
        }
    }
}
