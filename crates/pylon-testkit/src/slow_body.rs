//! The slow-body upstream: answers 200 at once, then sends the body in N
//! chunks with a pause between them, logging when each chunk was handed to
//! the connection, for streaming and time-to-first-byte tests. It can also cut
//! the body short after some chunks (a dropped stream). HTTP/1.1 responses use
//! chunked encoding. Speaks HTTP/1.1 and h2c.

use std::ops::Deref;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

use crate::body::{ChunkLog, PacedBody, ResponseBody};
use crate::server::{ConnCtx, Proto, ServerHandle, bind, record_drained, spawn_http};

/// How a [`SlowBodyServer`] answers.
#[derive(Debug, Clone)]
pub struct SlowBodyConfig {
    /// Number of chunks.
    pub chunks: usize,
    /// Pause between consecutive chunks.
    pub interval: Duration,
    /// Pause between the response head and the first chunk.
    pub first_delay: Duration,
    /// Size of each chunk in bytes (filled with `x`); `0` sends `chunk {i}\n`
    /// with `i` counting from 0.
    pub chunk_size: usize,
    pub content_type: String,
    /// Fail the body (abort the HTTP/1.1 connection, reset the HTTP/2 stream)
    /// once this many chunks have been sent, instead of ending it cleanly.
    pub fail_after: Option<usize>,
}

impl Default for SlowBodyConfig {
    fn default() -> Self {
        Self {
            chunks: 5,
            interval: Duration::from_millis(100),
            first_delay: Duration::ZERO,
            chunk_size: 0,
            content_type: "text/plain".into(),
            fail_after: None,
        }
    }
}

impl SlowBodyConfig {
    /// The body chunks this config sends, in order.
    pub fn chunk_bytes(&self) -> Vec<Bytes> {
        (0..self.chunks)
            .map(|i| {
                if self.chunk_size == 0 {
                    Bytes::from(format!("chunk {i}\n"))
                } else {
                    Bytes::from(vec![b'x'; self.chunk_size])
                }
            })
            .collect()
    }
}

/// A running slow-body upstream. Derefs to [`ServerHandle`].
#[derive(Debug)]
pub struct SlowBodyServer {
    handle: ServerHandle,
    log: ChunkLog,
    config: SlowBodyConfig,
}

impl SlowBodyServer {
    /// Send `chunks` chunks (`chunk 0\n`, `chunk 1\n`, ...) `interval` apart,
    /// the first one right after the head.
    pub async fn start(chunks: usize, interval: Duration) -> anyhow::Result<Self> {
        Self::start_with(SlowBodyConfig {
            chunks,
            interval,
            ..SlowBodyConfig::default()
        })
        .await
    }

    pub async fn start_with(config: SlowBodyConfig) -> anyhow::Result<Self> {
        let content_type = HeaderValue::from_str(&config.content_type)?;
        let log = ChunkLog::default();
        let (shared_log, shared) = (log.clone(), config.clone());
        let listener = bind().await?;
        let handle = spawn_http(listener, Proto::Auto, move |req, ctx| {
            answer(
                req,
                ctx,
                shared.clone(),
                content_type.clone(),
                shared_log.clone(),
            )
        })?;
        Ok(Self {
            handle,
            log,
            config,
        })
    }

    /// When each chunk was sent: one list per response, in the order the
    /// responses started.
    pub fn chunk_times(&self) -> Vec<Vec<Instant>> {
        self.log.all()
    }

    /// The chunk send times of the most recent response.
    pub fn last_chunk_times(&self) -> Vec<Instant> {
        self.log.all().pop().unwrap_or_default()
    }

    pub fn config(&self) -> &SlowBodyConfig {
        &self.config
    }

    /// Stop gracefully (see [`ServerHandle::shutdown`]).
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

impl Deref for SlowBodyServer {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

async fn answer(
    req: Request<Incoming>,
    ctx: ConnCtx,
    config: SlowBodyConfig,
    content_type: HeaderValue,
    log: ChunkLog,
) -> Response<ResponseBody> {
    record_drained(req, &ctx).await;
    let body = PacedBody::new(config.chunk_bytes(), config.first_delay, config.interval)
        .logged(&log)
        .fail_after(config.fail_after)
        .boxed();
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, content_type);
    response
}
