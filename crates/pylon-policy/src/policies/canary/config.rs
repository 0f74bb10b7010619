//! `canary` settings.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// Shares of traffic, in percent, for other upstreams; the rest stays
    /// with the route's own upstream.
    pub splits: Vec<Split>,
    /// What keeps one client on one side. Without it each request is drawn.
    #[serde(default)]
    pub sticky: Option<Sticky>,
    /// A request header whose value names one of the `splits` upstreams (or
    /// `default` for the route's own) and overrides the draw.
    #[serde(default)]
    pub force_header: Option<String>,
    /// Tell the client which side served (`X-Canary: <upstream>|default`).
    #[serde(default)]
    pub expose: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub upstream: String,
    /// Percent of requests, 0 to 100 (fractions allowed, e.g. 0.5).
    pub weight: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Sticky {
    Header(String),
    Cookie(String),
    Consumer,
    ClientIp,
}
