//! `cors` at run time: preflights answered here, actual responses decorated
//! in the response phase (which also runs for rejections and upstream errors).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode};

use super::config::CorsConfig;
use super::origins::Origins;
use crate::context::{PolicyCtx, RequestHead, ResponseHead};
use crate::error::PolicyError;
use crate::policy::{Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::{header_name, parse_config};

const REQUEST_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-request-private-network");
const ALLOW_PRIVATE_NETWORK: HeaderName =
    HeaderName::from_static("access-control-allow-private-network");

/// Response headers a script may always read (Fetch "CORS-safelisted response-header names").
const SAFELISTED: &[&str] = &[
    "cache-control",
    "content-language",
    "content-length",
    "content-type",
    "expires",
    "last-modified",
    "pragma",
];

pub struct Cors {
    origins: Origins,
    methods: List,
    headers: List,
    expose: List,
    credentials: bool,
    max_age: Option<HeaderValue>,
    private_network: bool,
}

/// A configured list of methods or header names.
enum List {
    /// `*` was listed.
    Any,
    Empty,
    /// The entries joined with `, `.
    Values(HeaderValue),
}

/// What the request phase saw, for the response phase.
#[derive(Clone)]
struct CorsState {
    origin: Option<HeaderValue>,
    allowed: bool,
    preflight: bool,
}

fn list(
    path: &str,
    items: &[String],
    check: impl Fn(&str, &str) -> Result<(), PolicyError>,
) -> Result<List, PolicyError> {
    if items.iter().any(|s| s.trim() == "*") {
        return Ok(List::Any);
    }
    if items.is_empty() {
        return Ok(List::Empty);
    }
    for (i, s) in items.iter().enumerate() {
        check(&format!("{path}[{i}]"), s.trim())?;
    }
    let v = items
        .iter()
        .map(|s| s.trim())
        .collect::<Vec<_>>()
        .join(", ");
    HeaderValue::from_str(&v)
        .map(List::Values)
        .map_err(|_| PolicyError::config(path, "not a valid header value"))
}

fn check_header(path: &str, s: &str) -> Result<(), PolicyError> {
    header_name(path, s).map(|_| ())
}

pub fn build(
    value: &serde_json::Value,
    _env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: CorsConfig = parse_config(value)?;
    let origins = Origins::build(&cfg.allow_origins)?;
    let methods = list("allow_methods", &cfg.allow_methods, |p, s| {
        Method::from_bytes(s.as_bytes())
            .map(|_| ())
            .map_err(|_| PolicyError::config(p, format!("`{s}` is not a valid method")))
    })?;
    if matches!(methods, List::Empty) {
        return Err(PolicyError::config(
            "allow_methods",
            "at least one method (or `*`) is needed",
        ));
    }
    let headers = list("allow_headers", &cfg.allow_headers, check_header)?;
    let expose = list("expose_headers", &cfg.expose_headers, check_header)?;
    Ok(Arc::new(Cors {
        origins,
        methods,
        headers,
        expose,
        credentials: cfg.allow_credentials,
        max_age: cfg.max_age.map(HeaderValue::from),
        private_network: cfg.private_network,
    }))
}

/// Add `token` to `Vary` unless it (or `*`) is already there.
fn add_vary(headers: &mut HeaderMap, token: &'static str) {
    let present = headers
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.eq_ignore_ascii_case(token)
        });
    if !present {
        headers.append(VARY, HeaderValue::from_static(token));
    }
}

impl Cors {
    /// `*` may be sent as the allowed origin: any origin and no credentials
    /// (the Fetch standard ignores a `*` on credentialed requests).
    fn star_origin(&self) -> bool {
        self.origins.any && !self.credentials
    }

    fn allow_origin(&self, origin: &HeaderValue) -> HeaderValue {
        if self.star_origin() {
            HeaderValue::from_static("*")
        } else {
            origin.clone()
        }
    }

