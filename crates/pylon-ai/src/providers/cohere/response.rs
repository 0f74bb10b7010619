//! Cohere v2 chat answers → unified: the whole `/chat` answer, and the
//! stream (`message-start`, `content-start`/`-delta`/`-end`,
//! `tool-plan-delta`, `tool-call-start`/`-delta`/`-end`, `message-end` with
//! the finish reason and usage). `tool_plan` text is answer text (it is
//! what the model says before calling tools); `thinking` content is
//! reasoning. Usage counts `billed_units` (what Cohere charges), else `tokens`.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{AiError, ErrorClass};
use crate::providers::StreamDecoder;
use crate::sse::{SseDecoder, SseEvent};
use crate::types::*;

#[derive(Deserialize, Default)]
struct Counts {
    input_tokens: Option<f64>,
    output_tokens: Option<f64>,
}

#[derive(Deserialize, Default)]
pub(super) struct WireUsage {
    billed_units: Option<Counts>,
    tokens: Option<Counts>,
    cached_tokens: Option<f64>,
}

impl WireUsage {
    pub(super) fn unified(&self) -> Usage {
        let pick = |f: fn(&Counts) -> Option<f64>| {
            self.billed_units
                .as_ref()
                .and_then(f)
                .or_else(|| self.tokens.as_ref().and_then(f))
                .unwrap_or(0.0) as u64
        };
        Usage {
            input_tokens: pick(|c| c.input_tokens),
            output_tokens: pick(|c| c.output_tokens),
            cached_input_tokens: self.cached_tokens.unwrap_or(0.0) as u64,
            ..Default::default()
        }
    }
}

/// A Cohere finish reason; `ERROR` and `TIMEOUT` are failures.
fn finish_reason(r: &str, calls: bool) -> Result<FinishReason, AiError> {
    Ok(match r {
        "MAX_TOKENS" | "ERROR_LIMIT" => FinishReason::Length,
        "TOOL_CALL" => FinishReason::ToolCalls,
        "ERROR_TOXIC" => FinishReason::ContentFilter,
        "ERROR" => {
            return Err(AiError::new(
                ErrorClass::Server,
                "Cohere stopped the answer with an error",
            ));
        }
        "TIMEOUT" => {
            return Err(AiError::new(
                ErrorClass::Timeout,
                "Cohere timed out generating the answer",
            ));
        }
        _ if calls => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    })
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: String,
    finish_reason: Option<String>,
    message: Option<WireMessage>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Vec<Value>,
    tool_plan: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireCall>,
}

#[derive(Deserialize)]
struct WireCall {
    #[serde(default)]
    id: String,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: Option<String>,
}

/// Decode a whole `/chat` answer.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, AiError> {
    let w: WireResponse = serde_json::from_slice(body).map_err(|e| {
        AiError::bad_response(format!(
            "the provider's answer is not a Cohere chat response: {e}"
        ))
    })?;
    let m = w.message.unwrap_or(WireMessage {
        content: Vec::new(),
        tool_plan: None,
        tool_calls: Vec::new(),
    });
    let mut text = m.tool_plan.unwrap_or_default();
    let mut reasoning = String::new();
    for c in &m.content {
        match c["type"].as_str() {
            Some("text") => text.push_str(c["text"].as_str().unwrap_or("")),
            Some("thinking") => reasoning.push_str(c["thinking"].as_str().unwrap_or("")),
            _ => {}
        }
    }
    let tool_calls: Vec<ToolCall> = m
        .tool_calls
        .into_iter()
        .map(|c| ToolCall {
            id: c.id,
            name: c.function.name,
            arguments: c.function.arguments.unwrap_or_default(),
        })
        .collect();
    let finish = w
        .finish_reason
        .as_deref()
        .map(|r| finish_reason(r, !tool_calls.is_empty()))
        .transpose()?;
    Ok(ChatResponse {
        id: w.id,
        model: String::new(),
        created: unix_now(),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                content: (!text.is_empty()).then_some(text),
                reasoning: (!reasoning.is_empty()).then_some(reasoning),
                tool_calls,
                ..Default::default()
            },
            finish_reason: finish,
            stop_sequence: None,
            logprobs: None,
        }],
        usage: w.usage.map(|u| u.unified()),
        system_fingerprint: None,
    })
}

