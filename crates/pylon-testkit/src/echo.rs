//! The echo upstream: answers every request with 200 and a JSON description
//! of what it received, speaking HTTP/1.1 and h2c (prior knowledge) on one
//! port. It drains request bodies as they stream in (counting bytes, keeping
//! the first 64 KiB), records every request, and can tag its responses with
//! an `x-upstream: <name>` header so load-balancing tests can tell targets apart.
//!
//! Response body shape:
//! ```json
//! {"upstream": "a", "method": "POST", "uri": "/p?q=1", "path": "/p", "query": "q=1",
//!  "authority": null, "version": "HTTP/1.1", "headers": {"host": ["..."]},
//!  "body_len": 5, "body": "hello", "connection": 1}
//! ```
//! `body` is present only when the whole body fit in 64 KiB; `query`,
//! `authority` and `upstream` are `null` when absent.

use std::collections::BTreeMap;
use std::ops::Deref;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::body::{KEEP_BODY, ResponseBody, drain, full};
use crate::server::{ConnCtx, Proto, ServerHandle, bind, record_parts, spawn_http};

/// The response header naming the answering upstream.
pub const UPSTREAM_HEADER: &str = "x-upstream";

/// A running echo upstream. Derefs to [`ServerHandle`] for `addr()`, `url()`,
/// `requests()`, `connections()` and friends.
#[derive(Debug)]
pub struct EchoServer {
    handle: ServerHandle,
    name: Option<String>,
}

impl EchoServer {
    /// Start an unnamed echo server (no `x-upstream` header).
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_inner(None).await
    }

    /// Start an echo server whose responses carry `x-upstream: <name>`.
    pub async fn start_named(name: &str) -> anyhow::Result<Self> {
        HeaderValue::from_str(name)
            .map_err(|_| anyhow::anyhow!("`{name}` is not a valid header value"))?;
        Self::start_inner(Some(name.to_string())).await
    }

    async fn start_inner(name: Option<String>) -> anyhow::Result<Self> {
        let listener = bind().await?;
        let tag = name.clone();
        let handle = spawn_http(listener, Proto::Auto, move |req, ctx| {
            echo(req, ctx, tag.clone())
        })?;
        Ok(Self { handle, name })
    }

    /// The name given to [`EchoServer::start_named`].
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Stop gracefully (see [`ServerHandle::shutdown`]).
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

impl Deref for EchoServer {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

async fn echo(
    req: Request<Incoming>,
    ctx: ConnCtx,
    name: Option<String>,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let summary = drain(body).await;

    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in &parts.headers {
        headers
            .entry(key.as_str().to_string())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let uri_text = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let mut doc = json!({
        "upstream": name,
        "method": parts.method.as_str(),
        "uri": uri_text,
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "authority": parts.uri.authority().map(|a| a.as_str()),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body_len": summary.len,
        "connection": ctx.id,
    });
    if summary.len <= KEEP_BODY as u64
        && let Value::Object(map) = &mut doc
    {
        map.insert(
            "body".into(),
            Value::String(String::from_utf8_lossy(&summary.prefix).into_owned()),
        );
    }

    record_parts(parts, summary, &ctx);

    let mut response = Response::new(full(doc.to_string()));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(value) = name.and_then(|n| HeaderValue::from_str(&n).ok()) {
        headers.insert(UPSTREAM_HEADER, value);
    }
    response
}
