//! ConverseStream answers → unified events: event-stream messages
//! ([`super::eventstream`]) carrying `messageStart`, `contentBlockStart`
//! (tool id and name), `contentBlockDelta` (text, tool input JSON pieces,
//! reasoning), `contentBlockStop`, `messageStop` (stop reason) and
//! `metadata` (usage); exception messages become errors of their class.

use serde_json::Value;

use super::error::{stream_error, stream_exception};
use super::eventstream::{Decoder, Message};
use super::response::{WireUsage, answer_id, stop_reason};
use crate::error::AiError;
use crate::providers::StreamDecoder;
use crate::types::*;

/// Decodes a ConverseStream body.
pub struct ConverseStreamDecoder {
    frames: Decoder,
    messages: Vec<Message>,
    model: String,
    started: bool,
    stopped: bool,
    /// `contentBlockIndex` of each tool call, in order (the position is the tool index).
    tool_blocks: Vec<u64>,
}

fn bad(what: impl std::fmt::Display) -> AiError {
    AiError::bad_response(format!(
        "the provider sent a malformed ConverseStream event: {what}"
    ))
}

impl ConverseStreamDecoder {
    pub fn new(model: &str) -> Self {
        Self {
            frames: Decoder::new(),
            messages: Vec::new(),
            model: model.to_string(),
            started: false,
            stopped: false,
            tool_blocks: Vec::new(),
        }
    }

    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: answer_id(),
                model: self.model.clone(),
                created: unix_now(),
            });
        }
    }

    fn tool_index(&self, block: u64) -> Option<u32> {
        self.tool_blocks
            .iter()
            .position(|b| *b == block)
            .map(|i| i as u32)
    }

    fn message(&mut self, m: &Message, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        match m.header_str(":message-type").unwrap_or("event") {
            "event" => {}
            "exception" => {
                let name = m
                    .header_str(":exception-type")
                    .unwrap_or("unknownException");
                return Err(stream_exception(name, &m.payload));
            }
            "error" => {
                return Err(stream_error(
                    m.header_str(":error-code").unwrap_or("UnknownError"),
                    m.header_str(":error-message")
                        .unwrap_or("the provider's stream failed"),
                ));
            }
            other => return Err(bad(format!("unknown message type `{other}`"))),
        }
        let kind = m
            .header_str(":event-type")
            .ok_or_else(|| bad("an event has no :event-type"))?
            .to_string();
        let v: Value =
            serde_json::from_slice(&m.payload).map_err(|e| bad(format!("{kind}: {e}")))?;
        self.start(out);
        let block = v
            .get("contentBlockIndex")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match kind.as_str() {
            "messageStart" | "contentBlockStop" => {}
            "contentBlockStart" => {
                if let Some(t) = v.pointer("/start/toolUse") {
                    let index = self.tool_blocks.len() as u32;
                    self.tool_blocks.push(block);
                    let s = |k: &str| t.get(k).and_then(Value::as_str).map(str::to_string);
                    out.push(StreamEvent::ToolCall {
                        choice: 0,
                        index,
                        id: s("toolUseId"),
                        name: s("name"),
                        arguments: String::new(),
                    });
                }
            }
            "contentBlockDelta" => {
                let d = v
                    .get("delta")
                    .ok_or_else(|| bad("contentBlockDelta without delta"))?;
                if let Some(t) = d.get("text").and_then(Value::as_str) {
                    if !t.is_empty() {
                        out.push(StreamEvent::Text {
                            choice: 0,
                            text: t.to_string(),
                        });
                    }
                } else if let Some(u) = d.get("toolUse") {
                    let index = self.tool_index(block).ok_or_else(|| {
                        bad(format!("tool input for block {block}, which never started"))
                    })?;
                    out.push(StreamEvent::ToolCall {
                        choice: 0,
                        index,
                        id: None,
                        name: None,
                        arguments: u
                            .get("input")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    });
                } else if let Some(r) = d.get("reasoningContent") {
                    let text = r.get("text").and_then(Value::as_str).unwrap_or("");
                    let signature = r.get("signature").and_then(Value::as_str);
                    if !text.is_empty() || signature.is_some() {
                        out.push(StreamEvent::Reasoning {
                            choice: 0,
                            text: text.to_string(),
                            signature: signature.map(str::to_string),
                        });
                    }
                }
            }
            "messageStop" => {
                let reason = v
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("messageStop without stopReason"))?;
                self.stopped = true;
                out.push(StreamEvent::Finish {
                    choice: 0,
                    reason: stop_reason(reason),
                    stop_sequence: v
                        .pointer("/additionalModelResponseFields/stop_sequence")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                });
            }
            "metadata" => {
                if let Some(u) = v.get("usage") {
                    let u: WireUsage = serde_json::from_value(u.clone())
                        .map_err(|e| bad(format!("usage: {e}")))?;
                    out.push(StreamEvent::Usage(u.unified()));
                }
            }
            // Event kinds added later (citations, ...) are skipped.
            _ => {}
        }
        Ok(())
    }
}

