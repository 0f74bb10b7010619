//! [`AiRecord`]: what an AI call adds to its [`CallRecord`](crate::CallRecord):
//! the model asked for and the one that served, tokens by kind, cost, time to
//! first token and the path through fallbacks. Filled by the AI handler
//! through an [`AiRecordSlot`], because a streamed answer only knows its
//! usage when its last chunk has gone out.

use std::sync::{Arc, Mutex};

use serde::Serialize;

/// The AI facts of one call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AiRecord {
    /// Inbound API: `chat_completions`, `messages`, `responses`, `embeddings`,
    /// `models`, `count_tokens`.
    pub api: &'static str,
    /// The model name the caller asked for.
    pub model_requested: String,
    /// The provider's model id that answered.
    pub model_served: Option<String>,
    /// Name of the provider (from `ai.providers`) that answered.
    pub provider: Option<String>,
    /// Kind of that provider (`openai`, `anthropic`, ...).
    pub provider_kind: Option<&'static str>,
    /// The model group (public name) that routed the call, if any.
    pub model_group: Option<String>,
    /// Id of the provider key used (`<provider>#<index>`), never the key.
    pub key_id: Option<String>,
    /// Name of the Pylon virtual key the caller presented, never the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_key: Option<String>,
    /// The caller's team and user (from the virtual key, or the consumer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub stream: bool,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens read from the provider's prompt cache (part of `input_tokens`).
    pub cached_input_tokens: u64,
    /// Input tokens written to the provider's prompt cache (part of `input_tokens`).
    pub cache_creation_tokens: u64,
    /// Reasoning tokens (part of `output_tokens`).
    pub reasoning_tokens: u64,
    /// Images in the input.
    pub input_images: u32,
    /// False when the provider reported usage, or when Pylon counted prompt
    /// and answer exactly with the model's tokenizer; true when Pylon's count
    /// is an approximation (another model family, tools, images, a cut
    /// stream). See docs/ai/catalog.md, "Token counts".
    pub tokens_estimated: bool,
    /// Cost in USD from the catalog's prices; `None` when the model has no price.
    pub cost_usd: Option<f64>,
    /// Milliseconds from the request's start to the first token sent to the client.
    pub ttft_ms: Option<f64>,
    /// Provider calls made (retries and fallbacks included).
    pub attempts: u32,
    /// Every failed attempt before the one that answered: `provider/model: error class`.
    pub fallback_path: Vec<String>,
    /// Why generation stopped (`stop`, `length`, `tool_calls`, `content_filter`).
    pub finish_reason: Option<&'static str>,
    /// Request parameters left out because the provider does not support them.
    pub dropped_params: Vec<String>,
    /// Error class of the final failure, when the call failed.
    pub error_class: Option<&'static str>,
    /// Guardrail decisions: `<rule>:<action>:<count>` (`email:masked:2`,
    /// `injection:flagged:1`, `credit_card:blocked:1`).
    pub guardrails: Vec<String>,
}

/// Where the AI handler leaves the [`AiRecord`] for the request's record; the
/// request path moves it into the [`CallRecord`](crate::CallRecord) when the
/// response ends.
pub type AiRecordSlot = Arc<Mutex<Option<AiRecord>>>;

/// A fresh, empty slot.
pub fn ai_record_slot() -> AiRecordSlot {
    Arc::new(Mutex::new(None))
}

/// Take what the handler left in `slot` (an empty slot gives `None`).
pub fn take_ai_record(slot: &AiRecordSlot) -> Option<AiRecord> {
    match slot.lock() {
        Ok(mut g) => g.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    }
}

/// Store `rec` in `slot`, replacing what was there.
pub fn put_ai_record(slot: &AiRecordSlot, rec: AiRecord) {
    match slot.lock() {
        Ok(mut g) => *g = Some(rec),
        Err(poisoned) => *poisoned.into_inner() = Some(rec),
    }
}
