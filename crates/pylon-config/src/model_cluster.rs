//! Cluster-wide settings (`cluster:`), outgoing event notifications (`webhooks:`) and a
//! service's subscription rules (`services[].subscription`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the nodes sharing one PostgreSQL store behave. Every field has a default, so a
/// single node needs none of this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The Redis every node shares. When set, `rate-limit`, `concurrency-limit` and
    /// `proxy-cache` default to their Redis backend on it (a policy may still say
    /// `backend: local`/`memory`, or name another `redis_url`).
    pub redis_url: Option<String>,
    /// How often a node writes its heartbeat row.
    #[serde(with = "humantime_serde")]
    pub heartbeat_interval: Duration,
    /// How often a node re-reads the active version and subscription generation, as a
    /// safety net beside PostgreSQL `LISTEN`.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// A node whose last heartbeat is older than this is shown as stale and is not waited
    /// for by subscription changes.
    #[serde(with = "humantime_serde")]
    pub node_stale_after: Duration,
    /// How long a subscription change waits for every live node to apply it.
    #[serde(with = "humantime_serde")]
    pub ack_timeout: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            heartbeat_interval: Duration::from_secs(2),
            poll_interval: Duration::from_secs(5),
            node_stale_after: Duration::from_secs(10),
            ack_timeout: Duration::from_secs(3),
        }
    }
}

impl ClusterConfig {
    /// Whether every field has its default (then it is left out of exports).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The events a webhook can receive.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "subscription.requested",
    "subscription.approved",
    "subscription.rejected",
    "subscription.revoked",
    "subscription.cancelled",
];

/// A URL that receives JSON event notifications, signed with HMAC-SHA256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    /// `http://` or `https://` URL that receives `POST` requests.
    pub url: String,
    /// Key of the `X-Pylon-Signature` HMAC; use `${ENV}` or `${file:...}`.
    #[serde(default)]
    pub secret: Option<String>,
    /// Which events (see [`WEBHOOK_EVENTS`]); empty means all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Bound on one delivery attempt.
    #[serde(default = "default_webhook_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts before a delivery is given up (with exponential backoff between).
    #[serde(default = "default_webhook_attempts")]
    pub max_attempts: u32,
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_webhook_attempts() -> u32 {
    5
}

impl WebhookConfig {
    /// Whether this webhook wants `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event)
    }
}

/// Whether a service's routes need an approved subscription, and how requests for one
/// are decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriptionSettings {
    /// Consumers without an approved subscription get 403 on the service's routes.
    pub required: bool,
    /// `automatic`: a new subscription is approved at once; `manual`: it waits as
    /// `pending` for an admin to approve or reject it.
    pub approval: Approval,
}

impl SubscriptionSettings {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// How subscription requests are decided.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    #[default]
    Automatic,
    Manual,
}
