//! The declarative configuration model: the typed shape of a Pylon config file.
//!
//! Every struct denies unknown fields so that a typo is an error, not a silently
//! ignored setting. Defaults live here so that `docs/configuration.md` and the
//! code agree on one source.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::model_ai::*;
pub use crate::model_cluster::*;
pub use crate::model_governance::*;
pub use crate::model_policy::*;
pub use crate::model_route::*;

/// A whole Pylon configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub listeners: Vec<ListenerConfig>,
    #[serde(default)]
    pub upstreams: Vec<UpstreamConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Named APIs whose policies apply to the routes that name them.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
    /// Policies run on every route.
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
    #[serde(default)]
    pub consumers: Vec<ConsumerConfig>,
    #[serde(default)]
    pub consumer_groups: Vec<ConsumerGroupConfig>,
    /// The AI gateway: providers, models, catalog overrides.
    #[serde(default)]
    pub ai: AiConfig,
    /// TLS certificates kept in the config (PEM text), used by listeners that name them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<TlsCertificate>,
    /// Settings shared by the nodes of a cluster (Redis, heartbeats, polling).
    #[serde(default, skip_serializing_if = "ClusterConfig::is_default")]
    pub cluster: ClusterConfig,
    /// URLs notified of events (subscription requests and decisions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookConfig>,
}

/// Process-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Admin and ops listener (`/healthz`, `/readyz`, `/metrics`). `null` disables it.
    pub admin_listen: Option<String>,
    /// Directory for Pylon's own data (store, caches).
    pub data_dir: String,
    /// How long graceful shutdown waits for in-flight requests.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    pub access_log: AccessLogConfig,
    /// Header on responses carrying the request id; incoming values are propagated.
    pub request_id_header: String,
    /// Add a `Via` header to proxied requests and responses.
    pub via_header: bool,
    /// Watch the config file and reload on change (SIGHUP always reloads).
    pub watch_config: bool,
    /// On routes with authentication, the header that tells the upstream the
    /// consumer's name (with `X-Consumer-Groups`, `-Tenant`, `-Custom-Id`,
    /// `X-Credential-Id`); an empty string sends none of them.
    pub consumer_header: String,
    /// When set, `/metrics` answers only with `Authorization: Bearer <this token>`
    /// (`/healthz` and `/readyz` stay open). A secret: use `${ENV}` in files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_token: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            admin_listen: Some("127.0.0.1:9080".into()),
            data_dir: "./pylon-data".into(),
            shutdown_timeout: Duration::from_secs(30),
            access_log: AccessLogConfig::default(),
            request_id_header: "x-request-id".into(),
            via_header: true,
            watch_config: true,
            consumer_header: "x-consumer-name".into(),
            metrics_token: None,
        }
    }
}

/// Where access-log lines go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessLogConfig {
    pub enabled: bool,
    /// `stdout`, `stderr` or a file path (appended).
    pub output: String,
    /// Bounded queue between the request path and the writer; overflow drops and counts.
    pub queue_capacity: usize,
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            output: "stdout".into(),
            queue_capacity: 16_384,
        }
    }
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub name: String,
    /// `host:port`, e.g. `0.0.0.0:8080` or `[::]:8443`.
    pub bind: String,
    #[serde(default)]
    pub protocol: ListenerProtocol,
    #[serde(default)]
    pub tls: Option<ListenerTlsConfig>,
    /// When set, every request on this listener is answered with a 308 redirect to
    /// HTTPS on the given port instead of being routed.
    #[serde(default)]
    pub redirect_https_port: Option<u16>,
    #[serde(default)]
    pub limits: ListenerLimits,
}

/// Which HTTP versions a listener speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerProtocol {
    /// HTTP/1.1 and HTTP/2 (ALPN on TLS, prior-knowledge h2c on plain TCP).
    #[default]
    Auto,
    Http1,
    Http2,
}

/// TLS on a listener; the certificate is chosen by SNI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTlsConfig {
    pub certificates: Vec<CertificateConfig>,
    /// Ask clients for certificates (mutual TLS), verified against `ca_file`.
    #[serde(default)]
    pub client_auth: Option<ClientAuthConfig>,
}

