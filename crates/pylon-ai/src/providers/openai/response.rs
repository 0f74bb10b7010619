//! OpenAI chat completion answers ⇄ unified [`ChatResponse`], and the
//! `usage` object both ways.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::AiError;
use crate::types::*;

#[derive(Deserialize, Default)]
pub(crate) struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    prompt_tokens_details: Option<WirePromptDetails>,
    completion_tokens_details: Option<WireCompletionDetails>,
    /// DeepSeek reports cache hits at the top level.
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct WirePromptDetails {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct WireCompletionDetails {
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    pub(crate) fn unified(&self) -> Usage {
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cached_input_tokens: self
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .or(self.prompt_cache_hit_tokens)
                .unwrap_or(0),
            cache_creation_tokens: 0,
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    created: u64,
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
    system_fingerprint: Option<String>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    index: u32,
    message: Option<WireAnswer>,
    finish_reason: Option<String>,
    logprobs: Option<Value>,
}

#[derive(Deserialize)]
struct WireAnswer {
    content: Option<String>,
    refusal: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    tool_calls: Option<Vec<WireCall>>,
}

#[derive(Deserialize)]
struct WireCall {
    #[serde(default)]
    id: String,
    function: WireCallFunction,
}

#[derive(Deserialize)]
struct WireCallFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: Option<Value>,
}

/// An OpenAI finish reason; unknown ones (`function_call`, vendor values) map sensibly.
pub fn finish_reason(s: &str) -> FinishReason {
    match s {
        "length" | "max_tokens" => FinishReason::Length,
        "tool_calls" | "function_call" | "tool_use" => FinishReason::ToolCalls,
        "content_filter" | "safety" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// Decode an OpenAI-style chat completion.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, AiError> {
    let w: WireResponse = serde_json::from_slice(body).map_err(|e| {
        AiError::bad_response(format!(
            "the provider's answer is not a chat completion: {e}"
        ))
    })?;
    let choices = w
        .choices
        .into_iter()
        .map(|c| {
            let m = c.message.unwrap_or(WireAnswer {
                content: None,
                refusal: None,
                reasoning_content: None,
                reasoning: None,
                tool_calls: None,
            });
            Choice {
                index: c.index,
                message: AssistantMessage {
                    content: m.content,
                    reasoning: m.reasoning_content.or(m.reasoning),
                    reasoning_signature: None,
                    refusal: m.refusal,
                    tool_calls: m
                        .tool_calls
                        .unwrap_or_default()
                        .into_iter()
                        .map(|t| ToolCall {
                            id: t.id,
                            name: t.function.name,
                            arguments: match t.function.arguments {
                                Some(Value::String(s)) => s,
                                Some(Value::Null) | None => String::new(),
                                Some(v) => v.to_string(),
                            },
                        })
                        .collect(),
                },
                finish_reason: c.finish_reason.as_deref().map(finish_reason),
                stop_sequence: None,
                logprobs: c.logprobs.filter(|l| !l.is_null()),
            }
        })
        .collect();
    Ok(ChatResponse {
        id: w.id,
        model: w.model,
        created: w.created,
        choices,
        usage: w.usage.map(|u| u.unified()),
        system_fingerprint: w.system_fingerprint,
    })
}

/// The OpenAI `usage` object.
pub fn encode_usage(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total(),
        "prompt_tokens_details": {"cached_tokens": u.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

/// Encode a unified answer as an OpenAI chat completion; `model` is the
/// name the caller asked for.
pub fn encode_response(resp: &ChatResponse, model: &str) -> Value {
    let choices: Vec<Value> = resp
        .choices
        .iter()
        .map(|c| {
            let mut msg = json!({
                "role": "assistant",
                "content": c.message.content,
                "refusal": c.message.refusal,
            });
            if let Some(r) = &c.message.reasoning {
                msg["reasoning_content"] = json!(r);
            }
            if !c.message.tool_calls.is_empty() {
                msg["tool_calls"] = Value::Array(
                    c.message
                        .tool_calls
                        .iter()
                        .map(|t| json!({"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}))
                        .collect(),
                );
            }
            json!({
                "index": c.index,
                "message": msg,
                "logprobs": c.logprobs,
                "finish_reason": c.finish_reason.map(FinishReason::as_str),
            })
        })
        .collect();
    let mut v = json!({
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created,
        "model": model,
        "choices": choices,
        "system_fingerprint": resp.system_fingerprint,
    });
    if let Some(u) = &resp.usage {
        v["usage"] = encode_usage(u);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_usage_details_and_tool_calls() {
        let body = json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 10, "model": "gpt-4o-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_a", "type": "function", "function": {"name": "f", "arguments": "{\"q\":\"x\"}"}}]},
                "finish_reason": "tool_calls", "logprobs": null}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                "prompt_tokens_details": {"cached_tokens": 64}, "completion_tokens_details": {"reasoning_tokens": 12}}
        });
        let r = decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(r.choices[0].message.tool_calls[0].name, "f");
        let u = r.usage.unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cached_input_tokens,
                u.reasoning_tokens
            ),
            (100, 20, 64, 12)
        );
        let out = encode_response(&r, "smart");
        assert_eq!(out["model"], "smart");
        assert_eq!(out["object"], "chat.completion");
        assert_eq!(out["usage"]["total_tokens"], 120);
        assert_eq!(out["usage"]["prompt_tokens_details"]["cached_tokens"], 64);
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"q\":\"x\"}"
        );
        assert_eq!(
            decode_response(out.to_string().as_bytes()).unwrap().choices,
            r.choices
        );
    }

    #[test]
    fn garbage_is_a_bad_response() {
        let e = decode_response(b"<html>").unwrap_err();
        assert_eq!(e.class, crate::error::ErrorClass::BadResponse);
    }
}
