//! Anthropic error bodies (`{"type": "error", "error": {"type", "message"}}`,
//! on HTTP answers and as `error` events mid-stream) → [`AiError`], with
//! the class taken from `error.type` and the provider's message kept.

use http::{HeaderMap, StatusCode};

use super::wire::WireError;
use crate::error::{AiError, ErrorClass, retry_after};

/// The class an Anthropic `error.type` names, if it is a known one.
pub fn class_of(kind: &str) -> Option<ErrorClass> {
    Some(match kind {
        "invalid_request_error" => ErrorClass::InvalidRequest,
        "authentication_error" => ErrorClass::Authentication,
        "permission_error" => ErrorClass::PermissionDenied,
        "billing_error" => ErrorClass::Budget,
        "not_found_error" => ErrorClass::NotFound,
        "request_too_large" => ErrorClass::RequestTooLarge,
        "rate_limit_error" => ErrorClass::RateLimited,
        "api_error" => ErrorClass::Server,
        "overloaded_error" => ErrorClass::Overloaded,
        "timeout_error" => ErrorClass::Timeout,
        _ => return None,
    })
}

/// An error of `kind` with `message`; `status` is the HTTP status when the
/// error came as an answer (a stream error has none of its own).
pub fn error_of(kind: &str, message: &str, status: Option<StatusCode>) -> AiError {
    let class = class_of(kind)
        .or_else(|| status.map(crate::error::class_of_status))
        .unwrap_or(ErrorClass::Server);
    let mut e = AiError::new(class, message);
    if let Some(s) = status {
        e.status = s;
    }
    if !kind.is_empty() {
        e.code = Some(kind.to_string());
    }
    let text = message.to_ascii_lowercase();
    if e.class == ErrorClass::InvalidRequest
        && (text.contains("prompt is too long")
            || text.contains("exceed context limit")
            || text.contains("context window"))
    {
        e.class = ErrorClass::ContextWindow;
        e.code = Some("context_length_exceeded".into());
    }
    e
}

/// An error answer (status ≥ 400): the body's class and message, the
/// status kept (529 stays 529), `retry-after` kept.
pub fn decode_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
    let mut e = match serde_json::from_slice::<WireError>(body) {
        Ok(w) if !w.error.message.is_empty() || !w.error.kind.is_empty() => {
            let msg = if w.error.message.is_empty() {
                format!("provider answered {status}")
            } else {
                w.error.message
            };
            error_of(&w.error.kind, &msg, Some(status))
        }
        _ => return crate::providers::generic_error(status, headers, body),
    };
    e.retry_after = retry_after(headers);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(kind: &str, msg: &str) -> Vec<u8> {
        serde_json::json!({"type": "error", "error": {"type": kind, "message": msg}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn classes_statuses_and_retry_after() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "4".parse().unwrap());
        let e = decode_error(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            &body(
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
            ),
        );
        assert_eq!(e.class, ErrorClass::RateLimited);
        assert_eq!(e.status, 429);
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(4)));
        assert!(e.message.contains("per-minute rate limit"));
        assert_eq!(e.anthropic_body()["error"]["type"], "rate_limit_error");
        let s529 = StatusCode::from_u16(529).unwrap();
        let e = decode_error(
            s529,
            &HeaderMap::new(),
            &body("overloaded_error", "Overloaded"),
        );
        assert_eq!((e.class, e.status.as_u16()), (ErrorClass::Overloaded, 529));
        let cases = [
            (400, "invalid_request_error", ErrorClass::InvalidRequest),
            (401, "authentication_error", ErrorClass::Authentication),
            (402, "billing_error", ErrorClass::Budget),
            (403, "permission_error", ErrorClass::PermissionDenied),
            (404, "not_found_error", ErrorClass::NotFound),
            (413, "request_too_large", ErrorClass::RequestTooLarge),
            (500, "api_error", ErrorClass::Server),
            (504, "timeout_error", ErrorClass::Timeout),
        ];
        for (status, kind, class) in cases {
            let e = decode_error(
                StatusCode::from_u16(status).unwrap(),
                &HeaderMap::new(),
                &body(kind, "m"),
            );
            assert_eq!(e.class, class, "{kind}");
            assert_eq!(e.status, status);
        }
    }

    #[test]
    fn context_window_and_odd_bodies() {
        let e = decode_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            &body(
                "invalid_request_error",
                "prompt is too long: 210000 tokens > 200000 maximum",
            ),
        );
        assert_eq!(e.class, ErrorClass::ContextWindow);
        let e = decode_error(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>bad gateway</html>",
        );
        assert_eq!(e.class, ErrorClass::Server);
        assert!(e.message.contains("bad gateway"));
        // A stream error has no status: the class decides.
        let e = error_of("overloaded_error", "Overloaded", None);
        assert_eq!(e.class, ErrorClass::Overloaded);
        assert_eq!(
            error_of("something_new", "x", None).class,
            ErrorClass::Server
        );
    }
}
