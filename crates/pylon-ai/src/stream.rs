//! Streaming end to end: [`EventStream`] turns a provider's response body into
//! unified events through the provider's decoder (with an idle timeout),
//! and [`SseBody`] turns those events into the caller's wire format through
//! an inbound [`StreamEncoder`], chunk by chunk, never buffering the answer.
//! When the body ends, fails or is dropped (the client went away, which also
//! drops and so cancels the provider request), the tracker finishes the
//! call's record.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http_body::{Body, Frame};
use tokio::time::{Instant, Sleep};

use crate::client::{BoxError, ProviderBody};
use crate::error::{AiError, ErrorClass};
use crate::providers::StreamDecoder;
use crate::track::Tracker;
use crate::types::StreamEvent;

/// Unified events → the caller's wire format.
pub trait StreamEncoder: Send + Sync {
    fn encode(&mut self, ev: &StreamEvent, out: &mut BytesMut);
    /// The answer is complete (e.g. `data: [DONE]`).
    fn finish(&mut self, out: &mut BytesMut);
    /// The answer failed midway: a well-formed error event in the caller's shape.
    fn error(&mut self, err: &AiError, out: &mut BytesMut);
}

/// Transforms unified events on their way to the encoder (guardrails:
/// placeholders restored, output masked). May hold events back and emit
/// them later; `flush` runs when the provider's stream ends.
pub trait EventFilter: Send + Sync {
    fn push(&mut self, ev: StreamEvent, out: &mut Vec<StreamEvent>) -> Result<(), AiError>;
    fn flush(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError>;
}

/// A provider's streamed answer as unified events. Events decoded before a
/// failure are delivered first, then the failure, then the end.
pub struct EventStream {
    body: Option<ProviderBody>,
    decoder: Box<dyn StreamDecoder>,
    ready: std::collections::VecDeque<StreamEvent>,
    scratch: Vec<StreamEvent>,
    deferred: Option<AiError>,
    idle: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    filter: Option<Box<dyn EventFilter>>,
}

impl EventStream {
    pub fn new(body: ProviderBody, decoder: Box<dyn StreamDecoder>, idle: Duration) -> Self {
        Self {
            body: Some(body),
            decoder,
            ready: Default::default(),
            scratch: Vec::new(),
            deferred: None,
            idle,
            timer: None,
            filter: None,
        }
    }

    /// Pass every event through `f` from now on (events already decoded too).
    pub fn set_filter(&mut self, mut f: Box<dyn EventFilter>) {
        let pending: Vec<StreamEvent> = self.ready.drain(..).collect();
        let mut out = Vec::new();
        for ev in pending {
            if let Err(e) = f.push(ev, &mut out) {
                self.deferred = Some(e);
                self.body = None;
                break;
            }
        }
        self.ready.extend(out);
        self.filter = Some(f);
    }

    /// Move freshly decoded events (in `scratch`) to `ready`, through the filter.
    fn take_scratch(&mut self, end: bool) {
        let Some(f) = self.filter.as_mut() else {
            self.ready.extend(self.scratch.drain(..));
            return;
        };
        let mut out = Vec::new();
        let mut result = Ok(());
        for ev in self.scratch.drain(..) {
            result = f.push(ev, &mut out);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() && end {
            result = f.flush(&mut out);
        }
        self.ready.extend(out);
        if let Err(e) = result {
            self.body = None;
            self.deferred = Some(e);
        }
    }

    /// Read until at least one event is decoded (or the stream ends or fails):
    /// a failure here is still a failure of the attempt, so the caller can
    /// fall back before anything was sent to the client.
    pub async fn prime(&mut self) -> Result<(), AiError> {
        use futures_util::StreamExt;
        match self.next().await {
            Some(Ok(ev)) => {
                self.ready.push_front(ev);
                Ok(())
            }
            Some(Err(e)) => Err(e),
            None => Err(AiError::bad_response(
                "the provider's stream ended without any event",
            )),
        }
    }
}

impl Stream for EventStream {
    type Item = Result<StreamEvent, AiError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(ev) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(ev)));
            }
            if let Some(e) = this.deferred.take() {
                return Poll::Ready(Some(Err(e)));
            }
            let Some(body) = this.body.as_mut() else {
                return Poll::Ready(None);
            };
            let frame = match Pin::new(body).poll_frame(cx) {
                Poll::Pending => {
                    let idle = this.idle;
                    let timer = this
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                    if timer.as_mut().poll(cx).is_ready() {
                        this.body = None;
                        this.deferred = Some(AiError::new(
                            ErrorClass::Timeout,
                            format!("the provider sent nothing for {idle:?}"),
                        ));
                        continue;
                    }
                    return Poll::Pending;
                }
                Poll::Ready(f) => f,
            };
            if let Some(t) = this.timer.as_mut() {
                t.as_mut().reset(Instant::now() + this.idle);
            }
            match frame {
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        let r = this.decoder.feed(&data, &mut this.scratch);
                        this.take_scratch(false);
                        if let Err(e) = r {
                            this.body = None;
                            this.deferred = Some(e);
                        }
                    }
                }
                Some(Err(e)) => {
                    this.body = None;
                    this.deferred = Some(AiError::new(
                        ErrorClass::Connection,
                        format!("the provider's stream broke: {e}"),
                    ));
                }
                None => {
                    this.body = None;
                    let r = this.decoder.finish(&mut this.scratch);
                    this.take_scratch(r.is_ok());
                    if let Err(e) = r {
                        this.deferred = Some(e);
                    }
                }
            }
        }
    }
}

/// The streamed answer the caller receives: events encoded on the fly.
pub struct SseBody {
    events: EventStream,
    encoder: Box<dyn StreamEncoder>,
    tracker: Option<Tracker>,
    done: bool,
}

impl SseBody {
    pub fn new(events: EventStream, encoder: Box<dyn StreamEncoder>, tracker: Tracker) -> Self {
        Self {
            events,
            encoder,
            tracker: Some(tracker),
            done: false,
        }
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let mut out = BytesMut::new();
        // Encode everything already decoded, then hand it out in one frame.
        loop {
            let next = match Pin::new(&mut this.events).poll_next(cx) {
                Poll::Pending if out.is_empty() => return Poll::Pending,
                Poll::Pending => break,
                Poll::Ready(n) => n,
            };
            match next {
                Some(Ok(ev)) => {
                    if let Some(t) = this.tracker.as_mut() {
                        t.event(&ev);
                    }
                    this.encoder.encode(&ev, &mut out);
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "AI stream failed midway");
                    this.encoder.error(&e, &mut out);
                    if let Some(t) = this.tracker.take() {
                        t.fail(&e);
                    }
                    this.done = true;
                    break;
                }
                None => {
                    this.encoder.finish(&mut out);
                    if let Some(t) = this.tracker.take() {
                        t.complete();
                    }
                    this.done = true;
                    break;
                }
            }
            if out.len() >= 16 * 1024 {
                break;
            }
        }
        if out.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(Frame::data(out.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        if let Some(t) = self.tracker.take() {
            t.abort();
        }
    }
}
