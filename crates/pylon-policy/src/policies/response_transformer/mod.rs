//! `response-transformer`: rewrite the response before the client sees it:
//! headers (remove, rename, set, add, with templates), JSON bodies, status
//! codes, and custom bodies for chosen error statuses (`502`, `5xx`).

mod config;
mod policy;
#[cfg(test)]
mod tests;

pub use config::ResponseTransformerConfig;
pub use policy::{ResponseTransformer, build};
