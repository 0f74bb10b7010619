//! Ollama's native API (default `http://127.0.0.1:11434`, no key):
//! `POST /api/chat` (whole, or streamed as NDJSON) and `POST /api/embed`;
//! errors as `{"error": "..."}`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Endpoint, HttpRequest, Outbound, Provider, ProviderSettings, StreamDecoder};
use crate::error::AiError;
use crate::types::*;

pub mod ndjson;
pub mod request;
pub mod response;

/// Parameters `/api/chat` has no equivalent for.
const UNSUPPORTED: &[&str] = &[
    "n",
    "parallel_tool_calls",
    "logprobs",
    "top_logprobs",
    "reasoning_budget",
    "user",
    "metadata",
];

pub struct Ollama;

pub fn build(_s: &ProviderSettings) -> Result<Arc<dyn Provider>, String> {
    Ok(Arc::new(Ollama))
}

fn request(ep: &Endpoint<'_>, path: &str, body: &Value) -> Result<HttpRequest, AiError> {
    let mut req = HttpRequest::post_json(format!("{}{path}", ep.settings.base_url), body)?;
    for (k, v) in &ep.settings.headers {
        req.headers.insert(k.clone(), v.clone());
    }
    // Ollama itself takes no key; one set is sent as a bearer token (for a
    // proxy in front of it).
    if let Some(key) = ep.key {
        req.header("authorization", &format!("Bearer {key}"))?;
    }
    Ok(req)
}

impl Provider for Ollama {
    fn kind(&self) -> &'static str {
        "ollama"
    }

    fn unsupported(&self, req: &ChatRequest) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = req
            .set_params()
            .into_iter()
            .filter(|p| UNSUPPORTED.contains(p))
            .collect();
        // Ollama has no way to force a tool call.
        if matches!(
            req.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Tool(_))
        ) {
            v.push("tool_choice");
        }
        v
    }

    fn chat(&self, req: &ChatRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let body = request::encode_request(req, ep.model)?;
        Ok(Outbound::Http(request(ep, "/api/chat", &body)?))
    }

    fn chat_response(&self, body: &[u8], _ep: &Endpoint<'_>) -> Result<ChatResponse, AiError> {
        response::decode_response(body)
    }

    fn chat_stream(&self, _ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(response::OllamaDecoder::new())
    }

    fn embeddings(&self, req: &EmbeddingsRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let EmbeddingInput::Texts(texts) = &req.input else {
            return Err(AiError::invalid_param(
                "input",
                "Ollama embeds text only; token arrays are not supported",
            ));
        };
        let mut body = json!({"model": ep.model, "input": texts});
        if let Some(d) = req.dimensions {
            body["dimensions"] = json!(d);
        }
        Ok(Outbound::Http(request(ep, "/api/embed", &body)?))
    }

    fn embeddings_response(
        &self,
        body: &[u8],
        ep: &Endpoint<'_>,
    ) -> Result<EmbeddingsResponse, AiError> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            model: String,
            embeddings: Vec<Vec<f32>>,
            prompt_eval_count: Option<u64>,
        }
        let w: Wire = serde_json::from_slice(body).map_err(|e| {
            AiError::bad_response(format!(
                "the provider's answer is not an Ollama embed response: {e}"
            ))
        })?;
        Ok(EmbeddingsResponse {
            model: if w.model.is_empty() {
                ep.model.to_string()
            } else {
                w.model
            },
            vectors: w.embeddings,
            usage: Usage {
                input_tokens: w.prompt_eval_count.unwrap_or(0),
                ..Default::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use http::{HeaderMap, StatusCode};

    #[test]
    fn urls_embeddings_errors_and_unsupported() {
        let settings = crate::providers::testing::settings("ollama", "http://127.0.0.1:11434");
        let ep = Endpoint {
            settings: &settings,
            model: "nomic-embed-text",
            key: None,
            stream: false,
        };
        let req = EmbeddingsRequest {
            model: "e".into(),
            input: EmbeddingInput::Texts(vec!["a".into(), "b".into()]),
            dimensions: None,
            encoding_format: None,
            user: None,
            input_type: None,
        };
        let Outbound::Http(h) = Ollama.embeddings(&req, &ep).unwrap() else {
            panic!()
        };
        assert_eq!(h.url, "http://127.0.0.1:11434/api/embed");
        assert!(h.headers.get("authorization").is_none());
        assert_eq!(
            serde_json::from_slice::<Value>(&h.body).unwrap(),
            json!({"model": "nomic-embed-text", "input": ["a", "b"]})
        );
        let r = Ollama
            .embeddings_response(
                br#"{"model":"nomic-embed-text","embeddings":[[0.1],[0.2]],"prompt_eval_count":4}"#,
                &ep,
            )
            .unwrap();
        assert_eq!((r.vectors.len(), r.usage.input_tokens), (2, 4));
        let e = Ollama.error(
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            br#"{"error":"model \"x\" not found, try pulling it first"}"#,
        );
        assert_eq!(e.class, ErrorClass::NotFound);
        assert!(e.message.contains("try pulling it first"));
        let chat = ChatRequest {
            n: Some(3),
            tool_choice: Some(ToolChoice::Required),
            seed: Some(1),
            ..Default::default()
        };
        assert_eq!(Ollama.unsupported(&chat), vec!["n", "tool_choice"]);
        let chat = ChatRequest {
            tool_choice: Some(ToolChoice::None),
            ..Default::default()
        };
        assert!(Ollama.unsupported(&chat).is_empty());
    }
}
