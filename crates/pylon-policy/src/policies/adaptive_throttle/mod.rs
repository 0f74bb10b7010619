//! `adaptive-throttle`: protect an upstream that is struggling. It watches
//! the error rate and latency of the responses and, when they pass their
//! thresholds, admits a shrinking share of requests (AIMD), refusing the
//! rest with 503 `overloaded` before the upstream falls over.

mod config;
mod controller;
mod policy;
#[cfg(test)]
mod tests;

pub use config::AdaptiveThrottleConfig;
pub use controller::{Controller, Settings, Snapshot};
pub use policy::{AdaptiveThrottle, build};
