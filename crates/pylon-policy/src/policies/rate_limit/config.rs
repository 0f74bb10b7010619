//! `rate-limit` settings.

use std::time::Duration;

use serde::Deserialize;

use crate::policies::limiting::{BackendKind, KeyBy, OnBackendError};

/// A named period for `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Per {
    Second,
    Minute,
    Hour,
    Day,
    /// 30 days.
    Month,
}

impl Per {
    pub fn duration(self) -> Duration {
        Duration::from_secs(match self {
            Per::Second => 1,
            Per::Minute => 60,
            Per::Hour => 3600,
            Per::Day => 86_400,
            Per::Month => 30 * 86_400,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    Gcra,
    SlidingWindow,
}

/// One limit: `limit` requests per `per` (or per `window`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    #[serde(default)]
    pub per: Option<Per>,
    /// Any period instead of `per` (`90s`, `15m`).
    #[serde(default, with = "humantime_serde")]
    pub window: Option<Duration>,
    pub limit: u64,
    /// GCRA only: how many may come at once (default: `limit`).
    #[serde(default)]
    pub burst: Option<u64>,
    /// Default: `gcra` for periods under an hour, `sliding_window` from an hour up.
    #[serde(default)]
    pub algorithm: Option<Algorithm>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub limits: Vec<LimitConfig>,
    pub key_by: KeyBy,
    /// The header counted by with `key_by: header`.
    pub header_name: Option<String>,
    /// Default: `redis` when `cluster.redis_url` is set, else `local`.
    pub backend: Option<BackendKind>,
    /// With `backend: redis` (default `cluster.redis_url`, else `redis://127.0.0.1:6379`).
    pub redis_url: Option<String>,
    /// Bound on one Redis call, connecting included.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
    pub on_backend_error: OnBackendError,
    /// Leave out the `RateLimit-*` headers.
    pub hide_headers: bool,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            limits: Vec::new(),
            key_by: KeyBy::Consumer,
            header_name: None,
            backend: None,
            redis_url: None,
            redis_timeout: Duration::from_millis(500),
            on_backend_error: OnBackendError::Allow,
            hide_headers: false,
        }
    }
}
