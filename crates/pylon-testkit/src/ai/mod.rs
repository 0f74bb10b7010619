//! Mock AI providers: real loopback servers that speak each provider's
//! native wire format (JSON answers, SSE streams), answer from what the
//! request says (echo the last user message, call the first tool when tools
//! are offered, JSON when JSON is asked for), and inject faults on demand:
//! latency, error statuses with `retry-after`, a malformed stream chunk, a
//! connection dropped mid-stream. Every request is recorded with its body.
//!
//! Each provider is one file; they share [`Faults`], [`Reply`] and
//! [`MockAi`], the server plumbing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::{PacedBody, ResponseBody, full};
use crate::server::{ConnCtx, Proto, ServerHandle, bind, lock, record_parts, spawn_http};

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod cohere;
pub mod gemini;
pub mod mistral;
pub mod native;
pub mod ollama;
pub mod openai;
pub mod sigv4;

pub use anthropic::MockAnthropic;
pub use azure::MockAzure;
pub use bedrock::MockBedrock;
pub use native::MockNative;
pub use openai::MockOpenAi;

/// A fault for the next request that reaches the mock.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status and the provider's error body.
    Status {
        status: u16,
        /// `retry-after` header, in seconds.
        retry_after: Option<u64>,
        message: String,
    },
    /// Wait this long before answering.
    Latency(Duration),
    /// In a stream, after `after` events, send a chunk that is not valid JSON.
    MalformedChunk { after: usize },
    /// In a stream, after `after` events, break the connection.
    DropMidStream { after: usize },
}

impl Fault {
    pub fn status(status: u16, message: &str) -> Self {
        Fault::Status {
            status,
            retry_after: None,
            message: message.into(),
        }
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Fault::Status {
            status: 429,
            retry_after: Some(retry_after_secs),
            message: "Rate limit reached for requests".into(),
        }
    }
}

/// Faults queued for the coming requests, one per request, in order.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<VecDeque<Fault>>>);

impl Faults {
    pub fn push(&self, f: Fault) {
        lock(&self.0).push_back(f);
    }

    pub fn clear(&self) {
        lock(&self.0).clear();
    }

    pub(crate) fn next(&self) -> Option<Fault> {
        lock(&self.0).pop_front()
    }
}

/// What the mock answers, decided from the request (or forced by a test).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub text: Option<String>,
    /// Tool calls: id, name, JSON arguments text.
    pub tool_calls: Vec<(String, String, String)>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
}

/// A forced reply for every request, when set.
#[derive(Debug, Clone, Default)]
pub struct Script(Arc<Mutex<Option<Reply>>>);

impl Script {
    pub fn set(&self, r: Reply) {
        *lock(&self.0) = Some(r);
    }

    pub fn clear(&self) {
        *lock(&self.0) = None;
    }

    pub(crate) fn get(&self) -> Option<Reply> {
        lock(&self.0).clone()
    }
}

/// Tokens in a text, the way every mock counts them: 4 characters a token.
pub fn mock_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// The reply for a conversation: the last user text echoed (with the number
/// of images), a call of the first tool when tools are offered and the last
/// message is not a tool result, the tool result echoed after one, JSON
/// when asked.
pub fn decide(
    last_user: &str,
    images: usize,
    tools: &[String],
    after_tool: Option<&str>,
    json: bool,
    prompt_chars: usize,
) -> Reply {
    let input_tokens = (prompt_chars as u64).div_ceil(4).max(1);
    if after_tool.is_none() && !tools.is_empty() {
        let args = serde_json::json!({ "query": last_user }).to_string();
        return Reply {
            text: None,
            output_tokens: mock_tokens(&args) + 3,
            tool_calls: vec![("call_mock_1".into(), tools[0].clone(), args)],
            input_tokens,
            cached_tokens: 0,
        };
    }
    let mut text = match after_tool {
        Some(result) => format!("The tool said: {result}"),
        None => format!("echo: {last_user}"),
    };
    if images > 0 {
        text.push_str(&format!(" [{images} image(s)]"));
    }
    if json {
        text = serde_json::json!({ "answer": text }).to_string();
    }
    Reply {
        output_tokens: mock_tokens(&text),
        text: Some(text),
        tool_calls: Vec::new(),
        input_tokens,
        cached_tokens: 0,
    }
}

