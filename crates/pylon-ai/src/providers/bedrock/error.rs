//! Bedrock errors → [`AiError`]: the exception name (the `x-amzn-ErrorType`
//! header, the body's `__type`, or a stream's `:exception-type`) decides the
//! class; the body's `message` is kept.

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::error::{AiError, ErrorClass, class_of_status};

/// The class of a Bedrock exception name (`ThrottlingException`, or
/// `throttlingException` as streams spell it).
pub fn exception_class(name: &str) -> Option<ErrorClass> {
    let mut n = name.to_string();
    if let Some(first) = n.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    Some(match n.as_str() {
        "ThrottlingException" | "ServiceQuotaExceededException" | "TooManyRequestsException" => {
            ErrorClass::RateLimited
        }
        "ValidationException" | "ConflictException" | "SerializationException" => {
            ErrorClass::InvalidRequest
        }
        "AccessDeniedException" => ErrorClass::PermissionDenied,
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignature"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException"
        | "ExpiredTokenException" => ErrorClass::Authentication,
        "ResourceNotFoundException" => ErrorClass::NotFound,
        "ModelTimeoutException" => ErrorClass::Timeout,
        "ModelNotReadyException" | "ServiceUnavailableException" => ErrorClass::Overloaded,
        "InternalServerException" | "ModelErrorException" | "ModelStreamErrorException" => {
            ErrorClass::Server
        }
        _ => return None,
    })
}

/// `ThrottlingException:http://internal.amazon.com/...` or
/// `com.amazon.coral.validate#ValidationException` → `ValidationException`.
fn bare_name(raw: &str) -> &str {
    let n = raw.split(':').next().unwrap_or(raw);
    n.rsplit('#').next().unwrap_or(n).trim()
}

fn message_of(v: &Value, body: &[u8], fallback: &str) -> String {
    v.get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            let t = String::from_utf8_lossy(body)
                .trim()
                .chars()
                .take(500)
                .collect::<String>();
            if t.is_empty() {
                fallback.to_string()
            } else {
                t
            }
        })
}

/// Refine a validation error about the prompt's length.
fn refine(mut e: AiError) -> AiError {
    let m = e.message.to_ascii_lowercase();
    if e.class == ErrorClass::InvalidRequest
        && (m.contains("too long") || m.contains("context window") || m.contains("context length"))
    {
        e.class = ErrorClass::ContextWindow;
    }
    e
}

/// An error answer of the Bedrock runtime API.
pub fn decode_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let name = headers
        .get("x-amzn-errortype")
        .and_then(|h| h.to_str().ok())
        .or_else(|| v.get("__type").and_then(Value::as_str))
        .map(bare_name)
        .filter(|n| !n.is_empty());
    let message = message_of(&v, body, &format!("Bedrock answered {status}"));
    let mut e = AiError::from_status(status, message);
    if let Some(n) = name {
        if let Some(c) = exception_class(n) {
            e.class = c;
        }
        e.code = Some(n.to_string());
    }
    e.retry_after = crate::error::retry_after(headers);
    refine(e)
}

/// A stream's exception message (`:message-type: exception`).
pub fn stream_exception(name: &str, payload: &[u8]) -> AiError {
    let v: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let class = exception_class(name).unwrap_or(ErrorClass::Server);
    let mut e = AiError::new(class, message_of(&v, payload, name));
    e.code = Some(name.to_string());
    if class == ErrorClass::Server {
        e.status = StatusCode::BAD_GATEWAY;
    }
    refine(e)
}

/// A stream's error message (`:message-type: error`, with `:error-code`).
pub fn stream_error(code: &str, message: &str) -> AiError {
    let class = exception_class(code).unwrap_or(class_of_status(StatusCode::BAD_GATEWAY));
    let mut e = AiError::new(class, message.to_string());
    e.code = Some(code.to_string());
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(kind: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-amzn-errortype", kind.parse().unwrap());
        h
    }

    #[test]
    fn exception_names_decide_the_class() {
        let cases = [
            (
                429,
                "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
                ErrorClass::RateLimited,
            ),
            (
                400,
                "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
                ErrorClass::InvalidRequest,
            ),
            (403, "AccessDeniedException", ErrorClass::PermissionDenied),
            (
                403,
                "UnrecognizedClientException",
                ErrorClass::Authentication,
            ),
            (403, "InvalidSignatureException", ErrorClass::Authentication),
            (404, "ResourceNotFoundException", ErrorClass::NotFound),
            (408, "ModelTimeoutException", ErrorClass::Timeout),
            (424, "ModelErrorException", ErrorClass::Server),
            (429, "ModelNotReadyException", ErrorClass::Overloaded),
            (503, "ServiceUnavailableException", ErrorClass::Overloaded),
            (500, "InternalServerException", ErrorClass::Server),
        ];
        for (status, kind, class) in cases {
            let e = decode_error(
                StatusCode::from_u16(status).unwrap(),
                &headers(kind),
                br#"{"message":"it went wrong"}"#,
            );
            assert_eq!(e.class, class, "{kind}");
            assert_eq!(e.status.as_u16(), status);
            assert_eq!(e.message, "it went wrong");
            assert_eq!(e.code.as_deref(), Some(bare_name(kind)));
        }
    }

    #[test]
    fn body_type_context_window_retry_after_and_streams() {
        let e = decode_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"__type":"com.amazon.coral.validate#ValidationException","Message":"Input is too long for requested model."}"#,
        );
        assert_eq!(e.class, ErrorClass::ContextWindow);
        assert_eq!(e.code.as_deref(), Some("ValidationException"));
        let mut h = headers("ThrottlingException");
        h.insert("retry-after", "4".parse().unwrap());
        let e = decode_error(StatusCode::TOO_MANY_REQUESTS, &h, b"");
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(4)));
        assert!(e.message.contains("429"), "{e}");
        let e = stream_exception("throttlingException", br#"{"message":"Too many tokens"}"#);
        assert_eq!((e.class, e.status.as_u16()), (ErrorClass::RateLimited, 429));
        let e = stream_exception(
            "modelStreamErrorException",
            br#"{"message":"boom","originalStatusCode":500}"#,
        );
        assert_eq!((e.class, e.status.as_u16()), (ErrorClass::Server, 502));
        assert_eq!(e.message, "boom");
        assert_eq!(
            stream_exception("validationException", b"{}").class,
            ErrorClass::InvalidRequest
        );
        assert_eq!(
            stream_exception("serviceUnavailableException", b"{}").class,
            ErrorClass::Overloaded
        );
        assert_eq!(
            stream_error("InternalFailure", "x").class,
            ErrorClass::Server
        );
    }
}
