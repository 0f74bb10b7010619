//! `subscription`: only consumers with an approved subscription to the route's service
//! get through (403 `subscription_required` otherwise). Services with
//! `subscription: {required: true}` get this policy automatically. The approved pairs
//! come from the node's in-memory [`SubscriptionSet`], which the control plane keeps
//! current (PostgreSQL `NOTIFY` plus polling): the request path never asks a database.

mod policy;
mod set;
#[cfg(test)]
mod tests;

pub use policy::{SubscriptionConfig, SubscriptionPolicy, build};
pub use set::SubscriptionSet;
