//! The Anthropic Messages wire format as serde types, used in both
//! directions: by the provider (requests out, answers in) and by the inbound
//! `/v1/messages` API (requests in, answers out).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The name of the tool Pylon forces to carry a JSON-object answer
/// (`response_format: json_object`), which Anthropic has no native form for.
pub const JSON_TOOL: &str = "pylon_json_response";

/// Prefix marking a redacted thinking block's `data` when it travels as the
/// signature of an empty unified thinking part (the unified model has one
/// reasoning kind; Anthropic has two).
pub const REDACTED: &str = "redacted_thinking:";

/// One content block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<ToolResultContent>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    Thinking {
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    /// Block types Pylon does not translate (documents, server tools, ...).
    #[serde(other)]
    Unknown,
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
}

/// A tool result: a string, or text and image blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    Text(String),
    Blocks(Vec<Block>),
}

/// Token usage as Anthropic reports it: `input_tokens` leaves out cache
/// reads and writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WireUsage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens_details: Option<OutputDetails>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputDetails {
    #[serde(default)]
    pub thinking_tokens: u64,
}

/// A whole answer (`"type": "message"`), as decoded from a provider.
#[derive(Debug, Deserialize)]
pub struct WireMessage {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub content: Vec<Block>,
    pub stop_reason: Option<String>,
    pub stop_sequence: Option<String>,
    #[serde(default)]
    pub usage: WireUsage,
}

/// An error body: `{"type": "error", "error": {"type", "message"}}`.
#[derive(Debug, Deserialize)]
pub struct WireError {
    pub error: WireErrorDetail,
}

#[derive(Debug, Deserialize)]
pub struct WireErrorDetail {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub message: String,
}

/// The `data` of a stream event (its `type` repeats the SSE event name).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireEvent {
    MessageStart {
        message: WireMessage,
    },
    ContentBlockStart {
        index: u32,
        content_block: Block,
    },
    ContentBlockDelta {
        index: u32,
        delta: WireDelta,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: WireMessageDelta,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: WireErrorDetail,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WireDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        #[serde(default)]
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
pub struct WireMessageDelta {
    pub stop_reason: Option<String>,
    pub stop_sequence: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blocks_round_trip_in_the_documented_shapes() {
        let blocks = json!([
            {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
            {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok", "is_error": true},
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "ok"}]},
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "redacted_thinking", "data": "xyz"},
            {"type": "document", "source": {}}
        ]);
        let got: Vec<Block> = serde_json::from_value(blocks).unwrap();
        assert_eq!(got[0], Block::Text { text: "hi".into() });
        assert!(
            matches!(&got[4], Block::ToolResult { is_error: true, content: Some(ToolResultContent::Text(t)), .. } if t == "ok")
        );
        assert!(
            matches!(&got[5], Block::ToolResult { content: Some(ToolResultContent::Blocks(b)), is_error: false, .. } if b.len() == 1)
        );
        assert_eq!(got[8], Block::Unknown);
        let back = serde_json::to_value(&got[..8]).unwrap();
        assert_eq!(back[1]["source"]["media_type"], "image/png");
        assert_eq!(back[3]["input"]["a"], 1);
        assert_eq!(back[4]["is_error"], true);
        assert!(back[5].get("is_error").is_none(), "false is left out");
        assert_eq!(back[7]["data"], "xyz");
    }
}
