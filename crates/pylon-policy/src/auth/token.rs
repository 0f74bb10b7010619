//! Where a bearer token is looked for: headers (`Authorization: Bearer` by
//! default), query parameters and cookies, in that order; and how it is
//! removed before the request goes upstream.

use http::HeaderName;
use http::header::AUTHORIZATION;

use crate::context::RequestHead;
use crate::error::PolicyError;
use crate::util::header_name;

pub(crate) struct TokenLocations {
    headers: Vec<HeaderName>,
    query: Vec<String>,
    cookies: Vec<String>,
}

/// Where a token was found, so it can be removed.
pub(crate) enum Found {
    Header(usize),
    Query(usize),
    Cookie(usize),
}

impl TokenLocations {
    pub(crate) fn new(
        header_names: &[String],
        query_params: &[String],
        cookie_names: &[String],
    ) -> Result<Self, PolicyError> {
        if header_names.is_empty() && query_params.is_empty() && cookie_names.is_empty() {
            return Err(PolicyError::config(
                "header_names",
                "at least one header, query parameter or cookie name is needed",
            ));
        }
        let headers = header_names
            .iter()
            .enumerate()
            .map(|(i, n)| header_name(&format!("header_names[{i}]"), n))
            .collect::<Result<_, _>>()?;
        for (field, names) in [
            ("query_params", query_params),
            ("cookie_names", cookie_names),
        ] {
            if let Some(i) = names.iter().position(|n| n.is_empty()) {
                return Err(PolicyError::config(
                    format!("{field}[{i}]"),
                    "must not be empty",
                ));
            }
        }
        Ok(Self {
            headers,
            query: query_params.to_vec(),
            cookies: cookie_names.to_vec(),
        })
    }

    /// The token and where it was. On `Authorization` only the `Bearer`
    /// scheme counts (other schemes belong to other policies); on other
    /// headers a `Bearer ` prefix is optional.
    pub(crate) fn find(&self, req: &RequestHead) -> Option<(String, Found)> {
        for (i, h) in self.headers.iter().enumerate() {
            for v in req.parts.headers.get_all(h) {
                let v = String::from_utf8_lossy(v.as_bytes());
                let v = v.trim();
                match bearer(v) {
                    Some(t) => return Some((t.to_string(), Found::Header(i))),
                    None if *h != AUTHORIZATION => return Some((v.to_string(), Found::Header(i))),
                    None => {}
                }
            }
        }
        let query = req.parts.uri.query().unwrap_or("");
        for (i, n) in self.query.iter().enumerate() {
            if let Some(v) = crate::util::query_param(query, n) {
                return Some((v, Found::Query(i)));
            }
        }
        for (i, n) in self.cookies.iter().enumerate() {
            if let Some(v) = crate::util::cookie(&req.parts.headers, n) {
                return Some((v, Found::Cookie(i)));
            }
        }
        None
    }

    pub(crate) fn hide(&self, req: &mut RequestHead, found: Found) {
        match found {
            Found::Header(i) => {
                req.parts.headers.remove(&self.headers[i]);
            }
            Found::Query(i) => crate::util::remove_query_param(&mut req.parts.uri, &self.query[i]),
            Found::Cookie(i) => {
                crate::util::remove_cookie(&mut req.parts.headers, &self.cookies[i])
            }
        }
    }
}

/// The token of a `Bearer <token>` value (scheme case-insensitive).
fn bearer(v: &str) -> Option<&str> {
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::request;

    #[test]
    fn bearer_tokens_are_found_in_order_and_hidden() {
        let loc = TokenLocations::new(
            &["authorization".into(), "x-token".into()],
            &["jwt".into()],
            &["tok".into()],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let req = request("GET", "/", &[("authorization", "Basic abc")]);
        assert!(loc.find(&req).is_none(), "Basic is not a bearer token");
        let req = request("GET", "/?jwt=q", &[("authorization", "bearer  t1 ")]);
        assert_eq!(loc.find(&req).map(|f| f.0).as_deref(), Some("t1"));
        let req = request("GET", "/?jwt=q", &[("x-token", "t2")]);
        assert_eq!(loc.find(&req).map(|f| f.0).as_deref(), Some("t2"));
        let mut req = request("GET", "/p?a=1&jwt=q", &[("cookie", "tok=c")]);
        let (t, found) = loc.find(&req).unwrap_or_else(|| panic!("query"));
        assert_eq!(t, "q");
        loc.hide(&mut req, found);
        assert_eq!(req.parts.uri.to_string(), "/p?a=1");
        let (t, found) = loc.find(&req).unwrap_or_else(|| panic!("cookie"));
        assert_eq!(t, "c");
        loc.hide(&mut req, found);
        assert!(loc.find(&req).is_none());
    }
}
