//! `acl` settings.

use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AclConfig {
    /// The consumer must be in at least one of these groups (when not empty).
    pub allow: Vec<String>,
    /// A consumer in any of these groups is refused, whatever else matches.
    pub deny: Vec<String>,
    /// Every rule must hold on the request's verified claims.
    pub claims: Vec<ClaimRuleConfig>,
}

/// One rule on a claim; exactly one of `equals`, `contains`, `in`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimRuleConfig {
    /// The claim name; a name not present as such is read as a dotted path (`realm_access.roles`).
    pub claim: String,
    /// The claim equals this value.
    #[serde(default)]
    pub equals: Option<serde_json::Value>,
    /// The claim (a list, or a space-separated string such as OAuth `scope`) contains this value.
    #[serde(default)]
    pub contains: Option<serde_json::Value>,
    /// The claim is one of these values (for a list claim: one of its items is).
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<serde_json::Value>>,
}
