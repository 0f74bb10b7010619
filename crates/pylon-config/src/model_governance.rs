//! The governance part of the AI config: Pylon-issued virtual keys, budgets in
//! dollars per period, and request/token/concurrency limits, each scoped to keys,
//! users, teams, tenants or models (see docs/ai/governance.md).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model_policy::{default_tenant, is_default_tenant};

/// A key Pylon issues to callers of its AI routes. Only its SHA-256 is kept; callers
/// never see provider keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualKeyConfig {
    /// The key's id (shown in records and metrics, never the key itself).
    pub name: String,
    /// The key in clear (usually `${ENV}`), hashed when the config is compiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// SHA-256 of the key, in hex (what the admin API stores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_sha256: Option<String>,
    #[serde(default = "default_tenant", skip_serializing_if = "is_default_tenant")]
    pub tenant: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// The person or application the key belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Public model names (or `provider/*`) the key may use; empty: what the route allows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// RFC 3339 time after which the key is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Limits of this key alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<AiLimits>,
    /// Budget of this key alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetAmount>,
}

/// Requests per minute, tokens per minute (input and output, as counted after the
/// call) and calls in flight.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AiLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u64>,
}

/// An amount of money per period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetAmount {
    /// The hard limit in US dollars: calls that could exceed it are refused.
    pub amount_usd: f64,
    #[serde(default)]
    pub period: BudgetPeriod,
    /// Percentages of the amount at which a `budget.threshold` webhook fires (once per
    /// period each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_at: Vec<u8>,
}

/// The period a budget resets on (UTC, calendar-aligned).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    Hour,
    Day,
    Week,
    #[default]
    Month,
    /// Never resets.
    Total,
}

impl BudgetPeriod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Total => "total",
        }
    }
}

/// Which calls a budget or limit counts: every field given must match (none: all calls).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GovernScope {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A virtual key's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The public model name the caller asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// What a budget or limit is counted per, inside its scope (none: one shared count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GovernPer {
    Tenant,
    Team,
    User,
    Key,
    Model,
}

/// A budget over the calls of a scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    pub name: String,
    #[serde(default)]
    pub scope: GovernScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<GovernPer>,
    pub amount_usd: f64,
    #[serde(default)]
    pub period: BudgetPeriod,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_at: Vec<u8>,
}

/// Limits over the calls of a scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiLimitConfig {
    pub name: String,
    #[serde(default)]
    pub scope: GovernScope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per: Option<GovernPer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u64>,
}

impl AiLimitConfig {
    pub fn limits(&self) -> AiLimits {
        AiLimits {
            rpm: self.rpm,
            tpm: self.tpm,
            max_concurrent: self.max_concurrent,
        }
    }
}
