//! Pylon persistence and shared state: SQL-backed control-plane state
//! ([`sql`]: versioned config, audit log, admin auth, tenants) and the
//! counters behind rate limits and quotas ([`counters`]: in process or Redis).
#![forbid(unsafe_code)]

pub mod counters;
pub mod sql;

pub use sql::{Backend, Store, StoreError, StoreOptions};
