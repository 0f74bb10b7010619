//! Unified answers → OpenAI Responses `response` objects: output items
//! (reasoning, message with output_text, function_call), status
//! (`completed`, or `incomplete` with the reason), and usage.

use serde_json::{Value, json};

use crate::types::*;

/// A fresh id with an OpenAI-style prefix.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// The `usage` object.
pub fn usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.total(),
    })
}

/// `status` and `incomplete_details` for a finish reason.
pub fn status_of(reason: Option<FinishReason>) -> (&'static str, Value) {
    match reason {
        Some(FinishReason::Length) => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some(FinishReason::ContentFilter) => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

pub fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "message", "id": id, "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

pub fn call_item(id: &str, call: &ToolCall, status: &str) -> Value {
    json!({
        "type": "function_call", "id": id, "call_id": call.id, "name": call.name,
        "arguments": call.arguments, "status": status,
    })
}

pub fn reasoning_item(id: &str, text: &str) -> Value {
    json!({"type": "reasoning", "id": id, "summary": [{"type": "summary_text", "text": text}]})
}

/// The `response` object around `output`.
pub fn envelope(
    id: &str,
    model: &str,
    created: u64,
    status: &str,
    incomplete: Value,
    output: Vec<Value>,
    usage_v: Value,
) -> Value {
    json!({
        "id": id, "object": "response", "created_at": created, "status": status,
        "error": null, "incomplete_details": incomplete, "model": model,
        "output": output, "usage": usage_v, "parallel_tool_calls": true,
        "tool_choice": "auto", "tools": [], "metadata": {}, "store": false,
        "text": {"format": {"type": "text"}}, "truncation": "disabled",
        "previous_response_id": null, "reasoning": {"effort": null, "summary": null},
    })
}

/// A whole answer as a `response` object; `model` is the caller's name.
pub fn encode_response(resp: &ChatResponse, model: &str) -> Value {
    let mut output = Vec::new();
    let choice = resp.choices.first();
    if let Some(c) = choice {
        if let Some(r) = c.message.reasoning.as_deref().filter(|r| !r.is_empty()) {
            output.push(reasoning_item(&new_id("rs"), r));
        }
        if let Some(t) = c.message.content.as_deref().filter(|t| !t.is_empty()) {
            output.push(message_item(&new_id("msg"), t, "completed"));
        }
        for call in &c.message.tool_calls {
            output.push(call_item(&new_id("fc"), call, "completed"));
        }
    }
    let (status, incomplete) = status_of(choice.and_then(|c| c.finish_reason));
    let id = if resp.id.starts_with("resp_") {
        resp.id.clone()
    } else {
        new_id("resp")
    };
    envelope(
        &id,
        model,
        if resp.created > 0 {
            resp.created
        } else {
            unix_now()
        },
        status,
        incomplete,
        output,
        resp.usage.as_ref().map_or(Value::Null, usage),
    )
}