/// Client-certificate verification on a TLS listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthConfig {
    /// PEM file with the CA certificates that client certificates must chain to.
    pub ca_file: String,
    /// Refuse the handshake without a valid client certificate. When false a
    /// certificate is optional, but one that is sent must be valid.
    #[serde(default)]
    pub required: bool,
}

/// A PEM certificate chain and key, served for the names in `server_names`
/// (or the names in the certificate when empty). The first one is the default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// PEM certificate chain file. Give the two files, or `certificate`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cert_file: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key_file: String,
    /// The name of an entry of the top-level `certificates` list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(default)]
    pub server_names: Vec<String>,
    /// Filled at load from the named `certificate` (never written in files).
    #[serde(skip)]
    pub pem: Option<(String, String)>,
}

/// A certificate and its private key kept in the config itself (uploaded through the
/// admin API). The key is a secret: stored encrypted, shown as a fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsCertificate {
    pub name: String,
    #[serde(default = "default_tenant", skip_serializing_if = "is_default_tenant")]
    pub tenant: String,
    /// PEM certificate chain, leaf first.
    pub cert_pem: String,
    /// PEM private key.
    pub key_pem: String,
}

/// Per-listener protections against abusive clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerLimits {
    /// Largest request head (request line plus headers) in bytes.
    pub max_header_bytes: usize,
    /// Most headers in one request.
    pub max_headers: usize,
    /// Time allowed to receive a full request head (slowloris guard). For
    /// HTTP/1.1 it also closes keep-alive connections left idle this long.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Largest request body in bytes; larger ones get 413.
    pub max_body_bytes: u64,
    /// Largest request body read into memory for a policy that needs the
    /// whole body (JSON transformations, validation); larger ones get 413.
    pub max_buffered_body_bytes: u64,
    /// Concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            header_read_timeout: Duration::from_secs(10),
            max_body_bytes: 10 * 1024 * 1024 * 1024,
            max_buffered_body_bytes: 8 * 1024 * 1024,
            max_concurrent_streams: 256,
        }
    }
}

/// A named group of targets that routes send traffic to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub name: String,
    /// The tenant (workspace); routes of other tenants cannot use this upstream.
    #[serde(default = "default_tenant", skip_serializing_if = "is_default_tenant")]
    pub tenant: String,
    pub targets: Vec<TargetConfig>,
    #[serde(default)]
    pub load_balancing: LoadBalancing,
    #[serde(default)]
    pub protocol: UpstreamProtocol,
    #[serde(default)]
    pub tls: UpstreamTlsConfig,
    #[serde(default)]
    pub pool: PoolConfig,
    #[serde(default)]
    pub timeouts: TimeoutConfig,
    #[serde(default)]
    pub health_check: HealthCheckConfig,
    #[serde(default)]
    pub circuit_breaker: Option<CircuitBreakerConfig>,
    #[serde(default)]
    pub retries: RetryConfig,
    /// How often DNS names are re-resolved at most / at least, whatever the record TTL says.
    #[serde(default)]
    pub dns: DnsConfig,
}

/// One upstream endpoint: `host:port` or an `http://` / `https://` URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub address: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

/// Load-balancing algorithm for an upstream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "snake_case", deny_unknown_fields)]
pub enum LoadBalancing {
    /// Smooth weighted round robin.
    #[default]
    RoundRobin,
    LeastConnections,
    /// Power of two choices over a peak-EWMA latency estimate.
    PeakEwma {
        /// How fast old latency samples decay.
        #[serde(default = "default_ewma_decay", with = "humantime_serde")]
        decay: Duration,
    },
    /// Consistent hashing (ketama ring) on a request property.
    ConsistentHash {
        hash_on: HashOn,
    },
}

fn default_ewma_decay() -> Duration {
    Duration::from_secs(10)
}

/// The request property consistent hashing uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HashOn {
    Header(String),
    Cookie(String),
    ClientIp,
    Path,
}

/// HTTP version spoken to targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 on plain TCP; on TLS, whatever ALPN picks (h2 or http/1.1).
    #[default]
    Auto,
    Http1,
    /// HTTP/2 only: prior-knowledge h2c on plain TCP, ALPN h2 on TLS. Needed for gRPC.
    Http2,
}

