//! `basic-auth` settings.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BasicAuthConfig {
    /// Realm in the `WWW-Authenticate: Basic` challenge.
    pub realm: String,
    /// Remove the `Authorization` header before the request goes upstream.
    pub hide_credentials: bool,
    /// Consumer used when no Basic credentials are given (wrong ones are still refused).
    pub anonymous: Option<String>,
    /// How long a successful check is remembered, so steady traffic does not
    /// run argon2/bcrypt on every request. `0s` turns the cache off.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
}

impl Default for BasicAuthConfig {
    fn default() -> Self {
        Self {
            realm: "pylon".into(),
            hide_credentials: false,
            anonymous: None,
            cache_ttl: Duration::from_secs(30),
        }
    }
}
