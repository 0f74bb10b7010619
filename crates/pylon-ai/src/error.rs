//! [`AiError`]: one error type for every AI failure, with the class that
//! decides retries and fallbacks, the status the caller sees, and renderers
//! for the OpenAI and Anthropic error shapes. Provider messages are kept,
//! with anything that looks like a key scrubbed.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};

/// What kind of failure, independent of the provider's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    InvalidRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    RequestTooLarge,
    /// The prompt (plus `max_tokens`) does not fit the model's context window.
    ContextWindow,
    /// The provider's safety system refused the request.
    ContentFilter,
    /// A parameter the provider cannot honour (when configured to reject).
    Unsupported,
    RateLimited,
    /// The provider did not answer in time.
    Timeout,
    /// The provider failed (5xx).
    Server,
    /// The provider is overloaded (Anthropic 529, some 503s).
    Overloaded,
    /// The provider could not be reached.
    Connection,
    /// The provider answered with something Pylon cannot read.
    BadResponse,
    /// A budget or quota refused the call.
    Budget,
    /// Pylon's own fault.
    Internal,
}

impl ErrorClass {
    /// Low-cardinality name for records and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::InvalidRequest => "invalid_request",
            ErrorClass::Authentication => "authentication",
            ErrorClass::PermissionDenied => "permission_denied",
            ErrorClass::NotFound => "not_found",
            ErrorClass::RequestTooLarge => "request_too_large",
            ErrorClass::ContextWindow => "context_window",
            ErrorClass::ContentFilter => "content_filter",
            ErrorClass::Unsupported => "unsupported_parameter",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Server => "server_error",
            ErrorClass::Overloaded => "overloaded",
            ErrorClass::Connection => "connection",
            ErrorClass::BadResponse => "bad_response",
            ErrorClass::Budget => "budget_exceeded",
            ErrorClass::Internal => "internal",
        }
    }

    /// Status a caller sees for this class when the provider gave none.
    pub fn default_status(self) -> StatusCode {
        match self {
            ErrorClass::InvalidRequest
            | ErrorClass::ContextWindow
            | ErrorClass::ContentFilter
            | ErrorClass::Unsupported => StatusCode::BAD_REQUEST,
            ErrorClass::Authentication => StatusCode::UNAUTHORIZED,
            ErrorClass::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorClass::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorClass::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorClass::Server | ErrorClass::Connection | ErrorClass::BadResponse => {
                StatusCode::BAD_GATEWAY
            }
            ErrorClass::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ErrorClass::Budget => StatusCode::PAYMENT_REQUIRED,
            ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether another attempt (another key, deployment or a retry) may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::RateLimited
                | ErrorClass::Timeout
                | ErrorClass::Server
                | ErrorClass::Overloaded
                | ErrorClass::Connection
                | ErrorClass::BadResponse
                | ErrorClass::Authentication
                | ErrorClass::PermissionDenied
        )
    }

    /// OpenAI's error `type`.
    fn openai_type(self) -> &'static str {
        match self {
            ErrorClass::InvalidRequest
            | ErrorClass::ContextWindow
            | ErrorClass::ContentFilter
            | ErrorClass::Unsupported
            | ErrorClass::RequestTooLarge
            | ErrorClass::NotFound => "invalid_request_error",
            ErrorClass::Authentication => "authentication_error",
            ErrorClass::PermissionDenied => "permission_error",
            ErrorClass::RateLimited => "rate_limit_error",
            ErrorClass::Budget => "insufficient_quota",
            ErrorClass::Timeout => "timeout_error",
            _ => "server_error",
        }
    }

    /// Anthropic's error `type`.
    fn anthropic_type(self) -> &'static str {
        match self {
            ErrorClass::InvalidRequest
            | ErrorClass::ContextWindow
            | ErrorClass::ContentFilter
            | ErrorClass::Unsupported => "invalid_request_error",
            ErrorClass::Authentication => "authentication_error",
            ErrorClass::PermissionDenied | ErrorClass::Budget => "permission_error",
            ErrorClass::NotFound => "not_found_error",
            ErrorClass::RequestTooLarge => "request_too_large",
            ErrorClass::RateLimited => "rate_limit_error",
            ErrorClass::Overloaded => "overloaded_error",
            ErrorClass::Timeout => "timeout_error",
            _ => "api_error",
        }
    }
}

/// An AI call failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", class.as_str())]
pub struct AiError {
    pub class: ErrorClass,
    pub status: StatusCode,
    pub message: String,
    /// The request parameter at fault, when known.
    pub param: Option<String>,
    /// The provider's own error code (`context_length_exceeded`, ...).
    pub code: Option<String>,
    /// How long the provider asked to wait (`retry-after`).
    pub retry_after: Option<Duration>,
    /// Name of the provider that failed, when one did.
    pub provider: Option<String>,
}

