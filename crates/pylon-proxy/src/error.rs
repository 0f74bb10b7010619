//! The error type at the HTTP boundary: status, who caused it, whether a retry
//! could help, and a stable low-cardinality code; rendered as a JSON body.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::client::ProxyBody;

/// Who caused a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    Client,
    Upstream,
    Gateway,
}

/// A request failure as the client sees it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct GatewayError {
    pub status: StatusCode,
    /// Stable machine-readable code, also used as a metric label.
    pub code: &'static str,
    pub message: String,
    pub origin: ErrorSource,
    pub retryable: bool,
    /// Structured detail rendered as `error.details`.
    pub details: Option<Box<serde_json::Value>>,
}

impl GatewayError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        origin: ErrorSource,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            origin,
            retryable: false,
            details: None,
        }
    }

    pub fn client(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(status, code, message, ErrorSource::Client)
    }

    pub fn upstream(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let mut e = Self::new(status, code, message, ErrorSource::Upstream);
        e.retryable = true;
        e
    }

    pub fn gateway(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(status, code, message, ErrorSource::Gateway)
    }

    pub fn not_found() -> Self {
        Self::client(
            StatusCode::NOT_FOUND,
            "no_route",
            "no route matches this request",
        )
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::client(StatusCode::BAD_REQUEST, code, message)
    }

    /// The JSON body: `{"error":{"code","message","request_id"}}`.
    pub fn body(&self, request_id: &str) -> Bytes {
        let mut v = serde_json::json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "status": self.status.as_u16(),
                "request_id": request_id,
            }
        });
        if let Some(d) = &self.details {
            v["error"]["details"] = (**d).clone();
        }
        Bytes::from(v.to_string())
    }

    /// A complete response with the JSON body.
    pub fn to_response(&self, request_id: &str) -> Response<ProxyBody> {
        let mut resp = Response::new(crate::body::full(self.body(request_id)));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use http_body_util::BodyExt;

    #[tokio::test]
    async fn renders_json_with_code_and_request_id() {
        let e = GatewayError::not_found();
        let resp = e.to_response("abc");
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "no_route");
        assert_eq!(v["error"]["request_id"], "abc");
    }
}
