//! Anthropic Messages streams: the decoder (provider events → unified
//! events) and the encoder (unified events → the exact Anthropic event
//! sequence for callers of `/v1/messages`: `message_start`, `ping`, one
//! content block at a time with `content_block_start`/`_delta`/`_stop`,
//! `message_delta` with the stop reason and usage, `message_stop`).

use std::collections::BTreeMap;

use bytes::BytesMut;
use serde_json::{Value, json};

use super::error::error_of;
use super::response::{message_id, stop_reason, thinking_block};
use super::wire::{Block, JSON_TOOL, REDACTED, WireDelta, WireEvent, WireUsage};
use crate::error::AiError;
use crate::providers::StreamDecoder;
use crate::sse::{SseDecoder, SseEvent, write_event};
use crate::stream::StreamEncoder;
use crate::types::*;

/// What a content block of the provider's stream is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    Thinking,
    /// A tool call: its 0-based tool index, and whether input arrived.
    Tool(u32, bool),
    /// The forced JSON tool: its input is answer text.
    Json(bool),
    Other,
}

/// Decodes an Anthropic SSE stream.
#[derive(Default)]
pub struct EventDecoder {
    sse: SseDecoder,
    events: Vec<SseEvent>,
    blocks: BTreeMap<u32, Kind>,
    tools: u32,
    json_answer: bool,
    done: bool,
}

impl EventDecoder {
    pub fn new() -> Self {
        Self {
            sse: SseDecoder::new(),
            ..Default::default()
        }
    }

    fn event(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        let ev: WireEvent = serde_json::from_str(data).map_err(|e| {
            AiError::bad_response(format!("the provider sent a malformed stream event: {e}"))
        })?;
        match ev {
            WireEvent::MessageStart { message } => {
                out.push(StreamEvent::Start {
                    id: message.id,
                    model: message.model,
                    created: unix_now(),
                });
                out.push(StreamEvent::Usage(message.usage.unified()));
            }
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => {
                let kind = self.start(content_block, out);
                self.blocks.insert(index, kind);
            }
            WireEvent::ContentBlockDelta { index, delta } => {
                let kind = self.blocks.get(&index).copied().unwrap_or(Kind::Other);
                match delta {
                    WireDelta::TextDelta { text } => {
                        out.push(StreamEvent::Text { choice: 0, text })
                    }
                    WireDelta::InputJsonDelta { partial_json } if !partial_json.is_empty() => {
                        match kind {
                            Kind::Tool(i, _) => {
                                self.blocks.insert(index, Kind::Tool(i, true));
                                out.push(tool_piece(i, None, None, partial_json));
                            }
                            Kind::Json(_) => {
                                self.blocks.insert(index, Kind::Json(true));
                                out.push(StreamEvent::Text {
                                    choice: 0,
                                    text: partial_json,
                                });
                            }
                            _ => {}
                        }
                    }
                    WireDelta::ThinkingDelta { thinking } => out.push(StreamEvent::Reasoning {
                        choice: 0,
                        text: thinking,
                        signature: None,
                    }),
                    WireDelta::SignatureDelta { signature } => out.push(StreamEvent::Reasoning {
                        choice: 0,
                        text: String::new(),
                        signature: Some(signature),
                    }),
                    _ => {}
                }
            }
            WireEvent::ContentBlockStop { index } => match self.blocks.get(&index) {
                Some(Kind::Tool(i, false)) => out.push(tool_piece(*i, None, None, "{}".into())),
                Some(Kind::Json(false)) => out.push(StreamEvent::Text {
                    choice: 0,
                    text: "{}".into(),
                }),
                _ => {}
            },
            WireEvent::MessageDelta { delta, usage } => {
                if let Some(r) = delta.stop_reason {
                    let mut reason = super::response::finish_reason(&r);
                    if self.json_answer && self.tools == 0 && reason == FinishReason::ToolCalls {
                        reason = FinishReason::Stop;
                    }
                    out.push(StreamEvent::Finish {
                        choice: 0,
                        reason,
                        stop_sequence: delta.stop_sequence,
                    });
                }
                if let Some(u) = usage {
                    out.push(StreamEvent::Usage(u.unified()));
                }
            }
            WireEvent::MessageStop => self.done = true,
            WireEvent::Error { error } => return Err(error_of(&error.kind, &error.message, None)),
            WireEvent::Ping | WireEvent::Unknown => {}
        }
        Ok(())
    }

