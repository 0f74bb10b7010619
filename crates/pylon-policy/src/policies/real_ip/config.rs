//! `real-ip` settings.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RealIpConfig {
    /// Networks (CIDR) or addresses of proxies whose header is believed.
    pub trusted_proxies: Vec<String>,
    /// Header carrying the client address: a comma-separated list
    /// (`X-Forwarded-For`), a single address (`X-Real-IP`), or `Forwarded`
    /// (RFC 7239, its `for=` parameters).
    pub header: String,
    /// Walk the list right to left, skipping trusted proxies, and take the
    /// first untrusted address. Off: take the rightmost address.
    pub recursive: bool,
}

impl Default for RealIpConfig {
    fn default() -> Self {
        Self {
            trusted_proxies: Vec::new(),
            header: "x-forwarded-for".into(),
            recursive: false,
        }
    }
}
