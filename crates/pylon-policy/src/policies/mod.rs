//! Built-in policies, one folder each; registered in [`crate::registry`].

pub mod acl;
pub mod adaptive_throttle;
pub mod api_lifecycle;
pub mod basic_auth;
pub mod canary;
pub mod concurrency_limit;
pub mod cors;
pub mod ip_restriction;
pub mod jwt;
pub mod key_auth;
pub mod limiting;
pub mod mirror;
pub mod mtls_auth;
pub mod oauth2_introspection;
pub mod proxy_cache;
pub mod rate_limit;
pub mod real_ip;
pub mod request_transformer;
pub mod request_validator;
pub mod response_transformer;
pub mod subscription;
pub mod threat_protection;
pub mod xml_json;
