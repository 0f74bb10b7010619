//! `request-transformer`: rewrite the request before it goes upstream:
//! headers and query parameters (remove, rename, set, add, with templates)
//! and JSON bodies (remove, rename, set by JSON pointer, or replace).

pub(crate) mod config;
pub(crate) mod json_ops;
pub(crate) mod ops;
mod policy;
#[cfg(test)]
mod tests;

pub use config::RequestTransformerConfig;
pub use policy::{RequestTransformer, build};
