//! `threat-protection` at run time: cheap checks on the head first, the body
//! (JSON only, when JSON checks are on) last.

use std::sync::Arc;

use http::{HeaderName, StatusCode, header};
use regex::RegexSet;

use super::config::{Mode, ThreatProtectionConfig};
use super::json_scan::{self, Limits, Violation};
use super::patterns::{self, Sets};
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policy::{Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::{header_name, parse_config};

pub struct ThreatProtection {
    block: bool,
    max_body: Option<u64>,
    limits: Limits,
    sets: &'static Sets,
    sqli: bool,
    xss: bool,
    query: bool,
    headers: Vec<HeaderName>,
    json_strings: bool,
    json_checks: bool,
    ua_substrings: Vec<String>,
    ua_regexes: Option<RegexSet>,
}

/// A finding: which check, which rule, where (never the content).
struct Finding {
    check: &'static str,
    rule: &'static str,
    location: String,
    too_large: bool,
}

pub fn build(
    value: &serde_json::Value,
    _env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: ThreatProtectionConfig = parse_config(value)?;
    let sets = patterns::sets().map_err(|e| PolicyError::config("", e))?;
    for (field, v) in [
        ("max_json_depth", cfg.max_json_depth),
        ("max_array_length", cfg.max_array_length),
        ("max_string_length", cfg.max_string_length),
        ("max_object_keys", cfg.max_object_keys),
    ] {
        if v == Some(0) {
            return Err(PolicyError::config(
                field,
                "must be at least 1 (or null for no limit)",
            ));
        }
    }
    let headers = cfg
        .inspect_headers
        .iter()
        .enumerate()
        .map(|(i, n)| header_name(&format!("inspect_headers[{i}]"), n))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ua_substrings = Vec::new();
    let mut ua_patterns = Vec::new();
    for (i, s) in cfg.user_agent_deny.iter().enumerate() {
        match s.strip_prefix('~') {
            Some(re) => {
                regex::Regex::new(re).map_err(|e| {
                    PolicyError::config(
                        format!("user_agent_deny[{i}]"),
                        format!("invalid regex: {e}"),
                    )
                })?;
                ua_patterns.push(format!("(?i){re}"));
            }
            None if s.is_empty() => {
                return Err(PolicyError::config(
                    format!("user_agent_deny[{i}]"),
                    "an empty substring would match every user agent",
                ));
            }
            None => ua_substrings.push(s.to_lowercase()),
        }
    }
    let ua_regexes =
        if ua_patterns.is_empty() {
            None
        } else {
            Some(RegexSet::new(&ua_patterns).map_err(|e| {
                PolicyError::config("user_agent_deny", format!("invalid regex: {e}"))
            })?)
        };
    let limits = Limits {
        depth: cfg.max_json_depth,
        array_length: cfg.max_array_length,
        string_length: cfg.max_string_length,
        object_keys: cfg.max_object_keys,
    };
    let json_strings = cfg.inspect_json_body && (cfg.sql_injection || cfg.xss);
    let json_checks = json_strings
        || limits.depth.is_some()
        || limits.array_length.is_some()
        || limits.string_length.is_some()
        || limits.object_keys.is_some();
    Ok(Arc::new(ThreatProtection {
        block: cfg.mode == Mode::Block,
        max_body: cfg.max_body_bytes,
        limits,
        sets,
        sqli: cfg.sql_injection,
        xss: cfg.xss,
        query: cfg.inspect_query,
        headers,
        json_strings,
        json_checks,
        ua_substrings,
        ua_regexes,
    }))
}

/// Whether the request says its body is JSON (`application/json`, `application/*+json`).
pub(crate) fn is_json(headers: &http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl ThreatProtection {
    fn pattern(&self, s: &str, location: impl FnOnce() -> String) -> Option<Finding> {
        self.sets
            .find(s, self.sqli, self.xss)
            .map(|(cat, rule)| Finding {
                check: cat.as_str(),
                rule,
                location: location(),
                too_large: false,
            })
    }

    fn user_agent(&self, req: &RequestHead) -> Option<Finding> {
        if self.ua_substrings.is_empty() && self.ua_regexes.is_none() {
            return None;
        }
        let ua = req.parts.headers.get(header::USER_AGENT)?;
        let ua = String::from_utf8_lossy(ua.as_bytes());
        let lower = ua.to_lowercase();
        let denied = self
            .ua_substrings
            .iter()
            .any(|s| lower.contains(s.as_str()))
            || self.ua_regexes.as_ref().is_some_and(|r| r.is_match(&ua));
        denied.then(|| Finding {
            check: "user_agent",
            rule: "deny_list",
            location: "user-agent header".into(),
            too_large: false,
        })
    }

    fn size(&self, len: u64) -> Option<Finding> {
        let max = self.max_body?;
        (len > max).then(|| Finding {
            check: "body_size",
            rule: "max_body_bytes",
            location: "body".into(),
            too_large: true,
        })
    }

    fn head(&self, req: &RequestHead) -> Option<Finding> {
        if let Some(f) = self.user_agent(req) {
            return Some(f);
        }
        let declared = req
            .parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(f) = declared.and_then(|n| self.size(n)) {
            return Some(f);
        }
        if self.query
            && (self.sqli || self.xss)
            && let Some(q) = req.parts.uri.query()
        {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                let found = self
                    .pattern(&k, || "query parameter name".into())
                    .or_else(|| self.pattern(&v, || "query parameter".into()));
                if found.is_some() {
                    return found;
                }
            }
        }
        if self.sqli || self.xss {
            for name in &self.headers {
                for v in req.parts.headers.get_all(name) {
                    let v = String::from_utf8_lossy(v.as_bytes());
                    if let Some(f) = self.pattern(&v, || format!("header {name}")) {
                        return Some(f);
                    }
                }
            }
        }
        None
    }

    fn body(&self, req: &RequestHead) -> Option<Finding> {
        let body = req.body.as_ref()?;
        if let Some(f) = self.size(body.len() as u64) {
            return Some(f);
        }
        if !self.json_checks || body.is_empty() || !is_json(&req.parts.headers) {
            return None;
        }
        let mut on_string = |s: &str| match self.sets.find(s, self.sqli, self.xss) {
            Some((cat, rule)) => Err(Violation::Found(cat.as_str(), rule)),
            None => Ok(()),
        };
        let cb: Option<json_scan::OnString<'_>> = if self.json_strings {
            Some(&mut on_string)
        } else {
            None
        };
        match json_scan::scan(body, &self.limits, cb) {
            Ok(()) => None,
            Err(v) => Some(Finding {
                check: v.check(),
                rule: match v {
                    Violation::Found(_, rule) => rule,
                    _ => "json_limits",
                },
                location: "JSON body".into(),
                too_large: false,
            }),
        }
    }
}

impl Policy for ThreatProtection {
    fn kind(&self) -> &'static str {
        "threat-protection"
    }

    fn wants_request_body(&self, parts: &http::request::Parts) -> bool {
        self.json_checks && is_json(&parts.headers)
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let Some(f) = self.head(req).or_else(|| self.body(req)) else {
            return Step::next();
        };
        let request_id = String::from_utf8_lossy(ctx.request_id.as_bytes());
        if !self.block {
            tracing::warn!(
                request_id = %request_id,
                check = f.check,
                rule = f.rule,
                location = %f.location,
                "threat protection finding (log only)"
            );
            return Step::next();
        }
        tracing::info!(
            request_id = %request_id,
            check = f.check,
            rule = f.rule,
            location = %f.location,
            "threat protection blocked a request"
        );
        if f.too_large {
            return Step::reject(Reject::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "request body larger than {} bytes",
                    self.max_body.unwrap_or_default()
                ),
            ));
        }
        Step::reject(Reject::new(
            StatusCode::BAD_REQUEST,
            "request_rejected",
            format!("request rejected: {} in {}", f.check, f.location),
        ))
    }
}
