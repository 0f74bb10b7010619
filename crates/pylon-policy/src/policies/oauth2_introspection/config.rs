//! `oauth2-introspection` settings.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntrospectionConfig {
    /// The authorization server's introspection endpoint (required).
    pub introspection_url: String,
    /// Pylon's client id at the authorization server (sent with HTTP Basic).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Sent as `token_type_hint` (e.g. `access_token`) when set.
    pub token_type_hint: Option<String>,
    /// Headers that carry the token; on `Authorization` only `Bearer` counts.
    pub header_names: Vec<String>,
    pub query_params: Vec<String>,
    pub cookie_names: Vec<String>,
    /// Longest time an active answer is reused (never past the token's `exp`).
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// How long an inactive answer is reused (`0s`: not cached).
    #[serde(with = "humantime_serde")]
    pub negative_cache_ttl: Duration,
    /// Most answers kept.
    pub cache_size: usize,
    /// Deadline for one introspection call.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The field naming the consumer (by `custom_id`, then name); by default
    /// the first of `client_id`, `sub`, `username` that matches.
    pub consumer_claim: Option<String>,
    /// Refuse tokens that name no configured consumer. When false such a token
    /// still authenticates, as a transient consumer named after the field.
    pub require_consumer: bool,
    /// Realm in the `WWW-Authenticate: Bearer` challenge.
    pub realm: String,
    /// Remove the token from the request before it goes upstream.
    pub hide_credentials: bool,
    /// Consumer used when no token is given (a bad token is still refused).
    pub anonymous: Option<String>,
}

impl Default for IntrospectionConfig {
    fn default() -> Self {
        Self {
            introspection_url: String::new(),
            client_id: None,
            client_secret: None,
            token_type_hint: None,
            header_names: vec!["authorization".into()],
            query_params: Vec::new(),
            cookie_names: Vec::new(),
            cache_ttl: Duration::from_secs(60),
            negative_cache_ttl: Duration::from_secs(5),
            cache_size: 10_000,
            timeout: Duration::from_secs(5),
            consumer_claim: None,
            require_consumer: false,
            realm: "pylon".into(),
            hide_credentials: false,
            anonymous: None,
        }
    }
}
