//! Mistral (`api.mistral.ai/v1`): OpenAI-style chat and embeddings, sent
//! through the OpenAI wire module and adjusted where Mistral differs:
//! `random_seed` for `seed`, `tool_choice: "any"` for `"required"`, tool
//! call ids of exactly 9 characters `[a-zA-Z0-9]` (others are mapped to
//! stable ones), `prefix: true` on a trailing assistant message, no
//! `stream_options` (usage comes in the last chunk anyway), answers whose
//! `content` is a list of chunks (text and `thinking`), finish reason
//! `model_length`, embeddings with `output_dimension`.

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::openai::{self, EncodeOptions};
use super::{Endpoint, Outbound, Provider, ProviderSettings, StreamDecoder, generic_error};
use crate::error::{AiError, ErrorClass};
use crate::types::*;

mod stream;

/// Parameters Mistral's chat endpoint does not take.
const UNSUPPORTED: &[&str] = &[
    "logprobs",
    "top_logprobs",
    "top_k",
    "reasoning_effort",
    "reasoning_budget",
    "user",
    "metadata",
];

const OPTIONS: EncodeOptions = EncodeOptions {
    max_completion_tokens: false,
    pass_extra: true,
    developer_as_system: true,
    drop_names: false,
};

pub struct Mistral;

pub fn build(_s: &ProviderSettings) -> Result<Arc<dyn Provider>, String> {
    Ok(Arc::new(Mistral))
}

/// A tool call id Mistral accepts: 9 characters of `[a-zA-Z0-9]`; the
/// same input always maps to the same id.
pub fn call_id(id: &str) -> String {
    if id.len() == 9 && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        return id.to_string();
    }
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    Sha256::digest(id.as_bytes())
        .iter()
        .take(9)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// The Mistral chat body for `req`.
pub fn encode_request(req: &ChatRequest, model: &str) -> Value {
    let mut body = openai::request::encode_request(req, model, OPTIONS);
    let Some(o) = body.as_object_mut() else {
        return body;
    };
    o.remove("stream_options");
    if let Some(seed) = o.remove("seed") {
        o.insert("random_seed".into(), seed);
    }
    if o.get("tool_choice").and_then(Value::as_str) == Some("required") {
        o.insert("tool_choice".into(), json!("any"));
    }
    if let Some(Value::Array(msgs)) = o.get_mut("messages") {
        for m in msgs.iter_mut() {
            if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
                for c in calls {
                    if let Some(id) = c.get("id").and_then(Value::as_str) {
                        c["id"] = json!(call_id(id));
                    }
                }
            }
            if let Some(id) = m.get("tool_call_id").and_then(Value::as_str) {
                m["tool_call_id"] = json!(call_id(id));
            }
        }
        // A trailing assistant message is a prefix to continue.
        if let Some(last) = msgs.last_mut()
            && last["role"] == "assistant"
            && last.get("tool_calls").is_none()
        {
            last["prefix"] = json!(true);
        }
    }
    body
}

/// Mistral's answer (or chunk) in OpenAI's shape: `content` lists joined
/// into text (and `thinking` chunks into `reasoning_content`),
/// `model_length` as `length`. A finish reason `error` is an error.
pub fn normalize(v: &mut Value) -> Result<(), AiError> {
    for ch in v
        .get_mut("choices")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        match ch.get("finish_reason").and_then(Value::as_str) {
            Some("model_length") => ch["finish_reason"] = json!("length"),
            Some("error") => {
                return Err(AiError::new(
                    ErrorClass::Server,
                    "Mistral stopped the answer with an error",
                ));
            }
            _ => {}
        }
        for key in ["message", "delta"] {
            if let Some(Value::Object(m)) = ch.get_mut(key) {
                flatten_content(m);
            }
        }
    }
    Ok(())
}

