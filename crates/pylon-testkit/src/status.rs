//! The status upstream: answers every request with a fixed status (plus
//! optional headers and body) that the test can switch while it runs, for
//! health-check, retry and circuit-breaker tests. Speaks HTTP/1.1 and h2c.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::{ResponseBody, full};
use crate::server::{ConnCtx, Proto, ServerHandle, bind, lock, record_drained, spawn_http};

/// What a [`StatusServer`] answers with.
#[derive(Debug, Clone)]
pub struct CannedResponse {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl CannedResponse {
    /// A response with `status`, no extra headers and an empty body.
    pub fn new(status: u16) -> anyhow::Result<Self> {
        Ok(Self {
            status: status_code(status)?,
            headers: Vec::new(),
            body: Bytes::new(),
        })
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> anyhow::Result<Self> {
        let name = HeaderName::from_bytes(name.as_bytes())?;
        let value = HeaderValue::from_str(value)?;
        self.headers.push((name, value));
        Ok(self)
    }

    /// Set the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    pub(crate) fn to_response(&self) -> Response<ResponseBody> {
        let mut response = Response::new(full(self.body.clone()));
        *response.status_mut() = self.status;
        for (name, value) in &self.headers {
            response.headers_mut().append(name.clone(), value.clone());
        }
        response
    }
}

pub(crate) fn status_code(status: u16) -> anyhow::Result<StatusCode> {
    StatusCode::from_u16(status).map_err(|_| anyhow::anyhow!("{status} is not an HTTP status code"))
}

/// A running status upstream. Derefs to [`ServerHandle`].
#[derive(Debug)]
pub struct StatusServer {
    handle: ServerHandle,
    canned: Arc<Mutex<CannedResponse>>,
}

impl StatusServer {
    /// Start a server that answers `status` with an empty body.
    pub async fn start(status: u16) -> anyhow::Result<Self> {
        Self::start_with(CannedResponse::new(status)?).await
    }

    /// Start a server that answers `response`.
    pub async fn start_with(response: CannedResponse) -> anyhow::Result<Self> {
        let canned = Arc::new(Mutex::new(response));
        let shared = canned.clone();
        let listener = bind().await?;
        let handle = spawn_http(listener, Proto::Auto, move |req, ctx| {
            answer(req, ctx, shared.clone())
        })?;
        Ok(Self { handle, canned })
    }

    /// Switch the status from the next request on (headers and body stay).
    /// An invalid code (outside 100..=999) is ignored.
    pub fn set_status(&self, status: u16) {
        if let Ok(code) = StatusCode::from_u16(status) {
            lock(&self.canned).status = code;
        }
    }

    /// Replace the whole response from the next request on.
    pub fn set_response(&self, response: CannedResponse) {
        *lock(&self.canned) = response;
    }

    /// The status currently answered.
    pub fn status(&self) -> u16 {
        lock(&self.canned).status.as_u16()
    }

    /// Stop gracefully (see [`ServerHandle::shutdown`]).
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

impl Deref for StatusServer {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

async fn answer(
    req: Request<Incoming>,
    ctx: ConnCtx,
    canned: Arc<Mutex<CannedResponse>>,
) -> Response<ResponseBody> {
    record_drained(req, &ctx).await;
    lock(&canned).to_response()
}
