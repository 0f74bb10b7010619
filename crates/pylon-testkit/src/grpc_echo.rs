//! The gRPC upstream: h2c (prior knowledge) only, gRPC wire format without
//! protobuf. For a request with `content-type: application/grpc...` it echoes
//! every length-prefixed message (1-byte compressed flag, 4-byte big-endian
//! length, payload) back, unchanged, as soon as it has arrived in full, so it
//! serves unary and bidirectional-streaming calls alike. When the request ends
//! the response ends with the trailers `grpc-status: 0`, `grpc-message: ok`
//! and `x-echo-count: <messages echoed>`.
//!
//! A path ending in `/Fail` (e.g. `/echo.Echo/Fail`) gets a trailers-only
//! response with `grpc-status: 13`. A request body ending in a partial message
//! ends with `grpc-status: 13` too. Another content type gets HTTP 415.
//!
//! Requests are recorded when their stream ends, with `body_len` counting the
//! request's bytes.

use std::ops::Deref;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::{BoxError, ResponseBody, empty};
use crate::server::{
    ConnCtx, Proto, RecordedRequest, ServerHandle, bind, record_drained, spawn_http,
};

/// The trailer carrying the number of messages echoed.
pub const ECHO_COUNT_TRAILER: &str = "x-echo-count";

/// gRPC status code `INTERNAL`.
const INTERNAL: &str = "13";

/// Length-prefix one message (uncompressed).
pub fn grpc_frame(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + payload.len());
    out.put_u8(0);
    out.put_u32(u32::try_from(payload.len()).unwrap_or(u32::MAX));
    out.put_slice(payload);
    out.freeze()
}

/// Split a buffer of length-prefixed messages into their payloads. A trailing
/// partial message is ignored.
pub fn parse_grpc_frames(buf: &[u8]) -> Vec<Vec<u8>> {
    let mut rest = buf;
    let mut out = Vec::new();
    while rest.len() >= 5 {
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(payload) = rest.get(5..5 + len) else {
            break;
        };
        out.push(payload.to_vec());
        rest = &rest[5 + len..];
    }
    out
}

/// Take one complete message (prefix included) off the front of `buf`.
fn take_message(buf: &mut BytesMut) -> Option<Bytes> {
    if buf.len() < 5 {
        return None;
    }
    let len = (&buf[1..5]).get_u32() as usize;
    (buf.len() >= 5 + len).then(|| buf.split_to(5 + len).freeze())
}

/// A running gRPC echo upstream. Derefs to [`ServerHandle`].
#[derive(Debug)]
pub struct GrpcEchoServer {
    handle: ServerHandle,
}

impl GrpcEchoServer {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = bind().await?;
        let handle = spawn_http(listener, Proto::Http2Only, answer)?;
        Ok(Self { handle })
    }

    /// Stop gracefully (see [`ServerHandle::shutdown`]).
    pub async fn shutdown(self) {
        self.handle.shutdown().await;
    }
}

impl Deref for GrpcEchoServer {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.handle
    }
}

fn grpc_response(body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}

async fn answer(req: Request<Incoming>, ctx: ConnCtx) -> Response<ResponseBody> {
    let is_grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"));
    if !is_grpc {
        record_drained(req, &ctx).await;
        let mut response = Response::new(empty());
        *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return response;
    }
    if req.uri().path().ends_with("/Fail") {
        let mut response = grpc_response(empty());
        let headers = response.headers_mut();
        headers.insert("grpc-status", HeaderValue::from_static(INTERNAL));
        headers.insert(
            "grpc-message",
            HeaderValue::from_static("requested failure"),
        );
        let (parts, _) = req.into_parts();
        let record =
            RecordedRequest::from_head(parts.method, parts.uri, parts.version, parts.headers, &ctx);
        ctx.stats.record(record);
        return response;
    }
    let (parts, incoming) = req.into_parts();
    let record =
        RecordedRequest::from_head(parts.method, parts.uri, parts.version, parts.headers, &ctx);
    let body = EchoBody {
        incoming,
        buf: BytesMut::new(),
        count: 0,
        incoming_done: false,
        done: false,
        record: Some((record, ctx)),
    };
    grpc_response(body.boxed())
}

/// The response body: echoes complete messages as they arrive, then trailers.
struct EchoBody {
    incoming: Incoming,
    buf: BytesMut,
    count: u64,
    incoming_done: bool,
    done: bool,
    /// Recorded (with the byte count) when the body is dropped.
    record: Option<(RecordedRequest, ConnCtx)>,
}

impl EchoBody {
    fn trailers(&self) -> HeaderMap {
        let mut trailers = HeaderMap::new();
        let (status, message) = if self.buf.is_empty() {
            ("0", "ok")
        } else {
            (INTERNAL, "request ended inside a message")
        };
        trailers.insert("grpc-status", HeaderValue::from_static(status));
        trailers.insert("grpc-message", HeaderValue::from_static(message));
        trailers.insert(ECHO_COUNT_TRAILER, HeaderValue::from(self.count));
        trailers
    }
}

impl Body for EchoBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(message) = take_message(&mut this.buf) {
                this.count += 1;
                return Poll::Ready(Some(Ok(Frame::data(message))));
            }
            if this.incoming_done {
                this.done = true;
                return Poll::Ready(Some(Ok(Frame::trailers(this.trailers()))));
            }
            match ready!(Pin::new(&mut this.incoming).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if let Some((record, _)) = &mut this.record {
                            record.body_len += data.len() as u64;
                        }
                        this.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    this.done = true;
                    if let Some((record, _)) = &mut this.record {
                        record.body_error = Some(e.to_string());
                    }
                    return Poll::Ready(Some(Err(e.into())));
                }
                None => this.incoming_done = true,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

impl Drop for EchoBody {
    fn drop(&mut self) {
        if let Some((record, ctx)) = self.record.take() {
            ctx.stats.record(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut wire = BytesMut::new();
        wire.extend_from_slice(&grpc_frame(b"one"));
        wire.extend_from_slice(&grpc_frame(b""));
        wire.extend_from_slice(&grpc_frame(b"three"));
        wire.extend_from_slice(&grpc_frame(b"partial")[..6]);
        assert_eq!(
            parse_grpc_frames(&wire),
            vec![b"one".to_vec(), Vec::new(), b"three".to_vec()]
        );
        assert_eq!(
            take_message(&mut wire).as_deref(),
            Some(&grpc_frame(b"one")[..])
        );
        assert_eq!(
            take_message(&mut wire).as_deref(),
            Some(&grpc_frame(b"")[..])
        );
        assert!(take_message(&mut wire).is_some());
        assert!(take_message(&mut wire).is_none());
        assert_eq!(wire.len(), 6);
    }
}
