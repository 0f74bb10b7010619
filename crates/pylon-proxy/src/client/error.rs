//! Errors of the upstream client, classified by how far the exchange got.
//!
//! The split that matters to the caller is whether anything reached the
//! target: a request that was never written can be retried on another target
//! whatever its method, one that was written may only be retried when it is
//! idempotent.

use std::time::Duration;

/// Why an upstream exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request URI has no usable scheme or host.
    #[error("invalid upstream URI `{uri}`: {reason}")]
    InvalidUri { uri: String, reason: &'static str },
    /// The upstream TLS settings cannot be used (bad CA bundle, bad server name).
    #[error("upstream TLS configuration: {0}")]
    TlsConfig(String),
    /// Name resolution failed or returned no address.
    #[error("DNS lookup for `{host}` failed: {reason}")]
    Dns { host: String, reason: String },
    /// Every address refused or failed the TCP connect.
    #[error("connect to {target} failed: {source}")]
    Connect {
        target: String,
        #[source]
        source: std::io::Error,
    },
    /// Every address timed out during the TCP connect.
    #[error("connect to {target} timed out after {timeout:?}")]
    ConnectTimeout { target: String, timeout: Duration },
    /// The TLS handshake failed or timed out (certificate rejected, no common
    /// protocol, peer closed).
    #[error("TLS handshake with {target} failed: {source}")]
    Tls {
        target: String,
        #[source]
        source: std::io::Error,
    },
    /// The HTTP/1 or HTTP/2 connection setup failed before any request.
    #[error("HTTP handshake with {target} failed: {source}")]
    Handshake {
        target: String,
        #[source]
        source: hyper::Error,
    },
    /// A pooled connection turned out closed before the request was written.
    #[error("request to {target} not sent, the connection was closed: {source}")]
    NotSent {
        target: String,
        #[source]
        source: hyper::Error,
    },
    /// The request was (at least partly) sent, then the exchange failed before
    /// a response head arrived.
    #[error("request to {target} failed: {source}")]
    Request {
        target: String,
        #[source]
        source: hyper::Error,
    },
}

impl ClientError {
    /// A failure to establish the connection to the target (DNS, TCP connect,
    /// connect timeout, TLS or HTTP handshake). Nothing was sent, and the
    /// target itself is at fault: this counts for passive health checks.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            Self::Dns { .. }
                | Self::Connect { .. }
                | Self::ConnectTimeout { .. }
                | Self::Tls { .. }
                | Self::Handshake { .. }
        )
    }

    /// No byte of the request reached the target, so any request, idempotent
    /// or not, may be retried. True for every connect failure, for a pooled
    /// connection found closed, and for local configuration errors.
    pub fn nothing_sent(&self) -> bool {
        !matches!(self, Self::Request { .. })
    }

    /// The failure was a timeout (TCP connect, TLS handshake or a hyper timer).
    pub fn is_timeout(&self) -> bool {
        match self {
            Self::ConnectTimeout { .. } => true,
            Self::Tls { source, .. } => source.kind() == std::io::ErrorKind::TimedOut,
            Self::Handshake { source, .. }
            | Self::NotSent { source, .. }
            | Self::Request { source, .. } => source.is_timeout(),
            _ => false,
        }
    }
}
