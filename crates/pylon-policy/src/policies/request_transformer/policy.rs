//! `request-transformer` at run time: render every value against the request
//! as it arrived, then edit headers, query and (JSON) body in that order.

use std::sync::Arc;

use http::StatusCode;

use super::config::RequestTransformerConfig;
use super::json_ops::JsonOps;
use super::ops::{HeaderOps, QueryOps};
use crate::body;
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policy::{Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::template::Scope;
use crate::util::parse_config;

pub struct RequestTransformer {
    headers: HeaderOps,
    query: QueryOps,
    body: JsonOps,
}

pub fn build(
    value: &serde_json::Value,
    _env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: RequestTransformerConfig = parse_config(value)?;
    Ok(Arc::new(RequestTransformer {
        headers: HeaderOps::build("headers", &cfg.headers, false)?,
        query: QueryOps::build("query", &cfg.query)?,
        body: JsonOps::build("body", &cfg.body, false)?,
    }))
}

impl RequestTransformer {
    fn edits_body(&self, headers: &http::HeaderMap) -> bool {
        !self.body.is_empty() && body::is_json(headers) && body::is_identity(headers)
    }
}

impl Policy for RequestTransformer {
    fn kind(&self) -> &'static str {
        "request-transformer"
    }

    fn wants_request_body(&self, parts: &http::request::Parts) -> bool {
        self.edits_body(&parts.headers)
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let scope = Scope::request(&req.parts, ctx);
        let mut new_body = None;
        if self.edits_body(&req.parts.headers)
            && let Some(b) = &req.body
        {
            match self.body.apply(b, &scope) {
                Ok(nb) => new_body = nb,
                Err(_) => {
                    return Step::reject(Reject::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_json_body",
                        "the request body is not valid JSON",
                    ));
                }
            }
        }
        let headers = self.headers.render(&scope);
        let query = self.query.render(&scope);
        self.headers.apply(&mut req.parts.headers, headers);
        self.query.apply(&mut req.parts.uri, query);
        if let Some(b) = new_body {
            body::replace(&mut req.parts.headers, &mut req.body, b);
        }
        Step::next()
    }
}
