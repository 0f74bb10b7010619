//! `request-validator`: validate the JSON body, query parameters, path
//! parameters and headers of a request against JSON Schemas (draft 2020-12 by
//! default) compiled when the config loads; failures are a 400 listing the
//! failing instance paths.

mod coerce;
mod config;
mod policy;
#[cfg(test)]
mod tests;

pub use config::RequestValidatorConfig;
pub use policy::{RequestValidator, build};
