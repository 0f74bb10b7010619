//! Built-in policies, one folder each; registered in [`crate::registry`].

pub mod canary;
pub mod key_auth;
pub mod mirror;
pub mod mtls_auth;
pub mod proxy_cache;
pub mod request_transformer;
pub mod response_transformer;
pub mod xml_json;
