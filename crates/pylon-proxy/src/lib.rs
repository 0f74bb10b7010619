//! Pylon's data plane: listeners, TLS, routing, upstream pools with load
//! balancing and health checking, and request forwarding.
#![forbid(unsafe_code)]

mod aggregate;
pub mod body;
pub mod client;
pub mod context;
pub mod error;
pub mod forward;
pub mod gateway;
pub mod handler;
pub mod headers;
mod mirror;
pub mod ops;
mod policy_flow;
pub mod router;
pub mod server;
pub mod snapshot;
pub mod upgrade;
pub mod upstream;

pub use gateway::{Gateway, GatewayError, ReloadReport};
