//! OpenAI-compatible servers by config alone: the generic
//! `openai_compatible` kind, and presets that know a service's endpoint and
//! quirks (`kind: groq`, `kind: deepseek`, ...).

use std::sync::Arc;

use super::openai::{EncodeOptions, OpenAiStyle};
use super::{Provider, ProviderSettings};

/// A known OpenAI-compatible service.
pub struct Preset {
    pub name: &'static str,
    pub base_url: &'static str,
    pub needs_key: bool,
    /// Accepts `max_completion_tokens` (else `max_tokens` is sent).
    pub max_completion_tokens: bool,
    /// Knows the `developer` role (else it is sent as `system`).
    pub developer_role: bool,
    /// Parameters the service rejects.
    pub unsupported: &'static [&'static str],
    pub embeddings: bool,
}

const fn preset(name: &'static str, base_url: &'static str, needs_key: bool) -> Preset {
    Preset {
        name,
        base_url,
        needs_key,
        max_completion_tokens: false,
        developer_role: false,
        unsupported: &["reasoning_budget"],
        embeddings: false,
    }
}

/// Every shipped preset.
pub static PRESETS: &[Preset] = &[
    Preset {
        max_completion_tokens: true,
        unsupported: &["logprobs", "top_logprobs", "top_k", "reasoning_budget"],
        ..preset("groq", "https://api.groq.com/openai/v1", true)
    },
    Preset {
        unsupported: &["n", "seed", "top_k", "reasoning_budget", "images"],
        ..preset("deepseek", "https://api.deepseek.com/v1", true)
    },
    Preset {
        embeddings: true,
        ..preset("together", "https://api.together.xyz/v1", true)
    },
    Preset {
        embeddings: true,
        ..preset("fireworks", "https://api.fireworks.ai/inference/v1", true)
    },
    Preset {
        max_completion_tokens: true,
        developer_role: true,
        ..preset("openrouter", "https://openrouter.ai/api/v1", true)
    },
    Preset {
        max_completion_tokens: true,
        unsupported: &["top_k", "reasoning_budget"],
        ..preset("xai", "https://api.x.ai/v1", true)
    },
    Preset {
        unsupported: &[
            "n",
            "seed",
            "logprobs",
            "top_logprobs",
            "tools",
            "tool_choice",
            "parallel_tool_calls",
            "reasoning_budget",
        ],
        ..preset("perplexity", "https://api.perplexity.ai", true)
    },
    preset("moonshot", "https://api.moonshot.ai/v1", true),
    Preset {
        unsupported: &[
            "n",
            "seed",
            "logprobs",
            "top_logprobs",
            "presence_penalty",
            "frequency_penalty",
            "reasoning_budget",
        ],
        embeddings: true,
        ..preset("zhipu", "https://open.bigmodel.cn/api/paas/v4", true)
    },
    Preset {
        embeddings: true,
        ..preset(
            "qwen",
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            true,
        )
    },
    Preset {
        embeddings: true,
        ..preset("siliconflow", "https://api.siliconflow.cn/v1", true)
    },
    Preset {
        embeddings: true,
        unsupported: &["reasoning_budget"],
        ..preset("vllm", "http://127.0.0.1:8000/v1", false)
    },
    Preset {
        embeddings: true,
        ..preset("lmstudio", "http://127.0.0.1:1234/v1", false)
    },
    Preset {
        embeddings: true,
        ..preset("llamacpp", "http://127.0.0.1:8080/v1", false)
    },
];

/// The preset named `name`.
pub fn preset_named(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// A provider for a preset.
pub fn for_preset(p: &'static Preset) -> Arc<dyn Provider> {
    Arc::new(OpenAiStyle {
        kind: p.name,
        options: EncodeOptions {
            max_completion_tokens: p.max_completion_tokens,
            pass_extra: true,
            developer_as_system: !p.developer_role,
        },
        unsupported: p.unsupported,
        embeddings: p.embeddings,
    })
}

/// The generic `openai_compatible` kind (needs `base_url`).
pub fn build(_s: &ProviderSettings) -> Result<Arc<dyn Provider>, String> {
    Ok(Arc::new(OpenAiStyle {
        kind: "openai_compatible",
        options: EncodeOptions {
            max_completion_tokens: false,
            pass_extra: true,
            developer_as_system: true,
        },
        unsupported: &["reasoning_budget"],
        embeddings: true,
    }))
}
