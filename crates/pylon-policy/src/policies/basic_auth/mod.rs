//! `basic-auth`: identify the consumer by HTTP Basic credentials checked
//! against the consumers' `basic_auth` credentials (clear passwords, argon2
//! or bcrypt hashes), with a short-lived cache of successful checks.

mod config;
mod index;
mod policy;
#[cfg(test)]
mod tests;

pub use config::BasicAuthConfig;
pub use policy::{BasicAuth, build};
