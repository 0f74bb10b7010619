//! Trait implementations written once and expanded per backend.
//!
//! The SQL text is the same on SQLite and PostgreSQL: both accept `$N` placeholders,
//! `RETURNING`, `ON CONFLICT` and `LIMIT/OFFSET`; timestamps go through [`Ts`] and JSON
//! through `sqlx::types::Json`, which map to each dialect's column types. Each macro here
//! expands to `impl Trait for $store` inside the backend module, with the backend's pool
//! and connection types, so both backends run literally the same queries and cannot drift.
//! What does differ (how a write transaction starts, change notification) is in the
//! backend's own `begin_write`, `begin_read` and `after_activate`.
//!
//! [`Ts`]: super::rows::Ts

pub(crate) mod access;
pub(crate) mod audit;
pub(crate) mod auth;
pub(crate) mod cluster;
pub(crate) mod config;
pub(crate) mod subscriptions;
pub(crate) mod tenants;
