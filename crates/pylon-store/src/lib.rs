//! Pylon persistence and shared state.
#![forbid(unsafe_code)]

pub mod counters;
