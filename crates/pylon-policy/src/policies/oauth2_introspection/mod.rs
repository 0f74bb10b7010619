//! `oauth2-introspection`: authenticate requests by an opaque OAuth 2.0 token
//! that the authorization server's RFC 7662 introspection endpoint vouches
//! for, with answers cached for a short while.

mod config;
mod policy;
#[cfg(test)]
mod tests;

pub use config::IntrospectionConfig;
pub use policy::{Introspection, build};
