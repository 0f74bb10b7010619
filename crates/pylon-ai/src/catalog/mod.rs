//! The model catalog: what each model is (provider, context window, output
//! limit, capabilities) and what it costs, shipped as data (`models.json`,
//! compiled into the binary) and overridable from `ai.catalog` in config.
//! Prices are USD per million tokens; docs/ai/catalog.md says where the
//! shipped figures come from and how cost is computed.

mod lookup;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use pylon_config::CatalogModelConfig;
use serde::{Deserialize, Serialize};

pub use lookup::candidates;

/// What the catalog knows of one model.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelInfo {
    pub id: String,
    /// Provider kind (`openai`, `anthropic`, `gemini`, ...).
    pub provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_price: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_price: Option<f64>,
    /// Input tokens read from the provider's prompt cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_input_price: Option<f64>,
    /// Input tokens written to the cache (Anthropic's 5-minute writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_write_price: Option<f64>,
    /// Reasoning tokens, where billed differently from other output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_price: Option<f64>,
    /// USD per input image, where billed per image on top of tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_price: Option<f64>,
    /// `chat` (default), `embeddings`, `completion`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub capabilities: Vec<String>,
}

impl ModelInfo {
    pub fn has(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }

    pub fn is_embeddings(&self) -> bool {
        self.mode.as_deref() == Some("embeddings")
    }

    /// `base` (a shipped entry, or an empty one) with what `c` sets: set
    /// fields replace, unset ones keep `base`'s.
    fn merged(base: Option<&ModelInfo>, c: &CatalogModelConfig) -> Self {
        let b = base.cloned().unwrap_or_default();
        Self {
            id: c.id.clone(),
            provider: c.provider.clone(),
            context_window: c.context_window.or(b.context_window),
            max_output_tokens: c.max_output_tokens.or(b.max_output_tokens),
            input_price: c.input_price.or(b.input_price),
            output_price: c.output_price.or(b.output_price),
            cached_input_price: c.cached_input_price.or(b.cached_input_price),
            cache_write_price: c.cache_write_price.or(b.cache_write_price),
            reasoning_price: c.reasoning_price.or(b.reasoning_price),
            image_price: c.image_price.or(b.image_price),
            mode: c.mode.clone().or(b.mode),
            capabilities: if c.capabilities.is_empty() {
                b.capabilities
            } else {
                c.capabilities.clone()
            },
        }
    }
}

/// The shipped catalog file.
const SHIPPED: &str = include_str!("models.json");

/// The shipped models, parsed once per process.
pub fn shipped() -> Result<&'static [ModelInfo], String> {
    static PARSED: OnceLock<Result<Vec<ModelInfo>, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            serde_json::from_str(SHIPPED)
                .map_err(|e| format!("the shipped model catalog is broken: {e}"))
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// Models by provider kind and id.
#[derive(Debug, Default)]
pub struct Catalog {
    by_key: HashMap<(String, String), Arc<ModelInfo>>,
    /// The first entry of each id (the shipped file lists a model's own
    /// provider first), for lookups that name no provider.
    by_id: HashMap<String, Arc<ModelInfo>>,
}

impl Catalog {
    /// The shipped models, plus `overrides`: an override of a shipped
    /// provider and id changes the fields it sets and keeps the others; any
    /// other is a new entry.
    pub fn load(overrides: &[CatalogModelConfig]) -> Result<Self, String> {
        let mut c = Catalog::default();
        for m in shipped()? {
            c.insert(m.clone());
        }
        for o in overrides {
            let base = c.by_key.get(&(o.provider.clone(), o.id.clone())).cloned();
            c.insert(ModelInfo::merged(base.as_deref(), o));
        }
        Ok(c)
    }

    fn insert(&mut self, m: ModelInfo) {
        let m = Arc::new(m);
        self.by_key
            .insert((m.provider.clone(), m.id.clone()), m.clone());
        match self.by_id.get(&m.id) {
            Some(have) if have.provider != m.provider => {}
            _ => {
                self.by_id.insert(m.id.clone(), m);
            }
        }
    }

    /// The entry for `id` served by a provider of `kind` (empty: any). Each
    /// of the id's [`candidates`] (as given, without location, region or
    /// provider prefixes, without a snapshot date or version) is tried for
    /// `kind` first, then under any provider.
    pub fn find(&self, kind: &str, id: &str) -> Option<Arc<ModelInfo>> {
        let ids = candidates(id);
        if !kind.is_empty() {
            let hit = ids
                .iter()
                .find_map(|c| self.by_key.get(&(kind.to_string(), c.clone())));
            if let Some(m) = hit {
                return Some(m.clone());
            }
        }
        ids.iter().find_map(|c| self.by_id.get(c)).cloned()
    }

    /// Every model, sorted by provider and id.
    pub fn all(&self) -> Vec<&Arc<ModelInfo>> {
        let mut v: Vec<_> = self.by_key.values().collect();
        v.sort_by(|a, b| (&a.provider, &a.id).cmp(&(&b.provider, &b.id)));
        v
    }

    /// Every model served by a provider of `kind`.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Arc<ModelInfo>> + 'a {
        self.by_key
            .iter()
            .filter(move |((k, _), _)| k == kind)
            .map(|(_, m)| m)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c() -> Catalog {
        Catalog::load(&[]).unwrap()
    }

