//! [`Metrics`]: Pylon's Prometheus metrics over a `prometheus-client` registry.
//!
//! One `Metrics` value is created at startup and cloned into every component
//! (it is an `Arc` inside). The request path calls
//! [`Metrics::observe_request`] once per finished request with the same
//! [`CallRecord`] it hands to the access log; the proxy, health checker and
//! config loader call the narrower helpers. [`Metrics::encode`] renders the text
//! exposition for the admin `/metrics` endpoint.
//!
//! Label values are kept bounded: routes, upstreams, targets and listeners are
//! names from the compiled config, a request without a route is labelled
//! `none`, and status codes are folded into classes (`1xx`..`5xx`, `other`).
//!
//! Other crates can add their own metrics with [`Metrics::register`].

use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Metric, Registry};

use crate::record::CallRecord;

/// `Content-Type` of the output of [`Metrics::encode`] (OpenMetrics text 1.0.0).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `Content-Type` of the output of [`Metrics::encode_prometheus`] (Prometheus text 0.0.4).
pub const PROMETHEUS_CONTENT_TYPE: &str =
    prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Target states reported by `pylon_upstream_target_health`.
pub const TARGET_STATES: [&str; 4] = ["healthy", "unhealthy", "ejected", "open"];

/// Histogram buckets for durations, in seconds: 0.5 ms to 60 s.
const DURATION_BUCKETS: [f64; 17] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
    30.0, 60.0,
];

