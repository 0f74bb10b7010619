//! OpenAI: the Chat Completions and Embeddings wire formats (shared by the
//! inbound `/v1/chat/completions` API and every OpenAI-style provider) and the
//! OpenAI provider itself (bearer key, optional organization/project headers).

use std::sync::Arc;

use super::{Endpoint, Outbound, Provider, ProviderSettings, StreamDecoder};
use crate::error::AiError;
use crate::types::*;

pub mod embeddings;
pub mod request;
pub mod response;
pub mod stream;

pub use request::EncodeOptions;

/// An OpenAI-style provider: OpenAI itself, or an OpenAI-compatible server
/// with its own quirks ([`EncodeOptions`], which parameters it rejects).
pub struct OpenAiStyle {
    pub kind: &'static str,
    pub options: EncodeOptions,
    /// Parameters this server does not accept.
    pub unsupported: &'static [&'static str],
    /// Whether the server has `/embeddings`.
    pub embeddings: bool,
}

pub fn build(_s: &ProviderSettings) -> Result<Arc<dyn Provider>, String> {
    Ok(Arc::new(OpenAiStyle {
        kind: "openai",
        options: EncodeOptions {
            max_completion_tokens: true,
            pass_extra: true,
            developer_as_system: false,
            drop_names: false,
        },
        unsupported: &["top_k", "reasoning_budget"],
        embeddings: true,
    }))
}

/// `<base>/<path>` with the key as a bearer token and the configured headers.
pub fn bearer_request(
    ep: &Endpoint<'_>,
    path: &str,
    body: &serde_json::Value,
) -> Result<super::HttpRequest, AiError> {
    let mut req = super::HttpRequest::post_json(format!("{}{path}", ep.settings.base_url), body)?;
    for (k, v) in &ep.settings.headers {
        req.headers.insert(k.clone(), v.clone());
    }
    if let Some(key) = ep.key {
        req.header("authorization", &format!("Bearer {key}"))?;
    }
    Ok(req)
}

impl Provider for OpenAiStyle {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn unsupported(&self, req: &ChatRequest) -> Vec<&'static str> {
        req.set_params()
            .into_iter()
            .filter(|p| self.unsupported.contains(p))
            .collect()
    }

    fn chat(&self, req: &ChatRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let body = request::encode_request(req, ep.model, self.options);
        Ok(Outbound::Http(bearer_request(
            ep,
            "/chat/completions",
            &body,
        )?))
    }

    fn chat_response(&self, body: &[u8], _ep: &Endpoint<'_>) -> Result<ChatResponse, AiError> {
        response::decode_response(body)
    }

    fn chat_stream(&self, _ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(stream::ChunkDecoder::new())
    }

    fn embeddings(&self, req: &EmbeddingsRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        if !self.embeddings {
            return Err(super::not_supported(self.kind, "embeddings"));
        }
        let body = embeddings::encode_request(req, ep.model);
        Ok(Outbound::Http(bearer_request(ep, "/embeddings", &body)?))
    }

    fn embeddings_response(
        &self,
        body: &[u8],
        _ep: &Endpoint<'_>,
    ) -> Result<EmbeddingsResponse, AiError> {
        embeddings::decode_response(body)
    }
}
