//! Body types and helpers shared by the mock servers: boxed response bodies,
//! a paced body that yields chunks on a timer (and logs when each went out),
//! a channel-fed body for streaming request bodies from tests, and a counting
//! reader that drains a request body without holding it in memory.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full};
use tokio::sync::mpsc;
use tokio::time::Sleep;

use crate::server::lock;

/// The error type of the bodies here.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type every mock server answers with.
pub type ResponseBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// How much of a request body the servers keep (the rest is only counted).
pub const KEEP_BODY: usize = 64 * 1024;

/// A complete body.
pub fn full(data: impl Into<Bytes>) -> ResponseBody {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> ResponseBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// What draining a request body found.
#[derive(Debug, Default)]
pub(crate) struct BodySummary {
    pub len: u64,
    pub prefix: Bytes,
    pub trailers: Option<HeaderMap>,
    pub error: Option<String>,
}

impl BodySummary {
    /// A body already read whole.
    pub(crate) fn of(bytes: Bytes) -> Self {
        let len = bytes.len() as u64;
        let prefix = bytes.slice(..bytes.len().min(KEEP_BODY));
        Self {
            len,
            prefix,
            trailers: None,
            error: None,
        }
    }
}

/// Read a body to its end frame by frame, counting bytes and keeping only the
/// first [`KEEP_BODY`] of them, so a 1 GiB upload costs 64 KiB of memory.
pub(crate) async fn drain<B>(mut body: B) -> BodySummary
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut summary = BodySummary::default();
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => {
                    summary.len += data.len() as u64;
                    let room = KEEP_BODY.saturating_sub(kept.len());
                    kept.extend_from_slice(&data[..room.min(data.len())]);
                }
                Err(frame) => summary.trailers = frame.into_trailers().ok(),
            },
            Err(e) => {
                summary.error = Some(e.to_string());
                break;
            }
        }
    }
    summary.prefix = Bytes::from(kept);
    summary
}

/// When each chunk of each paced response was handed to the connection:
/// one inner list per response, in the order the responses started.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChunkLog(Arc<Mutex<Vec<Vec<Instant>>>>);

impl ChunkLog {
    /// Open a new entry for a response and return its index.
    pub(crate) fn open(&self) -> usize {
        let mut log = lock(&self.0);
        log.push(Vec::new());
        log.len() - 1
    }

    fn push(&self, index: usize, at: Instant) {
        if let Some(entry) = lock(&self.0).get_mut(index) {
            entry.push(at);
        }
    }

    pub(crate) fn all(&self) -> Vec<Vec<Instant>> {
        lock(&self.0).clone()
    }
}

/// A body that yields its chunks on a timer: the first after `first_delay`,
/// each next one `interval` later. Optionally fails after some chunks (which
/// aborts the HTTP/1.1 connection or resets the HTTP/2 stream), and optionally
/// ends with trailers.
pub(crate) struct PacedBody {
    chunks: VecDeque<Bytes>,
    interval: Duration,
    sleep: Pin<Box<Sleep>>,
    sent: usize,
    fail_after: Option<usize>,
    trailers: Option<HeaderMap>,
    log: Option<(ChunkLog, usize)>,
}

impl PacedBody {
    pub(crate) fn new(chunks: Vec<Bytes>, first_delay: Duration, interval: Duration) -> Self {
        Self {
            chunks: chunks.into(),
            interval,
            sleep: Box::pin(tokio::time::sleep(first_delay)),
            sent: 0,
            fail_after: None,
            trailers: None,
            log: None,
        }
    }

    /// Log each chunk's send time into `log`, under a new entry.
    pub(crate) fn logged(mut self, log: &ChunkLog) -> Self {
        self.log = Some((log.clone(), log.open()));
        self
    }

    /// Fail (instead of sending more) once `n` chunks have gone out.
    pub(crate) fn fail_after(mut self, n: Option<usize>) -> Self {
        self.fail_after = n;
        self
    }

    pub(crate) fn boxed(self) -> ResponseBody {
        BodyExt::boxed(self)
    }
}

impl Body for PacedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.fail_after.is_some_and(|n| this.sent >= n) {
            this.fail_after = None;
            this.chunks.clear();
            this.trailers = None;
            return Poll::Ready(Some(Err("testkit: injected body failure".into())));
        }
        if this.chunks.is_empty() {
            return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
        }
        ready!(this.sleep.as_mut().poll(cx));
        let Some(chunk) = this.chunks.pop_front() else {
            return Poll::Ready(None);
        };
        this.sent += 1;
        let now = Instant::now();
        if let Some((log, index)) = &this.log {
            log.push(*index, now);
        }
        let next = tokio::time::Instant::now() + this.interval;
        this.sleep.as_mut().reset(next);
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty() && self.trailers.is_none() && self.fail_after.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // Unknown on purpose: HTTP/1.1 uses chunked encoding, as streams do.
        SizeHint::default()
    }
}

/// A body fed from a channel, for streaming a request body from a test
/// (gRPC bidi calls, slow uploads). It ends when the sender is dropped.
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::Receiver<Frame<Bytes>>,
}

/// Make a [`ChannelBody`] and the sender that feeds it (`capacity` frames buffered).
pub fn channel_body(capacity: usize) -> (mpsc::Sender<Frame<Bytes>>, ChannelBody) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (tx, ChannelBody { rx })
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drain_counts_everything_but_keeps_a_prefix() {
        let (tx, body) = channel_body(4);
        let feed = tokio::spawn(async move {
            for _ in 0..20 {
                let _ = tx.send(Frame::data(Bytes::from(vec![b'x'; 10_000]))).await;
            }
        });
        let summary = tokio::time::timeout(Duration::from_secs(10), drain(body))
            .await
            .unwrap();
        feed.await.unwrap();
        assert_eq!(summary.len, 200_000);
        assert_eq!(summary.prefix.len(), KEEP_BODY);
        assert!(summary.error.is_none());
    }

    #[tokio::test]
    async fn paced_body_yields_on_schedule_then_fails() {
        let log = ChunkLog::default();
        let chunks = vec![Bytes::from("a"), Bytes::from("b"), Bytes::from("c")];
        let body = PacedBody::new(chunks, Duration::ZERO, Duration::from_millis(30))
            .logged(&log)
            .fail_after(Some(2));
        let mut body = std::pin::pin!(body);
        let start = Instant::now();
        let a = body.frame().await.unwrap().unwrap().into_data().unwrap();
        let b = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!((&a[..], &b[..]), (&b"a"[..], &b"b"[..]));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(body.frame().await.unwrap().is_err());
        assert!(body.frame().await.is_none());
        assert_eq!(log.all()[0].len(), 2);
    }
}
