//! `concurrency-limit`: cap the requests in flight per consumer, credential,
//! IP, header, route, service or globally; a slot is held until the
//! response has been sent (or the request failed).

mod config;
mod policy;
#[cfg(test)]
mod tests;

pub use config::ConcurrencyLimitConfig;
pub use policy::{ConcurrencyLimit, build};
