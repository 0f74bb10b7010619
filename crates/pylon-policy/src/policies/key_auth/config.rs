//! `key-auth` settings.

use serde::Deserialize;

/// Where the key is looked for, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    Header,
    Query,
    Cookie,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeyAuthConfig {
    /// Header, query-parameter and cookie names that carry the key. The
    /// `authorization` header is read as `Bearer <key>` (other schemes are
    /// left to other authentication policies), so `[authorization, x-api-key,
    /// api-key]` accepts keys the way the OpenAI, Anthropic and Azure SDKs send them.
    pub key_names: Vec<String>,
    pub sources: Vec<KeySource>,
    /// Remove the key from the request before it goes upstream.
    pub hide_credentials: bool,
    /// Consumer used when no key is given (a wrong key is still refused).
    pub anonymous: Option<String>,
    /// Realm in the `WWW-Authenticate` challenge.
    pub realm: String,
}

impl Default for KeyAuthConfig {
    fn default() -> Self {
        Self {
            key_names: vec!["x-api-key".into(), "apikey".into()],
            sources: vec![KeySource::Header, KeySource::Query],
            hide_credentials: false,
            anonymous: None,
            realm: "pylon".into(),
        }
    }
}
