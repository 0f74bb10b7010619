//! Turning stored records into responses, responses into records, and
//! answering conditional requests with 304.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode, header};

use super::entry::{Entry, Kind, Record};
use super::rules;

pub static X_CACHE_STATUS: HeaderName = HeaderName::from_static("x-cache-status");

/// The response for a cache hit at `now_ms`: the stored one, or 304 when
/// the request's conditions match it; without a body for HEAD requests.
/// `None` when the record holds no response.
pub fn hit(rec: &Record, request: &HeaderMap, head: bool, now_ms: u64) -> Option<Response<Bytes>> {
    let Kind::Response(e) = &rec.kind else {
        return None;
    };
    let status = StatusCode::from_u16(e.status).ok()?;
    let find = |name: &HeaderName| e.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let not_modified = status == StatusCode::OK
        && rules::not_modified(request, find(&header::ETAG), find(&header::LAST_MODIFIED));
    let body = if not_modified || head {
        Bytes::new()
    } else {
        e.body.clone()
    };
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    for (k, v) in &e.headers {
        if !not_modified || rules::NOT_MODIFIED_HEADERS.contains(k) {
            headers.append(k.clone(), v.clone());
        }
    }
    headers.insert(header::AGE, HeaderValue::from(rec.age(now_ms)));
    headers.insert(X_CACHE_STATUS.clone(), HeaderValue::from_static("HIT"));
    *resp.status_mut() = if not_modified {
        StatusCode::NOT_MODIFIED
    } else {
        status
    };
    Some(resp)
}

/// Turn a response into 304 Not Modified: only the headers a 304 carries
/// are kept, and the body is dropped.
pub fn make_not_modified(parts: &mut http::response::Parts, body: &mut Option<Bytes>) {
    parts.status = StatusCode::NOT_MODIFIED;
    let kept: Vec<(HeaderName, HeaderValue)> = rules::NOT_MODIFIED_HEADERS
        .iter()
        .flat_map(|name| {
            parts
                .headers
                .get_all(name)
                .iter()
                .map(|v| (name.clone(), v.clone()))
                .collect::<Vec<_>>()
        })
        .collect();
    parts.headers.clear();
    for (k, v) in kept {
        parts.headers.append(k, v);
    }
    *body = Some(Bytes::new());
}

/// The record of a response to be stored.
pub fn record(parts: &http::response::Parts, body: Bytes, now_ms: u64, ttl_ms: u64) -> Record {
    let headers = parts
        .headers
        .iter()
        .filter(|(k, _)| !rules::not_stored(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Record {
        stored_at_ms: now_ms,
        ttl_ms,
        kind: Kind::Response(Entry {
            status: parts.status.as_u16(),
            initial_age: rules::age_of(&parts.headers),
            headers,
            body,
        }),
    }
}
