//! Google Gemini (the Gemini API, `generativelanguage.googleapis.com/v1beta`):
//! `models/{model}:generateContent`, `:streamGenerateContent?alt=sse` and
//! `:batchEmbedContents`, the key in `x-goog-api-key`, errors in Google's
//! `{"error": {"code", "message", "status", "details"}}` shape.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Endpoint, HttpRequest, Outbound, Provider, ProviderSettings, StreamDecoder};
use crate::error::{AiError, ErrorClass, class_of_status};
use crate::types::*;

pub mod ids;
pub mod request;
pub mod response;
pub mod schema;
pub mod stream;

/// Parameters Gemini has no equivalent for.
const UNSUPPORTED: &[&str] = &[
    "parallel_tool_calls",
    "logprobs",
    "top_logprobs",
    "user",
    "metadata",
];

pub struct Gemini;

pub fn build(_s: &ProviderSettings) -> Result<Arc<dyn Provider>, String> {
    Ok(Arc::new(Gemini))
}

/// `models/{model}` unless the id already names its collection (`tunedModels/...`).
fn model_path(model: &str) -> String {
    if model.contains('/') {
        model.to_string()
    } else {
        format!("models/{model}")
    }
}

fn request(ep: &Endpoint<'_>, method: &str, body: &Value) -> Result<HttpRequest, AiError> {
    let url = format!("{}/{}:{method}", ep.settings.base_url, model_path(ep.model));
    let mut req = HttpRequest::post_json(url, body)?;
    for (k, v) in &ep.settings.headers {
        req.headers.insert(k.clone(), v.clone());
    }
    if let Some(key) = ep.key {
        req.header("x-goog-api-key", key)?;
    }
    Ok(req)
}

impl Provider for Gemini {
    fn kind(&self) -> &'static str {
        "gemini"
    }

    fn unsupported(&self, req: &ChatRequest) -> Vec<&'static str> {
        req.set_params()
            .into_iter()
            .filter(|p| UNSUPPORTED.contains(p))
            .collect()
    }

    fn chat(&self, req: &ChatRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let body = request::encode_request(req)?;
        let method = if req.stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        Ok(Outbound::Http(self::request(ep, method, &body)?))
    }

    fn chat_response(&self, body: &[u8], _ep: &Endpoint<'_>) -> Result<ChatResponse, AiError> {
        response::decode_response(body)
    }

    fn chat_stream(&self, _ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(stream::GeminiDecoder::new())
    }

    fn error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
        decode_error(status, headers, body)
    }

    fn embeddings(&self, req: &EmbeddingsRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let EmbeddingInput::Texts(texts) = &req.input else {
            return Err(AiError::invalid_param(
                "input",
                "Gemini embeds text only; token arrays are not supported",
            ));
        };
        let task = req.input_type.as_deref().map(task_type).transpose()?;
        let model = model_path(ep.model);
        let requests: Vec<Value> = texts
            .iter()
            .map(|t| {
                let mut r = json!({"model": model, "content": {"parts": [{"text": t}]}});
                if let Some(d) = req.dimensions {
                    r["outputDimensionality"] = json!(d);
                }
                if let Some(task) = task {
                    r["taskType"] = json!(task);
                }
                r
            })
            .collect();
        Ok(Outbound::Http(request(
            ep,
            "batchEmbedContents",
            &json!({ "requests": requests }),
        )?))
    }

    fn embeddings_response(
        &self,
        body: &[u8],
        ep: &Endpoint<'_>,
    ) -> Result<EmbeddingsResponse, AiError> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            embeddings: Vec<WireEmbedding>,
        }
        #[derive(Deserialize)]
        struct WireEmbedding {
            #[serde(default)]
            values: Vec<f32>,
        }
        let w: Wire = serde_json::from_slice(body).map_err(|e| {
            AiError::bad_response(format!(
                "the provider's answer is not a Gemini embeddings list: {e}"
            ))
        })?;
        Ok(EmbeddingsResponse {
            model: ep.model.to_string(),
            vectors: w.embeddings.into_iter().map(|e| e.values).collect(),
            // batchEmbedContents reports no token counts.
            usage: Usage::default(),
        })
    }
}

/// Cohere-style `input_type` → Gemini `taskType`.
fn task_type(input_type: &str) -> Result<&'static str, AiError> {
    Ok(match input_type {
        "search_document" | "retrieval_document" => "RETRIEVAL_DOCUMENT",
        "search_query" | "retrieval_query" => "RETRIEVAL_QUERY",
        "classification" => "CLASSIFICATION",
        "clustering" => "CLUSTERING",
        "semantic_similarity" => "SEMANTIC_SIMILARITY",
        "question_answering" => "QUESTION_ANSWERING",
        "fact_verification" => "FACT_VERIFICATION",
        "code_retrieval_query" => "CODE_RETRIEVAL_QUERY",
        other => {
            return Err(AiError::invalid_param(
                "input_type",
                format!("input_type `{other}` has no Gemini task type"),
            ));
        }
    })
}

