//! Provider adapters. Each converts between its provider's native wire
//! format and the unified types ([`crate::types`]); none knows another
//! provider. Adding one is one folder here and one line in [`REGISTRY`].
//!
//! A provider is pure translation: it builds the HTTP request for a call and
//! reads the answer (whole, streamed, or an error); the executor does the I/O.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use pylon_config::AiProviderConfig;

use crate::catalog::ModelInfo;
use crate::error::{AiError, ErrorClass};
use crate::types::{ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, StreamEvent};

pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod cohere;
pub mod compat;
pub mod gemini;
pub mod mistral;
pub mod mock;
pub mod ollama;
pub mod openai;
#[cfg(test)]
pub(crate) mod testing;

/// Everything one call needs to know about where it goes.
pub struct Endpoint<'a> {
    pub settings: &'a ProviderSettings,
    /// The provider's model id (Azure: the deployment name).
    pub model: &'a str,
    /// The pool key chosen for this call, if the provider uses keys.
    pub key: Option<&'a str>,
    pub stream: bool,
}

/// A provider's config, compiled once per snapshot.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    pub name: String,
    pub kind: &'static str,
    /// Without a trailing `/`.
    pub base_url: String,
    pub headers: HeaderMap,
    pub config: AiProviderConfig,
}

/// An HTTP request to a provider.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl HttpRequest {
    /// A JSON POST to `url`.
    pub fn post_json(url: String, body: &serde_json::Value) -> Result<Self, AiError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| AiError::internal(format!("cannot encode the provider request: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        Ok(Self {
            method: Method::POST,
            url,
            headers,
            body: Bytes::from(body),
        })
    }

    /// Set a header from a config or key string (an invalid value is a config error).
    pub fn header(&mut self, name: &'static str, value: &str) -> Result<(), AiError> {
        let v = http::HeaderValue::from_str(value).map_err(|_| {
            AiError::internal(format!("the value for header `{name}` is not valid"))
        })?;
        self.headers.insert(http::HeaderName::from_static(name), v);
        Ok(())
    }
}

/// An answer made in process (the mock provider) instead of over HTTP: the
/// body in the provider's own wire format, sent in chunks.
#[derive(Debug, Clone)]
pub struct LocalAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub chunks: Vec<Bytes>,
    /// Wait before the head, and between chunks.
    pub latency: std::time::Duration,
    pub chunk_delay: std::time::Duration,
}

/// How a call is carried out.
#[derive(Debug, Clone)]
pub enum Outbound {
    Http(HttpRequest),
    Local(LocalAnswer),
}

/// Native stream bytes → unified events, incrementally.
pub trait StreamDecoder: Send + Sync {
    /// Bytes as they arrive (split anywhere); complete events go to `out`.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), AiError>;
    /// The provider closed the stream. An error when it ended before its
    /// proper end (a cut connection must not look like a short answer).
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError>;
}

