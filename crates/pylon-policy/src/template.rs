//! Value templates for policies: text with `{{ variable }}` placeholders,
//! compiled once when the policy is built and rendered per request.
//!
//! Variables (whitespace inside the braces is ignored):
//! `consumer.name`, `consumer.custom_id`, `consumer.tenant`,
//! `consumer.metadata.<key>`, `route`, `service`, `request_id`, `client_ip`,
//! `path` (the normalised request path), `method`, `status` (response phase
//! only), `params.<name>` (route path captures), `headers.<name>` and
//! `query.<name>` (the request's; first value, query values percent-decoded),
//! `claims.<dotted.path>` (verified token claims; strings as is, other values
//! as compact JSON).
//!
//! A value that is missing renders as the empty string. `{{{{` renders a
//! literal `{{`; a `}}` outside a placeholder is literal text. An unknown
//! variable or an unclosed placeholder is a config error.

use std::fmt::Write as _;

use http::{HeaderMap, HeaderName};

use crate::context::PolicyCtx;
use crate::error::PolicyError;

/// Why a template does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("placeholder opened at byte {0} is not closed with `}}}}`")]
    Unclosed(usize),
    #[error("empty placeholder at byte {0}")]
    Empty(usize),
    #[error(
        "unknown variable `{0}`; known: consumer.name, consumer.custom_id, consumer.tenant, \
         consumer.metadata.<key>, route, service, request_id, client_ip, path, method, status, \
         params.<name>, headers.<name>, query.<name>, claims.<path>"
    )]
    Unknown(String),
    #[error("variable `{0}`: {1}")]
    Invalid(String, &'static str),
}

/// One variable a template reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    ConsumerName,
    ConsumerCustomId,
    ConsumerTenant,
    ConsumerMeta(Box<str>),
    Route,
    Service,
    RequestId,
    ClientIp,
    Path,
    Method,
    Status,
    Param(Box<str>),
    Header(HeaderName),
    Query(Box<str>),
    Claim(Box<[Box<str>]>),
}

#[derive(Debug, Clone)]
enum Part {
    Lit(Box<str>),
    Var(Var),
}

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Box<[Part]>,
    literal_len: usize,
}

/// What a template is rendered against.
pub struct Scope<'a> {
    pub ctx: &'a PolicyCtx,
    pub method: &'a str,
    /// The request's headers.
    pub headers: Option<&'a HeaderMap>,
    /// The request's raw query string.
    pub query: Option<&'a str>,
    /// The response status (response phase).
    pub status: Option<u16>,
}

impl<'a> Scope<'a> {
    /// The scope of the request phase.
    pub fn request(parts: &'a http::request::Parts, ctx: &'a PolicyCtx) -> Self {
        Self {
            ctx,
            method: parts.method.as_str(),
            headers: Some(&parts.headers),
            query: parts.uri.query(),
            status: None,
        }
    }
}

impl Template {
    /// Compile `src`.
    pub fn parse(src: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = src;
        loop {
            let Some(open) = rest.find("{{") else {
                lit.push_str(rest);
                break;
            };
            lit.push_str(&rest[..open]);
            let after = &rest[open + 2..];
            if let Some(next) = after.strip_prefix("{{") {
                lit.push_str("{{");
                rest = next;
                continue;
            }
            let at = src.len() - rest.len() + open;
            let close = after.find("}}").ok_or(TemplateError::Unclosed(at))?;
            let expr = after[..close].trim();
            if expr.is_empty() {
                return Err(TemplateError::Empty(at));
            }
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit).into()));
            }
            parts.push(Part::Var(parse_var(expr)?));
            rest = &after[close + 2..];
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit.into()));
        }
        let literal_len = parts
            .iter()
            .map(|p| match p {
                Part::Lit(l) => l.len(),
                Part::Var(_) => 0,
            })
            .sum();
        Ok(Self {
            parts: parts.into(),
            literal_len,
        })
    }

    /// Compile `src` found at config `path`; errors name the path.
    pub fn compile(path: &str, src: &str) -> Result<Self, PolicyError> {
        Self::parse(src).map_err(|e| PolicyError::config(path, e.to_string()))
    }

    /// The text, when the template has no placeholder.
    pub fn as_static(&self) -> Option<&str> {
        match &*self.parts {
            [] => Some(""),
            [Part::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// The variables this template reads.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Lit(_) => None,
        })
    }

    /// Render into one new string.
    pub fn render(&self, scope: &Scope<'_>) -> String {
        let mut out = String::with_capacity(self.literal_len + 32);
        self.render_into(scope, &mut out);
        out
    }

    /// Render, appending to `out`.
    pub fn render_into(&self, scope: &Scope<'_>, out: &mut String) {
        for part in self.parts.iter() {
            match part {
                Part::Lit(l) => out.push_str(l),
                Part::Var(v) => write_var(v, scope, out),
            }
        }
    }
}

