//! OpenAI-compatible servers by config alone: the generic
//! `openai_compatible` kind, and presets that know a service's endpoint and
//! quirks (`kind: groq`, `kind: deepseek`, ...). Each preset's base URL and
//! quirks follow the service's OpenAI-compatibility docs (docs/ai/catalog.md
//! lists the sources); services with a China and an international platform
//! default to the international one, which bills in USD like the catalog.

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
    /// The service rejects messages' `name` field.
    pub drop_names: bool,
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
        drop_names: false,
    }
}

/// Every shipped preset.
pub static PRESETS: &[Preset] = &[
    // Groq answers 400 to `logprobs`, `logit_bias`, `top_logprobs`,
    // `messages[].name` and `n` other than 1.
    Preset {
        max_completion_tokens: true,
        unsupported: &["logprobs", "top_logprobs", "n", "top_k", "reasoning_budget"],
        drop_names: true,
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
    // OpenRouter documents `max_tokens` and the system role for every
    // upstream; it maps them per model.
    preset("openrouter", "https://openrouter.ai/api/v1", true),
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
        // Z.ai, the international platform (USD); the China platform is
        // `https://open.bigmodel.cn/api/paas/v4` (set `base_url`).
        ..preset("zhipu", "https://api.z.ai/api/paas/v4", true)
    },
    Preset {
        embeddings: true,
        ..preset(
            "qwen",
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            true,
        )
    },
    // The international platform (USD); the China one is
    // `https://api.siliconflow.cn/v1`.
    Preset {
        embeddings: true,
        ..preset("siliconflow", "https://api.siliconflow.com/v1", true)
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

/// How requests to a preset's service are encoded.
fn options(p: &Preset) -> EncodeOptions {
    EncodeOptions {
        max_completion_tokens: p.max_completion_tokens,
        pass_extra: true,
        developer_as_system: !p.developer_role,
        drop_names: p.drop_names,
    }
}

/// A provider for a preset.
pub fn for_preset(p: &'static Preset) -> Arc<dyn Provider> {
    Arc::new(OpenAiStyle {
        kind: p.name,
        options: options(p),
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
            drop_names: false,
        },
        unsupported: &["reasoning_budget"],
        embeddings: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::openai::request::encode_request;
    use crate::types::{ChatRequest, Message, Role};

    fn named_request() -> ChatRequest {
        let mut m = Message::text(Role::User, "hi");
        m.name = Some("alice".into());
        ChatRequest {
            messages: vec![Message::text(Role::Developer, "be brief"), m],
            max_tokens: Some(50),
            n: Some(2),
            ..Default::default()
        }
    }

    fn preset(name: &str) -> &'static Preset {
        preset_named(name).unwrap()
    }

    #[test]
    fn groq_gets_no_names_and_no_n() {
        let p = preset("groq");
        let body = encode_request(&named_request(), "llama-3.3-70b-versatile", options(p));
        assert!(body["messages"][1].get("name").is_none(), "{body}");
        assert_eq!(body["max_completion_tokens"], 50);
        assert!(p.unsupported.contains(&"n"));
        let r = named_request();
        assert!(for_preset(p).unsupported(&r).contains(&"n"));
    }

    #[test]
    fn openrouter_gets_max_tokens_and_system() {
        let body = encode_request(
            &named_request(),
            "openai/gpt-4o",
            options(preset("openrouter")),
        );
        assert_eq!(body["max_tokens"], 50);
        assert!(body.get("max_completion_tokens").is_none());
        assert_eq!(body["messages"][0]["role"], "system");
        assert_eq!(body["messages"][1]["name"], "alice");
    }

    #[test]
    fn base_urls_are_the_services_documented_endpoints() {
        for (name, url) in [
            ("groq", "https://api.groq.com/openai/v1"),
            ("deepseek", "https://api.deepseek.com/v1"),
            ("together", "https://api.together.xyz/v1"),
            ("fireworks", "https://api.fireworks.ai/inference/v1"),
            ("openrouter", "https://openrouter.ai/api/v1"),
            ("xai", "https://api.x.ai/v1"),
            ("perplexity", "https://api.perplexity.ai"),
            ("moonshot", "https://api.moonshot.ai/v1"),
            ("zhipu", "https://api.z.ai/api/paas/v4"),
            (
                "qwen",
                "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            ),
            ("siliconflow", "https://api.siliconflow.com/v1"),
        ] {
            let p = preset(name);
            assert_eq!(p.base_url, url, "{name}");
            assert!(p.needs_key, "{name}");
        }
        for name in ["vllm", "lmstudio", "llamacpp"] {
            assert!(preset(name).base_url.starts_with("http://127.0.0.1:"));
            assert!(!preset(name).needs_key);
        }
    }
}
