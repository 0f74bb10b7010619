//! Built-in policies, one folder each; registered in [`crate::registry`].

pub mod api_lifecycle;
pub mod canary;
pub mod cors;
pub mod ip_restriction;
pub mod key_auth;
pub mod mirror;
pub mod real_ip;
pub mod request_validator;
pub mod threat_protection;
