//! Gemini `GenerateContentResponse` → unified events and answers. One
//! decoder serves both shapes: a whole answer is one response, a stream is
//! a sequence of them (each SSE event a full response chunk). Text parts
//! become text (`thought` parts reasoning), `functionCall` parts whole tool
//! calls with generated ids, `usageMetadata` unified usage (Gemini's
//! `candidatesTokenCount` leaves thoughts out: output = candidates +
//! thoughts), finish reasons mapped, a blocked prompt a content-filter error.

use serde::Deserialize;
use serde_json::Value;

use super::ids;
use crate::error::{AiError, ErrorClass};
use crate::types::*;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    #[serde(default)]
    candidates: Vec<WireCandidate>,
    prompt_feedback: Option<WireFeedback>,
    usage_metadata: Option<WireUsage>,
    #[serde(default)]
    model_version: String,
    #[serde(default)]
    response_id: String,
    error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate {
    content: Option<WireContent>,
    finish_reason: Option<String>,
    index: Option<u32>,
}

#[derive(Deserialize)]
struct WireContent {
    #[serde(default)]
    parts: Vec<WirePart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePart {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    thought_signature: Option<String>,
    function_call: Option<WireCall>,
}

#[derive(Deserialize)]
struct WireCall {
    #[serde(default)]
    name: String,
    args: Option<Value>,
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFeedback {
    block_reason: Option<String>,
    block_reason_message: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct WireUsage {
    prompt_token_count: u64,
    candidates_token_count: u64,
    cached_content_token_count: u64,
    thoughts_token_count: u64,
    tool_use_prompt_token_count: u64,
}

impl WireUsage {
    pub(super) fn unified(&self) -> Usage {
        Usage {
            input_tokens: self.prompt_token_count + self.tool_use_prompt_token_count,
            output_tokens: self.candidates_token_count + self.thoughts_token_count,
            cached_input_tokens: self.cached_content_token_count,
            cache_creation_tokens: 0,
            reasoning_tokens: self.thoughts_token_count,
        }
    }
}

/// A Gemini finish reason; `calls` says whether the candidate called tools.
pub fn finish_reason(reason: &str, calls: bool) -> FinishReason {
    match reason {
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        _ if calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }
}

/// Turns response chunks into unified events, keeping what spans chunks.
#[derive(Default)]
pub struct Chunks {
    started: bool,
    /// Per candidate: tool calls seen so far.
    calls: Vec<u32>,
    /// Some candidate finished.
    pub finished: bool,
}

impl Chunks {
    /// Decode one response (a whole answer or a stream chunk).
    pub fn push(&mut self, data: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        let r: WireResponse = serde_json::from_slice(data).map_err(|e| {
            AiError::bad_response(format!(
                "the provider sent a malformed Gemini response: {e}"
            ))
        })?;
        if let Some(err) = r.error {
            let status = err
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| http::StatusCode::from_u16(c as u16).ok())
                .unwrap_or(http::StatusCode::BAD_GATEWAY);
            let body = serde_json::json!({ "error": err }).to_string();
            return Err(super::decode_error(
                status,
                &http::HeaderMap::new(),
                body.as_bytes(),
            ));
        }
        if r.candidates.is_empty()
            && let Some(reason) = r
                .prompt_feedback
                .as_ref()
                .and_then(|f| f.block_reason.clone())
        {
            let detail = r
                .prompt_feedback
                .and_then(|f| f.block_reason_message)
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            return Err(AiError::new(
                ErrorClass::ContentFilter,
                format!("Gemini blocked the prompt ({reason}){detail}"),
            )
            .with_code("content_filter"));
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: r.response_id.clone(),
                model: r.model_version.clone(),
                created: unix_now(),
            });
        }
        for (pos, c) in r.candidates.into_iter().enumerate() {
            let choice = c.index.unwrap_or(pos as u32);
            while self.calls.len() <= choice as usize {
                self.calls.push(0);
            }
            for p in c.content.map(|c| c.parts).unwrap_or_default() {
                if let Some(f) = p.function_call {
                    let index = self.calls[choice as usize];
                    self.calls[choice as usize] += 1;
                    let mut id =
                        f.id.filter(|i| !i.is_empty())
                            .unwrap_or_else(|| ids::call_id(&r.response_id, choice, index));
                    if let Some(sig) = &p.thought_signature {
                        id = ids::with_signature(&id, sig);
                    }
                    let arguments = match f.args {
                        None | Some(Value::Null) => "{}".to_string(),
                        Some(a) => a.to_string(),
                    };
                    out.push(StreamEvent::ToolCall {
                        choice,
                        index,
                        id: Some(id),
                        name: Some(f.name),
                        arguments,
                    });
                } else if let Some(text) = p.text {
                    if p.thought {
                        out.push(StreamEvent::Reasoning {
                            choice,
                            text,
                            signature: p.thought_signature,
                        });
                    } else if !text.is_empty() {
                        out.push(StreamEvent::Text { choice, text });
                    }
                }
            }
            if let Some(reason) = c.finish_reason.filter(|r| r != "FINISH_REASON_UNSPECIFIED") {
                self.finished = true;
                out.push(StreamEvent::Finish {
                    choice,
                    reason: finish_reason(&reason, self.calls[choice as usize] > 0),
                    stop_sequence: None,
                });
            }
        }
        if let Some(u) = r.usage_metadata {
            out.push(StreamEvent::Usage(u.unified()));
        }
        Ok(())
    }
}

