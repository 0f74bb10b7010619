//! A mock of Anthropic's Messages API: `POST /v1/messages` (a JSON message,
//! or the SSE event sequence `message_start`, `ping`, per block
//! `content_block_start`/`_delta`/`_stop`, `message_delta`, `message_stop`),
//! `POST /v1/messages/count_tokens`, key checks (`x-api-key` or a bearer
//! token) with Anthropic's
//! `authentication_error`, a required `anthropic-version`, and the request
//! checks the real API makes that translation bugs would trip (roles,
//! `max_tokens`, empty text, thinking budgets, tool results without their
//! call, signed thinking before replayed tool use).

use std::ops::Deref;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::{Answer, Faults, MockAi, Reply, Script, Wire, decide, mock_tokens, pieces};
use crate::server::ServerHandle;

/// The Anthropic wire format.
#[derive(Debug, Clone, Default)]
pub struct AnthropicWire {
    /// Accepted `x-api-key` values; empty accepts any.
    pub keys: Vec<String>,
    /// Cache-write tokens each answer reports (cache reads come from
    /// [`Reply::cached_tokens`]).
    pub cache_creation_tokens: u64,
}

/// A running mock Anthropic server. Derefs to [`ServerHandle`].
#[derive(Debug)]
pub struct MockAnthropic {
    inner: MockAi,
}

impl MockAnthropic {
    /// Accept any key; stream events 5 ms apart.
    pub async fn start() -> anyhow::Result<Self> {
        Self::with(AnthropicWire::default(), Duration::from_millis(5)).await
    }

    pub async fn with(wire: AnthropicWire, interval: Duration) -> anyhow::Result<Self> {
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

    /// The JSON bodies of the recorded `/messages` requests, oldest first.
    pub fn message_bodies(&self) -> Vec<Value> {
        self.bodies("/messages")
    }

    /// The JSON bodies of the recorded `/messages/count_tokens` requests.
    pub fn count_bodies(&self) -> Vec<Value> {
        self.bodies("/messages/count_tokens")
    }

    fn bodies(&self, suffix: &str) -> Vec<Value> {
        self.inner
            .handle
            .requests()
            .iter()
            .filter(|r| r.path().ends_with(suffix))
            .filter_map(|r| serde_json::from_slice(&r.body).ok())
            .collect()
    }
}

impl Deref for MockAnthropic {
    type Target = ServerHandle;
    fn deref(&self) -> &ServerHandle {
        &self.inner.handle
    }
}

/// The signature the mock gives a thinking text (FNV-1a, hex), so replayed
/// thinking can be checked like the real API checks its signatures.
pub fn signature_of(thinking: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in thinking.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("mocksig{h:016x}")
}

fn error(status: u16, kind: &str, message: &str) -> Answer {
    Answer::Json(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

fn invalid(message: String) -> Answer {
    error(400, "invalid_request_error", &message)
}

/// The blocks of a message's content (a string is one text block).
fn blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(a) => a.clone(),
        _ => Vec::new(),
    }
}

/// Text of text blocks (and of tool results' content).
fn text_of(blocks: &[Value]) -> String {
    let mut out = String::new();
    for b in blocks {
        match b["type"].as_str() {
            Some("text") => out.push_str(b["text"].as_str().unwrap_or("")),
            Some("tool_result") => out.push_str(&text_of(&self::blocks(&b["content"]))),
            _ => {}
        }
    }
    out
}

/// The checks of the real API that translation mistakes run into.
fn validate(body: &Value) -> Result<(), String> {
    if !body["model"].is_string() {
        return Err("model: Field required".into());
    }
    let msgs = body["messages"]
        .as_array()
        .ok_or("messages: Field required")?;
    if msgs.is_empty() {
        return Err("messages: at least one message is required".into());
    }
    let thinking = body["thinking"]["type"] == "enabled";
    if let Some(max) = body["max_tokens"].as_u64()
        && thinking
    {
        let budget = body["thinking"]["budget_tokens"].as_u64().unwrap_or(0);
        if budget < 1024 {
            return Err(
                "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
                    .into(),
            );
        }
        if budget >= max {
            return Err("`max_tokens` must be greater than `thinking.budget_tokens`".into());
        }
    }
    if thinking && matches!(body["tool_choice"]["type"].as_str(), Some("any" | "tool")) {
        return Err("Thinking may not be enabled when tool_choice forces tool use.".into());
    }
    let mut prev_tool_ids: Vec<String> = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if role != "user" && role != "assistant" {
            return Err(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            ));
        }
        let bs = blocks(&m["content"]);
        for b in &bs {
            match b["type"].as_str().unwrap_or("") {
                "text" if b["text"].as_str().is_some_and(str::is_empty) => {
                    return Err(format!(
                        "messages.{i}: text content blocks must be non-empty"
                    ));
                }
                "tool_result" => {
                    let id = b["tool_use_id"].as_str().unwrap_or("");
                    if role != "user" || !prev_tool_ids.iter().any(|p| p == id) {
                        return Err(format!(
                            "messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks: {id}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."
                        ));
                    }
                }
                "thinking" => {
                    let t = b["thinking"].as_str().unwrap_or("");
                    if b["signature"].as_str() != Some(signature_of(t).as_str()) {
                        return Err(format!(
                            "messages.{i}: Invalid `signature` in `thinking` block"
                        ));
                    }
                }
                "text" | "image" | "tool_use" | "redacted_thinking" => {}
                other => {
                    return Err(format!(
                        "messages.{i}: unknown content block type `{other}`"
                    ));
                }
            }
        }
        prev_tool_ids = bs
            .iter()
            .filter(|b| b["type"] == "tool_use")
            .filter_map(|b| b["id"].as_str().map(str::to_string))
            .collect();
        let uses_tools = !prev_tool_ids.is_empty();
        let starts_thinking = bs
            .first()
            .is_some_and(|b| matches!(b["type"].as_str(), Some("thinking" | "redacted_thinking")));
        if role == "assistant" && thinking && uses_tools && !starts_thinking && i + 1 < msgs.len() {
            return Err(format!(
                "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block."
            ));
        }
    }
    Ok(())
}