    fn start(&mut self, block: Block, out: &mut Vec<StreamEvent>) -> Kind {
        match block {
            Block::Text { text } => {
                if !text.is_empty() {
                    out.push(StreamEvent::Text { choice: 0, text });
                }
                Kind::Text
            }
            Block::Thinking {
                thinking,
                signature,
            } => {
                if !thinking.is_empty() || !signature.is_empty() {
                    out.push(StreamEvent::Reasoning {
                        choice: 0,
                        text: thinking,
                        signature: Some(signature).filter(|s| !s.is_empty()),
                    });
                }
                Kind::Thinking
            }
            Block::RedactedThinking { data } => {
                out.push(StreamEvent::Reasoning {
                    choice: 0,
                    text: String::new(),
                    signature: Some(format!("{REDACTED}{data}")),
                });
                Kind::Other
            }
            Block::ToolUse { name, input, .. } if name == JSON_TOOL => {
                self.json_answer = true;
                let given = non_empty_input(&input);
                if let Some(text) = given.clone() {
                    out.push(StreamEvent::Text { choice: 0, text });
                }
                Kind::Json(given.is_some())
            }
            Block::ToolUse { id, name, input } => {
                let i = self.tools;
                self.tools += 1;
                let given = non_empty_input(&input);
                out.push(tool_piece(
                    i,
                    Some(id),
                    Some(name),
                    given.clone().unwrap_or_default(),
                ));
                Kind::Tool(i, given.is_some())
            }
            _ => Kind::Other,
        }
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            if self.done {
                break;
            }
            if !ev.data.trim().is_empty() {
                self.event(&ev.data, out)?;
            }
        }
        Ok(())
    }
}

/// A `tool_use` start that already carries its whole input (some servers do).
fn non_empty_input(input: &Value) -> Option<String> {
    match input {
        Value::Object(o) if o.is_empty() => None,
        Value::Null => None,
        v => Some(v.to_string()),
    }
}

fn tool_piece(
    index: u32,
    id: Option<String>,
    name: Option<String>,
    arguments: String,
) -> StreamEvent {
    StreamEvent::ToolCall {
        choice: 0,
        index,
        id,
        name,
        arguments,
    }
}

impl StreamDecoder for EventDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.sse
            .feed(bytes, &mut self.events)
            .map_err(|e| AiError::bad_response(e.to_string()))?;
        self.drain(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.sse.finish(&mut self.events);
        self.drain(out)?;
        if self.done {
            Ok(())
        } else {
            Err(AiError::bad_response(
                "the provider's stream ended before message_stop",
            ))
        }
    }
}

/// The content block the encoder has open.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Open {
    Text,
    Thinking { signed: bool },
    Tool(u32),
}

/// A tool call that arrived while another was streaming.
#[derive(Debug, Default)]
struct Pending {
    id: String,
    name: String,
    arguments: String,
}

/// Encodes unified events as Anthropic SSE for `/v1/messages` callers.
pub struct EventEncoder {
    model: String,
    prompt_estimate: u64,
    started: bool,
    next_index: u32,
    open: Option<Open>,
    /// Tool calls waiting for the open block to close, by tool index.
    pending: BTreeMap<u32, Pending>,
    /// Tool calls whose block is closed.
    emitted: Vec<u32>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
    stop_sequence: Option<String>,
    output_text: String,
}

impl EventEncoder {
    /// `model` is the name the caller asked for; `prompt_estimate` the input
    /// tokens `message_start` reports before the provider's count arrives.
    pub fn new(model: &str, prompt_estimate: u64) -> Self {
        Self {
            model: model.to_string(),
            prompt_estimate,
            started: false,
            next_index: 0,
            open: None,
            pending: BTreeMap::new(),
            emitted: Vec::new(),
            usage: None,
            finish: None,
            stop_sequence: None,
            output_text: String::new(),
        }
    }

