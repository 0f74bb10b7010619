//! `api-lifecycle` settings.

use serde::Deserialize;

/// Where the API version is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Active,
    Deprecated,
    Retired,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiLifecycleConfig {
    pub state: State,
    /// When the version is (or will be) deprecated, RFC 3339
    /// (`2025-06-30T00:00:00Z`); required when `state` is `deprecated`.
    pub deprecated_at: Option<String>,
    /// When the version stops answering, RFC 3339.
    pub sunset_at: Option<String>,
    /// URL of the version that replaces this one (`Link; rel="successor-version"`).
    pub successor: Option<String>,
    /// URL of a page about the deprecation (`Link; rel="deprecation"`).
    pub deprecation_link: Option<String>,
    /// Once `sunset_at` has passed, answer 410 as if `state` were `retired`.
    pub retire_at_sunset: bool,
    /// Message of the 410 answer.
    pub message: String,
}

impl Default for ApiLifecycleConfig {
    fn default() -> Self {
        Self {
            state: State::Active,
            deprecated_at: None,
            sunset_at: None,
            successor: None,
            deprecation_link: None,
            retire_at_sunset: false,
            message: "this API version has been retired".into(),
        }
    }
}
