//! Where the connector gets socket addresses for a target host.
//!
//! The upstream module implements [`AddrSource`] from its DNS cache so that the
//! hot path never waits on a resolver. When a source has nothing for a host,
//! the connector falls back to `tokio::net::lookup_host`, which runs the system
//! resolver off the runtime threads.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// A synchronous, non-blocking source of addresses for `host:port`.
///
/// `lookup` is called on the runtime for every new connection, so it must
/// answer from memory. Returning an empty list makes the connector resolve the
/// name itself (asynchronously).
pub trait AddrSource: Send + Sync + 'static {
    fn lookup(&self, host: &str, port: u16) -> Vec<SocketAddr>;
}

/// Parses `host` as an IP literal (with or without IPv6 brackets).
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Answers IP literals only; every name falls through to the connector's
/// asynchronous system lookup.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemAddrs;

impl AddrSource for SystemAddrs {
    fn lookup(&self, host: &str, port: u16) -> Vec<SocketAddr> {
        ip_literal(host)
            .map(|ip| vec![SocketAddr::new(ip, port)])
            .unwrap_or_default()
    }
}

/// A fixed host → IPs table, for tests and static setups. IP literals resolve
/// to themselves; unknown names fall through to the system lookup.
#[derive(Debug, Clone, Default)]
pub struct StaticAddrs {
    hosts: HashMap<String, Vec<IpAddr>>,
}

impl StaticAddrs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `host` (case-insensitive) to `ips`, replacing any earlier entry.
    pub fn with(mut self, host: &str, ips: impl IntoIterator<Item = IpAddr>) -> Self {
        self.hosts
            .insert(host.to_ascii_lowercase(), ips.into_iter().collect());
        self
    }
}

impl AddrSource for StaticAddrs {
    fn lookup(&self, host: &str, port: u16) -> Vec<SocketAddr> {
        if let Some(ip) = ip_literal(host) {
            return vec![SocketAddr::new(ip, port)];
        }
        self.hosts
            .get(&host.to_ascii_lowercase())
            .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_table() {
        let v6: SocketAddr = "[::1]:81".parse().unwrap();
        assert_eq!(SystemAddrs.lookup("[::1]", 81), vec![v6]);
        assert_eq!(SystemAddrs.lookup("::1", 81), vec![v6]);
        assert!(SystemAddrs.lookup("example.invalid", 80).is_empty());
        let table = StaticAddrs::new().with("Api.Local", ["10.0.0.1".parse().unwrap()]);
        let want: SocketAddr = "10.0.0.1:8080".parse().unwrap();
        assert_eq!(table.lookup("api.local", 8080), vec![want]);
        assert!(table.lookup("other.local", 8080).is_empty());
    }
}
