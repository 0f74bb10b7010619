//! The [`Policy`] trait and what its phases return.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use pylon_telemetry::CallRecord;

use crate::context::{PolicyCtx, RequestHead, ResponseHead};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a request-phase policy decided.
pub enum Flow {
    /// Go on with the next policy, then the route's handler.
    Continue,
    /// Answer the client with this response; the handler is not called, but
    /// the response phase still runs.
    Respond(Response<Bytes>),
}

/// A refusal: rendered as the gateway's JSON error with these extra headers.
#[derive(Debug, Clone)]
pub struct Reject {
    pub status: StatusCode,
    /// Stable, low-cardinality code (`unauthorized`, `rate_limited`, ...).
    pub code: &'static str,
    pub message: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Structured detail rendered as `error.details` (e.g. the failing
    /// fields of a validation).
    pub details: Option<serde_json::Value>,
}

impl Reject {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
            details: None,
        }
    }

    /// Add a response header (skipped when the value is not a valid header value).
    pub fn with_header(mut self, name: HeaderName, value: impl AsRef<str>) -> Self {
        if let Ok(v) = HeaderValue::from_str(value.as_ref()) {
            self.headers.push((name, v));
        }
        self
    }

    /// Attach structured detail (`error.details` in the body).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn unauthorized(challenge: Option<&str>) -> Self {
        let r = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "authentication required or credentials not valid",
        );
        match challenge {
            Some(c) => r.with_header(http::header::WWW_AUTHENTICATE, c),
            None => r,
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
}

pub type PolicyResult = Result<Flow, Reject>;

/// A request-phase result that is ready now (no allocation) or needs to wait.
pub enum Step<'a> {
    Ready(PolicyResult),
    Wait(BoxFuture<'a, PolicyResult>),
}

impl<'a> Step<'a> {
    /// Continue with the next policy.
    pub fn next() -> Self {
        Step::Ready(Ok(Flow::Continue))
    }

    pub fn reject(r: Reject) -> Self {
        Step::Ready(Err(r))
    }

    pub fn respond(resp: Response<Bytes>) -> Self {
        Step::Ready(Ok(Flow::Respond(resp)))
    }

    pub fn wait(fut: impl Future<Output = PolicyResult> + Send + 'a) -> Self {
        Step::Wait(Box::pin(fut))
    }

    /// Resolve the step.
    pub async fn resolve(self) -> PolicyResult {
        match self {
            Step::Ready(r) => r,
            Step::Wait(f) => f.await,
        }
    }
}

/// What an authentication policy tells the chain.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuthRole<'a> {
    /// The consumer to use when no credential is given.
    pub anonymous: Option<&'a str>,
    /// The `WWW-Authenticate` challenge this policy answers to.
    pub challenge: Option<&'a str>,
}

/// A traffic or security policy. Every phase has a no-op default; a policy
/// implements the phases it needs. Policies must never panic: every failure is
/// a [`Reject`].
pub trait Policy: Send + Sync + 'static {
    /// The policy type as written in config (`key-auth`).
    fn kind(&self) -> &'static str;

    /// Whether this request's body must be read into memory before
    /// `on_request` (bounded by the listener's body limit). Asked before the
    /// request phase, e.g. "only for JSON bodies".
    fn wants_request_body(&self, parts: &http::request::Parts) -> bool {
        let _ = parts;
        false
    }

    /// Whether this response's body must be read into memory before
    /// `on_response` (asked only of policies whose request phase ran). Say
    /// yes only when needed: a buffered response is no longer streamed.
    fn wants_response_body(&self, parts: &http::response::Parts, ctx: &PolicyCtx) -> bool {
        let _ = (parts, ctx);
        false
    }

    /// Authentication policies say so here. Several may sit on one route:
    /// the first that finds its credential wins; one that finds none leaves
    /// the request to the next. After the last one, a request still without
    /// a consumer is refused (401, with every challenge) unless one of them
    /// names an anonymous consumer.
    fn auth(&self) -> Option<AuthRole<'_>> {
        None
    }

    /// Before the handler. May change the request, answer it, or refuse it.
    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let _ = (req, ctx);
        Step::next()
    }

    /// After the handler (or a policy's own response), before the client sees it.
    fn on_response(&self, resp: &mut ResponseHead, ctx: &mut PolicyCtx) -> Result<(), Reject> {
        let _ = (resp, ctx);
        Ok(())
    }

    /// When the response has been sent (or failed): add facts to the record,
    /// release what the request held.
    fn on_log(&self, ctx: &PolicyCtx, record: &mut CallRecord) {
        let _ = (ctx, record);
    }
}
