//! `jwt` settings.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    /// Headers that carry the token; on `Authorization` only `Bearer` counts.
    pub header_names: Vec<String>,
    /// Query parameters that carry the token.
    pub query_params: Vec<String>,
    /// Cookies that carry the token.
    pub cookie_names: Vec<String>,
    /// The claim whose value selects a consumer `jwt` credential (by its `key`).
    pub key_claim: String,
    /// The claim that names the consumer (by `custom_id`, then name) when the
    /// key is not a consumer credential.
    pub consumer_claim: String,
    /// Refuse tokens whose `consumer_claim` names no configured consumer.
    /// When false such a token still authenticates, as a transient consumer
    /// named after the claim (tenant `default`, no groups).
    pub require_consumer: bool,
    /// Keys given here: `{ kid?, algorithm, secret | public_key }`.
    pub keys: Vec<InlineKey>,
    /// A JWKS document with public keys, fetched on first use and cached.
    pub jwks_url: Option<String>,
    /// How long a fetched JWKS is used (a shorter `Cache-Control: max-age` wins).
    #[serde(with = "humantime_serde")]
    pub jwks_ttl: Duration,
    /// At most one JWKS fetch per this interval (for unknown `kid`s and retries).
    #[serde(with = "humantime_serde")]
    pub jwks_min_refresh_interval: Duration,
    /// Deadline for one JWKS fetch.
    #[serde(with = "humantime_serde")]
    pub jwks_timeout: Duration,
    /// Tokens without `exp` are refused.
    pub require_exp: bool,
    /// Tokens without `nbf` are refused.
    pub require_nbf: bool,
    /// Accepted `iss` values (empty: any).
    pub issuers: Vec<String>,
    /// Accepted `aud` values; the token's `aud` must contain one (empty: not checked).
    pub audiences: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// Claims that must be present.
    pub required_claims: Vec<String>,
    /// Realm in the `WWW-Authenticate: Bearer` challenge.
    pub realm: String,
    /// Remove the token from the request before it goes upstream.
    pub hide_credentials: bool,
    /// Consumer used when no token is given (a bad token is still refused).
    pub anonymous: Option<String>,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            header_names: vec!["authorization".into()],
            query_params: Vec::new(),
            cookie_names: Vec::new(),
            key_claim: "iss".into(),
            consumer_claim: "sub".into(),
            require_consumer: false,
            keys: Vec::new(),
            jwks_url: None,
            jwks_ttl: Duration::from_secs(600),
            jwks_min_refresh_interval: Duration::from_secs(30),
            jwks_timeout: Duration::from_secs(5),
            require_exp: true,
            require_nbf: false,
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: Duration::from_secs(60),
            required_claims: Vec::new(),
            realm: "pylon".into(),
            hide_credentials: false,
            anonymous: None,
        }
    }
}

/// A verification key given in the policy config.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineKey {
    /// Matched against the token header's `kid`; a key without one is tried
    /// for any token of its algorithm.
    #[serde(default)]
    pub kid: Option<String>,
    /// The only algorithm this key accepts (HS256, RS256, PS256, ES256, EdDSA, ...).
    pub algorithm: String,
    /// HMAC secret (HS*).
    #[serde(default)]
    pub secret: Option<String>,
    /// PEM public key (RS*, PS*, ES*, EdDSA).
    #[serde(default)]
    pub public_key: Option<String>,
}
