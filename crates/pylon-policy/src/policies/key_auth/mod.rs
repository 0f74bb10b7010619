//! `key-auth`: identify the consumer by an API key in a header, query
//! parameter or cookie; optionally hide the key from the upstream.

mod config;
mod policy;
#[cfg(test)]
mod tests;

pub use config::KeyAuthConfig;
pub use policy::{KeyAuth, build};
