//! Subscriptions and approval: consumers subscribe to services; a service's
//! `subscription.approval` decides whether a new subscription is approved at once or
//! waits as `pending`. Every change is audited, announced to webhooks, applied on this
//! node at once and, before the call returns, on every live node of the cluster
//! ([`propagate`]), so the next request anywhere is decided by the new state.

pub(crate) mod api;
pub(crate) mod propagate;
pub(crate) mod webhook;
