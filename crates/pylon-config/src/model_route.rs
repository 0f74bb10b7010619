//! The route part of the config model: match conditions, rewrites, the
//! Host header, static responses and the route's action.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::*;

/// A route: what requests it matches and where they go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    pub name: String,
    /// Higher wins. Routes of equal priority are ordered most specific first.
    #[serde(default)]
    pub priority: i32,
    /// Listener names this route serves on; empty means all.
    #[serde(default)]
    pub listeners: Vec<String>,
    #[serde(rename = "match")]
    pub matches: RouteMatch,
    #[serde(default)]
    pub rewrite: Option<RewriteConfig>,
    #[serde(default)]
    pub host_header: HostHeader,
    /// Name of the upstream to proxy to. Exactly one of `upstream`, `respond`,
    /// `aggregate` and `ai`.
    #[serde(default)]
    pub upstream: Option<String>,
    /// A fixed response served by Pylon itself.
    #[serde(default)]
    pub respond: Option<StaticResponse>,
    /// Call several upstreams and merge their JSON answers.
    #[serde(default)]
    pub aggregate: Option<AggregateConfig>,
    /// Serve the AI APIs (`/v1/chat/completions`, `/v1/messages`, ...) under this route.
    #[serde(default)]
    pub ai: Option<AiRouteConfig>,
    /// Overrides of the upstream's timeouts for this route.
    #[serde(default)]
    pub timeouts: Option<TimeoutConfig>,
    /// The service this route belongs to; the service's policies apply.
    #[serde(default)]
    pub service: Option<String>,
    /// Policies for this route; they replace service or global policies of the same type.
    #[serde(default)]
    pub policies: Vec<PolicyConfig>,
}

/// The conditions a request must meet; all given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteMatch {
    /// Exact names or `*.example.com` wildcards; empty matches any host.
    pub hosts: Vec<String>,
    /// Any one of these paths; empty matches every path.
    pub paths: Vec<PathMatch>,
    /// Empty matches any method.
    pub methods: Vec<String>,
    pub headers: Vec<ValueMatch>,
    pub query: Vec<ValueMatch>,
}

/// A path condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PathMatch {
    Exact(String),
    /// Segment-aware prefix: `/api` matches `/api` and `/api/x`, not `/apix`.
    Prefix(String),
    /// `/users/{id}/posts/{post}`; `{name}` matches one segment, `{*rest}` the remainder.
    Template(String),
    /// A regular expression over the whole path, anchored at both ends.
    Regex(String),
}

/// A header or query-parameter condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueMatch {
    pub name: String,
    /// Exact value.
    #[serde(default)]
    pub value: Option<String>,
    /// Regular expression over the whole value.
    #[serde(default)]
    pub regex: Option<String>,
    /// `true`: must be present; `false`: must be absent. Ignored when a value or regex is set.
    #[serde(default)]
    pub present: Option<bool>,
}

/// Path rewrite before forwarding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RewriteConfig {
    /// Remove the matched prefix (prefix routes) or this literal prefix.
    StripPrefix(Option<String>),
    /// Replace the whole path; `{name}` inserts template parameters.
    Path(String),
    /// Regex replace over the path; `$1`, `${name}` insert capture groups.
    Regex {
        pattern: String,
        replacement: String,
    },
}

/// What Host header the upstream sees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HostHeader {
    /// The target's host (and port when not the default).
    #[default]
    Target,
    /// The client's Host header, unchanged.
    Preserve,
    /// A fixed value.
    Rewrite(String),
}

/// A response served without an upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticResponse {
    #[serde(default = "default_status")]
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: String,
}

fn default_status() -> u16 {
    200
}
