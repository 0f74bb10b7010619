//! Upstream runtime state (being built).
