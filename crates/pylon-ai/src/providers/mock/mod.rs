//! The offline `mock` provider: answers in process, in the OpenAI wire
//! format (so its answers go through the same decoders as a real provider's),
//! from fixtures or by echoing the prompt; streams too; fails on demand.
//! Embeddings are deterministic bag-of-words vectors, so similar texts have
//! similar vectors (usable for semantic-cache tests without a model).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};
use pylon_config::{MockFixture, MockProviderConfig};
use regex::Regex;
use serde_json::{Value, json};

use super::openai::{embeddings as oai_embeddings, response as oai_response, stream::ChunkDecoder};
use super::{Endpoint, LocalAnswer, Outbound, Provider, ProviderSettings, StreamDecoder};
use crate::error::AiError;
use crate::types::*;

mod answer;

pub struct Mock {
    fixtures: Vec<(Option<Regex>, MockFixture)>,
    latency: Duration,
    chunk_delay: Duration,
    words_per_chunk: usize,
}

pub fn build(s: &ProviderSettings) -> Result<Arc<dyn Provider>, String> {
    let cfg = s.config.mock.clone().unwrap_or_default();
    let MockProviderConfig {
        fixtures,
        chunk_delay,
        latency,
        words_per_chunk,
    } = cfg;
    let fixtures = fixtures
        .into_iter()
        .map(|f| {
            let re = f
                .pattern
                .as_deref()
                .map(Regex::new)
                .transpose()
                .map_err(|e| format!("mock fixture pattern: {e}"))?;
            Ok((re, f))
        })
        .collect::<Result<_, String>>()?;
    Ok(Arc::new(Mock {
        fixtures,
        latency,
        chunk_delay,
        words_per_chunk: words_per_chunk.unwrap_or(1).max(1),
    }))
}

impl Mock {
    fn fixture(&self, prompt: &str) -> Option<&MockFixture> {
        self.fixtures
            .iter()
            .find(|(re, _)| re.as_ref().is_none_or(|r| r.is_match(prompt)))
            .map(|(_, f)| f)
    }

    fn local(
        &self,
        status: StatusCode,
        content_type: &'static str,
        chunks: Vec<Bytes>,
    ) -> Outbound {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        if status == StatusCode::TOO_MANY_REQUESTS {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        Outbound::Local(LocalAnswer {
            status,
            headers,
            chunks,
            latency: self.latency,
            chunk_delay: self.chunk_delay,
        })
    }
}

impl Provider for Mock {
    fn kind(&self) -> &'static str {
        "mock"
    }

    fn chat(&self, req: &ChatRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let prompt = req.last_user_text();
        let fixture = self.fixture(&prompt);
        if let Some(status) = fixture.and_then(|f| f.status) {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = json!({"error": {
                "message": fixture.and_then(|f| f.text.clone()).unwrap_or_else(|| format!("mock provider failure {status}")),
                "type": if status.is_server_error() { "server_error" } else { "invalid_request_error" },
                "code": Value::Null,
            }});
            return Ok(self.local(
                status,
                "application/json",
                vec![Bytes::from(body.to_string())],
            ));
        }
        let answer = answer::Answer::new(req, fixture, ep.model);
        if req.stream {
            let chunks = answer.sse_chunks(self.words_per_chunk);
            Ok(self.local(StatusCode::OK, "text/event-stream", chunks))
        } else {
            Ok(self.local(
                StatusCode::OK,
                "application/json",
                vec![Bytes::from(answer.json().to_string())],
            ))
        }
    }

    fn chat_response(&self, body: &[u8], _ep: &Endpoint<'_>) -> Result<ChatResponse, AiError> {
        oai_response::decode_response(body)
    }

    fn chat_stream(&self, _ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(ChunkDecoder::new())
    }

    fn embeddings(&self, req: &EmbeddingsRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let dims = req.dimensions.unwrap_or(16).clamp(1, 4096) as usize;
        let texts: Vec<String> = match &req.input {
            EmbeddingInput::Texts(t) => t.clone(),
            EmbeddingInput::Tokens(t) => t
                .iter()
                .map(|ids| {
                    ids.iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect(),
        };
        let tokens: u64 = texts.iter().map(|t| crate::tokens::estimate_text(t)).sum();
        let resp = EmbeddingsResponse {
            model: ep.model.to_string(),
            vectors: texts
                .iter()
                .map(|t| answer::bag_of_words(t, dims))
                .collect(),
            usage: Usage {
                input_tokens: tokens,
                ..Default::default()
            },
        };
        let body = oai_embeddings::encode_response(&resp, ep.model, false);
        Ok(self.local(
            StatusCode::OK,
            "application/json",
            vec![Bytes::from(body.to_string())],
        ))
    }

    fn embeddings_response(
        &self,
        body: &[u8],
        _ep: &Endpoint<'_>,
    ) -> Result<EmbeddingsResponse, AiError> {
        oai_embeddings::decode_response(body)
    }
}
