//! `adaptive-throttle` settings.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveThrottleConfig {
    /// How far back responses are judged.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How often the admitted share is adjusted.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Unhealthy when the `latency_percentile` latency is above this
    /// (time to the response head). Not judged when absent.
    #[serde(default, with = "humantime_serde")]
    pub latency_threshold: Option<Duration>,
    pub latency_percentile: f64,
    /// Unhealthy when more than this share of responses have status ≥ 500.
    /// `null` turns the error check off.
    pub error_rate_threshold: Option<f64>,
    /// Fewer responses than this in the window are not judged (counted as healthy).
    pub min_requests: u64,
    /// Multiplies the admitted share when unhealthy (0 < decrease < 1).
    pub decrease: f64,
    /// Added to the admitted share per healthy interval (0 < increase ≤ 1).
    pub increase: f64,
    /// The admitted share never falls below this (0 < min_admit ≤ 1), so
    /// some traffic keeps probing the upstream.
    pub min_admit: f64,
    /// Sent as `Retry-After` (whole seconds, rounded up) with a refusal.
    #[serde(with = "humantime_serde")]
    pub retry_after: Duration,
}

impl Default for AdaptiveThrottleConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            interval: Duration::from_secs(1),
            latency_threshold: None,
            latency_percentile: 0.9,
            error_rate_threshold: Some(0.2),
            min_requests: 20,
            decrease: 0.5,
            increase: 0.1,
            min_admit: 0.05,
            retry_after: Duration::from_secs(1),
        }
    }
}