fn flatten_content(m: &mut Map<String, Value>) {
    let Some(Value::Array(chunks)) = m.get("content") else {
        return;
    };
    let (mut text, mut thinking) = (String::new(), String::new());
    for c in chunks {
        match c.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(c["text"].as_str().unwrap_or("")),
            Some("thinking") => {
                for t in c["thinking"].as_array().into_iter().flatten() {
                    thinking.push_str(t["text"].as_str().unwrap_or(""));
                }
            }
            _ => {}
        }
    }
    m.insert("content".into(), json!(text));
    if !thinking.is_empty() {
        m.insert("reasoning_content".into(), json!(thinking));
    }
}

/// Mistral's error bodies: OpenAI-like, `{"message": "..."}`, or a
/// validation `{"message": {"detail": [...]}}`; "too large for model"
/// prompts are context-window errors.
pub fn decode_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let detail = v
        .pointer("/message/detail")
        .or_else(|| v.get("detail"))
        .and_then(Value::as_array)
        .map(|d| {
            d.iter()
                .map(|x| {
                    let loc: Vec<String> = x["loc"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|l| l.as_str().map_or_else(|| l.to_string(), str::to_string))
                        .collect();
                    format!("{}: {}", loc.join("."), x["msg"].as_str().unwrap_or(""))
                })
                .collect::<Vec<_>>()
                .join("; ")
        });
    let mut e = match detail {
        Some(d) => {
            let body = json!({"message": d}).to_string();
            generic_error(status, headers, body.as_bytes())
        }
        None => generic_error(status, headers, body),
    };
    if e.class == ErrorClass::InvalidRequest
        && e.message
            .to_ascii_lowercase()
            .contains("too large for model")
    {
        e.class = ErrorClass::ContextWindow;
        e.code = Some("context_length_exceeded".into());
    }
    e
}

