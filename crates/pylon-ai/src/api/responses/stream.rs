//! Unified stream events → the OpenAI Responses event sequence:
//! `response.created`, `response.in_progress`, per output item
//! `response.output_item.added` … `.done` (with `content_part` and
//! `output_text.delta` for messages, `function_call_arguments.delta` for
//! tool calls, `reasoning_summary_text.delta` for reasoning), and
//! `response.completed` / `response.incomplete` with the whole response; a
//! failure midway is an `error` event followed by `response.failed`.

use bytes::BytesMut;
use serde_json::{Value, json};

use super::encode::{call_item, envelope, message_item, new_id, reasoning_item, status_of, usage};
use crate::error::AiError;
use crate::sse::write_event;
use crate::stream::StreamEncoder;
use crate::types::*;

enum Item {
    Reasoning {
        id: String,
        text: String,
        open: bool,
    },
    Message {
        id: String,
        text: String,
        open: bool,
    },
    Call {
        id: String,
        call: ToolCall,
        index: u32,
        open: bool,
    },
}

pub struct ResponsesEncoder {
    id: String,
    model: String,
    created: u64,
    seq: u64,
    items: Vec<Item>,
    usage: Option<Usage>,
    finish: Option<FinishReason>,
}

impl ResponsesEncoder {
    pub fn new(model: &str) -> Self {
        Self {
            id: new_id("resp"),
            model: model.to_string(),
            created: unix_now(),
            seq: 0,
            items: Vec::new(),
            usage: None,
            finish: None,
        }
    }

    fn emit(&mut self, out: &mut BytesMut, kind: &str, mut v: Value) {
        v["type"] = json!(kind);
        v["sequence_number"] = json!(self.seq);
        self.seq += 1;
        write_event(out, Some(kind), &v.to_string());
    }

    fn item_json(item: &Item, status: &str) -> Value {
        match item {
            Item::Reasoning { id, text, .. } => reasoning_item(id, text),
            Item::Message { id, text, .. } => message_item(id, text, status),
            Item::Call { id, call, .. } => call_item(id, call, status),
        }
    }

    fn response(&self, status: &str, incomplete: Value) -> Value {
        let st = if status == "in_progress" {
            "in_progress"
        } else {
            "completed"
        };
        let output = self.items.iter().map(|i| Self::item_json(i, st)).collect();
        envelope(
            &self.id,
            &self.model,
            self.created,
            status,
            incomplete,
            output,
            self.usage.as_ref().map_or(Value::Null, usage),
        )
    }

    /// Close item `i` if open.
    fn close(&mut self, i: usize, out: &mut BytesMut) {
        let oi = i;
        let (done_events, item) = match &mut self.items[i] {
            Item::Reasoning { id, text, open } if *open => {
                *open = false;
                (
                    vec![(
                        "response.reasoning_summary_text.done",
                        json!({"item_id": id, "output_index": oi, "summary_index": 0, "text": text}),
                    )],
                    true,
                )
            }
            Item::Message { id, text, open } if *open => {
                *open = false;
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                (
                    vec![
                        (
                            "response.output_text.done",
                            json!({"item_id": id, "output_index": oi, "content_index": 0, "text": text}),
                        ),
                        (
                            "response.content_part.done",
                            json!({"item_id": id, "output_index": oi, "content_index": 0, "part": part}),
                        ),
                    ],
                    true,
                )
            }
            Item::Call { id, call, open, .. } if *open => {
                *open = false;
                (
                    vec![(
                        "response.function_call_arguments.done",
                        json!({"item_id": id, "output_index": oi, "arguments": call.arguments}),
                    )],
                    true,
                )
            }
            _ => (Vec::new(), false),
        };
        for (k, v) in done_events {
            self.emit(out, k, v);
        }
        if item {
            let v =
                json!({"output_index": oi, "item": Self::item_json(&self.items[i], "completed")});
            self.emit(out, "response.output_item.done", v);
        }
    }

    fn close_open_text(&mut self, out: &mut BytesMut) {
        for i in 0..self.items.len() {
            if matches!(
                self.items[i],
                Item::Message { open: true, .. } | Item::Reasoning { open: true, .. }
            ) {
                self.close(i, out);
            }
        }
    }

    fn open(&mut self, item: Item, out: &mut BytesMut) -> usize {
        self.items.push(item);
        let oi = self.items.len() - 1;
        let v =
            json!({"output_index": oi, "item": Self::item_json(&self.items[oi], "in_progress")});
        self.emit(out, "response.output_item.added", v);
        oi
    }
}