    fn start_message(&mut self, id: &str, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({
            "id": message_id(id), "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": self.prompt_estimate, "output_tokens": 0},
        });
        emit(out, "message_start", json!({ "message": message }));
        emit(out, "ping", json!({}));
    }

    fn open_block(&mut self, block: Value, open: Open, out: &mut BytesMut) {
        self.close(out);
        emit(
            out,
            "content_block_start",
            json!({"index": self.next_index, "content_block": block}),
        );
        self.open = Some(open);
    }

    fn delta(&self, delta: Value, out: &mut BytesMut) {
        emit(
            out,
            "content_block_delta",
            json!({"index": self.next_index, "delta": delta}),
        );
    }

    fn stop_block(&mut self, out: &mut BytesMut) {
        emit(
            out,
            "content_block_stop",
            json!({ "index": self.next_index }),
        );
        self.next_index += 1;
    }

    /// Close the open block, then send the tool calls that waited for it.
    fn close(&mut self, out: &mut BytesMut) {
        let Some(open) = self.open.take() else {
            return;
        };
        self.stop_block(out);
        if let Open::Tool(i) = open {
            self.emitted.push(i);
            for (i, p) in std::mem::take(&mut self.pending) {
                self.tool_start(i, &p.id, &p.name, out);
                if !p.arguments.is_empty() {
                    self.delta(
                        json!({"type": "input_json_delta", "partial_json": p.arguments}),
                        out,
                    );
                }
                self.stop_block(out);
                self.open = None;
                self.emitted.push(i);
            }
        }
    }

    fn tool_start(&mut self, i: u32, id: &str, name: &str, out: &mut BytesMut) {
        let id = if id.is_empty() {
            format!("toolu_{}", uuid::Uuid::new_v4().simple())
        } else {
            id.to_string()
        };
        emit(
            out,
            "content_block_start",
            json!({"index": self.next_index,
            "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
        );
        self.open = Some(Open::Tool(i));
    }

    fn tool(
        &mut self,
        i: u32,
        id: &Option<String>,
        name: &Option<String>,
        args: &str,
        out: &mut BytesMut,
    ) {
        if self.open == Some(Open::Tool(i)) {
            if !args.is_empty() {
                self.delta(
                    json!({"type": "input_json_delta", "partial_json": args}),
                    out,
                );
            }
        } else if let Some(p) = self.pending.get_mut(&i) {
            p.arguments.push_str(args);
        } else if self.emitted.contains(&i) {
            tracing::warn!(
                tool = i,
                "a tool call continued after its block was closed; piece dropped"
            );
        } else if matches!(self.open, Some(Open::Tool(_))) {
            self.pending.insert(
                i,
                Pending {
                    id: id.clone().unwrap_or_default(),
                    name: name.clone().unwrap_or_default(),
                    arguments: args.to_string(),
                },
            );
        } else {
            self.close(out);
            self.tool_start(
                i,
                id.as_deref().unwrap_or(""),
                name.as_deref().unwrap_or(""),
                out,
            );
            if !args.is_empty() {
                self.delta(
                    json!({"type": "input_json_delta", "partial_json": args}),
                    out,
                );
            }
        }
    }

    fn reasoning(&mut self, text: &str, signature: Option<&str>, out: &mut BytesMut) {
        if let Some(sig) = signature.filter(|s| s.starts_with(REDACTED)) {
            let block = serde_json::to_value(thinking_block("", Some(sig))).unwrap_or_default();
            self.open_block(block, Open::Thinking { signed: true }, out);
            self.close(out);
            return;
        }
        let fresh = !matches!(self.open, Some(Open::Thinking { signed: false }));
        if fresh && (!text.is_empty() || signature.is_some()) {
            let block = json!({"type": "thinking", "thinking": "", "signature": ""});
            self.open_block(block, Open::Thinking { signed: false }, out);
        }
        if !text.is_empty() {
            self.delta(json!({"type": "thinking_delta", "thinking": text}), out);
        }
        if let Some(sig) = signature {
            self.delta(json!({"type": "signature_delta", "signature": sig}), out);
            self.open = Some(Open::Thinking { signed: true });
        }
    }
}

/// One event: its name, and its data with `type` set to the name.
fn emit(out: &mut BytesMut, name: &str, mut data: Value) {
    data["type"] = json!(name);
    write_event(out, Some(name), &data.to_string());
}

impl StreamEncoder for EventEncoder {
    fn encode(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        if let StreamEvent::Start { id, .. } = ev {
            self.start_message(id, out);
            return;
        }
        self.start_message("", out);
        match ev {
            StreamEvent::Text { choice: 0, text } if !text.is_empty() => {
                self.output_text.push_str(text);
                if self.open != Some(Open::Text) {
                    self.open_block(json!({"type": "text", "text": ""}), Open::Text, out);
                }
                self.delta(json!({"type": "text_delta", "text": text}), out);
            }
            StreamEvent::Reasoning {
                choice: 0,
                text,
                signature,
            } => {
                self.output_text.push_str(text);
                self.reasoning(text, signature.as_deref(), out);
            }
            StreamEvent::ToolCall {
                choice: 0,
                index,
                id,
                name,
                arguments,
            } => {
                self.output_text.push_str(arguments);
                self.tool(*index, id, name, arguments, out);
            }
            StreamEvent::Finish {
                choice: 0,
                reason,
                stop_sequence,
            } => {
                self.finish = Some(*reason);
                self.stop_sequence.clone_from(stop_sequence);
                self.close(out);
            }
            StreamEvent::Usage(u) => match &mut self.usage {
                Some(have) => have.merge(u),
                None => self.usage = Some(*u),
            },
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        self.start_message("", out);
        self.close(out);
        let usage = match self.usage {
            Some(u) if u.input_tokens > 0 || u.output_tokens > 0 => u,
            _ => Usage {
                input_tokens: self.prompt_estimate,
                output_tokens: crate::tokens::estimate_text(&self.output_text),
                ..Default::default()
            },
        };
        let delta = json!({
            "stop_reason": stop_reason(self.finish, self.stop_sequence.as_deref()),
            "stop_sequence": self.stop_sequence,
        });
        emit(
            out,
            "message_delta",
            json!({"delta": delta, "usage": WireUsage::of(&usage)}),
        );
        emit(out, "message_stop", json!({}));
    }

    fn error(&mut self, err: &AiError, out: &mut BytesMut) {
        write_event(out, Some("error"), &err.anthropic_body().to_string());
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
