//! Helpers for policy implementations: typed config parsing with paths.

use serde::de::DeserializeOwned;

use crate::error::PolicyError;

/// Deserialize a policy's `config` into its typed form; errors name the field path.
pub fn parse_config<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, PolicyError> {
    serde_path_to_error::deserialize::<_, T>(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        PolicyError::config(path, e.into_inner().to_string())
    })
}

/// Parse a header name from config.
pub fn header_name(path: &str, name: &str) -> Result<http::HeaderName, PolicyError> {
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| PolicyError::config(path, format!("`{name}` is not a valid header name")))
}

/// The first value of query parameter `name` (percent-decoded).
pub fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Remove every occurrence of query parameter `name` from `uri`.
pub fn remove_query_param(uri: &mut http::Uri, name: &str) {
    let Some(query) = uri.query() else { return };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or("");
            form_urlencoded::parse(key.as_bytes())
                .next()
                .is_none_or(|(k, _)| k != name)
        })
        .collect();
    let path = uri.path();
    let pq = if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    set_path_and_query(uri, &pq);
}

/// Replace the path and query of `uri`, keeping scheme and authority.
pub fn set_path_and_query(uri: &mut http::Uri, pq: &str) {
    let mut parts = std::mem::take(uri).into_parts();
    if let Ok(p) = http::uri::PathAndQuery::try_from(pq) {
        parts.path_and_query = Some(p);
    }
    if let Ok(u) = http::Uri::from_parts(parts) {
        *uri = u;
    }
}

/// The value of cookie `name` in the `Cookie` headers.
pub fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_string())
}

/// Remove cookie `name` from the `Cookie` headers (dropping a header left empty).
pub fn remove_cookie(headers: &mut http::HeaderMap, name: &str) {
    let kept: Vec<String> = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some(name))
        .map(str::to_string)
        .collect();
    headers.remove(http::header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = http::HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(http::header::COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_found_and_removed() {
        assert_eq!(
            query_param("a=1&api%20key=x%2By", "api key").as_deref(),
            Some("x+y")
        );
        assert_eq!(query_param("a=1", "b"), None);
        let mut uri: http::Uri = "/p?apikey=s&x=1&apikey=t".parse().unwrap_or_default();
        remove_query_param(&mut uri, "apikey");
        assert_eq!(uri.to_string(), "/p?x=1");
        let mut uri: http::Uri = "/p?apikey=s".parse().unwrap_or_default();
        remove_query_param(&mut uri, "apikey");
        assert_eq!(uri.to_string(), "/p");
    }

    #[test]
    fn cookies_are_found_and_removed() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            http::HeaderValue::from_static("a=1; key=\"s3\"; b=2"),
        );
        assert_eq!(cookie(&h, "key").as_deref(), Some("s3"));
        remove_cookie(&mut h, "key");
        assert_eq!(
            h.get(http::header::COOKIE).map(|v| v.as_bytes()),
            Some(&b"a=1; b=2"[..])
        );
        remove_cookie(&mut h, "a");
        remove_cookie(&mut h, "b");
        assert!(h.get(http::header::COOKIE).is_none());
    }
}
