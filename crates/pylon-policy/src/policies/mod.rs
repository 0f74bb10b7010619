//! Built-in policies, one folder each; registered in [`crate::registry`].

pub mod adaptive_throttle;
pub mod concurrency_limit;
pub mod key_auth;
pub mod limiting;
pub mod rate_limit;
