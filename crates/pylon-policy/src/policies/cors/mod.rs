//! `cors`: Cross-Origin Resource Sharing. Pylon answers preflight requests
//! itself and adds the `Access-Control-*` headers to actual responses, by the
//! rules of the Fetch standard.

mod config;
mod origins;
mod policy;
#[cfg(test)]
mod tests;

pub use config::CorsConfig;
pub use policy::{Cors, build};
