//! OpenAI chat completion streams: the decoder (provider `chat.completion.chunk`
//! events → unified events) and the encoder (unified events → chunks for
//! callers of `/v1/chat/completions`).

use bytes::BytesMut;
use serde::Deserialize;
use serde_json::{Value, json};

use super::response::{WireUsage, encode_usage, finish_reason};
use crate::error::AiError;
use crate::providers::StreamDecoder;
use crate::sse::{SseDecoder, SseEvent, write_event};
use crate::stream::StreamEncoder;
use crate::types::*;

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    created: u64,
    #[serde(default)]
    choices: Vec<WireChunkChoice>,
    usage: Option<WireUsage>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    index: u32,
    delta: Option<WireDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireDelta {
    content: Option<String>,
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    tool_calls: Option<Vec<WireDeltaCall>>,
}

#[derive(Deserialize)]
struct WireDeltaCall {
    index: Option<u32>,
    id: Option<String>,
    function: Option<WireDeltaFunction>,
}

#[derive(Deserialize)]
struct WireDeltaFunction {
    name: Option<String>,
    arguments: Option<String>,
}

/// Decodes an OpenAI-style SSE stream.
#[derive(Default)]
pub struct ChunkDecoder {
    sse: SseDecoder,
    events: Vec<SseEvent>,
    started: bool,
    done: bool,
    finished: bool,
    /// Per choice: tool calls seen so far (for servers that omit `index`).
    calls_seen: Vec<u32>,
}

impl ChunkDecoder {
    pub fn new() -> Self {
        Self {
            sse: SseDecoder::new(),
            ..Default::default()
        }
    }

    fn chunk(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        let c: WireChunk = serde_json::from_str(data).map_err(|e| {
            AiError::bad_response(format!("the provider sent a malformed stream chunk: {e}"))
        })?;
        if let Some(err) = c.error {
            let body = json!({ "error": err }).to_string();
            return Err(crate::providers::generic_error(
                http::StatusCode::BAD_GATEWAY,
                &http::HeaderMap::new(),
                body.as_bytes(),
            ));
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: c.id.clone(),
                model: c.model.clone(),
                created: c.created,
            });
        }
        for ch in c.choices {
            let choice = ch.index;
            if let Some(d) = ch.delta {
                if let Some(r) = d
                    .reasoning_content
                    .or(d.reasoning)
                    .filter(|r| !r.is_empty())
                {
                    out.push(StreamEvent::Reasoning {
                        choice,
                        text: r,
                        signature: None,
                    });
                }
                if let Some(t) = d.content.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Text { choice, text: t });
                }
                for tc in d.tool_calls.unwrap_or_default() {
                    while self.calls_seen.len() <= choice as usize {
                        self.calls_seen.push(0);
                    }
                    let seen = &mut self.calls_seen[choice as usize];
                    let index = match tc.index {
                        Some(i) => i,
                        None if tc.id.is_some() => *seen,
                        None => seen.saturating_sub(1),
                    };
                    *seen = (*seen).max(index + 1);
                    let (name, arguments) = match tc.function {
                        Some(f) => (f.name, f.arguments.unwrap_or_default()),
                        None => (None, String::new()),
                    };
                    out.push(StreamEvent::ToolCall {
                        choice,
                        index,
                        id: tc.id,
                        name,
                        arguments,
                    });
                }
            }
            if let Some(r) = ch.finish_reason {
                self.finished = true;
                out.push(StreamEvent::Finish {
                    choice,
                    reason: finish_reason(&r),
                    stop_sequence: None,
                });
            }
        }
        if let Some(u) = c.usage {
            out.push(StreamEvent::Usage(u.unified()));
        }
        Ok(())
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        let events = std::mem::take(&mut self.events);
        for ev in &events {
            if self.done {
                break;
            }
            let data = ev.data.trim();
            if data == "[DONE]" {
                self.done = true;
                continue;
            }
            if data.is_empty() {
                continue;
            }
            self.chunk(data, out)?;
        }
        Ok(())
    }
}

impl StreamDecoder for ChunkDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.sse
            .feed(bytes, &mut self.events)
            .map_err(|e| AiError::bad_response(e.to_string()))?;
        self.drain(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.sse.finish(&mut self.events);
        self.drain(out)?;
        AiError::check_stream_end(self.done || self.finished)
    }
}

/// Encodes unified events as `chat.completion.chunk` SSE for callers.
pub struct ChunkEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    usage: Option<Usage>,
    /// Choices whose role chunk went out.
    opened: Vec<bool>,
}

impl ChunkEncoder {
    /// `model` is the name the caller asked for.
    pub fn new(model: &str, include_usage: bool) -> Self {
        Self {
            id: String::new(),
            model: model.to_string(),
            created: unix_now(),
            include_usage,
            usage: None,
            opened: Vec::new(),
        }
    }

    fn write(&self, out: &mut BytesMut, choices: Value, usage: Option<Value>) {
        let mut v = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(u) = usage {
            v["usage"] = u;
        }
        write_event(out, None, &v.to_string());
    }