fn parse_var(expr: &str) -> Result<Var, TemplateError> {
    let (root, rest) = match expr.split_once('.') {
        Some((r, rest)) => (r, Some(rest)),
        None => (expr, None),
    };
    let invalid = |why| TemplateError::Invalid(expr.to_string(), why);
    let named = |rest: Option<&str>| match rest {
        Some(n) if !n.is_empty() => Ok(Box::<str>::from(n)),
        _ => Err(invalid("a name is needed after the `.`")),
    };
    let var = match (root, rest) {
        ("consumer", Some("name")) => Var::ConsumerName,
        ("consumer", Some("custom_id")) => Var::ConsumerCustomId,
        ("consumer", Some("tenant")) => Var::ConsumerTenant,
        ("consumer", Some(r)) if r == "metadata" || r.starts_with("metadata.") => {
            Var::ConsumerMeta(named(r.strip_prefix("metadata."))?)
        }
        ("route", None) => Var::Route,
        ("service", None) => Var::Service,
        ("request_id", None) => Var::RequestId,
        ("client_ip", None) => Var::ClientIp,
        ("path", None) => Var::Path,
        ("method", None) => Var::Method,
        ("status", None) => Var::Status,
        ("params", _) => Var::Param(named(rest)?),
        ("query", _) => Var::Query(named(rest)?),
        ("headers", _) => {
            let n = named(rest)?;
            Var::Header(
                HeaderName::from_bytes(n.as_bytes())
                    .map_err(|_| invalid("not a valid header name"))?,
            )
        }
        ("claims", _) => {
            let path: Vec<Box<str>> = named(rest)?.split('.').map(Box::from).collect();
            if path.iter().any(|s| s.is_empty()) {
                return Err(invalid("empty segment in the claim path"));
            }
            Var::Claim(path.into())
        }
        _ => return Err(TemplateError::Unknown(expr.to_string())),
    };
    Ok(var)
}

