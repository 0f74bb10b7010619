//! The delay upstream: answers after a delay, for timeout tests. The delay can
//! fall before the response head (`head_delay`: nothing is sent until it
//! passes) and/or between the head and the body (`body_delay`: headers go out
//! at once, the body follows later). Both can be changed while it runs.
//! Speaks HTTP/1.1 and h2c; the request body is drained before the delay starts.

use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::body::{PacedBody, ResponseBody, full};
use crate::server::{ConnCtx, Proto, ServerHandle, bind, lock, record_drained, spawn_http};
use crate::status::status_code;

/// How a [`DelayServer`] answers.
#[derive(Debug, Clone)]
pub struct DelayConfig {
    /// Wait before sending the response head.
    pub head_delay: Duration,
    /// Wait between the head and the body.
    pub body_delay: Duration,
    pub status: u16,
    pub body: Bytes,
}

impl Default for DelayConfig {
    fn default() -> Self {
        Self {
            head_delay: Duration::ZERO,
            body_delay: Duration::ZERO,
            status: 200,
            body: Bytes::from_static(b"delayed"),
        }
    }
}

/// A running delay upstream. Derefs to [`ServerHandle`].
#[derive(Debug)]
pub struct DelayServer {
    handle: ServerHandle,
    config: Arc<Mutex<DelayConfig>>,
}

impl DelayServer {
    /// Answer 200 `delayed` after `delay` (nothing is sent before it passes).
    pub async fn start(delay: Duration) -> anyhow::Result<Self> {
        Self::start_with(DelayConfig {
            head_delay: delay,
            ..DelayConfig::default()
        })
        .await
    }

    /// Send the 200 head at once, then the body `delayed` after `delay`.
    pub async fn start_body_delay(delay: Duration) -> anyhow::Result<Self> {
        Self::start_with(DelayConfig {
            body_delay: delay,
            ..DelayConfig::default()
        })
        .await
    }

    pub async fn start_with(config: DelayConfig) -> anyhow::Result<Self> {
        status_code(config.status)?;
        let config = Arc::new(Mutex::new(config));
        let shared = config.clone();
        let listener = bind().await?;
        let handle = spawn_http(listener, Proto::Auto, move |req, ctx| {
            answer(req, ctx, shared.clone())
        })?;
        Ok(Self { handle, config })
    }

    /// Change both delays from the next request on.
    pub fn set_delays(&self, head_delay: Duration, body_delay: Duration) {
        let mut config = lock(&self.config);
        config.head_delay = head_delay;
        config.body_delay = body_delay;
    }

    /// Change the head delay from the next request on.
    pub fn set_delay(&self, head_delay: Duration) {
        lock(&self.config).head_delay = head_delay;
    }

    /// Stop gracefully (see [`ServerHandle::shutdown`]).
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

impl Deref for DelayServer {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

async fn answer(
    req: Request<Incoming>,
    ctx: ConnCtx,
    config: Arc<Mutex<DelayConfig>>,
) -> Response<ResponseBody> {
    record_drained(req, &ctx).await;
    let config = lock(&config).clone();
    tokio::time::sleep(config.head_delay).await;
    let body = if config.body_delay.is_zero() {
        full(config.body)
    } else {
        PacedBody::new(vec![config.body], config.body_delay, Duration::ZERO).boxed()
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(config.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    response
}
