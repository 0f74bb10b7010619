//! The SSE upstream: answers `text/event-stream` with N events
//! `data: {i}\n\n` (`i` counting from 0), one every `interval`, each its own
//! chunk so that it is flushed on its own. Logs when each event was sent, so
//! tests can check that a proxy passes events through without buffering.
//! Speaks HTTP/1.1 (chunked) and h2c.

use std::ops::Deref;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

use crate::body::{ChunkLog, PacedBody, ResponseBody};
use crate::server::{ConnCtx, Proto, ServerHandle, bind, record_drained, spawn_http};

/// A running SSE upstream. Derefs to [`ServerHandle`].
#[derive(Debug)]
pub struct SseServer {
    handle: ServerHandle,
    log: ChunkLog,
}

/// The text of event `i` as sent on the wire.
pub fn sse_event(i: usize) -> String {
    format!("data: {i}\n\n")
}

impl SseServer {
    /// Send `events` events, the first right after the head, then one every `interval`.
    pub async fn start(events: usize, interval: Duration) -> anyhow::Result<Self> {
        let log = ChunkLog::default();
        let shared = log.clone();
        let listener = bind().await?;
        let handle = spawn_http(listener, Proto::Auto, move |req, ctx| {
            answer(req, ctx, events, interval, shared.clone())
        })?;
        Ok(Self { handle, log })
    }

    /// When each event was sent: one list per response, in the order the
    /// responses started.
    pub fn event_times(&self) -> Vec<Vec<Instant>> {
        self.log.all()
    }

    /// The event send times of the most recent response.
    pub fn last_event_times(&self) -> Vec<Instant> {
        self.log.all().pop().unwrap_or_default()
    }

    /// Stop gracefully (see [`ServerHandle::shutdown`]).
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

impl Deref for SseServer {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

async fn answer(
    req: Request<Incoming>,
    ctx: ConnCtx,
    events: usize,
    interval: Duration,
    log: ChunkLog,
) -> Response<ResponseBody> {
    record_drained(req, &ctx).await;
    let chunks = (0..events).map(|i| Bytes::from(sse_event(i))).collect();
    let body = PacedBody::new(chunks, Duration::ZERO, interval)
        .logged(&log)
        .boxed();
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response
}
