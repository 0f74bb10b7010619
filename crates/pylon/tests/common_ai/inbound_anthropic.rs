//! The Anthropic Messages API (`/v1/messages`) as the conformance matrix
//! drives it: requests in Anthropic's form, answers checked against
//! Anthropic's message shape and, for streams, its event grammar.
#![allow(dead_code)]

use serde_json::{Value, json};

use super::conformance::{Case, Inbound, Outcome, PNG_1X1, SYSTEM};
use super::inbound_openai::weather_tool_schema;
use super::sse_events;

pub struct Messages;

/// The schema the JSON case asks for: any object, which is JSON mode (the
/// form every provider has; schemas proper are unit-tested per provider).
pub fn answer_schema() -> Value {
    json!({"type": "object"})
}

/// What a Messages answer (whole, or rebuilt from its events) says.
#[derive(Debug, Default)]
pub struct Rebuilt {
    pub content: Vec<Value>,
    pub stop_reason: Option<String>,
    pub stop_sequence: Value,
    pub usage: Value,
}

/// Rebuild a streamed Messages answer, checking the event grammar the SDKs
/// rely on: `message_start` first, every event named as its data's `type`,
/// one content block open at a time with indices in order, deltas of the
/// open block's kind, `message_delta` then `message_stop` last.
pub fn rebuild_stream(body: &str) -> Result<Rebuilt, String> {
    let events = sse_events(body);
    let mut out = Rebuilt::default();
    let mut open: Option<usize> = None;
    let mut json_buf = String::new();
    let mut stage = 0; // 0 before message_start, 1 blocks, 2 after message_delta, 3 stopped
    for (name, data) in &events {
        let v: Value = serde_json::from_str(data).map_err(|e| format!("{e}: {data}"))?;
        let kind = v["type"].as_str().unwrap_or("");
        if name.as_deref() != Some(kind) {
            return Err(format!("event name {name:?} but data type {kind}"));
        }
        if stage == 3 {
            return Err(format!("event after message_stop: {v}"));
        }
        match kind {
            "message_start" if stage == 0 => {
                stage = 1;
                out.usage = v["message"]["usage"].clone();
            }
            "ping" if stage > 0 => {}
            "content_block_start" if stage == 1 && open.is_none() => {
                if v["index"] != out.content.len() {
                    return Err(format!("block index {} out of order", v["index"]));
                }
                open = Some(out.content.len());
                out.content.push(v["content_block"].clone());
                json_buf.clear();
            }
            "content_block_delta" if open.is_some() && v["index"] == open.unwrap_or(0) => {
                let b = out.content.last_mut().ok_or("no block")?;
                let d = &v["delta"];
                match (b["type"].as_str(), d["type"].as_str()) {
                    (Some("text"), Some("text_delta")) => {
                        let t = format!(
                            "{}{}",
                            b["text"].as_str().unwrap_or(""),
                            d["text"].as_str().unwrap_or("")
                        );
                        b["text"] = json!(t);
                    }
                    (Some("tool_use"), Some("input_json_delta")) => {
                        json_buf.push_str(d["partial_json"].as_str().unwrap_or(""));
                    }
                    (Some("thinking"), Some("thinking_delta" | "signature_delta")) => {}
                    _ => return Err(format!("delta {d} does not fit block {b}")),
                }
            }
            "content_block_stop" if open.is_some() && v["index"] == open.unwrap_or(0) => {
                let b = out.content.last_mut().ok_or("no block")?;
                if b["type"] == "tool_use" {
                    let input = if json_buf.is_empty() {
                        "{}"
                    } else {
                        json_buf.as_str()
                    };
                    b["input"] = serde_json::from_str(input)
                        .map_err(|e| format!("tool input {input:?}: {e}"))?;
                }
                open = None;
            }
            "message_delta" if stage == 1 && open.is_none() => {
                stage = 2;
                out.stop_reason = v["delta"]["stop_reason"].as_str().map(str::to_string);
                out.stop_sequence = v["delta"]["stop_sequence"].clone();
                for (k, n) in v["usage"].as_object().into_iter().flatten() {
                    out.usage[k] = n.clone();
                }
            }
            "message_stop" if stage == 2 => stage = 3,
            _ => {
                return Err(format!(
                    "unexpected {kind} here (stage {stage}, open {open:?}): {v}"
                ));
            }
        }
    }
    if stage != 3 {
        return Err(format!("the stream did not end with message_stop: {body}"));
    }
    Ok(out)
}

