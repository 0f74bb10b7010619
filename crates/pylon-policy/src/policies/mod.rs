//! Built-in policies, one folder each; registered in [`crate::registry`].

pub mod api_lifecycle;
pub mod canary;
pub mod cors;
pub mod ip_restriction;
pub mod key_auth;
pub mod mirror;
pub mod mtls_auth;
pub mod real_ip;
pub mod request_transformer;
pub mod request_validator;
pub mod response_transformer;
pub mod threat_protection;
pub mod xml_json;
