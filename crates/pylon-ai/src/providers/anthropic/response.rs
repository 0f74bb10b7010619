//! Anthropic Messages answers ⇄ unified [`ChatResponse`], stop reasons ⇄
//! finish reasons, and usage both ways. Anthropic's `input_tokens` leaves
//! out cache reads and writes; the unified count includes them.

use serde_json::{Value, json};

use super::wire::{Block, JSON_TOOL, REDACTED, WireMessage, WireUsage};
use crate::error::AiError;
use crate::types::*;

/// A stop reason as a finish reason. `pause_turn` (a server tool's long
/// turn, which Pylon never asks for) ends the answer like `end_turn`.
pub fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// A finish reason as a stop reason (`stop_sequence` when one matched).
pub fn stop_reason(reason: Option<FinishReason>, stop_sequence: Option<&str>) -> &'static str {
    match reason {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
        _ if stop_sequence.is_some() => "stop_sequence",
        _ => "end_turn",
    }
}

impl WireUsage {
    /// Unified usage: input counts cache reads and writes too.
    pub fn unified(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let created = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: self.input_tokens.unwrap_or(0) + read + created,
            output_tokens: self.output_tokens,
            cached_input_tokens: read,
            cache_creation_tokens: created,
            reasoning_tokens: self.output_tokens_details.map_or(0, |d| d.thinking_tokens),
        }
    }

    /// Anthropic's usage from unified usage.
    pub fn of(u: &Usage) -> WireUsage {
        WireUsage {
            input_tokens: Some(
                u.input_tokens
                    .saturating_sub(u.cached_input_tokens + u.cache_creation_tokens),
            ),
            output_tokens: u.output_tokens,
            cache_creation_input_tokens: Some(u.cache_creation_tokens),
            cache_read_input_tokens: Some(u.cached_input_tokens),
            output_tokens_details: None,
        }
    }
}

/// Decode a Messages answer. The forced JSON tool's input becomes the text.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, AiError> {
    let w: WireMessage = serde_json::from_slice(body).map_err(|e| {
        AiError::bad_response(format!("the provider's answer is not a message: {e}"))
    })?;
    let mut m = AssistantMessage::default();
    let mut json_answer = false;
    for b in w.content {
        match b {
            Block::Text { text } => m.content.get_or_insert_with(String::new).push_str(&text),
            Block::Thinking {
                thinking,
                signature,
            } => {
                m.reasoning
                    .get_or_insert_with(String::new)
                    .push_str(&thinking);
                m.reasoning_signature = Some(signature).filter(|s| !s.is_empty());
            }
            Block::RedactedThinking { data } => {
                m.reasoning.get_or_insert_with(String::new);
                m.reasoning_signature = Some(format!("{REDACTED}{data}"));
            }
            Block::ToolUse { name, input, .. } if name == JSON_TOOL => {
                json_answer = true;
                m.content
                    .get_or_insert_with(String::new)
                    .push_str(&input.to_string());
            }
            Block::ToolUse { id, name, input } => m.tool_calls.push(ToolCall {
                id,
                name,
                arguments: input.to_string(),
            }),
            _ => {}
        }
    }
    let mut finish = w.stop_reason.as_deref().map(finish_reason);
    if json_answer && m.tool_calls.is_empty() && finish == Some(FinishReason::ToolCalls) {
        finish = Some(FinishReason::Stop);
    }
    Ok(ChatResponse {
        id: w.id,
        model: w.model,
        created: unix_now(),
        choices: vec![Choice {
            index: 0,
            message: m,
            finish_reason: finish,
            stop_sequence: w.stop_sequence,
            logprobs: None,
        }],
        usage: Some(w.usage.unified()),
        system_fingerprint: None,
    })
}

/// Tool-call arguments as a tool_use `input` (kept as text if not JSON).
pub fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_string()))
}

/// The thinking block for unified reasoning and its signature.
pub fn thinking_block(text: &str, signature: Option<&str>) -> Block {
    match signature.and_then(|s| s.strip_prefix(REDACTED)) {
        Some(data) => Block::RedactedThinking { data: data.into() },
        None => Block::Thinking {
            thinking: text.to_string(),
            signature: signature.unwrap_or_default().to_string(),
        },
    }
}

/// A Messages id for an answer: the provider's, or a new one.
pub fn message_id(id: &str) -> String {
    if id.is_empty() {
        format!("msg_{}", uuid::Uuid::new_v4().simple())
    } else {
        id.to_string()
    }
}