impl Provider for Mistral {
    fn kind(&self) -> &'static str {
        "mistral"
    }

    fn unsupported(&self, req: &ChatRequest) -> Vec<&'static str> {
        req.set_params()
            .into_iter()
            .filter(|p| UNSUPPORTED.contains(p))
            .collect()
    }

    fn chat(&self, req: &ChatRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let body = encode_request(req, ep.model);
        Ok(Outbound::Http(openai::bearer_request(
            ep,
            "/chat/completions",
            &body,
        )?))
    }

    fn chat_response(&self, body: &[u8], _ep: &Endpoint<'_>) -> Result<ChatResponse, AiError> {
        let mut v: Value = serde_json::from_slice(body).map_err(|e| {
            AiError::bad_response(format!(
                "the provider's answer is not a chat completion: {e}"
            ))
        })?;
        normalize(&mut v)?;
        openai::response::decode_response(v.to_string().as_bytes())
    }

    fn chat_stream(&self, _ep: &Endpoint<'_>) -> Box<dyn StreamDecoder> {
        Box::new(stream::MistralDecoder::new())
    }

    fn error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> AiError {
        decode_error(status, headers, body)
    }

    fn embeddings(&self, req: &EmbeddingsRequest, ep: &Endpoint<'_>) -> Result<Outbound, AiError> {
        let mut body = openai::embeddings::encode_request(req, ep.model);
        if let Some(o) = body.as_object_mut() {
            o.remove("user");
            if let Some(d) = o.remove("dimensions") {
                o.insert("output_dimension".into(), d);
            }
        }
        Ok(Outbound::Http(openai::bearer_request(
            ep,
            "/embeddings",
            &body,
        )?))
    }

    fn embeddings_response(
        &self,
        body: &[u8],
        _ep: &Endpoint<'_>,
    ) -> Result<EmbeddingsResponse, AiError> {
        openai::embeddings::decode_response(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_mistral_quirks() {
        let mut asst = Message::text(Role::Assistant, "");
        asst.tool_calls = vec![ToolCall {
            id: "call_abc123_long".into(),
            name: "f".into(),
            arguments: "{}".into(),
        }];
        let mut tool = Message::text(Role::Tool, "ok");
        tool.tool_call_id = Some("call_abc123_long".into());
        let req = ChatRequest {
            messages: vec![
                Message::text(Role::Developer, "sys"),
                Message::text(Role::User, "hi"),
                asst,
                tool,
                Message::text(Role::Assistant, "Sure, "),
            ],
            tool_choice: Some(ToolChoice::Required),
            seed: Some(5),
            stream: true,
            max_tokens: Some(10),
            extra: [("safe_prompt".to_string(), json!(true))]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let b = encode_request(&req, "mistral-large-latest");
        assert_eq!(b["random_seed"], 5);
        assert!(b.get("seed").is_none() && b.get("stream_options").is_none());
        assert_eq!(b["tool_choice"], "any");
        assert_eq!(b["max_tokens"], 10);
        assert_eq!(b["safe_prompt"], true);
        assert_eq!(b["messages"][0]["role"], "system");
        let id = b["messages"][2]["tool_calls"][0]["id"].as_str().unwrap();
        assert_eq!(id.len(), 9);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(b["messages"][3]["tool_call_id"], id);
        assert_eq!(call_id("call_abc123_long"), id);
        assert_eq!(call_id("D681PevKs"), "D681PevKs");
        assert_eq!(b["messages"][4]["prefix"], true);
        assert!(b["messages"][2].get("prefix").is_none());
    }

    #[test]
    fn decodes_chunked_content_and_model_length() {
        let body = json!({"id": "x", "object": "chat.completion", "created": 1, "model": "magistral-medium",
            "choices": [{"index": 0, "finish_reason": "model_length", "message": {"role": "assistant", "content": [
                {"type": "thinking", "thinking": [{"type": "text", "text": "Let me think"}]},
                {"type": "text", "text": "Answer"}], "tool_calls": null}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}});
        let ep_settings = crate::providers::testing::settings("mistral", "http://x");
        let ep = Endpoint {
            settings: &ep_settings,
            model: "m",
            key: None,
            stream: false,
        };
        let r = Mistral
            .chat_response(body.to_string().as_bytes(), &ep)
            .unwrap();
        assert_eq!(r.choices[0].message.content.as_deref(), Some("Answer"));
        assert_eq!(
            r.choices[0].message.reasoning.as_deref(),
            Some("Let me think")
        );
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Length));
        assert_eq!(r.usage.unwrap().total(), 12);
        let bad = json!({"choices": [{"index": 0, "finish_reason": "error", "message": {"content": ""}}]});
        assert_eq!(
            Mistral
                .chat_response(bad.to_string().as_bytes(), &ep)
                .unwrap_err()
                .class,
            ErrorClass::Server
        );
    }

    #[test]
    fn errors() {
        let e = decode_error(StatusCode::BAD_REQUEST, &HeaderMap::new(),
            br#"{"object":"error","message":"Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum context length","type":"invalid_request_error","param":null,"code":null}"#);
        assert_eq!(e.class, ErrorClass::ContextWindow);
        let e = decode_error(StatusCode::UNPROCESSABLE_ENTITY, &HeaderMap::new(),
            br#"{"object":"error","message":{"detail":[{"type":"extra_forbidden","loc":["body","user"],"msg":"Extra inputs are not permitted","input":"u"}]},"type":"invalid_request_error"}"#);
        assert_eq!(e.class, ErrorClass::InvalidRequest);
        assert_eq!(e.message, "body.user: Extra inputs are not permitted");
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        let e = decode_error(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            br#"{"message":"Requests rate limit exceeded"}"#,
        );
        assert_eq!(
            (e.class, e.retry_after),
            (
                ErrorClass::RateLimited,
                Some(std::time::Duration::from_secs(2))
            )
        );
        let req = ChatRequest {
            top_k: Some(3),
            seed: Some(1),
            user: Some("u".into()),
            ..Default::default()
        };
        assert_eq!(Mistral.unsupported(&req), vec!["top_k", "user"]);
    }
}
