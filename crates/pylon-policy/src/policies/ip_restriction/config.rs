//! `ip-restriction` settings.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpRestrictionConfig {
    /// Networks (CIDR) or addresses allowed; when set, every other address is denied.
    pub allow: Vec<String>,
    /// Networks or addresses denied (wins over `allow`).
    pub deny: Vec<String>,
    /// Message of the 403 answer.
    pub message: String,
}

impl Default for IpRestrictionConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            deny: Vec::new(),
            message: "your IP address is not allowed to access this resource".into(),
        }
    }
}
