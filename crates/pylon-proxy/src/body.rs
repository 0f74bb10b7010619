//! Body adapters used when forwarding: size limits, idle timeouts, byte
//! counting with a completion hook, and replayable buffering for retries.
//! All of them stream frame by frame; none collects a body it does not have to.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Full};
use tokio::time::{Instant, Sleep};

use crate::client::{BoxError, ProxyBody};

/// A body with nothing in it.
pub fn empty() -> ProxyBody {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed()
}

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// The request body grew past the listener's limit.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds the limit of {0} bytes")]
pub struct BodyTooLarge(pub u64);

/// Reading the client's request body failed (bad chunk framing, reset...).
#[derive(Debug, thiserror::Error)]
#[error("could not read the request body: {0}")]
pub struct ClientBodyError(pub BoxError);

/// No body frame arrived within the idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("body idle for longer than {0:?}")]
pub struct BodyIdleTimeout(pub Duration);

/// Fails with [`BodyTooLarge`] once more than `limit` bytes have passed, and
/// adds every byte seen to `counter`. Errors of the inner (client) body come
/// out as [`ClientBodyError`], so they are never blamed on an upstream.
pub struct LimitedBody<B> {
    inner: B,
    seen: u64,
    limit: u64,
    counter: Arc<AtomicU64>,
}

impl<B> LimitedBody<B> {
    pub fn new(inner: B, limit: u64, counter: Arc<AtomicU64>) -> Self {
        Self {
            inner,
            seen: 0,
            limit,
            counter,
        }
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    this.seen += n;
                    this.counter.fetch_add(n, Ordering::Relaxed);
                    if this.seen > this.limit {
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge(this.limit)))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(Box::new(ClientBodyError(e.into()))))),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Fails with [`BodyIdleTimeout`] when the inner body yields nothing for `idle`.
/// The timer is only armed when the inner body actually has to wait, so a body
/// that is ready at once (most small responses) costs no timer at all.
pub struct IdleTimeoutBody<B> {
    inner: B,
    idle: Duration,
    last_frame: Instant,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> IdleTimeoutBody<B> {
    pub fn new(inner: B, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            last_frame: Instant::now(),
            timer: None,
        }
    }
}

impl<B> Body for IdleTimeoutBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.last_frame = Instant::now();
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let deadline = this.last_frame + this.idle;
                let timer = match &mut this.timer {
                    Some(t) => {
                        if t.deadline() != deadline {
                            t.as_mut().reset(deadline);
                        }
                        t
                    }
                    None => this
                        .timer
                        .insert(Box::pin(tokio::time::sleep_until(deadline))),
                };
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(Box::new(BodyIdleTimeout(this.idle)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How a response body stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// All frames delivered.
    Complete,
    /// The inner body failed (upstream reset, idle timeout).
    Error,
    /// Dropped before the end, e.g. the client went away.
    Aborted,
}

/// Counts bytes and calls `on_end` exactly once, when the body ends, fails or is dropped.
pub struct ObservedBody<B: Body, F: FnOnce(u64, BodyEnd)> {
    inner: B,
    bytes: u64,
    on_end: Option<F>,
}

impl<B: Body, F: FnOnce(u64, BodyEnd)> ObservedBody<B, F> {
    pub fn new(inner: B, on_end: F) -> Self {
        Self {
            inner,
            bytes: 0,
            on_end: Some(on_end),
        }
    }

    fn finish(&mut self, how: BodyEnd) {
        if let Some(f) = self.on_end.take() {
            f(self.bytes, how);
        }
    }
}

impl<B: Body, F: FnOnce(u64, BodyEnd)> Drop for ObservedBody<B, F> {
    fn drop(&mut self) {
        // hyper never polls a body that is empty from the start (HEAD, 204,
        // 304, 101): dropping such a body is a complete response, not an abort.
        let how = if self.inner.is_end_stream() {
            BodyEnd::Complete
        } else {
            BodyEnd::Aborted
        };
        self.finish(how);
    }
}

impl<B, F> Body for ObservedBody<B, F>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
    F: FnOnce(u64, BodyEnd) + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(d) = frame.data_ref() {
                    this.bytes += d.len() as u64;
                }
                if this.inner.is_end_stream() {
                    this.finish(BodyEnd::Complete);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                this.finish(BodyEnd::Error);
                Poll::Ready(Some(Err(e.into())))
            }
            None => {
                this.finish(BodyEnd::Complete);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body read ahead for retries.
pub enum Buffered {
    /// The whole body, which can be replayed any number of times.
    Complete {
        data: Bytes,
        trailers: Option<HeaderMap>,
    },
    /// The body was larger than the buffer: what was read, then the rest, streamed once.
    Partial(ProxyBody),
}

impl Buffered {
    /// A body for one attempt; `None` when a partial body was already handed out.
    pub fn replay(&self) -> ProxyBody {
        match self {
            Buffered::Complete { data, trailers } => match trailers {
                None if data.is_empty() => empty(),
                None => full(data.clone()),
                Some(t) => ReplayBody {
                    data: Some(data.clone()),
                    trailers: Some(t.clone()),
                }
                .boxed(),
            },
            Buffered::Partial(_) => empty(),
        }
    }

    pub fn is_complete(&self) -> bool {
        matches!(self, Buffered::Complete { .. })
    }
}

/// Read up to `limit` bytes of `body`. Bodies that fit become replayable; bigger
/// ones come back as the buffered prefix chained with the unread rest.
pub async fn buffer_up_to(mut body: ProxyBody, limit: usize) -> Result<Buffered, BoxError> {
    let mut buf = BytesMut::new();
    loop {
        if body.is_end_stream() {
            return Ok(Buffered::Complete {
                data: buf.freeze(),
                trailers: None,
            });
        }
        match body.frame().await {
            None => {
                return Ok(Buffered::Complete {
                    data: buf.freeze(),
                    trailers: None,
                });
            }
            Some(Err(e)) => return Err(e),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    buf.extend_from_slice(&data);
                    if buf.len() > limit {
                        let prefix = ReplayBody {
                            data: Some(buf.freeze()),
                            trailers: None,
                        };
                        return Ok(Buffered::Partial(
                            Chain {
                                first: Some(prefix),
                                second: body,
                            }
                            .boxed(),
                        ));
                    }
                }
                Err(frame) => {
                    let trailers = frame.into_trailers().ok();
                    return Ok(Buffered::Complete {
                        data: buf.freeze(),
                        trailers,
                    });
                }
            },
        }
    }
}