/// TLS towards `https://` targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamTlsConfig {
    /// PEM bundle of CAs to trust instead of the system roots.
    pub ca_file: Option<String>,
    /// Turn off certificate verification. Only for tests and trusted networks.
    pub insecure_skip_verify: bool,
    /// SNI and verification name, when it differs from the target host.
    pub server_name: Option<String>,
}

/// Keep-alive connection pool per upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    pub max_idle_per_target: usize,
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Most requests in flight to one target; beyond it requests get 503.
    pub max_requests_per_target: Option<u32>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_idle_per_target: 256,
            idle_timeout: Duration::from_secs(90),
            max_requests_per_target: None,
        }
    }
}

/// Upstream timeouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    #[serde(with = "humantime_serde")]
    pub connect: Duration,
    /// Time to send the request (head and buffered body) and get the response head.
    #[serde(with = "humantime_serde")]
    pub read: Duration,
    /// Longest pause between two response body chunks.
    #[serde(with = "humantime_serde")]
    pub idle: Duration,
    /// Time for the whole exchange including retries, up to the response head.
    #[serde(with = "humantime_serde")]
    pub request: Duration,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            read: Duration::from_secs(60),
            idle: Duration::from_secs(300),
            request: Duration::from_secs(120),
        }
    }
}

/// Active and passive health checking.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthCheckConfig {
    pub active: Option<ActiveHealthCheck>,
    pub passive: Option<PassiveHealthCheck>,
}

/// Periodic probes of every target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActiveHealthCheck {
    pub path: String,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub expected_statuses: Vec<u16>,
    /// Host header for probes.
    pub host: Option<String>,
}

impl Default for ActiveHealthCheck {
    fn default() -> Self {
        Self {
            path: "/".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            expected_statuses: vec![200],
            host: None,
        }
    }
}

/// Ejection of targets that fail live traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassiveHealthCheck {
    /// Consecutive failures (connect errors, 5xx) that eject a target.
    pub consecutive_failures: u32,
    /// First ejection time; doubles on each further ejection up to `max_ejection`.
    #[serde(with = "humantime_serde")]
    pub base_ejection: Duration,
    #[serde(with = "humantime_serde")]
    pub max_ejection: Duration,
}

impl Default for PassiveHealthCheck {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(300),
        }
    }
}

/// Per-target circuit breaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreakerConfig {
    /// Open after this many consecutive failures (0 disables the rule).
    pub consecutive_failures: u32,
    /// Open when the error rate in `window` reaches this fraction (0 disables the rule).
    pub error_rate: f64,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Requests needed in the window before the error rate is judged.
    pub min_requests: u32,
    /// Time open before half-open probes are let through.
    #[serde(with = "humantime_serde")]
    pub open_duration: Duration,
    /// Probes admitted while half-open; all must succeed to close.
    pub half_open_probes: u32,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_rate: 0.5,
            window: Duration::from_secs(10),
            min_requests: 20,
            open_duration: Duration::from_secs(30),
            half_open_probes: 1,
        }
    }
}

/// Retry policy for an upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Further attempts after the first (0 disables retries).
    pub attempts: u32,
    pub on_connect_error: bool,
    /// Response statuses that trigger a retry.
    pub on_statuses: Vec<u16>,
    /// Methods that may be retried. Default: the idempotent ones.
    pub methods: Vec<String>,
    /// Request bodies up to this size are buffered so they can be replayed; larger
    /// bodies stream and are not retried.
    pub max_body_buffer: usize,
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
    pub budget: RetryBudget,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: 1,
            on_connect_error: true,
            on_statuses: vec![502, 503, 504],
            methods: ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]
                .into_iter()
                .map(String::from)
                .collect(),
            max_body_buffer: 64 * 1024,
            backoff: Duration::from_millis(25),
            budget: RetryBudget::default(),
        }
    }
}

/// Retries may add at most `ratio` of recent requests, plus `min_per_second`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryBudget {
    pub ratio: f64,
    pub min_per_second: u32,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_per_second: 10,
        }
    }
}

/// DNS refresh bounds for targets given by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    #[serde(with = "humantime_serde")]
    pub min_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub max_ttl: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            min_ttl: Duration::from_secs(1),
            max_ttl: Duration::from_secs(300),
        }
    }
}
