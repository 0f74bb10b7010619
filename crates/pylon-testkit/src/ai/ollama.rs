//! A mock of Ollama's native API (no key): `POST /api/chat` (streaming by
//! default: NDJSON lines with content pieces, tool calls whole and without
//! ids, a last `done: true` line with `done_reason`, `prompt_eval_count` and
//! `eval_count`; one JSON object with `stream: false`) and `POST
//! /api/embed`; errors as `{"error": "..."}`.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::native::{NativeWire, input_texts, mock_vector};
use super::{Answer, Reply, Wire, decide, mock_tokens, pieces};

/// The Ollama wire format.
#[derive(Debug, Clone, Default)]
pub struct OllamaWire;

const CREATED: &str = "2025-06-01T12:00:00.000000Z";

fn line(v: &Value) -> Bytes {
    Bytes::from(format!("{v}\n"))
}

impl OllamaWire {
    fn chat(body: &Value, script: Option<Reply>) -> Answer {
        let Some(model) = body["model"].as_str() else {
            return Answer::Json(
                StatusCode::BAD_REQUEST,
                json!({"error": "model is required"}),
            );
        };
        let msgs = body["messages"].as_array().cloned().unwrap_or_default();
        let r = script.unwrap_or_else(|| {
            let text = |m: &Value| m["content"].as_str().unwrap_or("").to_string();
            let last = msgs.last().cloned().unwrap_or(Value::Null);
            let after = (last["role"] == "tool").then(|| text(&last));
            let user = msgs
                .iter()
                .rev()
                .find(|m| m["role"] == "user")
                .cloned()
                .unwrap_or(Value::Null);
            let images = user["images"].as_array().map_or(0, Vec::len);
            let tools: Vec<String> = body["tools"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
                .collect();
            let json = !body["format"].is_null();
            let chars = msgs.iter().map(|m| text(m).chars().count()).sum();
            decide(&text(&user), images, &tools, after.as_deref(), json, chars)
        });
        let calls: Vec<Value> = r
            .tool_calls
            .iter()
            .map(|(_, name, args)| json!({"function": {"name": name, "arguments": serde_json::from_str::<Value>(args).unwrap_or_else(|_| json!({}))}}))
            .collect();
        let done = |content: &str, calls: &[Value]| {
            let mut message = json!({"role": "assistant", "content": content});
            if !calls.is_empty() {
                message["tool_calls"] = json!(calls);
            }
            json!({"model": model, "created_at": CREATED, "message": message, "done": true, "done_reason": "stop",
                "total_duration": 4_883_583_458u64, "load_duration": 1_334_875, "prompt_eval_count": r.input_tokens,
                "prompt_eval_duration": 342_546_000, "eval_count": r.output_tokens, "eval_duration": 4_535_599_000u64})
        };
        // Ollama streams unless `stream` is false.
        if body["stream"] == false {
            return Answer::Json(
                StatusCode::OK,
                done(r.text.as_deref().unwrap_or(""), &calls),
            );
        }
        let piece = |message: Value| {
            line(&json!({"model": model, "created_at": CREATED, "message": message, "done": false}))
        };
        let mut out: Vec<Bytes> = r
            .text
            .as_deref()
            .map(|t| pieces(t, 3))
            .unwrap_or_default()
            .into_iter()
            .map(|p| piece(json!({"role": "assistant", "content": p})))
            .collect();
        if !calls.is_empty() {
            out.push(piece(
                json!({"role": "assistant", "content": "", "tool_calls": calls}),
            ));
        }
        out.push(line(&done("", &[])));
        Answer::Stream(out)
    }

    fn embed(body: &Value) -> Answer {
        let Some(inputs) = input_texts(&body["input"]) else {
            return Answer::Json(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid input type"}),
            );
        };
        let dims = body["dimensions"].as_u64().unwrap_or(8) as usize;
        let embeddings: Vec<Vec<f32>> = inputs.iter().map(|t| mock_vector(t, dims)).collect();
        let tokens: u64 = inputs.iter().map(|t| mock_tokens(t)).sum();
        Answer::Json(
            StatusCode::OK,
            json!({"model": body["model"], "embeddings": embeddings, "total_duration": 14_143_917, "load_duration": 1_019_500, "prompt_eval_count": tokens}),
        )
    }
}

impl NativeWire for OllamaWire {
    const BASE_PATH: &'static str = "";
    fn is_chat(path: &str) -> bool {
        path == "/api/chat"
    }
}

impl Wire for OllamaWire {
    fn error_body(&self, _status: u16, message: &str) -> Value {
        json!({ "error": message })
    }

    fn malformed_chunk(&self) -> Bytes {
        Bytes::from_static(b"{\"model\": oops, not json\n")
    }

    fn stream_content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    fn answer(&self, req: &http::request::Parts, body: &[u8], script: Option<Reply>) -> Answer {
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return Answer::Json(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid character looking for beginning of value"}),
            );
        };
        match req.uri.path() {
            "/api/chat" => Self::chat(&body, script),
            "/api/embed" => Self::embed(&body),
            _ => Answer::Json(
                StatusCode::NOT_FOUND,
                json!({"error": "404 page not found"}),
            ),
        }
    }
}
