//! A tiny HTTP client for tests (hyper-util's legacy client over plain TCP):
//! one-shot requests over HTTP/1.1 or h2c, and a gRPC call over h2c. Every
//! call is bounded by [`CLIENT_TIMEOUT`]. Tests needing more can use reqwest.

use std::time::Duration;

use anyhow::Context as _;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::grpc_echo::{grpc_frame, parse_grpc_frames};

/// The overall deadline of each call made here.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// A response read in full.
#[derive(Debug, Clone)]
pub struct FullResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl FullResponse {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).context("response body is not JSON")
    }

    /// The first value of header `name` as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `GET url` over HTTP/1.1; returns status, headers and the whole body.
pub async fn get(url: &str) -> anyhow::Result<(StatusCode, HeaderMap, Bytes)> {
    let response = send(request(Method::GET, url, Bytes::new())?).await?;
    Ok((response.status, response.headers, response.body))
}

/// `GET url` over h2c (HTTP/2 with prior knowledge).
pub async fn get_h2c(url: &str) -> anyhow::Result<FullResponse> {
    send_h2c(request(Method::GET, url, Bytes::new())?).await
}

/// Build a request with a body (add headers through `headers_mut()`).
pub fn request(
    method: Method,
    url: &str,
    body: impl Into<Bytes>,
) -> anyhow::Result<Request<Full<Bytes>>> {
    Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(body.into()))
        .with_context(|| format!("building a request for {url}"))
}

/// Send a request over HTTP/1.1 and read the whole response.
pub async fn send(req: Request<Full<Bytes>>) -> anyhow::Result<FullResponse> {
    let client = Client::builder(TokioExecutor::new()).build_http();
    execute(client, req).await
}

/// Send a request over h2c and read the whole response.
pub async fn send_h2c(req: Request<Full<Bytes>>) -> anyhow::Result<FullResponse> {
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    execute(client, req).await
}

async fn execute(
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<FullResponse> {
    let uri = req.uri().clone();
    let call = async {
        let response = client.request(req).await?;
        let (parts, body) = response.into_parts();
        let collected = body.collect().await?;
        let trailers = collected.trailers().cloned();
        anyhow::Ok(FullResponse {
            status: parts.status,
            headers: parts.headers,
            body: collected.to_bytes(),
            trailers,
        })
    };
    tokio::time::timeout(CLIENT_TIMEOUT, call)
        .await
        .with_context(|| format!("{uri}: no complete response within {CLIENT_TIMEOUT:?}"))?
        .with_context(|| format!("request to {uri}"))
}

/// The outcome of a gRPC call.
#[derive(Debug, Clone)]
pub struct GrpcReply {
    pub http_status: StatusCode,
    pub headers: HeaderMap,
    pub messages: Vec<Vec<u8>>,
    pub trailers: Option<HeaderMap>,
}

impl GrpcReply {
    /// `grpc-status` from the trailers, or from the headers of a
    /// trailers-only response.
    pub fn grpc_status(&self) -> Option<&str> {
        self.trailers
            .as_ref()
            .and_then(|t| t.get("grpc-status"))
            .or_else(|| self.headers.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
    }
}

/// Make a gRPC call over h2c to `url` + `path` (e.g. `/echo.Echo/Say`),
/// sending `messages` (length-prefixed here) as the whole request body.
pub async fn grpc_call(url: &str, path: &str, messages: &[&[u8]]) -> anyhow::Result<GrpcReply> {
    let mut body = BytesMut::new();
    for message in messages {
        body.extend_from_slice(&grpc_frame(message));
    }
    let mut req = request(
        Method::POST,
        &format!("{}{path}", url.trim_end_matches('/')),
        body.freeze(),
    )?;
    let headers = req.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    let response = send_h2c(req).await?;
    Ok(GrpcReply {
        http_status: response.status,
        messages: parse_grpc_frames(&response.body),
        headers: response.headers,
        trailers: response.trailers,
    })
}
