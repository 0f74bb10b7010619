//! `ip-restriction`: allow or deny requests by client IP (after `real-ip`)
//! against CIDR lists; deny wins, and an allow list denies everything else.

mod config;
mod policy;
#[cfg(test)]
mod tests;

pub use config::IpRestrictionConfig;
pub use policy::{IpRestriction, build};
