//! Test harness for policies: build chains from a JSON config and run them on
//! hand-made requests, without a server.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};

use crate::chain::{Chain, ChainSet, RequestOutcome};
use crate::context::{PolicyCtx, RequestHead, ResponseHead};
use crate::shared::Shared;

/// Load a config with one route `r` (static response) carrying `policies`,
/// plus `extra` top-level sections (consumers, consumer_groups, policies, ...).
fn load(
    policies: serde_json::Value,
    extra: serde_json::Value,
) -> Result<pylon_config::Config, pylon_config::ConfigError> {
    let mut doc = serde_json::json!({
        "routes": [{
            "name": "r",
            "match": { "paths": [{ "prefix": "/" }] },
            "respond": { "status": 200 },
            "policies": policies,
        }],
    });
    if let (Some(root), serde_json::Value::Object(more)) = (doc.as_object_mut(), extra) {
        root.extend(more);
    }
    pylon_config::from_document_with(doc, "test", &crate::check)
}

/// [`load`], which must succeed.
pub fn config(policies: serde_json::Value, extra: serde_json::Value) -> pylon_config::Config {
    match load(policies, extra) {
        Ok(c) => c,
        Err(e) => panic!("config: {e}"),
    }
}

/// The config's issues as `path: reason` lines (for negative tests).
pub fn config_errors(policies: serde_json::Value, extra: serde_json::Value) -> Vec<String> {
    match load(policies, extra) {
        Ok(_) => Vec::new(),
        Err(e) => e
            .issues
            .iter()
            .map(|i| format!("{}: {}", i.path, i.reason))
            .collect(),
    }
}

/// The chain of route `r` built with `shared` state.
pub fn chain_with(cfg: &pylon_config::Config, shared: &Arc<Shared>) -> Arc<Chain> {
    match ChainSet::build(cfg, shared) {
        Ok(set) => match set.route(0) {
            Some(c) => c.clone(),
            None => panic!("no route"),
        },
        Err(issues) => panic!("chain: {issues:?}"),
    }
}

/// The chain of route `r`.
pub fn chain(policies: serde_json::Value, extra: serde_json::Value) -> Arc<Chain> {
    chain_with(&config(policies, extra), &Shared::new())
}

/// A request head for `uri` with `headers`.
pub fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> RequestHead {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    match b.body(()) {
        Ok(r) => RequestHead {
            parts: r.into_parts().0,
            body: None,
        },
        Err(e) => panic!("request: {e}"),
    }
}

/// A context for route `r` from `ip`.
pub fn ctx_from(ip: IpAddr) -> PolicyCtx {
    let id = HeaderValue::from_static("test-id");
    let mut ctx = PolicyCtx::new(id, ip, Arc::from("r"), std::time::Instant::now());
    ctx.path = "/".into();
    ctx
}

/// A context for route `r` from 127.0.0.1.
pub fn ctx() -> PolicyCtx {
    ctx_from(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// Run the request phase; a `Reject` becomes `Err`, a policy response `Ok(Some)`.
pub async fn run(
    chain: &Chain,
    req: &mut RequestHead,
    ctx: &mut PolicyCtx,
) -> Result<Option<Response<Bytes>>, crate::Reject> {
    match chain.on_request(req, ctx).await {
        RequestOutcome::Continue => Ok(None),
        RequestOutcome::Respond(r) => Ok(Some(r)),
        RequestOutcome::Reject(r) => Err(r),
    }
}

/// A response head with `status`, `headers` and an optional body.
#[allow(dead_code)]
pub fn response(status: u16, headers: &[(&str, &str)], body: Option<&str>) -> ResponseHead {
    let mut b = Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    match b.body(()) {
        Ok(r) => ResponseHead {
            parts: r.into_parts().0,
            body: body.map(|s| Bytes::from(s.to_string())),
        },
        Err(e) => panic!("response: {e}"),
    }
}

/// A policy for pipeline tests: appends its `tag` to the request header
/// `x-tags` and the response header `x-tags`; `reject: true` refuses with 403.
pub mod tag {
    use std::sync::Arc;

    use http::{HeaderValue, StatusCode};
    use serde::Deserialize;

    use crate::context::{PolicyCtx, RequestHead, ResponseHead};
    use crate::error::PolicyError;
    use crate::policy::{Policy, Reject, Step};
    use crate::registry::BuildEnv;
    use crate::util::parse_config;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        tag: String,
        #[serde(default)]
        reject: bool,
    }

    struct Tag(Config, &'static str);

    pub fn build(v: &serde_json::Value, _: &BuildEnv<'_>) -> Result<Arc<dyn Policy>, PolicyError> {
        Ok(Arc::new(Tag(parse_config(v)?, "test-tag")))
    }

    /// The same policy under a second type name, to put two on one route.
    pub fn build_second(
        v: &serde_json::Value,
        _: &BuildEnv<'_>,
    ) -> Result<Arc<dyn Policy>, PolicyError> {
        Ok(Arc::new(Tag(parse_config(v)?, "test-tag-2")))
    }

    fn append(h: &mut http::HeaderMap, tag: &str) {
        let now = h
            .get("x-tags")
            .and_then(|v| v.to_str().ok())
            .map_or(tag.to_string(), |v| format!("{v},{tag}"));
        if let Ok(v) = HeaderValue::from_str(&now) {
            h.insert("x-tags", v);
        }
    }

    impl Policy for Tag {
        fn kind(&self) -> &'static str {
            self.1
        }
        fn on_request<'a>(&'a self, req: &'a mut RequestHead, _: &'a mut PolicyCtx) -> Step<'a> {
            append(&mut req.parts.headers, &self.0.tag);
            if self.0.reject {
                return Step::reject(Reject::new(StatusCode::FORBIDDEN, "tagged", "tag refused"));
            }
            Step::wait(async { Ok(crate::Flow::Continue) })
        }
        fn on_response(&self, resp: &mut ResponseHead, _: &mut PolicyCtx) -> Result<(), Reject> {
            append(&mut resp.parts.headers, &self.0.tag);
            Ok(())
        }
    }
}

/// The Redis for tests: `PYLON_TEST_REDIS_URL` (set by scripts/test), else
/// the local default.
pub fn redis_url() -> String {
    std::env::var("PYLON_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}
