//! Built-in policies, one folder each; registered in [`crate::registry`].

pub mod acl;
pub mod adaptive_throttle;
pub mod basic_auth;
pub mod canary;
pub mod concurrency_limit;
pub mod jwt;
pub mod key_auth;
pub mod limiting;
pub mod mirror;
pub mod mtls_auth;
pub mod oauth2_introspection;
pub mod proxy_cache;
pub mod rate_limit;
pub mod request_transformer;
pub mod response_transformer;
pub mod xml_json;