/// Encode a unified answer (its first choice) as a Messages answer; `model`
/// is the name the caller asked for; `usage` the counts to report.
pub fn encode_response(resp: &ChatResponse, model: &str, usage: &Usage) -> Value {
    let mut content = Vec::new();
    let (mut finish, mut stop_seq) = (None, None);
    if let Some(c) = resp.choices.first() {
        let m = &c.message;
        if let Some(r) = &m.reasoning {
            content.push(thinking_block(r, m.reasoning_signature.as_deref()));
        }
        match (&m.content, &m.refusal) {
            (Some(t), _) if !t.is_empty() => content.push(Block::Text { text: t.clone() }),
            (_, Some(r)) if !r.is_empty() => content.push(Block::Text { text: r.clone() }),
            _ => {}
        }
        for t in &m.tool_calls {
            content.push(Block::ToolUse {
                id: t.id.clone(),
                name: t.name.clone(),
                input: tool_input(&t.arguments),
            });
        }
        finish = c.finish_reason;
        stop_seq = c.stop_sequence.clone();
    }
    json!({
        "id": message_id(&resp.id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(finish, stop_seq.as_deref()),
        "stop_sequence": stop_seq,
        "usage": WireUsage::of(usage),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_blocks_usage_with_cache_and_stop_reasons() {
        let body = json!({
            "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
            "content": [
                {"type": "thinking", "thinking": "Let me see.", "signature": "EqQBsig"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 30, "cache_read_input_tokens": 100,
                      "cache_creation_input_tokens": 50, "output_tokens_details": {"thinking_tokens": 12}}
        });
        let r = decode_response(body.to_string().as_bytes()).unwrap();
        let c = &r.choices[0];
        assert_eq!(c.message.content.as_deref(), Some("Checking."));
        assert_eq!(c.message.reasoning.as_deref(), Some("Let me see."));
        assert_eq!(c.message.reasoning_signature.as_deref(), Some("EqQBsig"));
        assert_eq!(c.message.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        let u = r.usage.unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cached_input_tokens,
                u.cache_creation_tokens,
                u.output_tokens,
                u.reasoning_tokens
            ),
            (160, 100, 50, 30, 12)
        );
        // And back, as the inbound Messages API answers.
        let out = encode_response(&r, "claude", &u);
        assert_eq!(out["model"], "claude");
        assert_eq!(out["content"][0]["signature"], "EqQBsig");
        assert_eq!(out["content"][2]["input"]["city"], "Paris");
        assert_eq!(out["stop_reason"], "tool_use");
        assert_eq!(out["usage"]["input_tokens"], 10);
        assert_eq!(out["usage"]["cache_read_input_tokens"], 100);
        assert_eq!(out["usage"]["cache_creation_input_tokens"], 50);
        let again = decode_response(out.to_string().as_bytes()).unwrap();
        assert_eq!(again.choices[0].message, r.choices[0].message);
    }

    #[test]
    fn stop_reasons_map_both_ways() {
        for (s, f) in [
            ("end_turn", FinishReason::Stop),
            ("stop_sequence", FinishReason::Stop),
            ("pause_turn", FinishReason::Stop),
            ("max_tokens", FinishReason::Length),
            ("model_context_window_exceeded", FinishReason::Length),
            ("tool_use", FinishReason::ToolCalls),
            ("refusal", FinishReason::ContentFilter),
        ] {
            assert_eq!(finish_reason(s), f, "{s}");
        }
        assert_eq!(
            stop_reason(Some(FinishReason::Stop), Some("END")),
            "stop_sequence"
        );
        assert_eq!(stop_reason(Some(FinishReason::Stop), None), "end_turn");
        assert_eq!(stop_reason(None, None), "end_turn");
        assert_eq!(stop_reason(Some(FinishReason::Length), None), "max_tokens");
        assert_eq!(
            stop_reason(Some(FinishReason::ContentFilter), None),
            "refusal"
        );
        let body = json!({"id": "m", "model": "x", "content": [{"type": "text", "text": "a"}],
            "stop_reason": "stop_sequence", "stop_sequence": "END", "usage": {"input_tokens": 1, "output_tokens": 1}});
        let r = decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(r.choices[0].stop_sequence.as_deref(), Some("END"));
        assert_eq!(
            encode_response(&r, "x", &r.usage.unwrap())["stop_reason"],
            "stop_sequence"
        );
    }

    #[test]
    fn the_forced_json_tool_is_the_text_and_redacted_thinking_survives() {
        let body = json!({"id": "m", "model": "x", "content": [
            {"type": "redacted_thinking", "data": "ENCRYPTED"},
            {"type": "tool_use", "id": "toolu_9", "name": JSON_TOOL, "input": {"answer": 42}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}});
        let r = decode_response(body.to_string().as_bytes()).unwrap();
        let c = &r.choices[0];
        assert_eq!(c.message.content.as_deref(), Some(r#"{"answer":42}"#));
        assert!(c.message.tool_calls.is_empty());
        assert_eq!(c.finish_reason, Some(FinishReason::Stop));
        let out = encode_response(&r, "x", &Usage::default());
        assert_eq!(
            out["content"][0],
            json!({"type": "redacted_thinking", "data": "ENCRYPTED"})
        );
        assert_eq!(out["content"][1]["text"], r#"{"answer":42}"#);
        let e = decode_response(b"<html>").unwrap_err();
        assert_eq!(e.class, crate::error::ErrorClass::BadResponse);
    }
}