impl AnthropicWire {
    fn reply_for(&self, body: &Value) -> Reply {
        let msgs = body["messages"].as_array().cloned().unwrap_or_default();
        let last = msgs.last().cloned().unwrap_or(Value::Null);
        let last_blocks = blocks(&last["content"]);
        let after_tool = last_blocks
            .iter()
            .any(|b| b["type"] == "tool_result")
            .then(|| text_of(&last_blocks));
        let (last_user, images) = msgs
            .iter()
            .rev()
            .filter(|m| m["role"] == "user")
            .map(|m| blocks(&m["content"]))
            .find(|bs| bs.iter().any(|b| b["type"] == "text"))
            .map(|bs| {
                let imgs = bs.iter().filter(|b| b["type"] == "image").count();
                let text: String = bs
                    .iter()
                    .filter(|b| b["type"] == "text")
                    .map(|b| b["text"].as_str().unwrap_or(""))
                    .collect();
                (text, imgs)
            })
            .unwrap_or_default();
        let tools: Vec<String> = if body["tool_choice"]["type"] == "none" {
            Vec::new()
        } else {
            body["tools"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|t| t["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let json = body["output_config"]["format"]["type"] == "json_schema";
        decide(
            &last_user,
            images,
            &tools,
            after_tool.as_deref(),
            json,
            prompt_text(body).chars().count(),
        )
    }

    fn message(&self, body: &Value, script: Option<Reply>) -> Answer {
        if let Err(m) = validate(body) {
            return invalid(m);
        }
        let Some(max_tokens) = body["max_tokens"].as_u64() else {
            return invalid("max_tokens: Field required".into());
        };
        let mut r = script.unwrap_or_else(|| self.reply_for(body));
        // A forced tool is called, with the answer as its input.
        if body["tool_choice"]["type"] == "tool" && r.tool_calls.is_empty() {
            let name = body["tool_choice"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let text = r.text.take().unwrap_or_default();
            let input = serde_json::from_str::<Value>(&text)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({ "answer": text }));
            r.tool_calls = vec![("toolu_mock_forced".into(), name, input.to_string())];
        }
        let mut stop_reason = if r.tool_calls.is_empty() {
            "end_turn"
        } else {
            "tool_use"
        };
        let mut stop_sequence = Value::Null;
        if let (Some(t), Some(stops)) = (&mut r.text, body["stop_sequences"].as_array()) {
            for s in stops.iter().filter_map(Value::as_str) {
                if let Some(at) = t.find(s) {
                    t.truncate(at);
                    stop_reason = "stop_sequence";
                    stop_sequence = json!(s);
                    break;
                }
            }
        }
        let thinking = (body["thinking"]["type"] == "enabled").then(|| {
            let last = body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .cloned()
                .unwrap_or(Value::Null);
            format!("Thinking about: {}", text_of(&blocks(&last["content"])))
        });
        let usage = json!({
            "input_tokens": r.input_tokens.saturating_sub(r.cached_tokens + self.cache_creation_tokens),
            "cache_read_input_tokens": r.cached_tokens,
            "cache_creation_input_tokens": self.cache_creation_tokens,
            "output_tokens": r.output_tokens.min(max_tokens.max(1)),
        });
        let model = body["model"].as_str().unwrap_or("claude-mock").to_string();
        if body["stream"] == true {
            return Answer::Stream(stream(
                &model,
                &r,
                thinking.as_deref(),
                stop_reason,
                &stop_sequence,
                &usage,
            ));
        }
        let mut content = Vec::new();
        if let Some(t) = &thinking {
            content.push(json!({"type": "thinking", "thinking": t, "signature": signature_of(t)}));
        }
        if let Some(t) = r.text.as_ref().filter(|t| !t.is_empty()) {
            content.push(json!({"type": "text", "text": t}));
        }
        for (id, name, args) in &r.tool_calls {
            let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
            content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
        }
        Answer::Json(
            StatusCode::OK,
            json!({
                "id": "msg_mock01", "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": stop_reason, "stop_sequence": stop_sequence,
                "usage": usage,
            }),
        )
    }
}

/// All prompt text of a request (system, messages, tool declarations).
fn prompt_text(body: &Value) -> String {
    let mut s = text_of(&blocks(&body["system"]));
    for m in body["messages"].as_array().into_iter().flatten() {
        s.push_str(&text_of(&blocks(&m["content"])));
    }
    if let Some(t) = body.get("tools") {
        s.push_str(&t.to_string());
    }
    s
}

fn event(name: &str, data: Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The SSE event sequence for a reply.
fn stream(
    model: &str,
    r: &Reply,
    thinking: Option<&str>,
    stop_reason: &str,
    stop_sequence: &Value,
    usage: &Value,
) -> Vec<Bytes> {
    let mut start_usage = usage.clone();
    start_usage["output_tokens"] = json!(1);
    let mut out = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_mock01", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    let mut index = 0;
    let mut block = |out: &mut Vec<Bytes>, start: Value, deltas: Vec<Value>| {
        out.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        for d in deltas {
            out.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": d}),
            ));
        }
        out.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    };
    if let Some(t) = thinking {
        let mut deltas: Vec<Value> = pieces(t, 5)
            .into_iter()
            .map(|p| json!({"type": "thinking_delta", "thinking": p}))
            .collect();
        deltas.push(json!({"type": "signature_delta", "signature": signature_of(t)}));
        block(
            &mut out,
            json!({"type": "thinking", "thinking": "", "signature": ""}),
            deltas,
        );
    }
    if let Some(t) = r.text.as_ref().filter(|t| !t.is_empty()) {
        let deltas = pieces(t, 3)
            .into_iter()
            .map(|p| json!({"type": "text_delta", "text": p}))
            .collect();
        block(&mut out, json!({"type": "text", "text": ""}), deltas);
    }
    for (id, name, args) in &r.tool_calls {
        let mut deltas = vec![json!({"type": "input_json_delta", "partial_json": ""})];
        deltas.extend(
            pieces(args, 4)
                .into_iter()
                .map(|p| json!({"type": "input_json_delta", "partial_json": p})),
        );
        block(
            &mut out,
            json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
            deltas,
        );
    }
    out.push(event(
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
        "usage": {"output_tokens": usage["output_tokens"]}}),
    ));
    out.push(event("message_stop", json!({"type": "message_stop"})));
    out
}

