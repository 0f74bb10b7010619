//! A chat request in provider-neutral form.

use serde_json::{Map, Value};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Role {
    System,
    /// OpenAI's `developer` role: instructions with system authority.
    Developer,
    #[default]
    User,
    Assistant,
    /// The result of a tool call (`tool_call_id` names the call).
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    /// System or developer instructions.
    pub fn is_instruction(self) -> bool {
        matches!(self, Role::System | Role::Developer)
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    /// A URL the provider fetches (`https://...`).
    Url(String),
    /// Inline bytes, base64-encoded.
    Base64 { media_type: String, data: String },
}

impl ImageSource {
    /// A `data:` URL becomes inline base64; anything else stays a URL.
    pub fn from_url(url: &str) -> ImageSource {
        if let Some(rest) = url.strip_prefix("data:")
            && let Some((meta, data)) = rest.split_once(',')
            && let Some(media_type) = meta.strip_suffix(";base64")
        {
            return ImageSource::Base64 {
                media_type: media_type.to_string(),
                data: data.to_string(),
            };
        }
        ImageSource::Url(url.to_string())
    }

    /// As a URL (`data:` for inline bytes).
    pub fn to_url(&self) -> String {
        match self {
            ImageSource::Url(u) => u.clone(),
            ImageSource::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }
}

/// One piece of message content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image {
        source: ImageSource,
        /// OpenAI's `detail` (`low`, `high`, `auto`).
        detail: Option<String>,
    },
    /// Model reasoning replayed in a conversation (Anthropic thinking blocks
    /// must come back with their signature).
    Thinking {
        text: String,
        signature: Option<String>,
    },
}

/// A tool call the model made.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, exactly as the model produced them.
    pub arguments: String,
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
    pub name: Option<String>,
    /// Calls made by an assistant message.
    pub tool_calls: Vec<ToolCall>,
    /// On a tool message: the call it answers.
    pub tool_call_id: Option<String>,
    /// On a tool message: the tool failed (Anthropic `is_error`).
    pub is_error: bool,
}

impl Message {
    pub fn new(role: Role, content: Vec<Part>) -> Self {
        Self {
            role,
            content,
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            is_error: false,
        }
    }

    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self::new(role, vec![Part::Text(text.into())])
    }

    /// The text parts joined (images and thinking left out).
    pub fn text_content(&self) -> String {
        let mut out = String::new();
        for p in &self.content {
            if let Part::Text(t) = p {
                out.push_str(t);
            }
        }
        out
    }

    pub fn image_count(&self) -> u32 {
        self.content
            .iter()
            .filter(|p| matches!(p, Part::Image { .. }))
            .count() as u32
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    pub strict: Option<bool>,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    /// This tool must be called.
    Tool(String),
}

/// The shape of the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        description: Option<String>,
        schema: Value,
        strict: Option<bool>,
    },
}

/// A chat request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub stream: bool,
    /// Send usage in the stream (`stream_options.include_usage`).
    pub include_usage: bool,
    pub n: Option<u32>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    /// Most tokens to generate (`max_tokens` / `max_completion_tokens` / `max_output_tokens`).
    pub max_tokens: Option<u32>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<u32>,
    /// `minimal`, `low`, `medium`, `high`.
    pub reasoning_effort: Option<String>,
    /// Token budget for reasoning (Anthropic `thinking.budget_tokens`, Gemini `thinkingBudget`).
    pub reasoning_budget: Option<u32>,
    /// End-user id for the provider's abuse monitoring.
    pub user: Option<String>,
    pub metadata: Option<Value>,
    /// Parameters outside this model, passed only to OpenAI-style providers.
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// Text of the last user message (for fixtures, caching keys, guardrails).
    pub fn last_user_text(&self) -> String {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(Message::text_content)
            .unwrap_or_default()
    }

    /// Images in the whole conversation.
    pub fn image_count(&self) -> u32 {
        self.messages.iter().map(Message::image_count).sum()
    }

    /// Names of the parameters that are set, for support checks.
    pub fn set_params(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut add = |name: &'static str, set: bool| {
            if set {
                v.push(name)
            }
        };
        add("tools", !self.tools.is_empty());
        add("tool_choice", self.tool_choice.is_some());
        add("parallel_tool_calls", self.parallel_tool_calls.is_some());
        add("response_format", self.response_format.is_some());
        add("n", self.n.is_some_and(|n| n != 1));
        add("stop", !self.stop.is_empty());
        add("seed", self.seed.is_some());
        add("temperature", self.temperature.is_some());
        add("top_p", self.top_p.is_some());
        add("top_k", self.top_k.is_some());
        add("presence_penalty", self.presence_penalty.is_some());
        add("frequency_penalty", self.frequency_penalty.is_some());
        add("logprobs", self.logprobs == Some(true));
        add("top_logprobs", self.top_logprobs.is_some());
        add("reasoning_effort", self.reasoning_effort.is_some());
        add("reasoning_budget", self.reasoning_budget.is_some());
        add("user", self.user.is_some());
        add("metadata", self.metadata.is_some());
        add("images", self.image_count() > 0);
        v
    }

    /// Clear the named parameters (those a provider cannot honour, when they
    /// are to be dropped). Unknown names are ignored.
    pub fn clear_params(&mut self, names: &[&str]) {
        for n in names {
            match *n {
                "tools" => self.tools.clear(),
                "tool_choice" => self.tool_choice = None,
                "parallel_tool_calls" => self.parallel_tool_calls = None,
                "response_format" => self.response_format = None,
                "n" => self.n = None,
                "stop" => self.stop.clear(),
                "seed" => self.seed = None,
                "temperature" => self.temperature = None,
                "top_p" => self.top_p = None,
                "top_k" => self.top_k = None,
                "presence_penalty" => self.presence_penalty = None,
                "frequency_penalty" => self.frequency_penalty = None,
                "logprobs" => self.logprobs = None,
                "top_logprobs" => self.top_logprobs = None,
                "reasoning_effort" => self.reasoning_effort = None,
                "reasoning_budget" => self.reasoning_budget = None,
                "user" => self.user = None,
                "metadata" => self.metadata = None,
                other => {
                    self.extra.remove(other);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_become_inline_images_and_back() {
        let s = ImageSource::from_url("data:image/png;base64,iVBORw0KGgo=");
        assert_eq!(
            s,
            ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into()
            }
        );
        assert_eq!(s.to_url(), "data:image/png;base64,iVBORw0KGgo=");
        assert_eq!(
            ImageSource::from_url("https://x/y.png"),
            ImageSource::Url("https://x/y.png".into())
        );
    }

    #[test]
    fn set_params_and_clear_params_agree() {
        let mut r = ChatRequest {
            seed: Some(1),
            top_k: Some(3),
            stop: vec!["x".into()],
            n: Some(1),
            ..Default::default()
        };
        let set = r.set_params();
        assert_eq!(set, vec!["stop", "seed", "top_k"]);
        r.clear_params(&set);
        assert!(r.set_params().is_empty());
    }
}