    fn preflight(&self, req: &RequestHead, origin: &HeaderValue) -> Response<Bytes> {
        let mut resp = Response::new(Bytes::new());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin(origin));
        if self.credentials {
            h.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        let asked_method = req.parts.headers.get(ACCESS_CONTROL_REQUEST_METHOD);
        let methods = match (&self.methods, asked_method) {
            (List::Values(v), _) => Some(v.clone()),
            (List::Any, Some(m)) if self.credentials => Some(m.clone()),
            (List::Any, _) => Some(HeaderValue::from_static("*")),
            (List::Empty, _) => None,
        };
        if let Some(m) = methods {
            h.insert(ACCESS_CONTROL_ALLOW_METHODS, m);
        }
        let allow_headers = match &self.headers {
            List::Values(v) => Some(v.clone()),
            List::Empty => None,
            List::Any => req
                .parts
                .headers
                .get(ACCESS_CONTROL_REQUEST_HEADERS)
                .cloned(),
        };
        if let Some(v) = allow_headers {
            h.insert(ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        if let Some(age) = &self.max_age {
            h.insert(ACCESS_CONTROL_MAX_AGE, age.clone());
        }
        let asks_private = req
            .parts
            .headers
            .get(REQUEST_PRIVATE_NETWORK)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        if self.private_network && asks_private {
            h.insert(ALLOW_PRIVATE_NETWORK, HeaderValue::from_static("true"));
        }
        if !self.star_origin() {
            add_vary(h, "origin");
        }
        add_vary(h, "access-control-request-method");
        add_vary(h, "access-control-request-headers");
        if self.private_network {
            add_vary(h, "access-control-request-private-network");
        }
        resp
    }

    fn expose(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        match &self.expose {
            List::Empty => None,
            List::Values(v) => Some(v.clone()),
            List::Any if !self.credentials => Some(HeaderValue::from_static("*")),
            // With credentials `*` is a literal name: list what the response has.
            List::Any => {
                let names: Vec<&str> = headers
                    .keys()
                    .map(HeaderName::as_str)
                    .filter(|n| !SAFELISTED.contains(n) && *n != "set-cookie")
                    .filter(|n| !n.starts_with("access-control-"))
                    .collect();
                (!names.is_empty())
                    .then(|| HeaderValue::from_str(&names.join(", ")).ok())
                    .flatten()
            }
        }
    }
}

impl Policy for Cors {
    fn kind(&self) -> &'static str {
        "cors"
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let origin = req.parts.headers.get(ORIGIN).cloned();
        let allowed = origin
            .as_ref()
            .and_then(|o| o.to_str().ok())
            .is_some_and(|o| self.origins.allows(o));
        let preflight = req.parts.method == Method::OPTIONS
            && origin.is_some()
            && req
                .parts
                .headers
                .contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        ctx.vars.insert(CorsState {
            origin: origin.clone(),
            allowed,
            preflight,
        });
        match origin {
            Some(o) if preflight => {
                if !allowed {
                    return Step::reject(Reject::new(
                        StatusCode::FORBIDDEN,
                        "cors_forbidden",
                        "origin not allowed by the CORS policy",
                    ));
                }
                Step::respond(self.preflight(req, &o))
            }
            _ => Step::next(),
        }
    }

    fn on_response(&self, resp: &mut ResponseHead, ctx: &mut PolicyCtx) -> Result<(), Reject> {
        let Some(state) = ctx.vars.get::<CorsState>() else {
            return Ok(());
        };
        if state.preflight {
            return Ok(());
        }
        let h = &mut resp.parts.headers;
        // Pylon owns CORS on this route: the upstream's answer does not count.
        h.remove(ACCESS_CONTROL_ALLOW_ORIGIN);
        h.remove(ACCESS_CONTROL_ALLOW_CREDENTIALS);
        h.remove(ACCESS_CONTROL_EXPOSE_HEADERS);
        let granted = state.origin.as_ref().filter(|_| state.allowed);
        let expose = granted.and_then(|_| self.expose(h));
        if !self.star_origin() {
            add_vary(h, "origin");
        }
        let Some(origin) = granted else {
            return Ok(());
        };
        if let Some(expose) = expose {
            h.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose);
        }
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, self.allow_origin(origin));
        if self.credentials {
            h.insert(
                ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        Ok(())
    }
}