    #[test]
    fn shipped_catalog_is_large_and_well_formed() {
        let c = c();
        let real = c.all().into_iter().filter(|m| m.provider != "mock").count();
        assert!(real >= 180, "{real} models");
        for m in c.all() {
            assert!(!m.id.is_empty() && !m.provider.is_empty(), "{m:?}");
            for p in [
                m.input_price,
                m.output_price,
                m.cached_input_price,
                m.cache_write_price,
            ] {
                assert!(p.is_none_or(|p| p.is_finite() && p >= 0.0), "{m:?}");
            }
            // A discounted read never costs more than a plain input token.
            if let (Some(i), Some(r)) = (m.input_price, m.cached_input_price) {
                assert!(r <= i, "{}: cached {r} > input {i}", m.id);
            }
            if m.is_embeddings() {
                assert!(m.has("embeddings"), "{}", m.id);
            }
            for cap in &m.capabilities {
                assert!(
                    ["tools", "vision", "json", "reasoning", "embeddings"].contains(&cap.as_str()),
                    "{}: {cap}",
                    m.id
                );
            }
        }
        for kind in [
            "openai",
            "azure",
            "anthropic",
            "gemini",
            "bedrock",
            "mistral",
            "cohere",
            "ollama",
            "groq",
            "deepseek",
            "together",
            "fireworks",
            "openrouter",
            "xai",
            "perplexity",
            "moonshot",
            "zhipu",
            "qwen",
            "siliconflow",
        ] {
            assert!(c.of_kind(kind).next().is_some(), "no {kind} models");
        }
    }

    #[test]
    fn dated_and_prefixed_ids_find_their_model() {
        let c = c();
        let id = |kind: &str, asked: &str| c.find(kind, asked).map(|m| m.id.clone());
        assert_eq!(id("openai", "gpt-4o-2024-08-06").as_deref(), Some("gpt-4o"));
        assert_eq!(
            id("openai", "gpt-4o-mini-2024-07-18").as_deref(),
            Some("gpt-4o-mini")
        );
        // An exact snapshot entry wins over its base model.
        assert_eq!(
            id("openai", "gpt-4o-2024-05-13").as_deref(),
            Some("gpt-4o-2024-05-13")
        );
        assert_eq!(id("openai", "o3-pro-2025-06-10").as_deref(), Some("o3-pro"));
        assert_eq!(
            id("anthropic", "claude-sonnet-4-5-20250929").as_deref(),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(
            id("gemini", "models/gemini-2.5-pro").as_deref(),
            Some("gemini-2.5-pro")
        );
        assert_eq!(
            id("gemini", "gemini-2.0-flash-001").as_deref(),
            Some("gemini-2.0-flash")
        );
        assert_eq!(
            id("bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0").as_deref(),
            Some("anthropic.claude-sonnet-4-20250514-v1:0")
        );
        assert_eq!(
            id("bedrock", "global.amazon.nova-2-lite-v1:0").as_deref(),
            Some("amazon.nova-2-lite-v1:0")
        );
        assert_eq!(
            id(
                "bedrock",
                "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0"
            )
            .as_deref(),
            Some("amazon.nova-pro-v1:0")
        );
        assert_eq!(id("ollama", "llama3.1:70b").as_deref(), Some("llama3.1"));
        assert_eq!(
            id("mistral", "mistral-large-latest").as_deref(),
            Some("mistral-large-latest")
        );
    }

    #[test]
    fn the_provider_kind_picks_among_same_ids() {
        let c = c();
        assert_eq!(c.find("azure", "gpt-4o").unwrap().provider, "azure");
        assert_eq!(c.find("openai", "gpt-4o").unwrap().provider, "openai");
        // No provider named: the model's own provider (listed first).
        assert_eq!(c.find("", "gpt-4o").unwrap().provider, "openai");
        assert_eq!(c.find("", "openai/gpt-oss-120b").unwrap().provider, "groq");
        // OpenRouter ids are kept whole; unknown ones fall back to the upstream model.
        assert_eq!(
            c.find("openrouter", "openai/gpt-4o").unwrap().provider,
            "openrouter"
        );
        let m = c.find("openrouter", "openai/gpt-4.1-mini").unwrap();
        assert_eq!(
            (m.provider.as_str(), m.id.as_str()),
            ("openai", "gpt-4.1-mini")
        );
    }

    #[test]
    fn other_models_are_not_priced_as_their_neighbours() {
        let c = c();
        assert!(c.find("openai", "o3-pro-mini").is_none_or(|m| m.id != "o3"));
        assert!(c.find("anthropic", "claude-opus-4-2").is_none());
        assert!(c.find("openai", "gpt-4o-audio-preview").is_none());
        assert!(c.find("azure", "my-deployment").is_none());
    }

    #[test]
    fn overrides_change_shipped_entries_and_add_new_ones() {
        let o = CatalogModelConfig {
            id: "gpt-4o".into(),
            provider: "openai".into(),
            input_price: Some(1.0),
            ..Default::default()
        };
        let n = CatalogModelConfig {
            id: "my-model".into(),
            provider: "openai_compatible".into(),
            input_price: Some(0.5),
            output_price: Some(1.5),
            ..Default::default()
        };
        let c = Catalog::load(&[o, n]).unwrap();
        let gpt4o = c.find("openai", "gpt-4o").unwrap();
        assert_eq!(gpt4o.input_price, Some(1.0));
        // Fields the override leaves unset keep the shipped figures.
        assert_eq!(gpt4o.cached_input_price, Some(1.25));
        assert_eq!(gpt4o.context_window, Some(128000));
        assert!(gpt4o.has("vision"));
        assert_eq!(c.find("", "gpt-4o").unwrap().input_price, Some(1.0));
        assert_eq!(
            c.find("openai_compatible", "my-model-2025-01-01")
                .unwrap()
                .output_price,
            Some(1.5)
        );
        // Azure's own entry is untouched.
        assert_eq!(c.find("azure", "gpt-4o").unwrap().input_price, Some(2.5));
    }
}
