//! A mock of Cohere's v2 API (`/v2`): `POST /v2/chat` (a chat response, or
//! the v2 event stream: `message-start`, `content-start`/`-delta`/`-end`,
//! `tool-plan-delta`, `tool-call-start`/`-delta`/`-end`, `message-end` with
//! `finish_reason` and `usage`) and `POST /v2/embed` (refusing a request
//! without `input_type`, as embed v3+ models do); bearer keys; errors as
//! `{"id", "message"}`.

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::native::{NativeWire, bearer, content_text, mock_vector};
use super::{Answer, Reply, Wire, decide, mock_tokens, pieces};

/// The Cohere v2 wire format.
#[derive(Debug, Clone, Default)]
pub struct CohereWire {
    /// Accepted bearer keys; empty accepts any (or none).
    pub keys: Vec<String>,
}

fn error(status: StatusCode, message: &str) -> Answer {
    Answer::Json(status, json!({"id": "2b7f4c6e-mock", "message": message}))
}

impl CohereWire {
    fn chat(body: &Value, script: Option<Reply>) -> Answer {
        let msgs = body["messages"].as_array().cloned().unwrap_or_default();
        if msgs.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid request: messages must not be empty",
            );
        }
        let r = script.unwrap_or_else(|| {
            let last = msgs.last().cloned().unwrap_or(Value::Null);
            let after = (last["role"] == "tool").then(|| content_text(&last["content"]).0);
            let (user, images) = msgs
                .iter()
                .rev()
                .find(|m| m["role"] == "user")
                .map(|m| content_text(&m["content"]))
                .unwrap_or_default();
            let tools: Vec<String> = if body["tool_choice"] == "NONE" {
                Vec::new()
            } else {
                body["tools"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
                    .collect()
            };
            let json = body["response_format"]["type"] == "json_object";
            let chars = msgs
                .iter()
                .map(|m| content_text(&m["content"]).0.chars().count())
                .sum();
            decide(&user, images, &tools, after.as_deref(), json, chars)
        });
        let finish = if r.tool_calls.is_empty() {
            "COMPLETE"
        } else {
            "TOOL_CALL"
        };
        let usage = json!({
            "billed_units": {"input_tokens": r.input_tokens, "output_tokens": r.output_tokens},
            "tokens": {"input_tokens": r.input_tokens + 200, "output_tokens": r.output_tokens},
        });
        let calls = r.tool_calls.iter().map(|(id, name, args)| json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}));
        if body["stream"] != true {
            let mut message = json!({"role": "assistant"});
            if r.tool_calls.is_empty() {
                message["content"] =
                    json!([{"type": "text", "text": r.text.clone().unwrap_or_default()}]);
            } else {
                if let Some(t) = &r.text {
                    message["tool_plan"] = json!(t);
                }
                message["tool_calls"] = Value::Array(calls.collect());
            }
            return Answer::Json(
                StatusCode::OK,
                json!({"id": "c14c80c3-mock", "finish_reason": finish, "message": message, "usage": usage}),
            );
        }
        let ev = |name: &str, mut v: Value| {
            v["type"] = json!(name);
            Bytes::from(format!("event: {name}\ndata: {v}\n\n"))
        };
        let mut out = vec![ev(
            "message-start",
            json!({"id": "c14c80c3-mock", "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}),
        )];
        let text_pieces = r.text.as_deref().map(|t| pieces(t, 3)).unwrap_or_default();
        if r.tool_calls.is_empty() {
            out.push(ev("content-start", json!({"index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}})));
            for p in text_pieces {
                out.push(ev(
                    "content-delta",
                    json!({"index": 0, "delta": {"message": {"content": {"text": p}}}}),
                ));
            }
            out.push(ev("content-end", json!({"index": 0})));
        } else {
            for p in text_pieces {
                out.push(ev(
                    "tool-plan-delta",
                    json!({"delta": {"message": {"tool_plan": p}}}),
                ));
            }
            for (i, (id, name, args)) in r.tool_calls.iter().enumerate() {
                out.push(ev("tool-call-start", json!({"index": i, "delta": {"message": {"tool_calls": {"id": id, "type": "function", "function": {"name": name, "arguments": ""}}}}})));
                for p in pieces(args, 4) {
                    out.push(ev("tool-call-delta", json!({"index": i, "delta": {"message": {"tool_calls": {"function": {"arguments": p}}}}})));
                }
                out.push(ev("tool-call-end", json!({"index": i})));
            }
        }
        out.push(ev(
            "message-end",
            json!({"delta": {"finish_reason": finish, "usage": usage}}),
        ));
        Answer::Stream(out)
    }

    fn embed(body: &Value) -> Answer {
        if body["input_type"].as_str().is_none() {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid request: valid input_type must be provided with the provided model",
            );
        }
        let texts: Vec<String> = body["texts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t.as_str().unwrap_or("").to_string())
            .collect();
        let dims = body["output_dimension"].as_u64().unwrap_or(8) as usize;
        let vectors: Vec<Vec<f32>> = texts.iter().map(|t| mock_vector(t, dims)).collect();
        let tokens: u64 = texts.iter().map(|t| mock_tokens(t)).sum();
        Answer::Json(
            StatusCode::OK,
            json!({
                "id": "emb-mock", "embeddings": {"float": vectors}, "texts": texts, "response_type": "embeddings_by_type",
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
            }),
        )
    }
}

impl NativeWire for CohereWire {
    const BASE_PATH: &'static str = "/v2";
    fn is_chat(path: &str) -> bool {
        path == "/v2/chat"
    }
}

impl Wire for CohereWire {
    fn error_body(&self, _status: u16, message: &str) -> Value {
        json!({"id": "2b7f4c6e-mock", "message": message})
    }

    fn answer(&self, req: &http::request::Parts, body: &[u8], script: Option<Reply>) -> Answer {
        if !self.keys.is_empty() && !self.keys.iter().any(|k| k == bearer(req)) {
            return error(StatusCode::UNAUTHORIZED, "invalid api token");
        }
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid request: could not parse the JSON body",
            );
        };
        match req.uri.path() {
            "/v2/chat" => Self::chat(&body, script),
            "/v2/embed" => Self::embed(&body),
            p => error(StatusCode::NOT_FOUND, &format!("no route for {p}")),
        }
    }
}
