//! Data types of the cluster registry and of subscriptions.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::error::StoreError;

/// A node's health as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeHealth {
    /// Runs the active version (or is catching up normally).
    Ok,
    /// Could not activate a version, or cannot reach the store: see `last_error`.
    Degraded,
    /// Shut down cleanly.
    Stopped,
}

impl NodeHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeHealth::Ok => "ok",
            NodeHealth::Degraded => "degraded",
            NodeHealth::Stopped => "stopped",
        }
    }
}

impl FromStr for NodeHealth {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "ok" => Ok(NodeHealth::Ok),
            "degraded" => Ok(NodeHealth::Degraded),
            "stopped" => Ok(NodeHealth::Stopped),
            other => Err(StoreError::Corrupt(format!(
                "unknown node health {other:?}"
            ))),
        }
    }
}

/// What a node writes on every heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeHeartbeat {
    pub id: String,
    pub admin_addr: Option<String>,
    pub proxy_addr: Option<String>,
    pub pylon_version: String,
    /// The config version this node serves (`None`: not a store version, e.g. a file).
    pub config_version: Option<i64>,
    /// The subscription generation this node applied.
    pub subscription_generation: i64,
    pub health: NodeHealth,
    pub last_error: Option<String>,
    /// The newest version this node failed to activate, if that is still the problem.
    pub failed_version: Option<i64>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
}

/// A registered node as stored, with the time of its last heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    #[serde(flatten)]
    pub beat: NodeHeartbeat,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
}

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriptionState {
    Pending,
    Approved,
    Rejected,
    Revoked,
}

impl SubscriptionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Pending => "pending",
            SubscriptionState::Approved => "approved",
            SubscriptionState::Rejected => "rejected",
            SubscriptionState::Revoked => "revoked",
        }
    }

    /// The state a subscription must be in for `to` to be reached from it
    /// (pending → approved | rejected, approved → revoked).
    pub fn required_for(to: SubscriptionState) -> Option<SubscriptionState> {
        match to {
            SubscriptionState::Approved | SubscriptionState::Rejected => {
                Some(SubscriptionState::Pending)
            }
            SubscriptionState::Revoked => Some(SubscriptionState::Approved),
            SubscriptionState::Pending => None,
        }
    }
}

impl fmt::Display for SubscriptionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SubscriptionState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "pending" => Ok(SubscriptionState::Pending),
            "approved" => Ok(SubscriptionState::Approved),
            "rejected" => Ok(SubscriptionState::Rejected),
            "revoked" => Ok(SubscriptionState::Revoked),
            other => Err(StoreError::Invalid(format!(
                "unknown subscription state {other:?} (pending, approved, rejected, revoked)"
            ))),
        }
    }
}

/// A consumer's subscription to a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub service: String,
    pub consumer: String,
    pub state: SubscriptionState,
    /// Why it was last decided (given with approve/reject/revoke).
    pub note: Option<String>,
    pub requested_by: String,
    pub decided_by: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

/// A subscription change and the subscription generation it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed<T> {
    pub value: T,
    pub generation: i64,
}

/// Filters for listing subscriptions; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionFilter {
    pub service: Option<String>,
    pub consumer: Option<String>,
    pub state: Option<SubscriptionState>,
}

/// Every approved (service, consumer) pair at one generation: what a node enforces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApprovedSet {
    pub generation: i64,
    /// (service, consumer), sorted.
    pub pairs: Vec<(String, String)>,
}