/// Label used when a request matched no route.
const NO_ROUTE: &str = "none";

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Arc<str>,
    status_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    upstream: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetStateLabels {
    upstream: Arc<str>,
    target: Arc<str>,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PolicyLabels {
    policy: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    policy: &'static str,
    backend: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    result: &'static str,
}

/// A function that reports the current access-log queue depth at scrape time.
type DepthProbe = Box<dyn Fn() -> usize + Send + Sync>;

struct Inner {
    registry: RwLock<Registry>,
    no_route: Arc<str>,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    upstream_duration: HistogramFamily<UpstreamLabels>,
    target_health: Family<TargetStateLabels, Gauge>,
    upstream_retries: Family<UpstreamLabels, Counter>,
    open_connections: Family<ListenerLabels, Gauge>,
    config_reloads: Family<ReloadLabels, Counter>,
    config_version: Gauge,
    access_log_dropped: Counter,
    access_log_queue_depth: Gauge,
    policy_rejections: Family<PolicyLabels, Counter>,
    policy_backend_errors: Family<BackendLabels, Counter>,
    queue_depth_probe: RwLock<Option<DepthProbe>>,
}

/// Pylon's Prometheus metrics. Cheap to clone; all clones share one registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the registry with every Pylon metric registered (and no series yet).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "pylon_http_requests",
            "HTTP requests handled, by route and status class",
            http_requests.clone(),
        );
        let http_duration: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register(
            "pylon_http_request_duration_seconds",
            "Total request duration as seen by the gateway, by route",
            http_duration.clone(),
        );
        let upstream_duration: HistogramFamily<UpstreamLabels> =
            Family::new_with_constructor(duration_histogram);
        registry.register(
            "pylon_upstream_request_duration_seconds",
            "Duration of the upstream exchange, by upstream",
            upstream_duration.clone(),
        );
        let target_health = Family::<TargetStateLabels, Gauge>::default();
        registry.register(
            "pylon_upstream_target_health",
            "1 for the current state of each upstream target (healthy, unhealthy, ejected, open), 0 otherwise",
            target_health.clone(),
        );
        let upstream_retries = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "pylon_upstream_retries",
            "Upstream retries (attempts after the first), by upstream",
            upstream_retries.clone(),
        );
        let open_connections = Family::<ListenerLabels, Gauge>::default();
        registry.register(
            "pylon_open_connections",
            "Client connections currently open, by listener",
            open_connections.clone(),
        );
        let config_reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "pylon_config_reloads",
            "Configuration reload attempts, by result",
            config_reloads.clone(),
        );
        let config_version = Gauge::default();
        registry.register(
            "pylon_config_version",
            "Version of the active configuration (number of successful loads unless set explicitly)",
            config_version.clone(),
        );
        let access_log_dropped = Counter::default();
        registry.register(
            "pylon_access_log_dropped",
            "Access-log records dropped because the queue was full or the sink failed",
            access_log_dropped.clone(),
        );
        let access_log_queue_depth = Gauge::default();
        registry.register(
            "pylon_access_log_queue_depth",
            "Access-log records waiting to be written",
            access_log_queue_depth.clone(),
        );
        let policy_rejections = Family::<PolicyLabels, Counter>::default();
        registry.register(
            "pylon_policy_rejections",
            "Requests refused by a policy, by policy and error code",
            policy_rejections.clone(),
        );
        let policy_backend_errors = Family::<BackendLabels, Counter>::default();
        registry.register(
            "pylon_policy_backend_errors",
            "Failures of a policy's backend (Redis, JWKS, introspection), by policy and backend",
            policy_backend_errors.clone(),
        );
        // Both reload results are always present, so rate() works from the first scrape.
        for result in ["success", "failure"] {
            drop(config_reloads.get_or_create(&ReloadLabels { result }));
        }
        Self {
            inner: Arc::new(Inner {
                registry: RwLock::new(registry),
                no_route: Arc::from(NO_ROUTE),
                http_requests,
                http_duration,
                upstream_duration,
                target_health,
                upstream_retries,
                open_connections,
                config_reloads,
                config_version,
                access_log_dropped,
                access_log_queue_depth,
                policy_rejections,
                policy_backend_errors,
                queue_depth_probe: RwLock::new(None),
            }),
        }
    }

    /// Counts a request refused by `policy` with error `code`.
    pub fn policy_rejection(&self, policy: &'static str, code: &'static str) {
        self.inner
            .policy_rejections
            .get_or_create(&PolicyLabels { policy, code })
            .inc();
    }

    /// Counts a failure of a policy's backend (`redis`, `jwks`, `introspection`).
    pub fn policy_backend_error(&self, policy: &'static str, backend: &'static str) {
        self.inner
            .policy_backend_errors
            .get_or_create(&BackendLabels { policy, backend })
            .inc();
    }

    /// Records one finished request: `pylon_http_requests_total`,
    /// `pylon_http_request_duration_seconds` (from `duration_ms`), and, when the
    /// record names an upstream, `pylon_upstream_request_duration_seconds` (from
    /// `upstream_ms`) and `pylon_upstream_retries_total` (from `retries`).
    pub fn observe_request(&self, rec: &CallRecord) {
        let inner = &*self.inner;
        let route = match &rec.route {
            Some(r) if !r.is_empty() => r.clone(),
            _ => inner.no_route.clone(),
        };
        inner
            .http_requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                status_class: rec.status_class(),
            })
            .inc();
        inner
            .http_duration
            .get_or_create(&RouteLabels { route })
            .observe(ms_to_secs(rec.duration_ms));
        if let Some(upstream) = rec.upstream.as_ref().filter(|u| !u.is_empty()) {
            let labels = UpstreamLabels {
                upstream: upstream.clone(),
            };
            if let Some(ms) = rec.upstream_ms {
                inner
                    .upstream_duration
                    .get_or_create(&labels)
                    .observe(ms_to_secs(ms));
            }
            if rec.retries > 0 {
                inner
                    .upstream_retries
                    .get_or_create(&labels)
                    .inc_by(u64::from(rec.retries));
            }
        }
    }

    /// Sets `pylon_upstream_target_health{upstream, target, state}` to 1 for
    /// `state` and to 0 for the other known states ([`TARGET_STATES`]). An
    /// unknown state sets all known states to 0 and is otherwise ignored, so the
    /// label set stays bounded.
    pub fn set_target_state(&self, upstream: &str, target: &str, state: &str) {
        let upstream: Arc<str> = Arc::from(upstream);
        let target: Arc<str> = Arc::from(target);
        if !TARGET_STATES.contains(&state) {
            tracing::debug!(%upstream, %target, state, "unknown upstream target state");
        }
        for known in TARGET_STATES {
            let labels = TargetStateLabels {
                upstream: upstream.clone(),
                target: target.clone(),
                state: known,
            };
            self.inner
                .target_health
                .get_or_create(&labels)
                .set(i64::from(known == state));
        }
    }

    /// Removes every `pylon_upstream_target_health` series of a target, e.g. when
    /// the target leaves the config.
    pub fn remove_target(&self, upstream: &str, target: &str) {
        let upstream: Arc<str> = Arc::from(upstream);
        let target: Arc<str> = Arc::from(target);
        for state in TARGET_STATES {
            self.inner.target_health.remove(&TargetStateLabels {
                upstream: upstream.clone(),
                target: target.clone(),
                state,
            });
        }
    }

    /// Increments `pylon_open_connections{listener}`. Pair with
    /// [`Metrics::connection_closed`], or use [`Metrics::open_connection`].
    pub fn connection_opened(&self, listener: &str) {
        self.connections_gauge(listener).inc();
    }

    /// Decrements `pylon_open_connections{listener}`.
    pub fn connection_closed(&self, listener: &str) {
        self.connections_gauge(listener).dec();
    }

    /// Increments `pylon_open_connections{listener}` and returns a guard that
    /// decrements it when dropped.
    pub fn open_connection(&self, listener: &str) -> ConnectionGuard {
        let gauge = self.connections_gauge(listener);
        gauge.inc();
        ConnectionGuard { gauge }
    }

    fn connections_gauge(&self, listener: &str) -> Gauge {
        self.inner
            .open_connections
            .get_or_create_owned(&ListenerLabels {
                listener: Arc::from(listener),
            })
    }

    /// Records the initial configuration load: `pylon_config_version` + 1.
    pub fn config_loaded(&self) {
        self.inner.config_version.inc();
    }

    /// Records a reload attempt: `pylon_config_reloads_total{result}` + 1, and on
    /// success `pylon_config_version` + 1.
    pub fn config_reload(&self, success: bool) {
        let result = if success { "success" } else { "failure" };
        self.inner
            .config_reloads
            .get_or_create(&ReloadLabels { result })
            .inc();
        if success {
            self.inner.config_version.inc();
        }
    }

    /// Sets `pylon_config_version` explicitly (for stores that number versions).
    pub fn set_config_version(&self, version: i64) {
        self.inner.config_version.set(version);
    }

    /// Adds `n` to `pylon_access_log_dropped_total`. Called by [`CallLog`](crate::CallLog).
    pub fn access_log_dropped(&self, n: u64) {
        self.inner.access_log_dropped.inc_by(n);
    }

    /// Installs the function that reports the access-log queue depth; it is
    /// called on every [`Metrics::encode`]. Called by [`CallLog`](crate::CallLog).
    pub fn set_queue_depth_probe(&self, probe: impl Fn() -> usize + Send + Sync + 'static) {
        *self.inner.queue_depth_probe.write() = Some(Box::new(probe));
    }

    /// Registers an additional metric (from another crate) in the same registry.
    /// As with `prometheus-client`, counters must not end in `_total` (the suffix
    /// is added when encoding), and the help text gets a full stop appended.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.inner.registry.write().register(name, help, metric);
    }

    /// Renders every metric in the OpenMetrics text format
    /// ([`OPENMETRICS_CONTENT_TYPE`]), ending with `# EOF`.
    pub fn encode(&self) -> String {
        self.encode_with(prometheus_client::encoding::text::encode)
    }

    /// Renders every metric in the classic Prometheus text format 0.0.4
    /// ([`PROMETHEUS_CONTENT_TYPE`]).
    pub fn encode_prometheus(&self) -> String {
        self.encode_with(prometheus_client::encoding::prometheus_text::encode)
    }

    fn encode_with(&self, f: fn(&mut String, &Registry) -> fmt::Result) -> String {
        self.refresh_queue_depth();
        let mut out = String::with_capacity(8 * 1024);
        if f(&mut out, &self.inner.registry.read()).is_err() {
            // Writing into a String cannot fail; a metric's encoder might.
            tracing::error!("failed to encode metrics");
        }
        out
    }

    fn refresh_queue_depth(&self) {
        if let Some(probe) = self.inner.queue_depth_probe.read().as_ref() {
            let depth = i64::try_from(probe()).unwrap_or(i64::MAX);
            self.inner.access_log_queue_depth.set(depth);
        }
    }
}

/// Keeps `pylon_open_connections{listener}` incremented while alive; see
/// [`Metrics::open_connection`].
#[derive(Debug)]
#[must_use = "the connection is counted as closed when the guard is dropped"]
pub struct ConnectionGuard {
    gauge: Gauge,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

fn ms_to_secs(ms: f64) -> f64 {
    if ms.is_finite() && ms > 0.0 {
        ms / 1000.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests;