/// Decode a whole `generateContent` answer.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, AiError> {
    let mut events = Vec::new();
    Chunks::default().push(body, &mut events)?;
    let mut acc = StreamAccumulator::default();
    events.iter().for_each(|e| acc.push(e));
    Ok(acc.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_text_thoughts_calls_and_usage() {
        let body = json!({
            "candidates": [{
                "content": {"role": "model", "parts": [
                    {"text": "thinking...", "thought": true, "thoughtSignature": "c2ln"},
                    {"text": "Let me check."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "QUJD"},
                    {"functionCall": {"name": "get_time", "args": {}}}
                ]},
                "finishReason": "STOP", "index": 0, "safetyRatings": []
            }],
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20, "totalTokenCount": 150,
                "cachedContentTokenCount": 64, "thoughtsTokenCount": 30},
            "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"
        });
        let r = decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(r.id, "resp-1");
        assert_eq!(r.model, "gemini-2.5-flash");
        let c = &r.choices[0];
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(c.message.content.as_deref(), Some("Let me check."));
        assert_eq!(c.message.reasoning.as_deref(), Some("thinking..."));
        assert_eq!(c.message.reasoning_signature.as_deref(), Some("c2ln"));
        let calls = &c.message.tool_calls;
        assert_eq!(calls[0].name, "get_weather");
        assert_eq!(calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(ids::signature_of(&calls[0].id).as_deref(), Some("QUJD"));
        assert_eq!(calls[1].arguments, "{}");
        assert_ne!(calls[0].id, calls[1].id);
        // Stable: the same answer gives the same ids.
        let again = decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(again.choices[0].message.tool_calls, *calls);
        let u = r.usage.unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cached_input_tokens,
                u.reasoning_tokens
            ),
            (100, 50, 64, 30)
        );
    }

    #[test]
    fn finish_reasons_blocks_and_errors() {
        for (wire, want) in [
            ("STOP", FinishReason::Stop),
            ("MAX_TOKENS", FinishReason::Length),
            ("SAFETY", FinishReason::ContentFilter),
            ("RECITATION", FinishReason::ContentFilter),
            ("BLOCKLIST", FinishReason::ContentFilter),
            ("PROHIBITED_CONTENT", FinishReason::ContentFilter),
            ("OTHER", FinishReason::Stop),
        ] {
            let body = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": wire}]});
            let r = decode_response(body.to_string().as_bytes()).unwrap();
            assert_eq!(r.choices[0].finish_reason, Some(want), "{wire}");
        }
        let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}});
        let e = decode_response(blocked.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.class, ErrorClass::ContentFilter);
        assert!(e.message.contains("SAFETY"));
        assert_eq!(
            decode_response(b"<html>").unwrap_err().class,
            ErrorClass::BadResponse
        );
        let two = json!({"candidates": [
            {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"},
            {"content": {"parts": [{"text": "b"}]}, "finishReason": "MAX_TOKENS", "index": 1}
        ]});
        let r = decode_response(two.to_string().as_bytes()).unwrap();
        assert_eq!(r.choices[1].message.content.as_deref(), Some("b"));
        assert_eq!(r.choices[1].finish_reason, Some(FinishReason::Length));
    }
}
