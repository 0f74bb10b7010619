//! `rate-limit`: refuse a client's requests over one or more rates (per
//! second to per month), counted per consumer, credential, IP, header, route,
//! service or globally, in this process or in Redis for the whole cluster.

mod config;
mod policy;
#[cfg(test)]
mod tests;

pub use config::{Algorithm, LimitConfig, Per, RateLimitConfig};
pub use policy::{RateLimit, build};
