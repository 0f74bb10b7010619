//! Cache keys. A key reads `<path>[?<sorted query>] <hash>`: the path and
//! normalised query first (so a purge can select by prefix), then a hash of
//! the route, method, host, the configured `vary_headers` and the consumer.
//! Three records hang off one key: `<key>` (a response without `Vary`),
//! `<key>:v` (the header names of the upstream's `Vary`) and `<key>:<hash>`
//! (the response for one combination of those headers' values).

use http::HeaderMap;
use sha2::{Digest, Sha256};

/// Suffix of the record holding an upstream `Vary` list.
pub const VARY_SUFFIX: &str = ":v";

/// The keys of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// `<path>[?<query>] <hash>`: the record of a response without `Vary`.
    pub plain: String,
}

impl CacheKey {
    /// The record listing the upstream's `Vary` header names.
    pub fn vary_spec(&self) -> String {
        format!("{}{VARY_SUFFIX}", self.plain)
    }

    /// The record of the response for this request's values of `names`.
    pub fn variant(&self, names: &[String], headers: &HeaderMap) -> String {
        let mut h = Hasher::default();
        for name in names {
            h.field(name);
            h.field(&header_values(headers, name));
        }
        format!("{}:{}", self.plain, h.finish())
    }
}

/// What a key is made of.
pub struct KeyInput<'a> {
    pub route: &'a str,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub ignore_query_params: &'a [String],
    /// Configured `vary_headers` (lower-case) and the request's headers.
    pub vary_headers: &'a [String],
    pub headers: &'a HeaderMap,
    /// `tenant/name` of the consumer when entries are per consumer.
    pub consumer: Option<(&'a str, &'a str)>,
}

/// The key of a request.
pub fn cache_key(input: &KeyInput<'_>) -> CacheKey {
    let mut h = Hasher::default();
    h.field(input.route);
    h.field(input.method);
    h.field(&input.host.to_ascii_lowercase());
    for name in input.vary_headers {
        h.field(name);
        h.field(&header_values(input.headers, name));
    }
    match input.consumer {
        Some((tenant, name)) => {
            h.field("consumer");
            h.field(tenant);
            h.field(name);
        }
        None => h.field("shared"),
    }
    CacheKey {
        plain: format!(
            "{} {}",
            path_and_query(input.path, input.query, input.ignore_query_params),
            h.finish()
        ),
    }
}

/// The path and its query with parameters sorted by name (the order of one
/// name's values is kept), `ignore` left out, and encoding made uniform.
pub fn path_and_query(path: &str, query: Option<&str>, ignore: &[String]) -> String {
    let query = normalize_query(query.unwrap_or(""), ignore);
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// A query string with parameters sorted by name and `ignore` left out.
pub fn normalize_query(query: &str, ignore: &[String]) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| !ignore.iter().any(|i| i == k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Every value of header `name`, joined by `, ` (empty when absent).
fn header_values(headers: &HeaderMap, name: &str) -> String {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .collect();
    values.join(", ")
}

/// SHA-256 over length-prefixed fields, as 32 hex digits.
#[derive(Default)]
struct Hasher(Sha256);

impl Hasher {
    fn field(&mut self, s: &str) {
        self.0.update((s.len() as u64).to_be_bytes());
        self.0.update(s.as_bytes());
    }

    fn finish(self) -> String {
        let digest = self.0.finalize();
        hex::encode(&digest[..16])
    }
}
