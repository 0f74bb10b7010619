//! A mock of Mistral's API (`/v1`): `POST /v1/chat/completions` (OpenAI-like
//! JSON or SSE ending in `data: [DONE]`, usage in the last chunk with the
//! finish reason, tool calls whole with 9-character ids) and `POST
//! /v1/embeddings`; bearer keys. It refuses what Mistral refuses: unknown
//! fields such as `seed` or `stream_options` (422 `extra_forbidden`) and
//! tool call ids that are not 9 characters of `[a-zA-Z0-9]`.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::native::{NativeWire, bearer, content_text, input_texts, mock_vector};
use super::{Answer, Reply, Wire, decide, mock_tokens, pieces};

/// Fields of Mistral's chat request; anything else is refused.
const FIELDS: &[&str] = &[
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "stream",
    "stop",
    "random_seed",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "prediction",
    "parallel_tool_calls",
    "prompt_mode",
    "safe_prompt",
];

/// The Mistral wire format.
#[derive(Debug, Clone, Default)]
pub struct MistralWire {
    /// Accepted bearer keys; empty accepts any (or none).
    pub keys: Vec<String>,
}

/// A Mistral-shaped (9 alphanumerics) id for a scripted id.
fn mistral_id(id: &str) -> String {
    let mut s: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(9)
        .collect();
    while s.len() < 9 {
        s.push('0');
    }
    s
}

fn unprocessable(loc: &str, msg: &str) -> Answer {
    Answer::Json(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"object": "error", "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", loc], "msg": msg}]}, "type": "invalid_request_error", "param": null, "code": null}),
    )
}

impl MistralWire {
    fn check(body: &Value) -> Option<Answer> {
        if let Some(k) = body
            .as_object()?
            .keys()
            .find(|k| !FIELDS.contains(&k.as_str()))
        {
            return Some(unprocessable(k, "Extra inputs are not permitted"));
        }
        for m in body["messages"].as_array().into_iter().flatten() {
            let ids = m["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["id"].as_str())
                .chain(m["tool_call_id"].as_str());
            for id in ids {
                if id.len() != 9 || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Some(Answer::Json(
                        StatusCode::BAD_REQUEST,
                        json!({"object": "error", "message": format!("Tool call id was {id} but must be a-z, A-Z, 0-9, with a length of 9."), "type": "invalid_request_message_order", "param": null, "code": "3280"}),
                    ));
                }
            }
        }
        None
    }

    fn chat(body: &Value, script: Option<Reply>) -> Answer {
        if let Some(refused) = Self::check(body) {
            return refused;
        }
        let msgs = body["messages"].as_array().cloned().unwrap_or_default();
        let r = script.unwrap_or_else(|| {
            let last = msgs.last().cloned().unwrap_or(Value::Null);
            let after = (last["role"] == "tool").then(|| content_text(&last["content"]).0);
            let (user, images) = msgs
                .iter()
                .rev()
                .find(|m| m["role"] == "user")
                .map(|m| content_text(&m["content"]))
                .unwrap_or_default();
            let tools: Vec<String> = if body["tool_choice"] == "none" {
                Vec::new()
            } else {
                body["tools"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
                    .collect()
            };
            let json = matches!(
                body["response_format"]["type"].as_str(),
                Some("json_object" | "json_schema")
            );
            let chars = msgs
                .iter()
                .map(|m| content_text(&m["content"]).0.chars().count())
                .sum();
            decide(&user, images, &tools, after.as_deref(), json, chars)
        });
        let model = body["model"].as_str().unwrap_or("mistral-small-latest");
        let finish = if r.tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        let calls: Vec<Value> = r
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, (id, name, args))| json!({"id": mistral_id(id), "type": "function", "function": {"name": name, "arguments": args}, "index": i}))
            .collect();
        let usage = json!({"prompt_tokens": r.input_tokens, "completion_tokens": r.output_tokens, "total_tokens": r.input_tokens + r.output_tokens});
        let head = json!({"id": "cmpl-e5cc70bb28c444948073e77776eb30ef", "created": 1_702_256_327u64, "model": model});
        if body["stream"] != true {
            let mut v = head;
            v["object"] = json!("chat.completion");
            v["choices"] = json!([{"index": 0, "message": {"role": "assistant", "content": r.text.clone().unwrap_or_default(), "tool_calls": if calls.is_empty() { Value::Null } else { Value::Array(calls) }, "prefix": false}, "finish_reason": finish}]);
            v["usage"] = usage;
            return Answer::Json(StatusCode::OK, v);
        }
        let chunk = |delta: Value, finish: Option<&str>, usage: Option<&Value>| {
            let mut v = head.clone();
            v["object"] = json!("chat.completion.chunk");
            v["choices"] = json!([{"index": 0, "delta": delta, "finish_reason": finish}]);
            if let Some(u) = usage {
                v["usage"] = u.clone();
            }
            Bytes::from(format!("data: {v}\n\n"))
        };
        let mut out = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            None,
            None,
        )];
        for p in r.text.as_deref().map(|t| pieces(t, 3)).unwrap_or_default() {
            out.push(chunk(json!({"content": p}), None, None));
        }
        if !calls.is_empty() {
            out.push(chunk(json!({"tool_calls": calls}), None, None));
        }
        out.push(chunk(json!({"content": ""}), Some(finish), Some(&usage)));
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        Answer::Stream(out)
    }

    fn embeddings(body: &Value) -> Answer {
        let inputs = input_texts(&body["input"]).unwrap_or_default();
        let dims = body["output_dimension"].as_u64().unwrap_or(8) as usize;
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"object": "embedding", "embedding": mock_vector(t, dims), "index": i}))
            .collect();
        let tokens: u64 = inputs.iter().map(|t| mock_tokens(t)).sum();
        Answer::Json(
            StatusCode::OK,
            json!({"id": "emb-1", "object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": tokens, "total_tokens": tokens, "completion_tokens": 0}}),
        )
    }
}

impl NativeWire for MistralWire {
    const BASE_PATH: &'static str = "/v1";
    fn is_chat(path: &str) -> bool {
        path.ends_with("/chat/completions")
    }
}

impl Wire for MistralWire {
    fn error_body(&self, status: u16, message: &str) -> Value {
        let kind = match status {
            429 => "rate_limited",
            400..=499 => "invalid_request_error",
            _ => "internal_server_error",
        };
        json!({"object": "error", "message": message, "type": kind, "param": null, "code": null})
    }

    fn answer(&self, req: &http::request::Parts, body: &[u8], script: Option<Reply>) -> Answer {
        if !self.keys.is_empty() && !self.keys.iter().any(|k| k == bearer(req)) {
            return Answer::Json(
                StatusCode::UNAUTHORIZED,
                json!({"message": "Unauthorized", "request_id": "mock"}),
            );
        }
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return Answer::Json(
                StatusCode::BAD_REQUEST,
                self.error_body(400, "Invalid JSON body"),
            );
        };
        match req.uri.path() {
            "/v1/chat/completions" => Self::chat(&body, script),
            "/v1/embeddings" => Self::embeddings(&body),
            p => Answer::Json(
                StatusCode::NOT_FOUND,
                json!({"detail": format!("Not Found: {p}")}),
            ),
        }
    }
}
