//! Pylon's persistence layer: SQL-backed control-plane state (see [`sql`]).
#![forbid(unsafe_code)]

pub mod sql;

pub use sql::{Backend, Store, StoreError, StoreOptions};
