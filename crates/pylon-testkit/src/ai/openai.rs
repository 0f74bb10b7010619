//! A mock of OpenAI's API (and of every OpenAI-compatible server):
//! `POST /v1/chat/completions` (JSON or SSE `chat.completion.chunk`s ending in
//! `data: [DONE]`, usage when `stream_options.include_usage`), `POST
//! /v1/embeddings`, bearer-key checks with OpenAI's `invalid_api_key` error.

use std::ops::Deref;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::{Answer, Faults, MockAi, Reply, Script, Wire, decide, mock_tokens, pieces};
use crate::server::ServerHandle;

/// The OpenAI wire format.
#[derive(Debug, Clone, Default)]
pub struct OpenAiWire {
    /// Accepted bearer keys; empty accepts any (or none).
    pub keys: Vec<String>,
}

/// A running mock OpenAI server. Derefs to [`ServerHandle`].
#[derive(Debug)]
pub struct MockOpenAi {
    inner: MockAi,
}

impl MockOpenAi {
    /// Accept any key; stream chunks 5 ms apart.
    pub async fn start() -> anyhow::Result<Self> {
        Self::with(OpenAiWire::default(), Duration::from_millis(5)).await
    }

    pub async fn with(wire: OpenAiWire, interval: Duration) -> anyhow::Result<Self> {
        Ok(Self {
            inner: MockAi::start(wire, interval).await?,
        })
    }

    /// `http://127.0.0.1:<port>/v1`: the base URL a client uses.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.inner.handle.url())
    }

    pub fn faults(&self) -> &Faults {
        &self.inner.faults
    }

    pub fn script(&self) -> &Script {
        &self.inner.script
    }

    /// The JSON bodies of the recorded chat requests, oldest first.
    pub fn chat_bodies(&self) -> Vec<Value> {
        self.inner
            .handle
            .requests()
            .iter()
            .filter(|r| r.path().ends_with("/chat/completions"))
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect()
    }
}

impl Deref for MockOpenAi {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.inner.handle
    }
}

fn text_of(content: &Value) -> (String, usize) {
    match content {
        Value::String(s) => (s.clone(), 0),
        Value::Array(parts) => {
            let mut text = String::new();
            let mut images = 0;
            for p in parts {
                match p["type"].as_str() {
                    Some("text") => text.push_str(p["text"].as_str().unwrap_or("")),
                    Some("image_url") => images += 1,
                    _ => {}
                }
            }
            (text, images)
        }
        _ => (String::new(), 0),
    }
}