/// Split `s` into pieces of at most `n` characters (stream deltas).
pub fn pieces(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

/// What a provider's handler produced for one request.
pub enum Answer {
    Json(StatusCode, serde_json::Value),
    /// SSE or other stream chunks, sent `interval` apart.
    Stream(Vec<Bytes>),
}

/// The shared plumbing of a mock AI server.
#[derive(Debug)]
pub struct MockAi {
    pub handle: ServerHandle,
    pub faults: Faults,
    pub script: Script,
}

/// How each provider file plugs in.
pub trait Wire: Send + Sync + 'static {
    /// The provider's error body for a fault status.
    fn error_body(&self, status: u16, message: &str) -> serde_json::Value;
    /// A chunk that is not what the stream format allows.
    fn malformed_chunk(&self) -> Bytes {
        Bytes::from_static(b"data: {\"this is\": not json\n\n")
    }
    /// The `content-type` of streamed answers.
    fn stream_content_type(&self) -> &'static str {
        "text/event-stream"
    }
    /// Extra headers on a fault's error answer (e.g. Bedrock's `x-amzn-ErrorType`).
    fn error_headers(&self, status: u16) -> Vec<(&'static str, String)> {
        let _ = status;
        Vec::new()
    }
    /// Answer a request; `script` is the forced reply if a test set one.
    fn answer(&self, req: &http::request::Parts, body: &[u8], script: Option<Reply>) -> Answer;
}

impl MockAi {
    /// Serve `wire` on 127.0.0.1 (HTTP/1.1 and h2c); stream chunks `interval` apart.
    pub async fn start<W: Wire>(wire: W, interval: Duration) -> anyhow::Result<Self> {
        let faults = Faults::default();
        let script = Script::default();
        let (f, s) = (faults.clone(), script.clone());
        let wire = Arc::new(wire);
        let listener = bind().await?;
        let handle = spawn_http(listener, Proto::Auto, move |req, ctx| {
            serve(req, ctx, wire.clone(), f.clone(), s.clone(), interval)
        })?;
        Ok(Self {
            handle,
            faults,
            script,
        })
    }
}

impl MockAi {
    /// The JSON bodies of recorded requests whose path ends with one of
    /// `suffixes`, oldest first.
    pub fn json_bodies(&self, suffixes: &[&str]) -> Vec<serde_json::Value> {
        self.handle
            .requests()
            .iter()
            .filter(|r| suffixes.iter().any(|s| r.path().ends_with(s)))
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect()
    }
}

async fn serve<W: Wire>(
    req: Request<Incoming>,
    ctx: ConnCtx,
    wire: Arc<W>,
    faults: Faults,
    script: Script,
    interval: Duration,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    record_parts(
        parts.clone(),
        crate::body::BodySummary::of(bytes.clone()),
        &ctx,
    );
    let mut fault = faults.next();
    if let Some(Fault::Latency(d)) = fault {
        tokio::time::sleep(d).await;
        fault = None;
    }
    if let Some(Fault::Status {
        status,
        retry_after,
        message,
    }) = &fault
    {
        let mut resp = json_response(
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &wire.error_body(*status, message),
        );
        if let Some(s) = retry_after {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(*s));
        }
        for (k, v) in wire.error_headers(*status) {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        return resp;
    }
    match wire.answer(&parts, &bytes, script.get()) {
        Answer::Json(status, v) => json_response(status, &v),
        Answer::Stream(mut chunks) => {
            let mut fail_after = None;
            match fault {
                Some(Fault::MalformedChunk { after }) => {
                    let at = after.min(chunks.len());
                    chunks.insert(at, wire.malformed_chunk());
                }
                Some(Fault::DropMidStream { after }) => fail_after = Some(after),
                _ => {}
            }
            let body = PacedBody::new(chunks, Duration::ZERO, interval)
                .fail_after(fail_after)
                .boxed();
            let mut resp = Response::new(body);
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static(wire.stream_content_type()),
            );
            resp
        }
    }
}

fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<ResponseBody> {
    let mut resp = Response::new(full(v.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