fn write_var(var: &Var, s: &Scope<'_>, out: &mut String) {
    let ctx = s.ctx;
    let consumer = ctx.consumer.as_deref();
    match var {
        Var::ConsumerName => out.push_str(consumer.map_or("", |c| &c.name)),
        Var::ConsumerCustomId => {
            out.push_str(consumer.and_then(|c| c.custom_id.as_deref()).unwrap_or(""))
        }
        Var::ConsumerTenant => out.push_str(consumer.map_or("", |c| &c.tenant)),
        Var::ConsumerMeta(k) => out.push_str(
            consumer
                .and_then(|c| c.metadata.get(&**k))
                .map_or("", String::as_str),
        ),
        Var::Route => out.push_str(&ctx.route),
        Var::Service => out.push_str(ctx.service.as_deref().unwrap_or("")),
        Var::RequestId => out.push_str(&String::from_utf8_lossy(ctx.request_id.as_bytes())),
        Var::ClientIp => {
            let _ = write!(out, "{}", ctx.client_ip);
        }
        Var::Path => out.push_str(&ctx.path),
        Var::Method => out.push_str(s.method),
        Var::Status => {
            if let Some(code) = s.status {
                let _ = write!(out, "{code}");
            }
        }
        Var::Param(n) => {
            if let Some((_, v)) = ctx.path_params.iter().find(|(k, _)| k == &**n) {
                out.push_str(v);
            }
        }
        Var::Header(n) => {
            if let Some(v) = s.headers.and_then(|h| h.get(n)) {
                out.push_str(&String::from_utf8_lossy(v.as_bytes()));
            }
        }
        Var::Query(n) => {
            if let Some(q) = s.query
                && let Some((_, v)) = form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == &**n)
            {
                out.push_str(&v);
            }
        }
        Var::Claim(path) => {
            let mut cur = ctx.claims.as_deref();
            for seg in path.iter() {
                cur = cur.and_then(|v| v.get(&**seg));
            }
            match cur {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(t)) => out.push_str(t),
                Some(other) => {
                    let _ = write!(out, "{other}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::consumer::Consumer;
    use crate::testing;

    fn render(src: &str, ctx: &PolicyCtx, req: &crate::RequestHead) -> String {
        let t = Template::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        t.render(&Scope::request(&req.parts, ctx))
    }

    fn full_ctx() -> PolicyCtx {
        let mut ctx = testing::ctx();
        ctx.path = "/users/42".into();
        ctx.service = Some(Arc::from("svc"));
        ctx.path_params = vec![("id".into(), "42".into())];
        ctx.consumer = Some(Arc::new(Consumer {
            name: Arc::from("alice"),
            custom_id: Some(Arc::from("u-1")),
            tenant: Arc::from("acme"),
            groups: vec![],
            metadata: BTreeMap::from([("plan".to_string(), "gold".to_string())]),
        }));
        ctx.claims = Some(Arc::new(serde_json::json!({
            "sub": "s-9", "org": { "id": 7, "roles": ["a", "b"] }, "nil": null
        })));
        ctx
    }

    #[test]
    fn every_variable_renders() {
        let ctx = full_ctx();
        let req = testing::request(
            "PATCH",
            "/users/42?q=a%20b&q=2",
            &[("x-trace", "t-1"), ("X-Up", "U")],
        );
        let cases = [
            ("{{consumer.name}}", "alice"),
            ("{{ consumer.custom_id }}", "u-1"),
            ("{{consumer.tenant}}", "acme"),
            ("{{consumer.metadata.plan}}", "gold"),
            ("{{route}}/{{service}}", "r/svc"),
            ("{{request_id}}", "test-id"),
            ("{{client_ip}}", "127.0.0.1"),
            ("{{path}} {{method}}", "/users/42 PATCH"),
            ("id={{params.id}}", "id=42"),
            ("{{headers.x-trace}}|{{headers.x-up}}", "t-1|U"),
            ("{{query.q}}", "a b"),
            (
                "{{claims.sub}} {{claims.org.id}} {{claims.org.roles}}",
                "s-9 7 [\"a\",\"b\"]",
            ),
            ("{{status}}", ""),
        ];
        for (src, want) in cases {
            assert_eq!(render(src, &ctx, &req), want, "{src}");
        }
    }

    #[test]
    fn missing_values_render_empty() {
        let ctx = testing::ctx();
        let req = testing::request("GET", "/", &[]);
        let src = "[{{consumer.name}}{{consumer.metadata.x}}{{params.id}}{{headers.x}}{{query.q}}{{claims.a.b}}{{service}}]";
        assert_eq!(render(src, &ctx, &req), "[]");
        let ctx = full_ctx();
        assert_eq!(render("[{{claims.nil}}{{claims.sub.x}}]", &ctx, &req), "[]");
    }

    #[test]
    fn escapes_and_literals() {
        let ctx = testing::ctx();
        let req = testing::request("GET", "/", &[]);
        assert_eq!(render("{{{{route}} }}", &ctx, &req), "{{route}} }}");
        assert_eq!(render("a{b}c {{{{{{route}}", &ctx, &req), "a{b}c {{r");
        let t = Template::parse("plain }} text").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.as_static(), Some("plain }} text"));
        assert!(Template::parse("x{{route}}").is_ok_and(|t| t.as_static().is_none()));
    }

    #[test]
    fn bad_templates_are_refused() {
        assert_eq!(
            Template::parse("ab{{route").err(),
            Some(TemplateError::Unclosed(2))
        );
        assert_eq!(
            Template::parse("{{ }}").err(),
            Some(TemplateError::Empty(0))
        );
        for bad in [
            "{{nope}}",
            "{{consumer}}",
            "{{consumer.email}}",
            "{{route.x}}",
            "{{{route}}}",
        ] {
            assert!(
                matches!(Template::parse(bad), Err(TemplateError::Unknown(_))),
                "{bad}"
            );
        }
        for bad in [
            "{{params}}",
            "{{params.}}",
            "{{headers.bad header}}",
            "{{claims.a..b}}",
            "{{consumer.metadata}}",
        ] {
            assert!(
                matches!(Template::parse(bad), Err(TemplateError::Invalid(..))),
                "{bad}"
            );
        }
        let err = Template::compile("headers.set.x", "{{nope}}").err();
        assert!(
            matches!(&err, Some(PolicyError::Config { path, .. }) if path == "headers.set.x"),
            "{err:?}"
        );
    }
}
