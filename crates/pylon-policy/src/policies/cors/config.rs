//! `cors` settings.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Allowed origins: `*` (any), an exact origin (`https://app.example.com`),
    /// a wildcard pattern (`https://*.example.com`: `*` stands for one or more
    /// DNS labels) or a regex prefixed with `~` (matched against the whole origin).
    pub allow_origins: Vec<String>,
    /// Methods answered in preflights; `*` allows any.
    pub allow_methods: Vec<String>,
    /// Request headers allowed; `*` (default) allows whatever the preflight asks for.
    pub allow_headers: Vec<String>,
    /// Response headers scripts may read; `*` exposes all.
    pub expose_headers: Vec<String>,
    /// Allow cookies and HTTP authentication (`Access-Control-Allow-Credentials: true`).
    pub allow_credentials: bool,
    /// How long (seconds) a browser may cache a preflight answer.
    pub max_age: Option<u64>,
    /// Answer Private Network Access preflights
    /// (`Access-Control-Request-Private-Network: true`).
    pub private_network: bool,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            allow_origins: vec!["*".into()],
            allow_methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
                .map(String::from)
                .to_vec(),
            allow_headers: vec!["*".into()],
            expose_headers: Vec::new(),
            allow_credentials: false,
            max_age: None,
            private_network: false,
        }
    }
}
