//! Aggregate routes: one request fans out to several upstreams in parallel
//! (each with its own path template and timeout) and their JSON answers are
//! merged into one document under the parts' names. A failed part fails the
//! whole answer, or is marked in `_errors` when the route allows partial answers.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use pylon_config::{AggregateConfig, AggregateFailure};
use serde_json::{Map, Value};

use crate::body;
use crate::client::ProxyBody;
use crate::context::RequestContext;
use crate::error::GatewayError;
use crate::snapshot::{CompiledRoute, RouteAction, Snapshot, UpstreamRuntime};

/// Largest part answer read.
const PART_LIMIT: usize = 8 << 20;

/// A compiled aggregate route.
pub struct AggregatePlan {
    parts: Vec<Part>,
    on_failure: AggregateFailure,
}

struct Part {
    name: String,
    upstream: Arc<UpstreamRuntime>,
    path: String,
    forward_query: bool,
    timeout: std::time::Duration,
}

impl AggregatePlan {
    pub fn compile(
        cfg: &AggregateConfig,
        upstreams: &std::collections::HashMap<String, Arc<UpstreamRuntime>>,
    ) -> Result<Self, String> {
        let parts = cfg
            .parts
            .iter()
            .map(|p| {
                let upstream = upstreams
                    .get(&p.upstream)
                    .cloned()
                    .ok_or_else(|| format!("no upstream named `{}`", p.upstream))?;
                Ok(Part {
                    name: p.name.clone(),
                    upstream,
                    path: p.path.clone(),
                    forward_query: p.forward_query,
                    timeout: p.timeout,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            parts,
            on_failure: cfg.on_failure,
        })
    }
}

/// Fill `{name}` placeholders from the route's parameters.
fn render(template: &str, params: &[(String, String)]) -> String {
    let mut out = template.to_string();
    for (k, v) in params {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

/// Run every part (each in its own task, bounded by its timeout) and merge the answers.
pub async fn run(
    snap: &Arc<Snapshot>,
    ctx: &RequestContext,
    route: &CompiledRoute,
    plan: &AggregatePlan,
    parts: &http::request::Parts,
    params: &[(String, String)],
) -> Result<Response<ProxyBody>, GatewayError> {
    let route_index = snap
        .routes
        .iter()
        .position(|r| std::ptr::eq(r, route))
        .ok_or_else(|| {
            GatewayError::gateway(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "route not in snapshot",
            )
        })?;
    let mut calls = Vec::with_capacity(plan.parts.len());
    for (i, part) in plan.parts.iter().enumerate() {
        let path = render(&part.path, params);
        let uri = match parts.uri.query().filter(|_| part.forward_query) {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let req = Request::builder().method(Method::GET).uri(uri);
        let req = match req.body(body::empty()) {
            Ok(mut r) => {
                *r.headers_mut() = part_headers(&parts.headers);
                r
            }
            Err(e) => {
                return Err(GatewayError::bad_request(
                    "bad_path",
                    format!("part `{}`: {e}", part.name),
                ));
            }
        };
        let task = PartTask {
            snap: snap.clone(),
            route: route_index,
            part: i,
            ctx: ctx.detached(),
            req,
            path,
        };
        calls.push(tokio::spawn(task.run()));
    }
    let mut results = Vec::with_capacity(calls.len());
    for call in calls {
        results.push(
            call.await
                .unwrap_or_else(|_| Err("part task failed".to_string())),
        );
    }
    let mut merged = Map::new();
    let mut errors = Map::new();
    for (part, result) in plan.parts.iter().zip(results) {
        match result {
            Ok(v) => {
                merged.insert(part.name.clone(), v);
            }
            Err(reason) => {
                if plan.on_failure == AggregateFailure::Error {
                    return Err(GatewayError::upstream(
                        StatusCode::BAD_GATEWAY,
                        "aggregate_part_failed",
                        format!("part `{}` failed: {reason}", part.name),
                    ));
                }
                merged.insert(part.name.clone(), Value::Null);
                errors.insert(part.name.clone(), Value::String(reason));
            }
        }
    }
    if !errors.is_empty() {
        merged.insert("_errors".into(), Value::Object(errors));
    }
    let body = serde_json::to_vec(&Value::Object(merged)).map_err(|e| {
        GatewayError::gateway(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    })?;
    let mut resp = Response::new(body::full(Bytes::from(body)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// One part's call, owning what it needs so it can run as its own task.
struct PartTask {
    snap: Arc<Snapshot>,
    route: usize,
    part: usize,
    ctx: RequestContext,
    req: Request<ProxyBody>,
    path: String,
}

impl PartTask {
    /// Forward, read the answer (bounded), parse it, within the part's timeout.
    async fn run(mut self) -> Result<Value, String> {
        let snap = self.snap.clone();
        let Some(route) = snap.routes.get(self.route) else {
            return Err("route gone".to_string());
        };
        let RouteAction::Aggregate(plan) = &route.action else {
            return Err("route changed".to_string());
        };
        let Some(part) = plan.parts.get(self.part) else {
            return Err("part gone".to_string());
        };
        let call = async {
            let resp = crate::forward::forward(
                &snap,
                &mut self.ctx,
                route,
                &part.upstream,
                self.req,
                self.path,
            )
            .await
            .map_err(|e| e.code.to_string())?;
            let status = resp.status();
            let bytes = match body::buffer_up_to(resp.into_body(), PART_LIMIT).await {
                Ok(body::Buffered::Complete { data, .. }) => data,
                Ok(body::Buffered::Partial(_)) => return Err("answer too large".to_string()),
                Err(_) => return Err("upstream_body_error".to_string()),
            };
            if !status.is_success() {
                return Err(format!("upstream answered {}", status.as_u16()));
            }
            serde_json::from_slice::<Value>(&bytes).map_err(|_| "answer is not JSON".to_string())
        };
        match tokio::time::timeout(part.timeout, call).await {
            Ok(r) => r,
            Err(_) => Err("timed out".to_string()),
        }
    }
}

/// The client's headers that make sense on a part request: identity,
/// authorization, tracing; not the body's framing.
fn part_headers(client: &HeaderMap) -> HeaderMap {
    let mut h = client.clone();
    for name in [
        header::CONTENT_LENGTH,
        header::CONTENT_TYPE,
        header::TRANSFER_ENCODING,
        header::EXPECT,
        header::ACCEPT_ENCODING,
    ] {
        h.remove(name);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_route_parameters() {
        let params = vec![("id".to_string(), "42".to_string())];
        assert_eq!(render("/users/{id}/orders", &params), "/users/42/orders");
        assert_eq!(render("/static", &params), "/static");
    }
}
