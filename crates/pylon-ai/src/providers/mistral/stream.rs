//! Mistral's chat stream: OpenAI-style `chat.completion.chunk` SSE ending
//! in `data: [DONE]`, usage in the last chunk, tool calls whole. Each chunk
//! is brought into OpenAI's shape ([`super::normalize`]) and decoded by the
//! OpenAI chunk decoder.

use bytes::BytesMut;
use serde_json::Value;

use crate::error::AiError;
use crate::providers::StreamDecoder;
use crate::providers::openai::stream::ChunkDecoder;
use crate::sse::{SseDecoder, SseEvent, write_event};
use crate::types::StreamEvent;

pub struct MistralDecoder {
    sse: SseDecoder,
    events: Vec<SseEvent>,
    inner: ChunkDecoder,
}

impl MistralDecoder {
    pub fn new() -> Self {
        Self {
            sse: SseDecoder::new(),
            events: Vec::new(),
            inner: ChunkDecoder::new(),
        }
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        let mut buf = BytesMut::new();
        for ev in std::mem::take(&mut self.events) {
            let data = ev.data.trim();
            if data.is_empty() || data == "[DONE]" {
                write_event(&mut buf, None, data);
                continue;
            }
            let mut v: Value = serde_json::from_str(data).map_err(|e| {
                AiError::bad_response(format!("the provider sent a malformed stream chunk: {e}"))
            })?;
            super::normalize(&mut v)?;
            write_event(&mut buf, None, &v.to_string());
        }
        if buf.is_empty() {
            Ok(())
        } else {
            self.inner.feed(&buf, out)
        }
    }
}

impl StreamDecoder for MistralDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.sse
            .feed(bytes, &mut self.events)
            .map_err(|e| AiError::bad_response(e.to_string()))?;
        self.drain(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.sse.finish(&mut self.events);
        self.drain(out)?;
        self.inner.finish(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use crate::types::*;

    fn decode_all(input: &str, piece: usize) -> Result<Vec<StreamEvent>, AiError> {
        crate::providers::testing::decode_in_pieces(Box::new(MistralDecoder::new()), input, piece)
    }

    const STREAM: &str = concat!(
        "data: {\"id\":\"a1\",\"object\":\"chat.completion.chunk\",\"created\":9,\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"a1\",\"object\":\"chat.completion.chunk\",\"created\":9,\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":[{\"type\":\"text\",\"text\":\"Hi ✓\"}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"a1\",\"object\":\"chat.completion.chunk\",\"created\":9,\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"id\":\"D681PevKs\",\"function\":{\"name\":\"get\",\"arguments\":\"{\\\"a\\\": 1}\"},\"index\":0}]},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"a1\",\"object\":\"chat.completion.chunk\",\"created\":9,\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":12,\"total_tokens\":20,\"completion_tokens\":8}}\n\n",
        "data: [DONE]\n\n",
    );

    #[test]
    fn decodes_split_anywhere() {
        let whole = decode_all(STREAM, STREAM.len()).unwrap();
        for piece in [1, 2, 3, 5, 8, 13, 29] {
            assert_eq!(decode_all(STREAM, piece).unwrap(), whole, "piece {piece}");
        }
        let mut acc = StreamAccumulator::default();
        whole.iter().for_each(|e| acc.push(e));
        let r = acc.finish();
        assert_eq!(r.choices[0].message.content.as_deref(), Some("Hi ✓"));
        let c = &r.choices[0].message.tool_calls[0];
        assert_eq!(
            (c.id.as_str(), c.name.as_str(), c.arguments.as_str()),
            ("D681PevKs", "get", "{\"a\": 1}")
        );
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(r.usage.unwrap().total(), 20);
    }

    #[test]
    fn cut_and_malformed_streams_fail() {
        let cut = &STREAM[..STREAM.find("data: {\"id\":\"a1\",\"object\":\"chat.completion.chunk\",\"created\":9,\"model\":\"mistral-small-latest\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish").unwrap()];
        assert!(decode_all(cut, 11).is_err());
        assert_eq!(
            decode_all("data: {oops\n\n", 2).unwrap_err().class,
            ErrorClass::BadResponse
        );
        let len = "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"model_length\"}]}\n\ndata: [DONE]\n\n";
        let evs = decode_all(len, 4).unwrap();
        assert!(evs.contains(&StreamEvent::Finish {
            choice: 0,
            reason: FinishReason::Length,
            stop_sequence: None
        }));
    }
}
