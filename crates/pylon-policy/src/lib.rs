//! Pylon's policy pipeline: the [`Policy`] trait (request, response and log
//! phases with no-op defaults, run in priority order), the per-request
//! [`PolicyCtx`], consumers and their credentials, the registry of built-in
//! policies and the compiled per-route [`Chain`].
//!
//! A policy is one folder under `policies/` (`config.rs`, `policy.rs`, tests)
//! plus one line in [`registry`].
#![forbid(unsafe_code)]

mod auth;
pub mod body;
mod chain;
#[cfg(test)]
mod chain_tests;
mod check;
mod consumer;
mod context;
mod error;
mod identity;
mod ipset;
pub mod outbound;
pub mod policies;
mod policy;
pub mod registry;
mod shared;
pub mod template;
#[cfg(test)]
pub(crate) mod testing;
pub mod util;

pub use chain::{Chain, ChainSet, RequestOutcome};
pub use check::check;
pub use consumer::{Consumer, Consumers, hash_key};
pub use context::{PolicyCtx, RequestHead, ResponseHead};
pub use error::PolicyError;
pub use policy::{AuthRole, BoxFuture, Flow, Policy, PolicyResult, Reject, Step};
pub use registry::BuildEnv;
pub use shared::Shared;
