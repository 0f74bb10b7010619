//! `threat-protection`: a coarse request filter (not a WAF): body size and
//! JSON shape limits, common SQL-injection and XSS patterns in query
//! parameters, chosen headers and JSON string values, and a user-agent deny
//! list; blocks or only logs.

mod config;
mod json_scan;
mod patterns;
mod policy;
#[cfg(test)]
mod tests;

pub use config::{Mode, ThreatProtectionConfig};
pub(crate) use policy::is_json;
pub use policy::{ThreatProtection, build};