impl AiError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            status: class.default_status(),
            message: message.into(),
            param: None,
            code: None,
            retry_after: None,
            provider: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::InvalidRequest, message)
    }

    /// A malformed request body, naming the field.
    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::invalid(message);
        e.param = Some(param.into());
        e
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::Internal, message)
    }

    pub fn bad_response(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::BadResponse, message)
    }

    /// A provider stream that ended (EOF) before its final event.
    pub fn stream_cut() -> Self {
        Self::bad_response("the provider's stream ended before the answer was complete")
    }

    /// `Ok` when a stream that reached its end had seen its final event.
    pub fn check_stream_end(complete: bool) -> Result<(), Self> {
        if complete {
            Ok(())
        } else {
            Err(Self::stream_cut())
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Error from a provider's HTTP status, when its body says nothing better.
    pub fn from_status(status: StatusCode, message: impl Into<String>) -> Self {
        let class = class_of_status(status);
        let mut e = Self::new(class, message);
        e.status = status;
        e
    }

    /// The OpenAI error object: `{"error": {"message", "type", "param", "code"}}`.
    pub fn openai_body(&self) -> Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.class.openai_type(),
                "param": self.param,
                "code": self.code.clone().unwrap_or_else(|| self.class.as_str().to_string()),
            }
        })
    }

    /// The Anthropic error object: `{"type": "error", "error": {"type", "message"}}`.
    pub fn anthropic_body(&self) -> Value {
        json!({
            "type": "error",
            "error": {"type": self.class.anthropic_type(), "message": self.message},
        })
    }
}

/// The class a bare HTTP status implies.
pub fn class_of_status(status: StatusCode) -> ErrorClass {
    match status.as_u16() {
        400 | 422 => ErrorClass::InvalidRequest,
        401 => ErrorClass::Authentication,
        402 => ErrorClass::Budget,
        403 => ErrorClass::PermissionDenied,
        404 => ErrorClass::NotFound,
        408 | 504 => ErrorClass::Timeout,
        413 => ErrorClass::RequestTooLarge,
        429 => ErrorClass::RateLimited,
        503 | 529 => ErrorClass::Overloaded,
        500..=599 => ErrorClass::Server,
        _ => ErrorClass::BadResponse,
    }
}

/// `retry-after` (seconds or an HTTP date) or `retry-after-ms`.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
    {
        return Some(Duration::from_secs_f64(ms / 1e3));
    }
    let v = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    None
}

/// Replace anything that looks like a secret key in `text`: the given keys,
/// and common key shapes (`sk-...`, `sk-ant-...`, `AIza...`, `Bearer ...`).
pub fn scrub_secrets(text: &str, keys: &[&str]) -> String {
    let mut out = text.to_string();
    for k in keys {
        if k.len() >= 8 && out.contains(k) {
            out = out.replace(k, "[redacted]");
        }
    }
    static SHAPES: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = SHAPES.get_or_init(|| {
        regex::Regex::new(
            r"(sk-(?:ant-|proj-)?[A-Za-z0-9_\-\*]{6,}|AIza[0-9A-Za-z_\-]{20,}|(?i:bearer)\s+[A-Za-z0-9._\-~+/]{12,}=*)",
        )
        .ok()
    });
    match re {
        Some(re) => re.replace_all(&out, "[redacted]").into_owned(),
        None => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_have_each_api_shape() {
        let mut e = AiError::from_status(StatusCode::TOO_MANY_REQUESTS, "slow down");
        e.code = Some("rate_limit_exceeded".into());
        let o = e.openai_body();
        assert_eq!(o["error"]["type"], "rate_limit_error");
        assert_eq!(o["error"]["code"], "rate_limit_exceeded");
        assert_eq!(o["error"]["message"], "slow down");
        let a = e.anthropic_body();
        assert_eq!(a["type"], "error");
        assert_eq!(a["error"]["type"], "rate_limit_error");
        let over = AiError::from_status(StatusCode::from_u16(529).unwrap(), "busy");
        assert_eq!(over.class, ErrorClass::Overloaded);
        assert_eq!(over.anthropic_body()["error"]["type"], "overloaded_error");
    }

    #[test]
    fn retry_after_forms() {
        let mut h = http::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        assert_eq!(retry_after(&http::HeaderMap::new()), None);
    }

    #[test]
    fn secrets_are_scrubbed() {
        let s = scrub_secrets(
            "Incorrect API key provided: sk-proj-abcdef123456. key MYSECRETKEY99 Bearer abcdefghijklmnop",
            &["MYSECRETKEY99"],
        );
        assert!(!s.contains("abcdef123456"), "{s}");
        assert!(!s.contains("MYSECRETKEY99"), "{s}");
        assert!(!s.contains("abcdefghijklmnop"), "{s}");
        assert!(s.contains("Incorrect API key provided"));
    }
}
