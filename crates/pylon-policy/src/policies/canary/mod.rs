//! `canary`: send a weighted share of a route's traffic to other upstreams
//! (a new release), sticky per client by a header, cookie or the consumer,
//! and forced by a header for testers.

mod config;
mod policy;
#[cfg(test)]
mod tests;

pub use config::CanaryConfig;
pub use policy::{Canary, build};
