//! Pylon's data plane: listeners, TLS, routing, upstream pools with load
//! balancing and health checking, and request forwarding.
#![forbid(unsafe_code)]

pub mod client;
pub mod router;
pub mod upstream;