impl OpenAiWire {
    fn reply_for(&self, body: &Value) -> Reply {
        let msgs = body["messages"].as_array().cloned().unwrap_or_default();
        let last = msgs.last().cloned().unwrap_or(Value::Null);
        let after_tool = (last["role"] == "tool").then(|| text_of(&last["content"]).0);
        let (last_user, images) = msgs
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .map(|m| text_of(&m["content"]))
            .unwrap_or_default();
        let tools: Vec<String> = if body["tool_choice"] == "none" {
            Vec::new()
        } else {
            body["tools"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let json = matches!(
            body["response_format"]["type"].as_str(),
            Some("json_object" | "json_schema")
        );
        let prompt_chars = msgs
            .iter()
            .map(|m| text_of(&m["content"]).0.chars().count())
            .sum();
        decide(
            &last_user,
            images,
            &tools,
            after_tool.as_deref(),
            json,
            prompt_chars,
        )
    }

    fn usage(r: &Reply) -> Value {
        json!({
            "prompt_tokens": r.input_tokens,
            "completion_tokens": r.output_tokens,
            "total_tokens": r.input_tokens + r.output_tokens,
            "prompt_tokens_details": {"cached_tokens": r.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": 0},
        })
    }

    fn chat(&self, body: &Value, script: Option<Reply>) -> Answer {
        let r = script.unwrap_or_else(|| self.reply_for(body));
        let model = body["model"].as_str().unwrap_or("gpt-mock").to_string();
        let finish = if r.tool_calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        };
        let calls: Vec<Value> = r
            .tool_calls
            .iter()
            .map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}))
            .collect();
        if body["stream"] != true {
            let mut msg = json!({"role": "assistant", "content": r.text, "refusal": null});
            if !calls.is_empty() {
                msg["tool_calls"] = Value::Array(calls);
            }
            return Answer::Json(
                StatusCode::OK,
                json!({
                    "id": "chatcmpl-mock123", "object": "chat.completion", "created": 1_700_000_000u64,
                    "model": model, "system_fingerprint": "fp_mock",
                    "choices": [{"index": 0, "message": msg, "logprobs": null, "finish_reason": finish}],
                    "usage": Self::usage(&r),
                }),
            );
        }
        let chunk = |choices: Value, usage: Option<Value>| {
            let mut v = json!({"id": "chatcmpl-mock123", "object": "chat.completion.chunk", "created": 1_700_000_000u64, "model": model, "system_fingerprint": "fp_mock", "choices": choices});
            if let Some(u) = usage {
                v["usage"] = u;
            }
            Bytes::from(format!("data: {v}\n\n"))
        };
        let mut out = vec![chunk(
            json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": null, "finish_reason": null}]),
            None,
        )];
        if let Some(t) = &r.text {
            for p in pieces(t, 3) {
                out.push(chunk(json!([{"index": 0, "delta": {"content": p}, "logprobs": null, "finish_reason": null}]), None));
            }
        }
        for (i, (id, name, args)) in r.tool_calls.iter().enumerate() {
            out.push(chunk(json!([{"index": 0, "delta": {"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}, "finish_reason": null}]), None));
            for p in pieces(args, 4) {
                out.push(chunk(json!([{"index": 0, "delta": {"tool_calls": [{"index": i, "function": {"arguments": p}}]}, "finish_reason": null}]), None));
            }
        }
        out.push(chunk(
            json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": finish}]),
            None,
        ));
        if body["stream_options"]["include_usage"] == true {
            out.push(chunk(json!([]), Some(Self::usage(&r))));
        }
        out.push(Bytes::from_static(b"data: [DONE]\n\n"));
        Answer::Stream(out)
    }

    fn embeddings(body: &Value) -> Answer {
        let inputs: Vec<String> = match &body["input"] {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect(),
            _ => Vec::new(),
        };
        let dims = body["dimensions"].as_u64().unwrap_or(8) as usize;
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let v: Vec<f32> = (0..dims)
                    .map(|d| ((t.len() + d) % 7) as f32 / 7.0)
                    .collect();
                json!({"object": "embedding", "index": i, "embedding": v})
            })
            .collect();
        let tokens: u64 = inputs.iter().map(|t| mock_tokens(t)).sum();
        Answer::Json(
            StatusCode::OK,
            json!({"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
        )
    }
}

impl Wire for OpenAiWire {
    fn error_body(&self, status: u16, message: &str) -> Value {
        let kind = match status {
            400 | 404 | 413 | 422 => "invalid_request_error",
            401 => "invalid_request_error",
            403 => "permission_error",
            429 => "requests",
            _ => "server_error",
        };
        json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
    }

    fn answer(&self, req: &http::request::Parts, body: &[u8], script: Option<Reply>) -> Answer {
        if !self.keys.is_empty() {
            let given = req
                .headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !self.keys.iter().any(|k| k == given) {
                let shown: String = given.chars().take(6).collect();
                return Answer::Json(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": {"message": format!("Incorrect API key provided: {shown}***{given}. You can find your API key at https://platform.openai.com/account/api-keys."), "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
                );
            }
        }
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return Answer::Json(
                StatusCode::BAD_REQUEST,
                self.error_body(400, "We could not parse the JSON body of your request."),
            );
        };
        let path = req.uri.path();
        if path.ends_with("/chat/completions") {
            self.chat(&body, script)
        } else if path.ends_with("/embeddings") {
            Self::embeddings(&body)
        } else {
            Answer::Json(
                StatusCode::NOT_FOUND,
                self.error_body(404, &format!("Invalid URL (POST {path})")),
            )
        }
    }
}
