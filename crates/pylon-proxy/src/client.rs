//! Upstream HTTP client (being built).
