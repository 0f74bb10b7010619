//! A Bedrock Converse answer → unified [`ChatResponse`]: the output
//! message's content blocks, `stopReason`, and `usage` (Bedrock counts
//! `inputTokens` without cache reads and writes; unified input includes them).

use serde::Deserialize;
use serde_json::Value;

use crate::error::AiError;
use crate::types::*;

#[derive(Deserialize, Default, Debug, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: u64,
    #[serde(default)]
    cache_write_input_tokens: u64,
}

impl WireUsage {
    pub(crate) fn unified(&self) -> Usage {
        Usage {
            input_tokens: self.input_tokens
                + self.cache_read_input_tokens
                + self.cache_write_input_tokens,
            output_tokens: self.output_tokens,
            cached_input_tokens: self.cache_read_input_tokens,
            cache_creation_tokens: self.cache_write_input_tokens,
            reasoning_tokens: 0,
        }
    }
}

/// A Converse `stopReason`.
pub fn stop_reason(s: &str) -> FinishReason {
    match s {
        "tool_use" => FinishReason::ToolCalls,
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        // end_turn, stop_sequence
        _ => FinishReason::Stop,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    output: Option<WireOutput>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
    additional_model_response_fields: Option<Value>,
}

#[derive(Deserialize)]
struct WireOutput {
    message: Option<WireMessage>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Vec<Value>,
}

/// A fresh answer id: Converse answers carry none.
pub fn answer_id() -> String {
    format!("bedrock-{}", uuid::Uuid::new_v4().simple())
}

/// Decode a Converse answer from `model`.
pub fn decode_response(body: &[u8], model: &str) -> Result<ChatResponse, AiError> {
    let w: WireResponse = serde_json::from_slice(body).map_err(|e| {
        AiError::bad_response(format!(
            "the provider's answer is not a Converse response: {e}"
        ))
    })?;
    let blocks = w
        .output
        .and_then(|o| o.message)
        .ok_or_else(|| AiError::bad_response("the Converse response has no output.message"))?
        .content;
    let mut msg = AssistantMessage::default();
    for b in blocks {
        if let Some(t) = b.get("text").and_then(Value::as_str) {
            msg.content.get_or_insert_with(String::new).push_str(t);
        } else if let Some(u) = b.get("toolUse") {
            let text = |k: &str| u.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            msg.tool_calls.push(ToolCall {
                id: text("toolUseId"),
                name: text("name"),
                arguments: u.get("input").map_or_else(|| "{}".into(), Value::to_string),
            });
        } else if let Some(r) = b.pointer("/reasoningContent/reasoningText") {
            if let Some(t) = r.get("text").and_then(Value::as_str) {
                msg.reasoning.get_or_insert_with(String::new).push_str(t);
            }
            if let Some(s) = r.get("signature").and_then(Value::as_str) {
                msg.reasoning_signature = Some(s.to_string());
            }
        }
    }
    let stop_sequence = w
        .additional_model_response_fields
        .as_ref()
        .and_then(|f| f.get("stop_sequence"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(ChatResponse {
        id: answer_id(),
        model: model.to_string(),
        created: unix_now(),
        choices: vec![Choice {
            index: 0,
            message: msg,
            finish_reason: w.stop_reason.as_deref().map(stop_reason),
            stop_sequence,
            logprobs: None,
        }],
        usage: w.usage.map(|u| u.unified()),
        system_fingerprint: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_text_tools_reasoning_and_cache_usage() {
        let body = json!({
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "think", "signature": "sig"}}},
                {"text": "Checking."},
                {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "tooluse_2", "name": "get_time", "input": {}}}
            ]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 130,
                      "cacheReadInputTokens": 64, "cacheWriteInputTokens": 36},
            "metrics": {"latencyMs": 321}
        });
        let r = decode_response(body.to_string().as_bytes(), "anthropic.claude").unwrap();
        assert!(r.id.starts_with("bedrock-"));
        assert_eq!(r.model, "anthropic.claude");
        let c = &r.choices[0];
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(c.message.content.as_deref(), Some("Checking."));
        assert_eq!(c.message.reasoning.as_deref(), Some("think"));
        assert_eq!(c.message.reasoning_signature.as_deref(), Some("sig"));
        assert_eq!(c.message.tool_calls.len(), 2);
        assert_eq!(c.message.tool_calls[0].id, "tooluse_1");
        assert_eq!(c.message.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(c.message.tool_calls[1].arguments, "{}");
        let u = r.usage.unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cached_input_tokens,
                u.cache_creation_tokens
            ),
            (110, 20, 64, 36)
        );
        assert_eq!(u.total(), 130, "the same total Bedrock reports");
    }

    #[test]
    fn stop_reasons_and_garbage() {
        for (s, want) in [
            ("end_turn", FinishReason::Stop),
            ("stop_sequence", FinishReason::Stop),
            ("max_tokens", FinishReason::Length),
            ("model_context_window_exceeded", FinishReason::Length),
            ("tool_use", FinishReason::ToolCalls),
            ("guardrail_intervened", FinishReason::ContentFilter),
            ("content_filtered", FinishReason::ContentFilter),
        ] {
            assert_eq!(stop_reason(s), want, "{s}");
        }
        let e = decode_response(b"<html>", "m").unwrap_err();
        assert_eq!(e.class, crate::error::ErrorClass::BadResponse);
        let e = decode_response(br#"{"stopReason":"end_turn"}"#, "m").unwrap_err();
        assert!(e.message.contains("output.message"), "{e}");
    }
}