    fn delta(&mut self, out: &mut BytesMut, choice: u32, mut delta: Value) {
        let i = choice as usize;
        if self.opened.len() <= i {
            self.opened.resize(i + 1, false);
        }
        if !self.opened[i] {
            self.opened[i] = true;
            delta["role"] = json!("assistant");
        }
        self.write(
            out,
            json!([{"index": choice, "delta": delta, "logprobs": null, "finish_reason": null}]),
            None,
        );
    }
}

impl StreamEncoder for ChunkEncoder {
    fn encode(&mut self, ev: &StreamEvent, out: &mut BytesMut) {
        match ev {
            StreamEvent::Start { id, created, .. } => {
                self.id = if id.is_empty() {
                    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
                } else {
                    id.clone()
                };
                if *created > 0 {
                    self.created = *created;
                }
                self.delta(out, 0, json!({"content": ""}));
            }
            StreamEvent::Text { choice, text } => {
                self.delta(out, *choice, json!({ "content": text }));
            }
            StreamEvent::Reasoning { choice, text, .. } => {
                if !text.is_empty() {
                    self.delta(out, *choice, json!({ "reasoning_content": text }));
                }
            }
            StreamEvent::ToolCall {
                choice,
                index,
                id,
                name,
                arguments,
            } => {
                let mut call = json!({"index": index, "function": {"arguments": arguments}});
                if let Some(id) = id {
                    call["id"] = json!(id);
                    call["type"] = json!("function");
                }
                if let Some(n) = name {
                    call["function"]["name"] = json!(n);
                }
                self.delta(out, *choice, json!({ "tool_calls": [call] }));
            }
            StreamEvent::Finish { choice, reason, .. } => {
                self.write(
                    out,
                    json!([{"index": choice, "delta": {}, "logprobs": null, "finish_reason": reason.as_str()}]),
                    None,
                );
            }
            StreamEvent::Usage(u) => match &mut self.usage {
                Some(have) => have.merge(u),
                None => self.usage = Some(*u),
            },
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        if self.include_usage
            && let Some(u) = self.usage
        {
            self.write(out, json!([]), Some(encode_usage(&u)));
        }
        write_event(out, None, "[DONE]");
    }

    fn error(&mut self, err: &AiError, out: &mut BytesMut) {
        write_event(out, None, &err.openai_body().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &str, piece: usize) -> Result<Vec<StreamEvent>, AiError> {
        let mut d = ChunkDecoder::new();
        let mut out = Vec::new();
        for c in input.as_bytes().chunks(piece) {
            d.feed(c, &mut out)?;
        }
        d.finish(&mut out)?;
        Ok(out)
    }

    const STREAM: &str = concat!(
        "data: {\"id\":\"c1\",\"model\":\"gpt-4o\",\"created\":3,\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get\",\"arguments\":\"\"}}]}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_2\",\"type\":\"function\",\"function\":{\"name\":\"put\",\"arguments\":\"{}\"}}]}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: {\"id\":\"c1\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn decodes_interleaved_tool_calls_split_anywhere() {
        let whole = decode_all(STREAM, STREAM.len()).unwrap();
        for piece in [1, 2, 7, 13] {
            assert_eq!(decode_all(STREAM, piece).unwrap(), whole);
        }
        let mut acc = StreamAccumulator::default();
        whole.iter().for_each(|e| acc.push(e));
        let r = acc.finish();
        assert_eq!(r.id, "c1");
        assert_eq!(r.choices[0].message.content.as_deref(), Some("Hi"));
        let calls = &r.choices[0].message.tool_calls;
        assert_eq!(
            (calls[0].id.as_str(), calls[0].arguments.as_str()),
            ("call_1", "{\"a\":1}")
        );
        assert_eq!(
            (calls[1].name.as_str(), calls[1].arguments.as_str()),
            ("put", "{}")
        );
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(r.usage.unwrap().total(), 13);
    }

    #[test]
    fn a_cut_stream_is_an_error_and_error_events_surface() {
        let cut = &STREAM[..STREAM
            .find("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish")
            .unwrap()];
        assert!(decode_all(cut, 5).is_err());
        let err = "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n";
        let e = decode_all(err, 4).unwrap_err();
        assert!(e.message.contains("overloaded"));
        let bad = "data: {nope\n\n";
        assert_eq!(
            decode_all(bad, 3).unwrap_err().class,
            crate::error::ErrorClass::BadResponse
        );
    }

    #[test]
    fn encoder_output_decodes_to_the_same_answer() {
        let events = decode_all(STREAM, 64).unwrap();
        let mut enc = ChunkEncoder::new("smart", true);
        let mut out = BytesMut::new();
        for e in &events {
            enc.encode(e, &mut out);
        }
        enc.finish(&mut out);
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.ends_with("data: [DONE]\n\n"));
        assert!(text.contains("\"model\":\"smart\""));
        let again = decode_all(&text, 9).unwrap();
        let (mut a, mut b) = (StreamAccumulator::default(), StreamAccumulator::default());
        events.iter().for_each(|e| a.push(e));
        again.iter().for_each(|e| b.push(e));
        let (a, b) = (a.finish(), b.finish());
        assert_eq!(a.choices, b.choices);
        assert_eq!(a.usage, b.usage);
    }
}