/// A Google API error body → [`AiError`]: the class from `error.status`
/// (`RESOURCE_EXHAUSTED` → rate limited, `UNAVAILABLE` → overloaded, ...),
/// an invalid key (`API_KEY_INVALID`, sent as 400) → authentication, a
/// prompt over the token limit → context window; `retry-after` from the
/// header or the `RetryInfo` detail.
pub fn decode_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // Streamed errors sometimes come as a one-element array.
    let err = v
        .get("error")
        .or_else(|| v.pointer("/0/error"))
        .cloned()
        .unwrap_or(Value::Null);
    let message = err
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let t = text.trim();
            if t.is_empty() {
                format!("provider answered {status}")
            } else {
                t.chars().take(500).collect()
            }
        });
    let status_name = err.get("status").and_then(Value::as_str).unwrap_or("");
    let mut class = match status_name {
        "RESOURCE_EXHAUSTED" => ErrorClass::RateLimited,
        "UNAUTHENTICATED" => ErrorClass::Authentication,
        "PERMISSION_DENIED" => ErrorClass::PermissionDenied,
        "NOT_FOUND" => ErrorClass::NotFound,
        "UNAVAILABLE" => ErrorClass::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorClass::Timeout,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => ErrorClass::Server,
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => ErrorClass::InvalidRequest,
        _ => class_of_status(status),
    };
    let details = err
        .get("details")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut http_status = status;
    if details.iter().any(|d| d["reason"] == "API_KEY_INVALID") {
        class = ErrorClass::Authentication;
        http_status = StatusCode::UNAUTHORIZED;
    }
    let lower = message.to_ascii_lowercase();
    let mut code = (!status_name.is_empty()).then(|| status_name.to_string());
    if class == ErrorClass::InvalidRequest
        && (lower.contains("exceeds the maximum number of tokens")
            || lower.contains("input token count")
            || lower.contains("context window"))
    {
        class = ErrorClass::ContextWindow;
        code = Some("context_length_exceeded".into());
    }
    let mut e = AiError::new(class, message);
    e.status = if http_status.is_success() {
        class.default_status()
    } else {
        http_status
    };
    e.code = code;
    e.retry_after = crate::error::retry_after(headers).or_else(|| {
        details
            .iter()
            .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
            .and_then(|s| s.strip_suffix('s'))
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
    });
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, body: Value) -> AiError {
        decode_error(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn errors_map_to_classes() {
        let e = err(
            429,
            json!({"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "36s"}]}}),
        );
        assert_eq!((e.class, e.status.as_u16()), (ErrorClass::RateLimited, 429));
        assert_eq!(e.retry_after, Some(Duration::from_secs(36)));
        assert!(e.message.contains("exhausted"));
        let mut h = HeaderMap::new();
        h.insert("retry-after", "4".parse().unwrap());
        let e = decode_error(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            br#"{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED"}}"#,
        );
        assert_eq!(e.retry_after, Some(Duration::from_secs(4)));
        let e = err(
            400,
            json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}),
        );
        assert_eq!(
            (e.class, e.status.as_u16()),
            (ErrorClass::Authentication, 401)
        );
        let e = err(
            400,
            json!({"error": {"code": 400, "message": "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).", "status": "INVALID_ARGUMENT"}}),
        );
        assert_eq!(e.class, ErrorClass::ContextWindow);
        assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
        assert_eq!(err(503, json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})).class, ErrorClass::Overloaded);
        assert_eq!(
            err(
                500,
                json!({"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}})
            )
            .class,
            ErrorClass::Server
        );
        assert_eq!(err(404, json!({"error": {"code": 404, "message": "models/x is not found", "status": "NOT_FOUND"}})).class, ErrorClass::NotFound);
        assert_eq!(err(403, json!([{"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}])).class, ErrorClass::PermissionDenied);
        let e = decode_error(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"upstream connect error",
        );
        assert_eq!(
            (e.class, e.message.as_str()),
            (ErrorClass::Server, "upstream connect error")
        );
    }

    #[test]
    fn urls_keys_and_embeddings() {
        let settings = crate::providers::testing::settings(
            "gemini",
            "https://generativelanguage.googleapis.com/v1beta",
        );
        let ep = Endpoint {
            settings: &settings,
            model: "gemini-2.5-flash",
            key: Some("AIzaKEY"),
            stream: true,
        };
        let req = ChatRequest {
            messages: vec![Message::text(Role::User, "hi")],
            stream: true,
            ..Default::default()
        };
        let Outbound::Http(h) = Gemini.chat(&req, &ep).unwrap() else {
            panic!()
        };
        assert_eq!(
            h.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        assert_eq!(h.headers["x-goog-api-key"], "AIzaKEY");
        assert!(h.headers.get("authorization").is_none());
        let e = EmbeddingsRequest {
            model: "e".into(),
            input: EmbeddingInput::Texts(vec!["a".into(), "b".into()]),
            dimensions: Some(8),
            encoding_format: None,
            user: None,
            input_type: Some("search_query".into()),
        };
        let ep = Endpoint {
            model: "text-embedding-004",
            stream: false,
            ..ep
        };
        let Outbound::Http(h) = Gemini.embeddings(&e, &ep).unwrap() else {
            panic!()
        };
        assert!(
            h.url
                .ends_with("/models/text-embedding-004:batchEmbedContents")
        );
        let b: Value = serde_json::from_slice(&h.body).unwrap();
        assert_eq!(
            b["requests"][1],
            json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 8, "taskType": "RETRIEVAL_QUERY"})
        );
        let r = Gemini
            .embeddings_response(
                br#"{"embeddings":[{"values":[0.5,1]},{"values":[2]}]}"#,
                &ep,
            )
            .unwrap();
        assert_eq!(r.vectors, vec![vec![0.5, 1.0], vec![2.0]]);
        let req = ChatRequest {
            logprobs: Some(true),
            n: Some(2),
            user: Some("u".into()),
            ..Default::default()
        };
        assert_eq!(Gemini.unsupported(&req), vec!["logprobs", "user"]);
    }
}