impl StreamEncoder for ResponsesEncoder {
    fn encode(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        match ev {
            StreamEvent::Start { .. } => {
                let r = self.response("in_progress", Value::Null);
                self.emit(out, "response.created", json!({"response": r}));
                let r = self.response("in_progress", Value::Null);
                self.emit(out, "response.in_progress", json!({"response": r}));
            }
            StreamEvent::Reasoning {
                choice: 0, text, ..
            } if !text.is_empty() => {
                let oi = match self
                    .items
                    .iter()
                    .position(|i| matches!(i, Item::Reasoning { open: true, .. }))
                {
                    Some(i) => i,
                    None => {
                        let id = new_id("rs");
                        let oi = self.open(
                            Item::Reasoning {
                                id: id.clone(),
                                text: String::new(),
                                open: true,
                            },
                            out,
                        );
                        self.emit(out, "response.reasoning_summary_part.added", json!({"item_id": id, "output_index": oi, "summary_index": 0, "part": {"type": "summary_text", "text": ""}}));
                        oi
                    }
                };
                if let Item::Reasoning { id, text: acc, .. } = &mut self.items[oi] {
                    acc.push_str(text);
                    let id = id.clone();
                    self.emit(out, "response.reasoning_summary_text.delta", json!({"item_id": id, "output_index": oi, "summary_index": 0, "delta": text}));
                }
            }
            StreamEvent::Text { choice: 0, text } => {
                let oi = match self
                    .items
                    .iter()
                    .position(|i| matches!(i, Item::Message { open: true, .. }))
                {
                    Some(i) => i,
                    None => {
                        let id = new_id("msg");
                        let oi = self.open(
                            Item::Message {
                                id: id.clone(),
                                text: String::new(),
                                open: true,
                            },
                            out,
                        );
                        self.emit(out, "response.content_part.added", json!({"item_id": id, "output_index": oi, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}));
                        oi
                    }
                };
                if let Item::Message { id, text: acc, .. } = &mut self.items[oi] {
                    acc.push_str(text);
                    let id = id.clone();
                    self.emit(out, "response.output_text.delta", json!({"item_id": id, "output_index": oi, "content_index": 0, "delta": text, "logprobs": []}));
                }
            }
            StreamEvent::ToolCall {
                choice: 0,
                index,
                id,
                name,
                arguments,
            } => {
                let existing = self
                    .items
                    .iter()
                    .position(|i| matches!(i, Item::Call { index: k, .. } if k == index));
                let oi = match existing {
                    Some(i) => i,
                    None => {
                        self.close_open_text(out);
                        let call = ToolCall {
                            id: id.clone().unwrap_or_else(|| new_id("call")),
                            name: name.clone().unwrap_or_default(),
                            arguments: String::new(),
                        };
                        self.open(
                            Item::Call {
                                id: new_id("fc"),
                                call,
                                index: *index,
                                open: true,
                            },
                            out,
                        )
                    }
                };
                if let Item::Call {
                    id: item_id, call, ..
                } = &mut self.items[oi]
                {
                    if existing.is_some()
                        && let Some(n) = name
                    {
                        call.name.push_str(n);
                    }
                    call.arguments.push_str(arguments);
                    let item_id = item_id.clone();
                    if !arguments.is_empty() {
                        self.emit(
                            out,
                            "response.function_call_arguments.delta",
                            json!({"item_id": item_id, "output_index": oi, "delta": arguments}),
                        );
                    }
                }
            }
            StreamEvent::Finish {
                choice: 0, reason, ..
            } => {
                self.finish = Some(*reason);
                for i in 0..self.items.len() {
                    self.close(i, out);
                }
            }
            StreamEvent::Usage(u) => match &mut self.usage {
                Some(have) => have.merge(u),
                None => self.usage = Some(*u),
            },
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        for i in 0..self.items.len() {
            self.close(i, out);
        }
        let (status, incomplete) = status_of(self.finish);
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        let r = self.response(status, incomplete);
        self.emit(out, kind, json!({"response": r}));
    }

    fn error(&mut self, err: &AiError, out: &mut BytesMut) {
        let code = err
            .code
            .clone()
            .unwrap_or_else(|| err.class.as_str().to_string());
        self.emit(
            out,
            "error",
            json!({"code": code, "message": err.message, "param": err.param}),
        );
        let mut r = self.response("failed", Value::Null);
        r["error"] = json!({"code": code, "message": err.message});
        self.emit(out, "response.failed", json!({"response": r}));
    }
}
