//! `acl`: allow or deny the authenticated consumer by group membership and by
//! rules on verified token claims (JWT, introspection). Deny wins.

mod config;
mod policy;
mod rules;
#[cfg(test)]
mod tests;

pub use config::{AclConfig, ClaimRuleConfig};
pub use policy::{Acl, build};
