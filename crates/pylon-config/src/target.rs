//! Parsing of upstream target addresses: `host:port`, `[v6]:port`, or an
//! `http://` / `https://` URL with an optional port.

use serde::Serialize;

/// A parsed target address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TargetAddr {
    pub tls: bool,
    /// Host name or IP literal, without brackets.
    pub host: String,
    pub port: u16,
}

impl TargetAddr {
    /// Parse a target as written in config.
    pub fn parse(input: &str) -> Result<Self, String> {
        let (tls, rest, default_port) = if let Some(r) = input.strip_prefix("https://") {
            (true, r, Some(443))
        } else if let Some(r) = input.strip_prefix("http://") {
            (false, r, Some(80))
        } else if input.contains("://") {
            return Err(format!(
                "`{input}`: only http:// and https:// targets are supported"
            ));
        } else {
            (false, input, None)
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') || rest.contains('?') {
            return Err(format!(
                "`{input}`: a target cannot carry a path; use a route rewrite"
            ));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("`{input}`: unterminated IPv6 literal"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(format!("`{input}`: junk after IPv6 literal")),
            };
            (h, port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(format!("`{input}`: missing host"));
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        {
            return Err(format!("`{input}`: invalid host `{host}`"));
        }
        let port = match (port, default_port) {
            (Some(p), _) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("`{input}`: invalid port `{p}`"))?,
            (None, Some(d)) => d,
            (None, None) => {
                return Err(format!(
                    "`{input}`: missing port (write host:port or a URL)"
                ));
            }
        };
        Ok(Self {
            tls,
            host: host.to_string(),
            port,
        })
    }

    /// `host:port` with brackets around IPv6 literals.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Whether the host is an IP literal (no DNS needed).
    pub fn is_ip(&self) -> bool {
        self.host.parse::<std::net::IpAddr>().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms() {
        let t = TargetAddr::parse("127.0.0.1:8080").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (false, "127.0.0.1", 8080));
        let t = TargetAddr::parse("https://api.example.com").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port),
            (true, "api.example.com", 443)
        );
        let t = TargetAddr::parse("http://[::1]:9000/").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9000));
        assert_eq!(t.authority(), "[::1]:9000");
        assert!(t.is_ip());
    }

    #[test]
    fn rejects_bad_forms() {
        for bad in [
            "localhost",
            "ftp://x:1",
            "http://x:0",
            "x:99999",
            "http://x/path",
            ":80",
            "a b:1",
        ] {
            assert!(TargetAddr::parse(bad).is_err(), "{bad} should fail");
        }
    }
}
