//! Gemini `streamGenerateContent?alt=sse`: every SSE event is a whole
//! `GenerateContentResponse` chunk; function calls arrive whole (one
//! ToolCall event with id, name and all arguments). The stream has no end
//! marker: it is complete once a candidate carried a `finishReason`.

use super::response::Chunks;
use crate::error::AiError;
use crate::providers::StreamDecoder;
use crate::sse::{SseDecoder, SseEvent};
use crate::types::StreamEvent;

#[derive(Default)]
pub struct GeminiDecoder {
    sse: SseDecoder,
    events: Vec<SseEvent>,
    chunks: Chunks,
}

impl GeminiDecoder {
    pub fn new() -> Self {
        Self {
            sse: SseDecoder::new(),
            ..Default::default()
        }
    }

    fn drain(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        for ev in std::mem::take(&mut self.events) {
            let data = ev.data.trim();
            if !data.is_empty() {
                self.chunks.push(data.as_bytes(), out)?;
            }
        }
        Ok(())
    }
}

impl StreamDecoder for GeminiDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.sse
            .feed(bytes, &mut self.events)
            .map_err(|e| AiError::bad_response(e.to_string()))?;
        self.drain(out)
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), AiError> {
        self.sse.finish(&mut self.events);
        self.drain(out)?;
        AiError::check_stream_end(self.chunks.finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;
    use crate::types::*;

    fn decode_all(input: &str, piece: usize) -> Result<Vec<StreamEvent>, AiError> {
        crate::providers::testing::decode_in_pieces(Box::new(GeminiDecoder::new()), input, piece)
    }

    // The shape Gemini streams: CRLF-separated events, usage on every chunk.
    const STREAM: &str = concat!(
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"totalTokenCount\": 9},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r-9\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"lo ✓\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 2},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r-9\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"get\",\"args\": {\"a\": 1}}},{\"functionCall\": {\"name\": \"put\",\"args\": {\"b\": \"x\"}}}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 9,\"candidatesTokenCount\": 12,\"thoughtsTokenCount\": 3,\"totalTokenCount\": 24},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"r-9\"}\r\n\r\n",
    );

    #[test]
    fn decodes_split_anywhere_with_whole_tool_calls() {
        let strip = crate::providers::testing::timeless;
        let whole = strip(decode_all(STREAM, STREAM.len()).unwrap());
        for piece in 1..=STREAM.len().min(64) {
            assert_eq!(
                strip(decode_all(STREAM, piece).unwrap()),
                whole,
                "piece {piece}"
            );
        }
        let calls: Vec<_> = whole
            .iter()
            .filter_map(|e| match e {
                StreamEvent::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                    ..
                } => Some((
                    *index,
                    id.clone().unwrap(),
                    name.clone().unwrap(),
                    arguments.clone(),
                )),
                _ => None,
            })
            .collect();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].0, calls[0].2.as_str(), calls[0].3.as_str()),
            (0, "get", "{\"a\":1}")
        );
        assert_eq!((calls[1].0, calls[1].2.as_str()), (1, "put"));
        assert!(calls[0].1.starts_with("call_") && calls[0].1 != calls[1].1);
        let mut acc = StreamAccumulator::default();
        whole.iter().for_each(|e| acc.push(e));
        let r = acc.finish();
        assert_eq!(r.id, "r-9");
        assert_eq!(r.choices[0].message.content.as_deref(), Some("Hello ✓"));
        assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
        let u = r.usage.unwrap();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.reasoning_tokens),
            (9, 15, 3)
        );
    }

    #[test]
    fn cuts_errors_and_garbage() {
        let cut = &STREAM[..STREAM.rfind("data:").unwrap()];
        assert!(
            decode_all(cut, 7)
                .unwrap_err()
                .message
                .contains("ended before")
        );
        let err = "data: {\"error\": {\"code\": 429, \"message\": \"Resource has been exhausted\", \"status\": \"RESOURCE_EXHAUSTED\"}}\n\n";
        let e = decode_all(err, 5).unwrap_err();
        assert_eq!(e.class, ErrorClass::RateLimited);
        assert!(e.message.contains("exhausted"));
        assert_eq!(
            decode_all("data: {nope\n\n", 3).unwrap_err().class,
            ErrorClass::BadResponse
        );
        let blocked = "data: {\"promptFeedback\": {\"blockReason\": \"PROHIBITED_CONTENT\"}}\n\n";
        assert_eq!(
            decode_all(blocked, 4).unwrap_err().class,
            ErrorClass::ContentFilter
        );
    }
}
