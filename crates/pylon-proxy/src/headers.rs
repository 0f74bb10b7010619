//! Header handling for proxied messages: hop-by-hop removal (RFC 9110 7.6.1),
//! `X-Forwarded-*` and `Via`, and request smuggling checks on incoming heads.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::error::GatewayError;

/// Headers that describe one connection and never cross a proxy.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Remove hop-by-hop headers, including any named in `Connection`.
/// `TE: trailers` is kept (gRPC needs it). With `keep_upgrade`, `Connection:
/// upgrade` and `Upgrade` stay, for WebSocket handshakes.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Names listed in Connection are hop-by-hop too.
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        if keep_upgrade && name == header::UPGRADE {
            continue;
        }
        headers.remove(&name);
    }
    let te_trailers = headers
        .get(header::TE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        });
    for name in &HOP_BY_HOP {
        if keep_upgrade && (name == header::UPGRADE || name == header::CONNECTION) {
            continue;
        }
        headers.remove(name);
    }
    headers.remove(&KEEP_ALIVE);
    headers.remove(&PROXY_CONNECTION);
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Is this an HTTP/1.1 upgrade request (e.g. WebSocket)?
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Append the client to `X-Forwarded-For`, set `X-Forwarded-Proto`, keep or set
/// `X-Forwarded-Host`, and append to `Via`.
pub fn add_forwarding(
    headers: &mut HeaderMap,
    client_ip: IpAddr,
    tls: bool,
    host: Option<&str>,
    via: Option<&HeaderValue>,
) {
    let ip = client_ip.to_string();
    let xff = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
        _ => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    headers.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
    if !headers.contains_key(&X_FORWARDED_HOST)
        && let Some(v) = host.and_then(|h| HeaderValue::from_str(h).ok())
    {
        headers.insert(X_FORWARDED_HOST.clone(), v);
    }
    if let Some(via) = via {
        append_via(headers, via);
    }
}

/// Append Pylon's `Via` entry.
pub fn append_via(headers: &mut HeaderMap, via: &HeaderValue) {
    let combined = match headers.get(header::VIA).and_then(|v| v.to_str().ok()) {
        Some(prev) => {
            HeaderValue::from_str(&format!("{prev}, {}", via.to_str().unwrap_or("pylon"))).ok()
        }
        None => Some(via.clone()),
    };
    if let Some(v) = combined {
        headers.insert(header::VIA, v);
    }
}

/// The `Via` value for a request of the given version.
pub fn via_value(version: http::Version) -> HeaderValue {
    HeaderValue::from_static(match version {
        http::Version::HTTP_10 => "1.0 pylon",
        http::Version::HTTP_2 => "2 pylon",
        http::Version::HTTP_3 => "3 pylon",
        _ => "1.1 pylon",
    })
}

/// Refuse heads that let a front and back server disagree on message length
/// (request smuggling): Content-Length together with Transfer-Encoding,
/// differing or malformed Content-Length values, and transfer codings other
/// than a final `chunked`.
pub fn check_smuggling(headers: &HeaderMap) -> Result<(), GatewayError> {
    let te: Vec<&HeaderValue> = headers.get_all(header::TRANSFER_ENCODING).iter().collect();
    let cl: Vec<&HeaderValue> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    if !te.is_empty() && !cl.is_empty() {
        return Err(GatewayError::bad_request(
            "ambiguous_length",
            "Content-Length and Transfer-Encoding must not both be present",
        ));
    }
    if !te.is_empty() {
        let codings: Vec<String> = te
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .collect();
        if codings.len() != 1 || codings[0] != "chunked" {
            return Err(GatewayError::bad_request(
                "bad_transfer_encoding",
                "only `Transfer-Encoding: chunked` is accepted",
            ));
        }
    }
    let mut length: Option<&str> = None;
    for v in cl {
        let s = v.to_str().unwrap_or("");
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(GatewayError::bad_request(
                    "bad_content_length",
                    "malformed Content-Length",
                ));
            }
            match length {
                Some(prev) if prev != part => {
                    return Err(GatewayError::bad_request(
                        "bad_content_length",
                        "conflicting Content-Length values",
                    ));
                }
                _ => length = Some(part),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn strips_hop_by_hop_and_connection_listed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers, deflate"),
            ("transfer-encoding", "chunked"),
            ("x-kept", "1"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert!(h.get("x-secret").is_none() && h.get("keep-alive").is_none());
        assert!(h.get("connection").is_none() && h.get("transfer-encoding").is_none());
        assert_eq!(h["te"], "trailers");
        assert_eq!(h["x-kept"], "1");
    }

    #[test]
    fn keeps_upgrade_for_websockets() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade_request(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
    }

    #[test]
    fn forwarding_headers_append() {
        let mut h = map(&[("x-forwarded-for", "10.0.0.1"), ("via", "1.1 edge")]);
        add_forwarding(
            &mut h,
            "127.0.0.1".parse().unwrap(),
            true,
            Some("a.example"),
            Some(&via_value(http::Version::HTTP_11)),
        );
        assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "a.example");
        assert_eq!(h["via"], "1.1 edge, 1.1 pylon");
    }

    #[test]
    fn smuggling_vectors_rejected() {
        assert!(
            check_smuggling(&map(&[
                ("content-length", "5"),
                ("transfer-encoding", "chunked")
            ]))
            .is_err()
        );
        assert!(
            check_smuggling(&map(&[("content-length", "5"), ("content-length", "6")])).is_err()
        );
        assert!(check_smuggling(&map(&[("content-length", "5, 6")])).is_err());
        assert!(check_smuggling(&map(&[("content-length", "-1")])).is_err());
        assert!(check_smuggling(&map(&[("transfer-encoding", "gzip, chunked")])).is_err());
        assert!(
            check_smuggling(&map(&[
                ("transfer-encoding", "chunked"),
                ("transfer-encoding", "chunked")
            ]))
            .is_err()
        );
        assert!(check_smuggling(&map(&[("content-length", "5"), ("content-length", "5")])).is_ok());
        assert!(check_smuggling(&map(&[("transfer-encoding", "Chunked")])).is_ok());
    }
}
