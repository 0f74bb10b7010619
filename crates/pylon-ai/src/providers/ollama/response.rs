//! Ollama `/api/chat` answers → unified: one JSON object when whole, or an
//! NDJSON stream of them (`message.content`/`thinking` pieces, tool calls
//! whole and without ids, the last object `done: true` with `done_reason`,
//! `prompt_eval_count` and `eval_count`). An `{"error": ...}` line is a
//! failure; a stream that ends before `done` is cut.

use serde::Deserialize;
use serde_json::Value;

use super::ndjson::NdjsonDecoder;
use crate::error::{AiError, ErrorClass};
use crate::providers::StreamDecoder;
use crate::types::*;

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    model: String,
    message: Option<WireMessage>,
    #[serde(default)]
    done: bool,
    done_reason: Option<String>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: String,
    thinking: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireCall>,
}

#[derive(Deserialize)]
struct WireCall {
    id: Option<String>,
    function: WireFunction,
}

#[derive(Deserialize)]
struct WireFunction {
    #[serde(default)]
    name: String,
    arguments: Option<Value>,
}

/// A fresh tool-call id (Ollama gives none).
fn call_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("call_{}", &u[..24])
}

/// Turns answer objects into events, keeping what spans lines.
#[derive(Default)]
struct Lines {
    started: bool,
    calls: u32,
    done: bool,
}

impl Lines {
    fn push(&mut self, line: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        let c: WireChunk = serde_json::from_slice(line).map_err(|e| {
            AiError::bad_response(format!("the provider sent a malformed Ollama answer: {e}"))
        })?;
        if let Some(err) = c.error {
            let message = err.as_str().map_or_else(|| err.to_string(), str::to_string);
            return Err(AiError::new(ErrorClass::Server, message));
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
                model: c.model.clone(),
                created: unix_now(),
            });
        }
        if let Some(m) = c.message {
            if let Some(t) = m.thinking.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Reasoning {
                    choice: 0,
                    text: t,
                    signature: None,
                });
            }
            if !m.content.is_empty() {
                out.push(StreamEvent::Text {
                    choice: 0,
                    text: m.content,
                });
            }
            for call in m.tool_calls {
                let arguments = match call.function.arguments {
                    None | Some(Value::Null) => "{}".to_string(),
                    Some(Value::String(s)) => s,
                    Some(v) => v.to_string(),
                };
                out.push(StreamEvent::ToolCall {
                    choice: 0,
                    index: self.calls,
                    id: Some(call.id.filter(|i| !i.is_empty()).unwrap_or_else(call_id)),
                    name: Some(call.function.name),
                    arguments,
                });
                self.calls += 1;
            }
        }
        if c.done {
            self.done = true;
            let reason = match c.done_reason.as_deref() {
                Some("length") => FinishReason::Length,
                _ if self.calls > 0 => FinishReason::ToolCalls,
                _ => FinishReason::Stop,
            };
            out.push(StreamEvent::Finish {
                choice: 0,
                reason,
                stop_sequence: None,
            });
            out.push(StreamEvent::Usage(Usage {
                input_tokens: c.prompt_eval_count.unwrap_or(0),
                output_tokens: c.eval_count.unwrap_or(0),
                ..Default::default()
            }));
        }
        Ok(())
    }
}

/// Decode a whole (`stream: false`) answer.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, AiError> {
    let mut events = Vec::new();
    Lines::default().push(body, &mut events)?;
    let mut acc = StreamAccumulator::default();
    events.iter().for_each(|e| acc.push(e));
    Ok(acc.finish())
}

/// Decodes Ollama's NDJSON stream.
#[derive(Default)]
pub struct OllamaDecoder {
    lines: NdjsonDecoder,
    pending: Vec<Vec<u8>>,
    state: Lines,
}

impl OllamaDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        for line in std::mem::take(&mut self.pending) {
            if !self.state.done {
                self.state.push(&line, out)?;
            }
        }
        Ok(())
    }
}