/// Decodes Cohere's v2 chat stream.
#[derive(Default)]
pub struct CohereDecoder {
    sse: SseDecoder,
    events: Vec<SseEvent>,
    ended: bool,
    /// Cohere's tool-call index → ours (0-based count of calls).
    calls: Vec<(u64, u32)>,
}

impl CohereDecoder {
    pub fn new() -> Self {
        Self {
            sse: SseDecoder::new(),
            ..Default::default()
        }
    }

    fn event(&mut self, v: &Value, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        let msg = &v["delta"]["message"];
        match v["type"].as_str().unwrap_or("") {
            "message-start" => out.push(StreamEvent::Start {
                id: v["id"].as_str().unwrap_or("").to_string(),
                model: String::new(),
                created: unix_now(),
            }),
            "content-start" | "content-delta" => {
                let c = &msg["content"];
                if let Some(t) = c["text"].as_str().filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Text {
                        choice: 0,
                        text: t.to_string(),
                    });
                }
                if let Some(t) = c["thinking"].as_str().filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Reasoning {
                        choice: 0,
                        text: t.to_string(),
                        signature: None,
                    });
                }
            }
            "tool-plan-delta" => {
                if let Some(t) = msg["tool_plan"].as_str().filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Text {
                        choice: 0,
                        text: t.to_string(),
                    });
                }
            }
            "tool-call-start" => {
                let tc = &msg["tool_calls"];
                let index = self.calls.len() as u32;
                self.calls
                    .push((v["index"].as_u64().unwrap_or(u64::from(index)), index));
                out.push(StreamEvent::ToolCall {
                    choice: 0,
                    index,
                    id: Some(tc["id"].as_str().unwrap_or("").to_string()),
                    name: Some(tc["function"]["name"].as_str().unwrap_or("").to_string()),
                    arguments: tc["function"]["arguments"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                });
            }
            "tool-call-delta" => {
                let theirs = v["index"].as_u64();
                let index = self
                    .calls
                    .iter()
                    .find(|(t, _)| Some(*t) == theirs)
                    .or(self.calls.last())
                    .map(|(_, i)| *i)
                    .ok_or_else(|| {
                        AiError::bad_response(
                            "Cohere sent a tool-call-delta before any tool-call-start",
                        )
                    })?;
                let args = msg["tool_calls"]["function"]["arguments"]
                    .as_str()
                    .unwrap_or("");
                if !args.is_empty() {
                    out.push(StreamEvent::ToolCall {
                        choice: 0,
                        index,
                        id: None,
                        name: None,
                        arguments: args.to_string(),
                    });
                }
            }
            "message-end" => {
                self.ended = true;
                let d = &v["delta"];
                let reason = d["finish_reason"].as_str().unwrap_or("COMPLETE");
                out.push(StreamEvent::Finish {
                    choice: 0,
                    reason: finish_reason(reason, !self.calls.is_empty())?,
                    stop_sequence: None,
                });
                if let Ok(u) = serde_json::from_value::<WireUsage>(d["usage"].clone()) {
                    out.push(StreamEvent::Usage(u.unified()));
                }
            }
            // content-end, tool-call-end, citation-*, debug: nothing to carry.
            _ => {}
        }
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        for ev in std::mem::take(&mut self.events) {
            let data = ev.data.trim();
            if data.is_empty() || data == "[DONE]" || self.ended {
                continue;
            }
            let v: Value = serde_json::from_str(data).map_err(|e| {
                AiError::bad_response(format!("the provider sent a malformed stream event: {e}"))
            })?;
            self.event(&v, out)?;
        }
        Ok(())
    }
}

