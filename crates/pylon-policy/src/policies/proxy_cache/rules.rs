//! HTTP caching rules (RFC 9111) as pure functions: `Cache-Control`
//! parsing, whether a response may be stored and for how long, `Vary`, and
//! conditional requests (`If-None-Match`, `If-Modified-Since`).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, header};

/// The directives of the `Cache-Control` headers that matter to a shared cache.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CacheControl {
    pub no_store: bool,
    pub no_cache: bool,
    pub private: bool,
    pub public: bool,
    pub must_revalidate: bool,
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
}

impl CacheControl {
    /// Parse every `Cache-Control` header. Qualified forms (`private="x"`)
    /// count as unqualified (stricter); an unparsable age counts as 0 (stale);
    /// a repeated age keeps the smallest.
    pub fn parse(headers: &HeaderMap) -> Self {
        let mut cc = CacheControl::default();
        for value in headers.get_all(header::CACHE_CONTROL) {
            let Ok(value) = value.to_str() else { continue };
            for directive in split_list(value) {
                let (name, arg) = match directive.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (directive, None),
                };
                let age = || arg.and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
                let min = |old: Option<u64>, new: u64| Some(old.map_or(new, |o| o.min(new)));
                match name.to_ascii_lowercase().as_str() {
                    "no-store" => cc.no_store = true,
                    "no-cache" => cc.no_cache = true,
                    "private" => cc.private = true,
                    "public" => cc.public = true,
                    "must-revalidate" | "proxy-revalidate" => cc.must_revalidate = true,
                    "max-age" => cc.max_age = min(cc.max_age, age()),
                    "s-maxage" => cc.s_maxage = min(cc.s_maxage, age()),
                    _ => {}
                }
            }
        }
        cc
    }

    /// A request's directives; `Pragma: no-cache` counts as `no-cache` when
    /// the request has no `Cache-Control`.
    pub fn of_request(headers: &HeaderMap) -> Self {
        let mut cc = Self::parse(headers);
        if !headers.contains_key(header::CACHE_CONTROL)
            && headers
                .get_all(header::PRAGMA)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(split_list)
                .any(|d| d.eq_ignore_ascii_case("no-cache"))
        {
            cc.no_cache = true;
        }
        cc
    }
}

/// The comma-separated items of a header value, trimmed, empty ones skipped.
fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// The request headers named by the response's `Vary` (lower-case, sorted,
/// without duplicates); `None` for `Vary: *`, which matches no later request.
pub fn vary_names(headers: &HeaderMap) -> Option<Vec<String>> {
    let mut names = Vec::new();
    for value in headers.get_all(header::VARY) {
        for name in split_list(value.to_str().unwrap_or("*")) {
            if name == "*" {
                return None;
            }
            names.push(name.to_ascii_lowercase());
        }
    }
    names.sort();
    names.dedup();
    Some(names)
}

/// What the response-phase rules need to know besides the response.
pub struct StoreRules<'a> {
    pub statuses: &'a [u16],
    pub ttl: Duration,
    pub respect_cache_control: bool,
    pub cache_set_cookie: bool,
    /// The entry is keyed by the consumer (so `private` responses may be kept).
    pub consumer_keyed: bool,
}

/// Whether a response may be stored, and for how long.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Store(Duration),
    /// Not storable, with the reason (for debug logs).
    Skip(&'static str),
}

/// Decide whether a response with `status` and `headers` may be stored
/// (everything but its size), and its time to live.
pub fn storable(
    status: u16,
    headers: &HeaderMap,
    rules: &StoreRules<'_>,
    now: SystemTime,
) -> Verdict {
    if !rules.statuses.contains(&status) {
        return Verdict::Skip("status");
    }
    if vary_names(headers).is_none() {
        return Verdict::Skip("vary_star");
    }
    if !rules.cache_set_cookie && headers.contains_key(header::SET_COOKIE) {
        return Verdict::Skip("set_cookie");
    }
    if rules.respect_cache_control {
        let cc = CacheControl::parse(headers);
        if cc.no_store {
            return Verdict::Skip("no_store");
        }
        if cc.no_cache {
            return Verdict::Skip("no_cache");
        }
        if cc.private && !rules.consumer_keyed {
            return Verdict::Skip("private");
        }
        let ttl = time_to_live(&cc, headers, rules.ttl, now);
        if ttl.is_zero() {
            return Verdict::Skip("stale");
        }
        return Verdict::Store(ttl);
    }
    if rules.ttl.is_zero() {
        return Verdict::Skip("stale");
    }
    Verdict::Store(rules.ttl)
}

/// How long a response stays fresh in this cache: `s-maxage`, else
/// `max-age`, else `Expires` minus `Date`, else `limit`; never more than
/// `limit`; less the `Age` the response already has.
pub fn time_to_live(
    cc: &CacheControl,
    headers: &HeaderMap,
    limit: Duration,
    now: SystemTime,
) -> Duration {
    let lifetime = if let Some(s) = cc.s_maxage.or(cc.max_age) {
        Duration::from_secs(s)
    } else if let Some(expires) = headers.get(header::EXPIRES) {
        // An invalid date (such as `0`) means "already expired".
        let date = http_date(headers.get(header::DATE)).unwrap_or(now);
        http_date(Some(expires))
            .and_then(|e| e.duration_since(date).ok())
            .unwrap_or(Duration::ZERO)
    } else {
        limit
    };
    lifetime
        .min(limit)
        .saturating_sub(Duration::from_secs(age_of(headers)))
}

/// The `Age` a response arrived with, in seconds (0 when absent or invalid).
pub fn age_of(headers: &HeaderMap) -> u64 {
    headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn http_date(value: Option<&HeaderValue>) -> Option<SystemTime> {
    httpdate::parse_http_date(value?.to_str().ok()?.trim()).ok()
}

/// Whether a conditional request is answered with 304 by a response with
/// `etag` and `last_modified`: `If-None-Match` (weak comparison; `*` matches
/// any tag) decides when present, else `If-Modified-Since`.
pub fn not_modified(
    request: &HeaderMap,
    etag: Option<&HeaderValue>,
    last_modified: Option<&HeaderValue>,
) -> bool {
    let inm: Vec<&HeaderValue> = request.get_all(header::IF_NONE_MATCH).iter().collect();
    if !inm.is_empty() {
        let Some(etag) = etag.and_then(|e| e.to_str().ok()) else {
            return false;
        };
        let ours = weak(etag);
        return inm
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(split_list)
            .any(|tag| tag == "*" || weak(tag) == ours);
    }
    match (
        http_date(request.get(header::IF_MODIFIED_SINCE)),
        http_date(last_modified),
    ) {
        (Some(since), Some(modified)) => modified <= since,
        _ => false,
    }
}

/// An entity tag without its weakness marker.
fn weak(tag: &str) -> &str {
    tag.trim().strip_prefix("W/").unwrap_or(tag.trim())
}

/// Headers a 304 answer carries (RFC 9110, 15.4.5) besides the cache's own.
pub const NOT_MODIFIED_HEADERS: [header::HeaderName; 6] = [
    header::CACHE_CONTROL,
    header::CONTENT_LOCATION,
    header::DATE,
    header::ETAG,
    header::EXPIRES,
    header::VARY,
];

/// Hop-by-hop and per-delivery headers that are never stored; cookies are
/// never shared through the cache.
pub fn not_stored(name: &header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "age"
            | "x-cache-status"
            | "set-cookie"
    )
}
