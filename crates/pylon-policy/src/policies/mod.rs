//! Built-in policies, one folder each; registered in [`crate::registry`].

pub mod key_auth;
pub mod proxy_cache;
