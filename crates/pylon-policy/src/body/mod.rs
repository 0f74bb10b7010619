//! Helpers for policies that read or rewrite bodies: content-type checks,
//! keeping `Content-Length` right after a change, and an order-preserving
//! JSON document with JSON-pointer edits ([`json`]).

pub mod json;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue};

/// The media type of `Content-Type` (without parameters).
fn media_type(headers: &HeaderMap) -> Option<&[u8]> {
    let v = headers.get(CONTENT_TYPE)?.as_bytes();
    let end = v.iter().position(|&b| b == b';').unwrap_or(v.len());
    Some(v[..end].trim_ascii())
}

fn ends_with_ignore_case(s: &[u8], suffix: &[u8]) -> bool {
    s.len() >= suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// `application/json` or any `+json` type (`application/problem+json`).
pub fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|mt| {
        mt.eq_ignore_ascii_case(b"application/json") || ends_with_ignore_case(mt, b"+json")
    })
}

/// `application/xml`, `text/xml` or any `+xml` type (`application/soap+xml`).
pub fn is_xml(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|mt| {
        mt.eq_ignore_ascii_case(b"application/xml")
            || mt.eq_ignore_ascii_case(b"text/xml")
            || ends_with_ignore_case(mt, b"+xml")
    })
}

/// Whether the body is sent as is (no `Content-Encoding` other than `identity`):
/// a compressed body is never parsed or rewritten.
pub fn is_identity(headers: &HeaderMap) -> bool {
    headers
        .get_all(CONTENT_ENCODING)
        .iter()
        .all(|v| v.as_bytes().eq_ignore_ascii_case(b"identity"))
}

/// Replace the body and make the framing headers match it: `Content-Length`
/// set to the new length, `Transfer-Encoding` dropped (the body is complete).
pub fn replace(headers: &mut HeaderMap, slot: &mut Option<Bytes>, body: Bytes) {
    headers.remove(TRANSFER_ENCODING);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    *slot = Some(body);
}

/// Set `Content-Type`.
pub fn set_content_type(headers: &mut HeaderMap, value: &'static str) {
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(ct).unwrap_or_else(|e| panic!("{e}")),
        );
        h
    }

    #[test]
    fn content_types_are_recognised() {
        assert!(is_json(&with("application/json")));
        assert!(is_json(&with("Application/JSON; charset=utf-8")));
        assert!(is_json(&with("application/problem+json")));
        assert!(!is_json(&with("text/plain")));
        assert!(!is_json(&HeaderMap::new()));
        assert!(!is_json(&with("json")));
        assert!(is_json(&with(" application/vnd.api+JSON ;x=1")));
        assert!(is_xml(&with("text/xml; charset=utf-8")));
        assert!(is_xml(&with("application/soap+xml")));
        assert!(!is_xml(&with("application/json")));
    }

    #[test]
    fn replacing_sets_the_length_and_drops_chunking() {
        let mut h = with("application/json");
        h.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        let mut slot = Some(Bytes::from_static(b"{}"));
        replace(&mut h, &mut slot, Bytes::from_static(b"{\"a\":1}"));
        assert_eq!(h[CONTENT_LENGTH], "7");
        assert!(!h.contains_key(TRANSFER_ENCODING));
        assert_eq!(slot.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert!(is_identity(&h));
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        assert!(!is_identity(&h));
    }
}