impl Wire for AnthropicWire {
    fn error_body(&self, status: u16, message: &str) -> Value {
        let kind = match status {
            400 | 422 => "invalid_request_error",
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            504 => "timeout_error",
            529 => "overloaded_error",
            _ => "api_error",
        };
        json!({"type": "error", "error": {"type": kind, "message": message}})
    }

    fn malformed_chunk(&self) -> Bytes {
        Bytes::from_static(
            b"event: content_block_delta\ndata: {\"type\": \"content_block_delta\", oops\n\n",
        )
    }

    fn answer(&self, req: &http::request::Parts, body: &[u8], script: Option<Reply>) -> Answer {
        // `x-api-key`, or (newer SDKs) `Authorization: Bearer`.
        let bearer = req
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let key = req
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .or(bearer);
        if !self.keys.is_empty() && !key.is_some_and(|k| self.keys.iter().any(|g| g == k)) {
            return error(401, "authentication_error", "invalid x-api-key");
        }
        if req.headers.get("anthropic-version").is_none() {
            return invalid("anthropic-version: header is required".into());
        }
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return invalid("There was an error parsing the body of your request as JSON".into());
        };
        let path = req.uri.path();
        if path.ends_with("/messages/count_tokens") {
            if let Err(m) = validate(&body) {
                return invalid(m);
            }
            if body.get("max_tokens").is_some() {
                return invalid("max_tokens: Extra inputs are not permitted".into());
            }
            let tokens = mock_tokens(&prompt_text(&body)).max(1);
            Answer::Json(StatusCode::OK, json!({ "input_tokens": tokens }))
        } else if path.ends_with("/messages") {
            self.message(&body, script)
        } else {
            error(404, "not_found_error", &format!("Not Found: POST {path}"))
        }
    }
}
