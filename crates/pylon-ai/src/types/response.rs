//! A chat answer in provider-neutral form, and its token usage.

use serde_json::Value;

use super::ToolCall;

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// A natural end or a stop sequence.
    Stop,
    /// The token limit was reached.
    Length,
    /// The model called tools and waits for their results.
    ToolCalls,
    /// The provider's safety system stopped or refused the answer.
    ContentFilter,
}

impl FinishReason {
    /// The OpenAI name.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
        }
    }
}

/// Token counts of one call. `input_tokens` counts every prompt token
/// (cached ones included); `output_tokens` every generated one (reasoning
/// included), as OpenAI reports them. Adapters of providers that count
/// otherwise (Anthropic leaves cache reads out of `input_tokens`) convert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache.
    pub cached_input_tokens: u64,
    /// Prompt tokens written to the provider's cache.
    pub cache_creation_tokens: u64,
    /// Generated tokens spent on reasoning.
    pub reasoning_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    /// Combine two partial reports (providers split usage across events):
    /// each field keeps the larger value.
    pub fn merge(&mut self, other: &Usage) {
        self.input_tokens = self.input_tokens.max(other.input_tokens);
        self.output_tokens = self.output_tokens.max(other.output_tokens);
        self.cached_input_tokens = self.cached_input_tokens.max(other.cached_input_tokens);
        self.cache_creation_tokens = self.cache_creation_tokens.max(other.cache_creation_tokens);
        self.reasoning_tokens = self.reasoning_tokens.max(other.reasoning_tokens);
    }
}

/// The assistant's answer in one choice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssistantMessage {
    pub content: Option<String>,
    /// Reasoning text, where the provider returns it.
    pub reasoning: Option<String>,
    /// Signature of the reasoning (Anthropic), needed to replay it.
    pub reasoning_signature: Option<String>,
    /// A refusal message (OpenAI `refusal`).
    pub refusal: Option<String>,
    pub tool_calls: Vec<ToolCall>,
}

/// One generated alternative.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub index: u32,
    pub message: AssistantMessage,
    pub finish_reason: Option<FinishReason>,
    /// The stop sequence that ended generation, where the provider says.
    pub stop_sequence: Option<String>,
    /// Log probabilities in OpenAI's shape, where the provider returns them.
    pub logprobs: Option<Value>,
}

/// A whole (non-streamed) chat answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// Unix seconds.
    pub created: u64,
    pub choices: Vec<Choice>,
    pub usage: Option<Usage>,
    pub system_fingerprint: Option<String>,
}

/// Unix time in seconds, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
