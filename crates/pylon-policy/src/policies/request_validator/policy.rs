//! `request-validator` at run time: build the instances, validate, answer
//! 400 with the failing paths (or 415 for a body that is not JSON).

use std::collections::HashMap;
use std::sync::Arc;

use http::{StatusCode, header};
use jsonschema::{Draft, Validator};
use serde_json::{Value, json};

use super::coerce::{self, Shape};
use super::config::RequestValidatorConfig;
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policies::threat_protection::is_json;
use crate::policy::{Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

/// One compiled schema and what coercion needs to know about it.
struct Checker {
    validator: Validator,
    shapes: Option<HashMap<String, Shape>>,
}

pub struct RequestValidator {
    body: Option<Checker>,
    query: Option<Checker>,
    path: Option<Checker>,
    headers: Option<Checker>,
    body_required: bool,
    max_errors: usize,
}

/// `/properties/a/type` as `.properties.a.type`, for config error paths.
fn dotted(pointer: &str) -> String {
    pointer
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| format!(".{}", s.replace("~1", "/").replace("~0", "~")))
        .collect()
}

fn compile(
    field: &str,
    schema: &Option<Value>,
    draft: Draft,
    formats: bool,
    coerce_types: bool,
) -> Result<Option<Checker>, PolicyError> {
    let Some(schema) = schema else {
        return Ok(None);
    };
    let validator = jsonschema::options()
        .with_draft(draft)
        .should_validate_formats(formats)
        .build(schema)
        .map_err(|e| {
            let at = format!("{field}{}", dotted(e.instance_path().as_str()));
            PolicyError::config(at, format!("invalid schema: {}", e.masked()))
        })?;
    Ok(Some(Checker {
        validator,
        shapes: coerce_types.then(|| coerce::shapes(schema)),
    }))
}

pub fn build(
    value: &serde_json::Value,
    _env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: RequestValidatorConfig = parse_config(value)?;
    let draft = match cfg.draft.trim() {
        "2020-12" => Draft::Draft202012,
        "2019-09" => Draft::Draft201909,
        "7" | "07" | "draft-07" => Draft::Draft7,
        "6" | "06" | "draft-06" => Draft::Draft6,
        "4" | "04" | "draft-04" => Draft::Draft4,
        other => {
            return Err(PolicyError::config(
                "draft",
                format!("unknown draft `{other}`; known: 2020-12, 2019-09, 7, 6, 4"),
            ));
        }
    };
    if cfg.body_schema.is_none()
        && cfg.query_schema.is_none()
        && cfg.path_schema.is_none()
        && cfg.header_schema.is_none()
    {
        return Err(PolicyError::config(
            "",
            "set at least one of body_schema, query_schema, path_schema, header_schema",
        ));
    }
    if let Some(props) = cfg
        .header_schema
        .as_ref()
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        && let Some(upper) = props
            .keys()
            .find(|k| k.chars().any(|c| c.is_ascii_uppercase()))
    {
        return Err(PolicyError::config(
            format!("header_schema.properties.{upper}"),
            "header names are matched in lowercase; write them in lowercase",
        ));
    }
    if cfg.max_errors == 0 {
        return Err(PolicyError::config("max_errors", "must be at least 1"));
    }
    let (f, c) = (cfg.validate_formats, cfg.coerce_types);
    Ok(Arc::new(RequestValidator {
        body: compile("body_schema", &cfg.body_schema, draft, f, false)?,
        query: compile("query_schema", &cfg.query_schema, draft, f, c)?,
        path: compile("path_schema", &cfg.path_schema, draft, f, c)?,
        headers: compile("header_schema", &cfg.header_schema, draft, f, c)?,
        body_required: cfg.body_required,
        max_errors: cfg.max_errors,
    }))
}

/// Failures gathered across the parts of the request.
struct Failures {
    list: Vec<Value>,
    max: usize,
    more: bool,
}

impl Failures {
    fn push(&mut self, location: &str, path: &str, message: String) {
        if self.list.len() >= self.max {
            self.more = true;
            return;
        }
        self.list
            .push(json!({ "in": location, "path": path, "message": message }));
    }

    fn check(&mut self, location: &str, checker: &Checker, instance: &Value) {
        for e in checker.validator.iter_errors(instance) {
            if self.list.len() >= self.max {
                self.more = true;
                return;
            }
            self.push(location, e.instance_path().as_str(), e.masked().to_string());
        }
    }
}

impl RequestValidator {
    fn body_present(req: &RequestHead) -> bool {
        match &req.body {
            Some(b) => !b.is_empty(),
            None => {
                let h = &req.parts.headers;
                h.contains_key(header::TRANSFER_ENCODING)
                    || h.get(header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
            }
        }
    }

    fn answer(f: Failures) -> Reject {
        let n = f.list.len();
        let message = if f.more {
            format!("request validation failed (first {n} problems listed)")
        } else {
            "request validation failed".to_string()
        };
        Reject::new(StatusCode::BAD_REQUEST, "validation_failed", message)
            .with_details(json!(f.list))
    }
}

impl Policy for RequestValidator {
    fn kind(&self) -> &'static str {
        "request-validator"
    }

    fn wants_request_body(&self, parts: &http::request::Parts) -> bool {
        self.body.is_some() && is_json(&parts.headers)
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let mut f = Failures {
            list: Vec::new(),
            max: self.max_errors,
            more: false,
        };
        if let Some(c) = &self.path {
            let pairs = ctx.path_params.iter().map(|(k, v)| (k.clone(), v.as_str()));
            f.check("path", c, &coerce::object(pairs, c.shapes.as_ref()));
        }
        if let Some(c) = &self.query {
            let q = req.parts.uri.query().unwrap_or("");
            let decoded: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let pairs = decoded.iter().map(|(k, v)| (k.clone(), v.as_str()));
            f.check("query", c, &coerce::object(pairs, c.shapes.as_ref()));
        }
        if let Some(c) = &self.headers {
            let mut pairs: Vec<(String, String)> = Vec::new();
            for name in req.parts.headers.keys() {
                let joined = req
                    .parts
                    .headers
                    .get_all(name)
                    .iter()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .collect::<Vec<_>>()
                    .join(", ");
                pairs.push((name.as_str().to_string(), joined));
            }
            let pairs = pairs.iter().map(|(k, v)| (k.clone(), v.as_str()));
            f.check("header", c, &coerce::object(pairs, c.shapes.as_ref()));
        }
        if let Some(c) = &self.body {
            let present = Self::body_present(req);
            if present && !is_json(&req.parts.headers) {
                return Step::reject(Reject::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "the request body must be JSON (Content-Type: application/json)",
                ));
            }
            match req.body.as_ref().filter(|b| !b.is_empty()) {
                None if present => f.push("body", "", "request body was not read".into()),
                None if self.body_required => f.push("body", "", "request body is required".into()),
                None => {}
                Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
                    Ok(v) => f.check("body", c, &v),
                    Err(e) => f.push("body", "", format!("request body is not valid JSON: {e}")),
                },
            }
        }
        if f.list.is_empty() {
            return Step::next();
        }
        Step::reject(Self::answer(f))
    }
}