impl StreamDecoder for ConverseStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        let mut messages = std::mem::take(&mut self.messages);
        let decoded = self.frames.feed(bytes, &mut messages);
        let mut result = Ok(());
        for m in messages.drain(..) {
            result = self.message(&m, out);
            if result.is_err() {
                break;
            }
        }
        self.messages = messages;
        decoded.and(result)
    }

    fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        AiError::check_stream_end(self.stopped && self.frames.pending() == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::eventstream::tests::frame;
    use super::*;
    use crate::error::ErrorClass;
    use serde_json::json;

    fn event(kind: &str, payload: Value) -> Vec<u8> {
        frame(
            &[
                (":event-type", kind),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            payload.to_string().as_bytes(),
        )
        .to_vec()
    }

    /// A realistic answer: text, then two tool calls with split input, stop, usage.
    fn recorded() -> Vec<u8> {
        let evs = [
            event("messageStart", json!({"role": "assistant", "p": "abc"})),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}}),
            ),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
            ),
            event("contentBlockStop", json!({"contentBlockIndex": 0})),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"text": "Let me "}}),
            ),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 1, "delta": {"text": "check ✓"}}),
            ),
            event("contentBlockStop", json!({"contentBlockIndex": 1})),
            event(
                "contentBlockStart",
                json!({"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_a", "name": "get_weather"}}}),
            ),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{\"city\":"}}}),
            ),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 2, "delta": {"toolUse": {"input": "\"Paris\"}"}}}),
            ),
            event("contentBlockStop", json!({"contentBlockIndex": 2})),
            event(
                "contentBlockStart",
                json!({"contentBlockIndex": 3, "start": {"toolUse": {"toolUseId": "tooluse_b", "name": "get_time"}}}),
            ),
            event(
                "contentBlockDelta",
                json!({"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{}"}}}),
            ),
            event("contentBlockStop", json!({"contentBlockIndex": 3})),
            event("messageStop", json!({"stopReason": "tool_use"})),
            event(
                "metadata",
                json!({"usage": {"inputTokens": 5, "outputTokens": 7, "totalTokens": 15, "cacheReadInputTokens": 3}, "metrics": {"latencyMs": 9}}),
            ),
        ];
        evs.concat()
    }

    #[test]
    fn split_at_every_byte_the_answer_is_the_same() {
        let bytes = recorded();
        let mut reference = None;
        for cut in 0..=bytes.len() {
            let mut d = ConverseStreamDecoder::new("anthropic.claude");
            let mut out = Vec::new();
            d.feed(&bytes[..cut], &mut out).unwrap();
            d.feed(&bytes[cut..], &mut out).unwrap();
            d.finish(&mut out).unwrap();
            let mut acc = StreamAccumulator::default();
            out.iter().for_each(|e| acc.push(e));
            let mut r = acc.finish();
            assert!(
                matches!(&out[0], StreamEvent::Start { model, .. } if model == "anthropic.claude")
            );
            r.id.clear();
            r.created = 0;
            match &reference {
                None => reference = Some(r),
                Some(want) => assert_eq!(&r, want, "cut at {cut}"),
            }
        }
        let r = reference.unwrap();
        let m = &r.choices[0].message;
        assert_eq!(m.content.as_deref(), Some("Let me check ✓"));
        assert_eq!(m.reasoning.as_deref(), Some("hm"));
        assert_eq!(m.reasoning_signature.as_deref(), Some("sig"));
        assert_eq!(m.tool_calls.len(), 2);
        assert_eq!(
            (m.tool_calls[0].id.as_str(), m.tool_calls[0].name.as_str()),
            ("tooluse_a", "get_weather")
        );
        assert_eq!(m.tool_calls[0].arguments, r#"{"city":"Paris"}"#);
        assert_eq!(m.tool_calls[1].arguments, "{}");
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        let u = r.usage.unwrap();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cached_input_tokens),
            (8, 7, 3)
        );
    }

    #[test]
    fn tool_indices_count_tool_calls_not_blocks() {
        let mut d = ConverseStreamDecoder::new("m");
        let mut out = Vec::new();
        d.feed(&recorded(), &mut out).unwrap();
        let idx: Vec<(u32, bool)> = out
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCall { index, id, .. } => Some((*index, id.is_some())),
                _ => None,
            })
            .collect();
        assert_eq!(
            idx,
            vec![(0, true), (0, false), (0, false), (1, true), (1, false)]
        );
    }

    #[test]
    fn cuts_exceptions_and_garbage_are_errors() {
        let bytes = recorded();
        // Cut before messageStop, or in the middle of a frame.
        for cut in [bytes.len() / 2, bytes.len() - 200] {
            let mut d = ConverseStreamDecoder::new("m");
            let mut out = Vec::new();
            d.feed(&bytes[..cut], &mut out).unwrap();
            assert!(d.finish(&mut out).is_err(), "cut at {cut}");
        }
        let exc = frame(
            &[
                (":exception-type", "throttlingException"),
                (":content-type", "application/json"),
                (":message-type", "exception"),
            ],
            br#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        let mut d = ConverseStreamDecoder::new("m");
        let mut out = Vec::new();
        let mut stream = event("messageStart", json!({"role": "assistant"}));
        stream.extend(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        ));
        stream.extend(exc);
        let e = d.feed(&stream, &mut out).unwrap_err();
        assert_eq!(e.class, ErrorClass::RateLimited);
        assert!(e.message.contains("Too many requests"));
        assert!(
            out.iter()
                .any(|e| matches!(e, StreamEvent::Text { text, .. } if text == "Hi")),
            "events before the failure are kept"
        );
        let err = frame(
            &[
                (":message-type", "error"),
                (":error-code", "InternalFailure"),
                (":error-message", "oops"),
            ],
            b"",
        );
        assert_eq!(
            ConverseStreamDecoder::new("m")
                .feed(&err, &mut Vec::new())
                .unwrap_err()
                .message,
            "oops"
        );
        let not_json = frame(
            &[
                (":event-type", "contentBlockDelta"),
                (":message-type", "event"),
            ],
            b"{nope",
        );
        assert_eq!(
            ConverseStreamDecoder::new("m")
                .feed(&not_json, &mut Vec::new())
                .unwrap_err()
                .class,
            ErrorClass::BadResponse
        );
        let orphan = event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 4, "delta": {"toolUse": {"input": "{}"}}}),
        );
        assert!(
            ConverseStreamDecoder::new("m")
                .feed(&orphan, &mut Vec::new())
                .is_err()
        );
        let mut crc = event("messageStart", json!({}));
        let n = crc.len();
        crc[n - 1] ^= 1;
        assert!(
            ConverseStreamDecoder::new("m")
                .feed(&crc, &mut Vec::new())
                .is_err()
        );
    }
}
