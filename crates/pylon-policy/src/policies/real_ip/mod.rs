//! `real-ip`: decide the real client address. When the TCP peer is a trusted
//! proxy, the address it reports in `X-Forwarded-For` (or another configured
//! header) becomes the client IP that later policies and logs use.

mod config;
mod policy;
#[cfg(test)]
mod tests;

pub use config::RealIpConfig;
pub use policy::{RealIp, build};
