//! `api-lifecycle`: mark an API version active, deprecated (RFC 9745
//! `Deprecation`, RFC 8594 `Sunset` and `Link` headers on every response) or
//! retired (410 before the upstream is called).

mod config;
mod policy;
#[cfg(test)]
mod tests;

pub use config::{ApiLifecycleConfig, State};
pub use policy::{ApiLifecycle, build};
