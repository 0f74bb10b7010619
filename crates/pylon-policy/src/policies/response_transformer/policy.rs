//! `response-transformer` at run time. In the response phase, in this order:
//! an error body for the status as received (or else the JSON body edits),
//! the status mapping, then the header edits. Templates see the request's
//! method, headers and query, captured in the request phase when used.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};

use super::config::{ErrorBodyConfig, ResponseTransformerConfig};
use crate::body;
use crate::context::{PolicyCtx, RequestHead, ResponseHead};
use crate::error::PolicyError;
use crate::policies::request_transformer::json_ops::{JsonOps, JsonTemplate};
use crate::policies::request_transformer::ops::HeaderOps;
use crate::policy::{Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::template::{Scope, Template, Var};
use crate::util::parse_config;

enum ErrorContent {
    Text(Template),
    Json(JsonTemplate),
}

struct ErrorBody {
    content_type: HeaderValue,
    content: ErrorContent,
}

impl ErrorBody {
    fn render(&self, scope: &Scope<'_>) -> Bytes {
        match &self.content {
            ErrorContent::Text(t) => Bytes::from(t.render(scope)),
            ErrorContent::Json(t) => t.render(scope).to_bytes(256),
        }
    }
}

/// What the response phase needs to know of the request.
#[derive(Clone)]
struct Facts {
    method: Method,
    headers: HeaderMap,
    query: Option<String>,
}

pub struct ResponseTransformer {
    headers: HeaderOps,
    body: JsonOps,
    status_map: Vec<(StatusCode, StatusCode)>,
    exact: Vec<(StatusCode, ErrorBody)>,
    /// Indexed by the status class digit (1..=5).
    class: [Option<ErrorBody>; 6],
    /// Request headers the templates read.
    wanted_headers: Vec<HeaderName>,
    wants_query: bool,
    /// Whether the request phase must capture [`Facts`].
    facts: bool,
}

pub fn build(
    value: &serde_json::Value,
    _env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: ResponseTransformerConfig = parse_config(value)?;
    let headers = HeaderOps::build("headers", &cfg.headers, true)?;
    let body = JsonOps::build("body", &cfg.body, true)?;
    let mut status_map = Vec::new();
    for (from, to) in &cfg.status_map {
        let path = format!("status_map.{from}");
        let from = from
            .parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
            .and_then(|c| StatusCode::from_u16(c).ok())
            .ok_or_else(|| PolicyError::config(&path, "not a status code (100-599)"))?;
        let to = StatusCode::from_u16(*to)
            .ok()
            .filter(|c| (200..=599).contains(&c.as_u16()))
            .ok_or_else(|| PolicyError::config(&path, "must map to a status in 200-599"))?;
        status_map.push((from, to));
    }
    let mut exact = Vec::new();
    let mut class: [Option<ErrorBody>; 6] = Default::default();
    for (key, eb) in &cfg.error_bodies {
        let path = format!("error_bodies.{key}");
        let compiled = error_body(&path, eb)?;
        match status_key(key) {
            Some(StatusKey::Exact(code)) => exact.push((code, compiled)),
            Some(StatusKey::Class(d)) => class[d] = Some(compiled),
            None => {
                return Err(PolicyError::config(
                    path,
                    "not a status (`502`, 100-599) or status class (`5xx`)",
                ));
            }
        }
    }
    let mut templates: Vec<&Template> = headers.templates().collect();
    templates.extend(body.templates());
    for eb in exact.iter().map(|(_, e)| e).chain(class.iter().flatten()) {
        match &eb.content {
            ErrorContent::Text(t) => templates.push(t),
            ErrorContent::Json(j) => j.templates(&mut templates),
        }
    }
    let mut wanted_headers: Vec<HeaderName> = Vec::new();
    let mut wants_query = false;
    for v in templates.iter().flat_map(|t| t.vars()) {
        match v {
            Var::Header(h) if !wanted_headers.contains(h) => wanted_headers.push(h.clone()),
            Var::Query(_) => wants_query = true,
            _ => {}
        }
    }
    let mut policy = ResponseTransformer {
        headers,
        body,
        status_map,
        exact,
        class,
        wanted_headers,
        wants_query,
        facts: false,
    };
    policy.facts = policy.needs_facts();
    Ok(Arc::new(policy))
}

enum StatusKey {
    Exact(StatusCode),
    Class(usize),
}

fn status_key(key: &str) -> Option<StatusKey> {
    let b = key.as_bytes();
    if b.len() == 3 && b[1..].eq_ignore_ascii_case(b"xx") && (b'1'..=b'5').contains(&b[0]) {
        return Some(StatusKey::Class(usize::from(b[0] - b'0')));
    }
    key.parse::<u16>()
        .ok()
        .filter(|c| (100..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .map(StatusKey::Exact)
}

fn error_body(path: &str, cfg: &ErrorBodyConfig) -> Result<ErrorBody, PolicyError> {
    let (content, default_type) = match (&cfg.body, &cfg.json) {
        (Some(text), None) => (
            ErrorContent::Text(Template::compile(&format!("{path}.body"), text)?),
            "text/plain; charset=utf-8",
        ),
        (None, Some(doc)) => (
            ErrorContent::Json(JsonTemplate::compile(&format!("{path}.json"), doc)?),
            "application/json",
        ),
        _ => {
            return Err(PolicyError::config(
                path,
                "give exactly one of `body` and `json`",
            ));
        }
    };
    let content_type = match &cfg.content_type {
        Some(ct) => HeaderValue::from_str(ct).map_err(|_| {
            PolicyError::config(format!("{path}.content_type"), "not a valid header value")
        })?,
        None => HeaderValue::from_static(default_type),
    };
    Ok(ErrorBody {
        content_type,
        content,
    })
}

impl ResponseTransformer {
    fn error_body(&self, status: StatusCode) -> Option<&ErrorBody> {
        self.exact
            .iter()
            .find(|(c, _)| *c == status)
            .map(|(_, e)| e)
            .or_else(|| {
                let d = usize::from(status.as_u16() / 100);
                self.class.get(d).and_then(Option::as_ref)
            })
    }

    fn edits_body(&self, headers: &HeaderMap) -> bool {
        !self.body.is_empty() && body::is_json(headers) && body::is_identity(headers)
    }

    fn mapped(&self, status: StatusCode) -> Option<StatusCode> {
        self.status_map
            .iter()
            .find(|(from, _)| *from == status)
            .map(|(_, to)| *to)
    }

    fn needs_facts(&self) -> bool {
        !self.body.is_empty()
            || !self.exact.is_empty()
            || self.class.iter().any(Option::is_some)
            || !self.wanted_headers.is_empty()
            || self.wants_query
            || self
                .headers
                .templates()
                .any(|t| t.vars().any(|v| *v == Var::Method))
    }
}

/// Whether a response with this status to this method may carry a body.
fn may_have_body(method: Option<&Method>, status: StatusCode) -> bool {
    method != Some(&Method::HEAD)
        && !status.is_informational()
        && status != StatusCode::NO_CONTENT
        && status != StatusCode::NOT_MODIFIED
}

impl Policy for ResponseTransformer {
    fn kind(&self) -> &'static str {
        "response-transformer"
    }

    fn wants_response_body(&self, parts: &http::response::Parts, ctx: &PolicyCtx) -> bool {
        let method = ctx.vars.get::<Facts>().map(|f| &f.method);
        may_have_body(method, parts.status)
            && (self.error_body(parts.status).is_some() || self.edits_body(&parts.headers))
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        if self.facts {
            let mut headers = HeaderMap::new();
            for h in &self.wanted_headers {
                for v in req.parts.headers.get_all(h) {
                    headers.append(h.clone(), v.clone());
                }
            }
            let query = if self.wants_query {
                req.parts.uri.query().map(str::to_string)
            } else {
                None
            };
            ctx.vars.insert(Facts {
                method: req.parts.method.clone(),
                headers,
                query,
            });
        }
        Step::next()
    }

    fn on_response(&self, resp: &mut ResponseHead, ctx: &mut PolicyCtx) -> Result<(), Reject> {
        let status = resp.parts.status;
        let facts = ctx.vars.get::<Facts>();
        let scope = Scope {
            ctx,
            method: facts.map_or("", |f| f.method.as_str()),
            headers: facts.map(|f| &f.headers),
            query: facts.and_then(|f| f.query.as_deref()),
            status: Some(status.as_u16()),
        };
        let mut new_body = None;
        if may_have_body(facts.map(|f| &f.method), status) {
            if let Some(eb) = self.error_body(status) {
                new_body = Some((eb.render(&scope), Some(eb.content_type.clone())));
            } else if self.edits_body(&resp.parts.headers)
                && let Some(b) = &resp.body
            {
                match self.body.apply(b, &scope) {
                    Ok(nb) => new_body = nb.map(|b| (b, None)),
                    Err(_) => {
                        return Err(Reject::new(
                            StatusCode::BAD_GATEWAY,
                            "invalid_upstream_body",
                            "the upstream response body is not valid JSON",
                        ));
                    }
                }
            }
        }
        let rendered = self.headers.render(&scope);
        if let Some((b, content_type)) = new_body {
            if let Some(ct) = content_type {
                resp.parts.headers.insert(CONTENT_TYPE, ct);
                resp.parts.headers.remove(CONTENT_ENCODING);
            }
            body::replace(&mut resp.parts.headers, &mut resp.body, b);
        }
        if let Some(to) = self.mapped(status) {
            resp.parts.status = to;
        }
        self.headers.apply(&mut resp.parts.headers, rendered);
        Ok(())
    }
}