impl StreamDecoder for CohereDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.sse
            .feed(bytes, &mut self.events)
            .map_err(|e| AiError::bad_response(e.to_string()))?;
        self.drain(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.sse.finish(&mut self.events);
        self.drain(out)?;
        AiError::check_stream_end(self.ended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode_all(input: &str, piece: usize) -> Result<Vec<StreamEvent>, AiError> {
        crate::providers::testing::decode_in_pieces(Box::new(CohereDecoder::new()), input, piece)
    }

    const STREAM: &str = concat!(
        "event: message-start\ndata: {\"id\":\"c-1\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\",\"content\":[],\"tool_plan\":\"\",\"tool_calls\":[],\"citations\":[]}}}\n\n",
        "event: tool-plan-delta\ndata: {\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\"I will check ✓\"}}}\n\n",
        "event: tool-call-start\ndata: {\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"get_1\",\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"\"}}}}}\n\n",
        "event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\"{\\\"a\\\"\"}}}}}\n\n",
        "event: tool-call-delta\ndata: {\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":{\"function\":{\"arguments\":\": 1}\"}}}}}\n\n",
        "event: tool-call-end\ndata: {\"type\":\"tool-call-end\",\"index\":0}\n\n",
        "event: tool-call-start\ndata: {\"type\":\"tool-call-start\",\"index\":1,\"delta\":{\"message\":{\"tool_calls\":{\"id\":\"put_2\",\"type\":\"function\",\"function\":{\"name\":\"put\",\"arguments\":\"{}\"}}}}}\n\n",
        "event: tool-call-end\ndata: {\"type\":\"tool-call-end\",\"index\":1}\n\n",
        "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"TOOL_CALL\",\"usage\":{\"billed_units\":{\"input_tokens\":30,\"output_tokens\":12},\"tokens\":{\"input_tokens\":900,\"output_tokens\":40}}}}\n\n",
    );

    #[test]
    fn stream_split_anywhere() {
        let strip = crate::providers::testing::timeless;
        let whole = strip(decode_all(STREAM, STREAM.len()).unwrap());
        for piece in [1, 2, 3, 7, 16, 41] {
            assert_eq!(
                strip(decode_all(STREAM, piece).unwrap()),
                whole,
                "piece {piece}"
            );
        }
        let mut acc = StreamAccumulator::default();
        whole.iter().for_each(|e| acc.push(e));
        let r = acc.finish();
        assert_eq!(r.id, "c-1");
        let m = &r.choices[0].message;
        assert_eq!(m.content.as_deref(), Some("I will check ✓"));
        assert_eq!(
            (
                m.tool_calls[0].id.as_str(),
                m.tool_calls[0].arguments.as_str()
            ),
            ("get_1", "{\"a\": 1}")
        );
        assert_eq!(
            (
                m.tool_calls[1].name.as_str(),
                m.tool_calls[1].arguments.as_str()
            ),
            ("put", "{}")
        );
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        let u = r.usage.unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (30, 12));
    }

    #[test]
    fn cuts_errors_and_whole_answers() {
        let cut = &STREAM[..STREAM.find("event: message-end").unwrap()];
        assert!(decode_all(cut, 9).is_err());
        let err = "event: message-end\ndata: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"ERROR\"}}\n\n";
        assert_eq!(decode_all(err, 5).unwrap_err().class, ErrorClass::Server);
        assert_eq!(
            decode_all("data: {x\n\n", 2).unwrap_err().class,
            ErrorClass::BadResponse
        );
        let body = json!({"id": "r", "finish_reason": "MAX_TOKENS", "message": {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Hi"}]},
            "usage": {"tokens": {"input_tokens": 5, "output_tokens": 2}, "cached_tokens": 3}});
        let r = decode_response(body.to_string().as_bytes()).unwrap();
        let c = &r.choices[0];
        assert_eq!(
            (c.message.content.as_deref(), c.message.reasoning.as_deref()),
            (Some("Hi"), Some("hmm"))
        );
        assert_eq!(c.finish_reason, Some(FinishReason::Length));
        let u = r.usage.unwrap();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cached_input_tokens),
            (5, 2, 3)
        );
        let calls = json!({"id": "r", "finish_reason": "TOOL_CALL", "message": {"role": "assistant", "tool_plan": "Checking.",
            "tool_calls": [{"id": "f_1", "type": "function", "function": {"name": "f", "arguments": "{\"q\":1}"}}]}});
        let r = decode_response(calls.to_string().as_bytes()).unwrap();
        assert_eq!(r.choices[0].message.tool_calls[0].arguments, "{\"q\":1}");
        assert_eq!(r.choices[0].message.content.as_deref(), Some("Checking."));
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    }
}