/// A whole Messages answer, checked for its shape.
pub fn rebuild_whole(body: &str) -> Result<Rebuilt, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
    if v["type"] != "message" || v["role"] != "assistant" || !v["id"].is_string() {
        return Err(format!("not a message: {v}"));
    }
    Ok(Rebuilt {
        content: v["content"].as_array().cloned().ok_or("no content")?,
        stop_reason: v["stop_reason"].as_str().map(str::to_string),
        stop_sequence: v["stop_sequence"].clone(),
        usage: v["usage"].clone(),
    })
}

/// Unified input tokens from Anthropic usage (cache reads and writes added).
pub fn total_input(usage: &Value) -> u64 {
    [
        "input_tokens",
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    ]
    .iter()
    .map(|k| usage[*k].as_u64().unwrap_or(0))
    .sum()
}

impl Inbound for Messages {
    fn name(&self) -> &'static str {
        "messages"
    }

    fn path(&self) -> &'static str {
        "/v1/messages"
    }

    fn headers(&self) -> Vec<(&'static str, &'static str)> {
        vec![
            ("anthropic-version", "2023-06-01"),
            ("anthropic-beta", "fine-grained-tool-streaming-2025-05-14"),
        ]
    }

    fn body(&self, model: &str, case: Case, stream: bool) -> Value {
        let user = if case == Case::Image {
            json!([{"type": "text", "text": "What is in this image?"},
                   {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_1X1}}])
        } else {
            json!("What is the weather in Paris?")
        };
        let mut b = json!({
            "model": model, "max_tokens": 64, "system": SYSTEM,
            "messages": [{"role": "user", "content": user}],
        });
        if case == Case::Tools {
            b["tools"] = json!([{"name": "get_weather", "description": "Weather by city", "input_schema": weather_tool_schema()}]);
        }
        if case == Case::Json {
            b["output_config"] =
                json!({"format": {"type": "json_schema", "schema": answer_schema()}});
        }
        if stream {
            b["stream"] = json!(true);
        }
        b
    }

    fn parse(&self, body: &str, stream: bool) -> Result<Outcome, String> {
        let r = if stream {
            rebuild_stream(body)?
        } else {
            rebuild_whole(body)?
        };
        let mut text = String::new();
        let mut calls = Vec::new();
        let mut ids = true;
        for b in &r.content {
            match b["type"].as_str() {
                Some("text") => text.push_str(b["text"].as_str().unwrap_or("")),
                Some("tool_use") => {
                    ids &= b["id"].as_str().is_some_and(|i| !i.is_empty());
                    calls.push((
                        b["name"].as_str().unwrap_or("").to_string(),
                        b["input"].clone(),
                    ));
                }
                _ => {}
            }
        }
        let finish = match r.stop_reason.as_deref() {
            Some("end_turn" | "stop_sequence") => "stop",
            Some("tool_use") => "tool_calls",
            Some("max_tokens") => "length",
            other => return Err(format!("stop_reason {other:?}")),
        };
        Ok(Outcome {
            text,
            tool_calls: calls,
            tool_ids_present: ids,
            finish: finish.into(),
            input_tokens: total_input(&r.usage),
            output_tokens: r.usage["output_tokens"].as_u64().unwrap_or(0),
        })
    }

    fn check_rate_limited(&self, body: &str) -> Result<(), String> {
        let v: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
        if v["type"] != "error"
            || v["error"]["type"] != "rate_limit_error"
            || !v["error"]["message"].is_string()
        {
            return Err(format!("not an Anthropic rate-limit error: {v}"));
        }
        Ok(())
    }
}
