//! The model catalog: what each model is (provider, context window, output
//! limit, capabilities) and what it costs, shipped as data (`models.json`,
//! compiled into the binary) and overridable from `ai.catalog` in config.
//! Prices are USD per million tokens.

use std::collections::HashMap;
use std::sync::Arc;

use pylon_config::CatalogModelConfig;
use serde::Deserialize;

/// What the catalog knows of one model.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelInfo {
    pub id: String,
    /// Provider kind (`openai`, `anthropic`, `gemini`, ...).
    pub provider: String,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u64>,
    pub input_price: Option<f64>,
    pub output_price: Option<f64>,
    pub cached_input_price: Option<f64>,
    pub cache_write_price: Option<f64>,
    pub reasoning_price: Option<f64>,
    pub image_price: Option<f64>,
    /// `chat` (default), `embeddings`, `completion`.
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

    fn from_config(c: &CatalogModelConfig) -> Self {
        Self {
            id: c.id.clone(),
            provider: c.provider.clone(),
            context_window: c.context_window,
            max_output_tokens: c.max_output_tokens,
            input_price: c.input_price,
            output_price: c.output_price,
            cached_input_price: c.cached_input_price,
            cache_write_price: c.cache_write_price,
            reasoning_price: c.reasoning_price,
            image_price: c.image_price,
            mode: c.mode.clone(),
            capabilities: c.capabilities.clone(),
        }
    }
}

/// The shipped catalog file.
const SHIPPED: &str = include_str!("models.json");

/// Models by provider kind and id.
#[derive(Debug, Default)]
pub struct Catalog {
    by_key: HashMap<(String, String), Arc<ModelInfo>>,
    by_id: HashMap<String, Arc<ModelInfo>>,
}

impl Catalog {
    /// The shipped models, plus (replacing same provider and id) `overrides`.
    pub fn load(overrides: &[CatalogModelConfig]) -> Result<Self, String> {
        let shipped: Vec<ModelInfo> = serde_json::from_str(SHIPPED)
            .map_err(|e| format!("the shipped model catalog is broken: {e}"))?;
        let mut c = Catalog::default();
        for m in shipped {
            c.insert(m);
        }
        for o in overrides {
            c.insert(ModelInfo::from_config(o));
        }
        Ok(c)
    }

    fn insert(&mut self, m: ModelInfo) {
        let m = Arc::new(m);
        self.by_key
            .insert((m.provider.clone(), m.id.clone()), m.clone());
        self.by_id.insert(m.id.clone(), m);
    }

    /// The entry for `id` served by a provider of `kind`: exact, then without
    /// a date or version suffix (`gpt-4o-2024-08-06` → `gpt-4o`), then by id
    /// alone.
    pub fn find(&self, kind: &str, id: &str) -> Option<Arc<ModelInfo>> {
        let exact = |id: &str| {
            self.by_key
                .get(&(kind.to_string(), id.to_string()))
                .or_else(|| self.by_id.get(id))
                .cloned()
        };
        if let Some(m) = exact(id) {
            return Some(m);
        }
        let mut cut = id;
        while let Some((head, _)) = cut.rsplit_once(['-', '@', ':']) {
            if let Some(m) = exact(head) {
                return Some(m);
            }
            cut = head;
        }
        // `models/gemini-2.0-flash`, `accounts/x/models/y`: the last segment.
        id.rsplit_once('/').and_then(|(_, last)| exact(last))
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

    #[test]
    fn shipped_catalog_loads_and_finds_dated_ids() {
        let c = Catalog::load(&[]).unwrap();
        assert!(!c.is_empty());
        let m = c.find("openai", "gpt-4o-2024-08-06").unwrap();
        assert_eq!(m.id, "gpt-4o");
        assert!(m.input_price.is_some());
    }

    #[test]
    fn overrides_replace_shipped_entries() {
        let o = CatalogModelConfig {
            id: "gpt-4o".into(),
            provider: "openai".into(),
            input_price: Some(1.0),
            ..Default::default()
        };
        let c = Catalog::load(&[o]).unwrap();
        assert_eq!(c.find("openai", "gpt-4o").unwrap().input_price, Some(1.0));
    }
}