impl StreamDecoder for OllamaDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.lines
            .feed(bytes, &mut self.pending)
            .map_err(|e| AiError::bad_response(e.to_string()))?;
        self.drain(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.lines.finish(&mut self.pending);
        self.drain(out)?;
        AiError::check_stream_end(self.state.done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &str, piece: usize) -> Result<Vec<StreamEvent>, AiError> {
        crate::providers::testing::decode_in_pieces(Box::new(OllamaDecoder::new()), input, piece)
    }

    const STREAM: &str = concat!(
        "{\"model\":\"qwen3\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Hmm\"},\"done\":false}\n",
        "{\"model\":\"qwen3\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"Hel\"},\"done\":false}\n",
        "{\"model\":\"qwen3\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"lo ✓\"},\"done\":false}\n",
        "{\"model\":\"qwen3\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"get\",\"arguments\":{\"a\":1}}},{\"function\":{\"name\":\"put\",\"arguments\":{}}}]},\"done\":false}\n",
        "{\"model\":\"qwen3\",\"created_at\":\"2025-01-01T00:00:01Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"total_duration\":1000,\"prompt_eval_count\":26,\"eval_count\":9}\n",
    );

    fn shape(evs: Vec<StreamEvent>) -> Vec<StreamEvent> {
        // Ids are random: compare everything else.
        evs.into_iter()
            .map(|e| match e {
                StreamEvent::Start { model, .. } => StreamEvent::Start {
                    id: String::new(),
                    model,
                    created: 0,
                },
                StreamEvent::ToolCall {
                    choice,
                    index,
                    name,
                    arguments,
                    id,
                } => {
                    assert!(id.is_some_and(|i| i.starts_with("call_")));
                    StreamEvent::ToolCall {
                        choice,
                        index,
                        id: None,
                        name,
                        arguments,
                    }
                }
                e => e,
            })
            .collect()
    }

    #[test]
    fn stream_split_anywhere() {
        let whole = shape(decode_all(STREAM, STREAM.len()).unwrap());
        for piece in [1, 2, 3, 5, 17, 64] {
            assert_eq!(
                shape(decode_all(STREAM, piece).unwrap()),
                whole,
                "piece {piece}"
            );
        }
        let mut acc = StreamAccumulator::default();
        decode_all(STREAM, 10)
            .unwrap()
            .iter()
            .for_each(|e| acc.push(e));
        let r = acc.finish();
        assert_eq!(r.model, "qwen3");
        let m = &r.choices[0].message;
        assert_eq!(
            (m.content.as_deref(), m.reasoning.as_deref()),
            (Some("Hello ✓"), Some("Hmm"))
        );
        assert_eq!(
            (
                m.tool_calls[0].name.as_str(),
                m.tool_calls[0].arguments.as_str()
            ),
            ("get", "{\"a\":1}")
        );
        assert_eq!(m.tool_calls[1].arguments, "{}");
        assert_ne!(m.tool_calls[0].id, m.tool_calls[1].id);
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        let u = r.usage.unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (26, 9));
    }

    #[test]
    fn cuts_errors_and_whole_answers() {
        let cut = &STREAM[..STREAM.rfind("{\"model\"").unwrap()];
        assert!(
            decode_all(cut, 8)
                .unwrap_err()
                .message
                .contains("ended before")
        );
        let e = decode_all(
            "{\"error\":\"an error was encountered while running the model\"}\n",
            4,
        )
        .unwrap_err();
        assert_eq!(e.class, ErrorClass::Server);
        assert!(e.message.contains("running the model"));
        assert_eq!(
            decode_all("{nope}\n", 2).unwrap_err().class,
            ErrorClass::BadResponse
        );
        let whole = br#"{"model":"llama3.2","created_at":"x","message":{"role":"assistant","content":"Hi"},"done":true,"done_reason":"length","prompt_eval_count":3,"eval_count":2}"#;
        let r = decode_response(whole).unwrap();
        assert_eq!(r.choices[0].message.content.as_deref(), Some("Hi"));
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Length));
        assert_eq!(r.usage.unwrap().total(), 5);
    }
}
