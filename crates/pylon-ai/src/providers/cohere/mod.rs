//! Cohere v2 (`api.cohere.com/v2`): `POST /chat` (whole and streamed) and
//! `POST /embed`, bearer key, errors as `{"message": ...}` (498: invalid
//! key).

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::openai::bearer_request;
use super::{Endpoint, Outbound, Provider, ProviderSettings, StreamDecoder, generic_error};
use crate::error::{AiError, ErrorClass};
use crate::types::*;

pub mod request;
pub mod response;

/// Parameters Cohere's chat has no equivalent for.
const UNSUPPORTED: &[&str] = &[
    "n",
    "parallel_tool_calls",
    "logprobs",
    "top_logprobs",
    "user",
    "metadata",
];

pub struct Cohere;

pub fn build(_s: &ProviderSettings) -> Result<Arc<dyn Provider>, String> {
    Ok(Arc::new(Cohere))
}

/// Cohere's error body (`{"id", "message"}`) → [`AiError`]; 498 (invalid
/// token) is an authentication failure.
pub fn decode_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
    let mut e = generic_error(status, headers, body);
    if status.as_u16() == 498 {
        e.class = ErrorClass::Authentication;
        e.status = StatusCode::UNAUTHORIZED;
    }
    e
}

impl Provider for Cohere {
    fn kind(&self) -> &'static str {
        "cohere"
    }

    fn unsupported(&self, req: &ChatRequest) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = req
            .set_params()
            .into_iter()
            .filter(|p| UNSUPPORTED.contains(p))
            .collect();
        // Cohere can force some tool, not a named one.
        if matches!(req.tool_choice, Some(ToolChoice::Tool(_))) {
            v.push("tool_choice");
        }
        v
    }

    fn chat(&self, req: &ChatRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let body = request::encode_request(req, ep.model)?;
        Ok(Outbound::Http(bearer_request(ep, "/chat", &body)?))
    }

    fn chat_response(&self, body: &[u8], ep: &Endpoint<'_>) -> Result<ChatResponse, AiError> {
        let mut r = response::decode_response(body)?;
        r.model = ep.model.to_string();
        Ok(r)
    }

    fn chat_stream(&self, _ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(response::CohereDecoder::new())
    }

    fn error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
        decode_error(status, headers, body)
    }

    fn embeddings(&self, req: &EmbeddingsRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let EmbeddingInput::Texts(texts) = &req.input else {
            return Err(AiError::invalid_param(
                "input",
                "Cohere embeds text only; token arrays are not supported",
            ));
        };
        let mut body = json!({
            "model": ep.model,
            "texts": texts,
            // Required by embed v3+ models; documents are the common case.
            "input_type": req.input_type.as_deref().unwrap_or("search_document"),
            "embedding_types": ["float"],
        });
        if let Some(d) = req.dimensions {
            body["output_dimension"] = json!(d);
        }
        Ok(Outbound::Http(bearer_request(ep, "/embed", &body)?))
    }

    fn embeddings_response(
        &self,
        body: &[u8],
        ep: &Endpoint<'_>,
    ) -> Result<EmbeddingsResponse, AiError> {
        #[derive(Deserialize)]
        struct Wire {
            embeddings: Embeddings,
            meta: Option<Value>,
        }
        #[derive(Deserialize)]
        struct Embeddings {
            #[serde(default)]
            float: Vec<Vec<f32>>,
        }
        let w: Wire = serde_json::from_slice(body).map_err(|e| {
            AiError::bad_response(format!(
                "the provider's answer is not a Cohere embed response: {e}"
            ))
        })?;
        let input_tokens = w
            .meta
            .as_ref()
            .and_then(|m| m.pointer("/billed_units/input_tokens"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0) as u64;
        Ok(EmbeddingsResponse {
            model: ep.model.to_string(),
            vectors: w.embeddings.float,
            usage: Usage {
                input_tokens,
                ..Default::default()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_auth_errors_and_embeddings() {
        let settings = crate::providers::testing::settings("cohere", "https://api.cohere.com/v2");
        let ep = Endpoint {
            settings: &settings,
            model: "embed-v4.0",
            key: Some("co-key"),
            stream: false,
        };
        let req = EmbeddingsRequest {
            model: "e".into(),
            input: EmbeddingInput::Texts(vec!["a".into()]),
            dimensions: Some(256),
            encoding_format: None,
            user: None,
            input_type: Some("search_query".into()),
        };
        let Outbound::Http(h) = Cohere.embeddings(&req, &ep).unwrap() else {
            panic!()
        };
        assert_eq!(h.url, "https://api.cohere.com/v2/embed");
        assert_eq!(h.headers["authorization"], "Bearer co-key");
        let b: Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(
            b,
            json!({"model": "embed-v4.0", "texts": ["a"], "input_type": "search_query", "embedding_types": ["float"], "output_dimension": 256})
        );
        let r = Cohere
            .embeddings_response(br#"{"id":"x","embeddings":{"float":[[0.5,1.5]]},"texts":["a"],"meta":{"billed_units":{"input_tokens":2}}}"#, &ep)
            .unwrap();
        assert_eq!(
            (r.vectors.clone(), r.usage.input_tokens),
            (vec![vec![0.5, 1.5]], 2)
        );
        let e = decode_error(
            StatusCode::from_u16(498).unwrap(),
            &HeaderMap::new(),
            br#"{"id":"x","message":"invalid api token"}"#,
        );
        assert_eq!(
            (e.class, e.status.as_u16(), e.message.as_str()),
            (ErrorClass::Authentication, 401, "invalid api token")
        );
        let e = decode_error(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"id":"x","message":"too many tokens: size limit exceeded by 1200 tokens"}"#,
        );
        assert_eq!(e.class, ErrorClass::ContextWindow);
        let chat = ChatRequest {
            n: Some(2),
            tool_choice: Some(ToolChoice::Tool("f".into())),
            top_k: Some(1),
            ..Default::default()
        };
        assert_eq!(Cohere.unsupported(&chat), vec!["n", "tool_choice"]);
    }
}