/// Data then optional trailers, from memory.
struct ReplayBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Body for ReplayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(d) = self.data.take()
            && !d.is_empty()
        {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.as_ref().is_none_or(|d| d.is_empty()) && self.trailers.is_none()
    }
}

/// `first` to its end, then `second`.
struct Chain {
    first: Option<ReplayBody>,
    second: ProxyBody,
}

impl Body for Chain {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(first) = self.first.as_mut() {
            match ready!(Pin::new(first).poll_frame(cx)) {
                Some(frame) => return Poll::Ready(Some(frame)),
                None => self.first = None,
            }
        }
        Pin::new(&mut self.second).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.second.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static str]) -> ProxyBody {
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        http_body_util::StreamBody::new(futures_util::stream::iter(frames)).boxed()
    }

    #[tokio::test]
    async fn small_bodies_replay() {
        let b = buffer_up_to(chunks(&["ab", "cd"]), 10).await.unwrap();
        assert!(b.is_complete());
        for _ in 0..2 {
            let got = b.replay().collect().await.unwrap().to_bytes();
            assert_eq!(got, "abcd");
        }
    }

    #[tokio::test]
    async fn large_bodies_stream_whole_once() {
        let b = buffer_up_to(chunks(&["abc", "def", "ghi"]), 4)
            .await
            .unwrap();
        let Buffered::Partial(body) = b else {
            panic!("expected partial")
        };
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abcdefghi");
    }

    #[tokio::test]
    async fn limit_trips_and_counts() {
        let counter = Arc::new(AtomicU64::new(0));
        let body = LimitedBody::new(chunks(&["aaaa", "bbbb"]), 6, counter.clone());
        let err = body.collect().await.err().unwrap();
        assert!(err.downcast_ref::<BodyTooLarge>().is_some());
        assert_eq!(counter.load(Ordering::Relaxed), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_timeout_fires() {
        let (_tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|f| (f, rx)) },
            );
        let body = IdleTimeoutBody::new(
            http_body_util::StreamBody::new(Box::pin(stream)),
            Duration::from_secs(5),
        );
        let err = body.collect().await.err().unwrap();
        assert!(err.downcast_ref::<BodyIdleTimeout>().is_some());
    }

    #[tokio::test]
    async fn observed_body_reports_once() {
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let s = seen.clone();
        let body = ObservedBody::new(chunks(&["xy", "z"]), move |n, how| s.lock().push((n, how)));
        let _ = body.collect().await.unwrap();
        assert_eq!(*seen.lock(), vec![(3, BodyEnd::Complete)]);
        let s = seen.clone();
        drop(ObservedBody::new(chunks(&["q"]), move |n, how| {
            s.lock().push((n, how))
        }));
        assert_eq!(seen.lock()[1], (0, BodyEnd::Aborted));
    }
}
