//! `proxy-cache` settings.

use std::time::Duration;

use serde::Deserialize;

/// Where entries are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheBackend {
    /// In this process, bounded by `memory_max_bytes`.
    Memory,
    /// In Redis, shared by every node.
    Redis,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyCacheConfig {
    /// Request methods whose responses are cached.
    pub methods: Vec<String>,
    /// Response statuses that may be stored.
    pub statuses: Vec<u16>,
    /// Longest time an entry is served; also the lifetime of a response
    /// without freshness information.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// Honour `Cache-Control`, `Pragma` and `Expires` of requests and responses.
    pub respect_cache_control: bool,
    /// Request headers whose values are part of the key.
    pub vary_headers: Vec<String>,
    /// Query parameters left out of the key.
    pub ignore_query_params: Vec<String>,
    /// Share responses to authenticated requests between consumers.
    pub share_authenticated: bool,
    /// Store responses carrying `Set-Cookie` (the cookies themselves are never stored).
    pub cache_set_cookie: bool,
    /// Largest body stored.
    pub max_body_bytes: usize,
    /// Default: `redis` when `cluster.redis_url` is set, else `memory`.
    pub backend: Option<CacheBackend>,
    /// Memory backend: total size of the entries.
    pub memory_max_bytes: u64,
    /// Redis backend: `redis://[user:password@]host:port[/db]` (default `cluster.redis_url`).
    pub redis_url: Option<String>,
    /// Redis backend: keys are `<redis_key_prefix>:<scope>:<path>...`.
    pub redis_key_prefix: String,
    /// Redis backend: longest wait for one Redis operation.
    #[serde(with = "humantime_serde")]
    pub redis_timeout: Duration,
}

impl Default for ProxyCacheConfig {
    fn default() -> Self {
        Self {
            methods: vec!["GET".into(), "HEAD".into()],
            statuses: vec![200, 203, 204, 300, 301, 308, 404, 410],
            ttl: Duration::from_secs(60),
            respect_cache_control: true,
            vary_headers: Vec::new(),
            ignore_query_params: Vec::new(),
            share_authenticated: false,
            cache_set_cookie: false,
            max_body_bytes: 1 << 20,
            backend: None,
            memory_max_bytes: 64 << 20,
            redis_url: None,
            redis_key_prefix: "pylon:cache".into(),
            redis_timeout: Duration::from_millis(250),
        }
    }
}