/// A provider adapter.
pub trait Provider: Send + Sync + 'static {
    fn kind(&self) -> &'static str;

    /// Parameters set in `req` that this provider cannot honour.
    fn unsupported(&self, req: &ChatRequest) -> Vec<&'static str> {
        let _ = req;
        Vec::new()
    }

    /// `max_tokens` to send when the caller gave none, for providers that
    /// require one (`info` is the deployment's catalog entry).
    fn default_max_tokens(&self, req: &ChatRequest, info: Option<&ModelInfo>) -> Option<u32> {
        let _ = (req, info);
        None
    }

    fn chat(&self, req: &ChatRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError>;

    /// A whole (non-streamed) answer with a success status.
    fn chat_response(&self, body: &[u8], ep: &Endpoint<'_>) -> Result<ChatResponse, AiError>;

    /// The decoder for a streamed answer with a success status.
    fn chat_stream(&self, ep: &Endpoint<'_>) -> Box<dyn StreamDecoder>;

    /// An error answer (status ≥ 400) in the provider's shape.
    fn error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
        generic_error(status, headers, body)
    }

    /// A native prompt-token count of `req`, for providers with such an
    /// endpoint (`/v1/messages/count_tokens` estimates for the others).
    fn count_tokens(
        &self,
        req: &ChatRequest,
        ep: &Endpoint<'_>,
    ) -> Option<Result<Outbound, AiError>> {
        let _ = (req, ep);
        None
    }

    /// The count in a successful answer to [`Provider::count_tokens`].
    fn count_tokens_response(&self, body: &[u8]) -> Result<u64, AiError> {
        let _ = body;
        Err(not_supported(self.kind(), "count_tokens"))
    }

    fn embeddings(&self, req: &EmbeddingsRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let _ = (req, ep);
        Err(not_supported(self.kind(), "embeddings"))
    }

    fn embeddings_response(
        &self,
        body: &[u8],
        ep: &Endpoint<'_>,
    ) -> Result<EmbeddingsResponse, AiError> {
        let _ = (body, ep);
        Err(not_supported(self.kind(), "embeddings"))
    }
}

/// "`kind` does not support `what`" as a client error.
pub fn not_supported(kind: &str, what: &str) -> AiError {
    let mut e = AiError::new(
        ErrorClass::Unsupported,
        format!("provider kind `{kind}` does not support {what}"),
    );
    e.param = Some(what.to_string());
    e
}

/// An error body of unknown shape: the status decides the class; the
/// message comes from `error.message`, `message`, `error` or the raw text.
pub fn generic_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let message = v
        .pointer("/error/message")
        .or_else(|| v.get("message"))
        .or_else(|| v.get("error").filter(|e| e.is_string()))
        .or_else(|| v.get("detail"))
        .and_then(|m| m.as_str())
        .map(str::to_string)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                format!("provider answered {status}")
            } else {
                text.chars().take(500).collect()
            }
        });
    let mut e = AiError::from_status(status, message);
    e.code = v
        .pointer("/error/code")
        .and_then(|c| {
            c.as_str()
                .map(str::to_string)
                .or_else(|| Some(c.to_string()))
        })
        .filter(|c| c != "null");
    e.retry_after = crate::error::retry_after(headers);
    let text = e.message.to_ascii_lowercase();
    if e.class == ErrorClass::InvalidRequest
        && (e.code.as_deref() == Some("context_length_exceeded")
            || text.contains("context length")
            || text.contains("context window")
            || text.contains("too many tokens")
            || text.contains("maximum context"))
    {
        e.class = ErrorClass::ContextWindow;
    } else if e.class == ErrorClass::InvalidRequest
        && (e.code.as_deref() == Some("content_filter")
            || e.code.as_deref() == Some("content_policy_violation")
            || text.contains("content management policy")
            || text.contains("content filter"))
    {
        e.class = ErrorClass::ContentFilter;
    }
    e
}

/// Builds a provider from its config; the error is a reason for the config path.
pub type Builder = fn(&ProviderSettings) -> Result<Arc<dyn Provider>, String>;

/// A registered provider kind: its name, default base URL, whether calls
/// need a key from `keys`, and its builder.
pub struct Kind {
    pub name: &'static str,
    pub default_base_url: Option<&'static str>,
    pub needs_key: bool,
    pub build: Builder,
}

const fn kind(
    name: &'static str,
    url: Option<&'static str>,
    needs_key: bool,
    build: Builder,
) -> Kind {
    Kind {
        name,
        default_base_url: url,
        needs_key,
        build,
    }
}

/// Every native provider kind. OpenAI-compatible presets are in [`compat::PRESETS`].
#[rustfmt::skip]
pub static REGISTRY: &[Kind] = &[
    kind("openai", Some("https://api.openai.com/v1"), true, openai::build),
    kind("openai_compatible", None, false, compat::build),
    kind("anthropic", Some("https://api.anthropic.com/v1"), true, anthropic::build),
    kind("mock", Some("http://mock.invalid"), false, mock::build),
    kind("gemini", Some("https://generativelanguage.googleapis.com/v1beta"), true, gemini::build),
    kind("mistral", Some("https://api.mistral.ai/v1"), true, mistral::build),
    kind("cohere", Some("https://api.cohere.com/v2"), true, cohere::build),
    kind("ollama", Some("http://127.0.0.1:11434"), false, ollama::build),
    kind("bedrock", Some(bedrock::DEFAULT_BASE_URL), false, bedrock::build),
    kind("azure", None, true, azure::build),
];

/// The kind entry for a native kind.
pub fn lookup(name: &str) -> Option<&'static Kind> {
    REGISTRY.iter().find(|k| k.name == name)
}

/// Every accepted `kind` value, for error messages.
pub fn kind_names() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = REGISTRY.iter().map(|k| k.name).collect();
    v.extend(compat::PRESETS.iter().map(|p| p.name));
    v
}
