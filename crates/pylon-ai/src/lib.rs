//! Pylon's AI gateway: one OpenAI- and Anthropic-compatible API over many
//! providers.
//!
//! Hub and spoke: inbound APIs ([`api`]) and provider adapters
//! ([`providers`]) each convert between their wire format and the unified
//! [`types`]; nothing converts provider to provider. Streams are translated
//! chunk by chunk ([`sse`], [`stream`]). The [`router`] resolves model names
//! to groups of deployments; [`exec`] runs the attempts (keys, retries,
//! fallbacks); [`track`] records tokens, cost and timing; [`catalog`] holds
//! model facts and prices as data.
#![forbid(unsafe_code)]

pub mod api;
pub mod catalog;
pub mod client;
pub mod cost;
pub mod error;
pub mod exec;
pub mod govern;
pub mod guard;
pub mod providers;
pub mod route;
pub mod router;
pub mod sse;
pub mod stream;
pub mod tokens;
pub mod track;
pub mod types;

use std::sync::Arc;

use pylon_config::{Config, ConfigIssue};

pub use error::{AiError, ErrorClass};
pub use route::{AiBody, AiCallCtx, AiRoute, Caller};
pub use router::{AiShared, Engine};

/// Config checks of the AI layer: the `ai` section compiles (provider kinds,
/// presets, keys, TLS files). Plugged into config loading with the policy
/// checks, so `pylon validate` reports them too.
pub fn check(cfg: &Config) -> Vec<ConfigIssue> {
    if cfg.ai.providers.is_empty() && cfg.ai.models.is_empty() && cfg.ai.catalog.is_empty() {
        return Vec::new();
    }
    let mut issues = match Engine::compile(&cfg.ai, &AiShared::new()) {
        Ok(_) => Vec::new(),
        Err(issues) => issues,
    };
    if let Err((path, reason)) = govern::Governor::check(&cfg.ai) {
        issues.push(ConfigIssue::new(path, reason));
    }
    issues
}

/// Every config check beyond `pylon-config`'s own: policies and AI.
pub fn check_all(cfg: &Config) -> Vec<ConfigIssue> {
    let mut issues = pylon_policy::check(cfg);
    issues.extend(check(cfg));
    issues
}

/// The engine for a snapshot, when the config has an `ai` section in use.
pub fn compile_engine(
    cfg: &Config,
    shared: &Arc<AiShared>,
) -> Result<Option<Arc<Engine>>, Vec<ConfigIssue>> {
    let used = cfg.routes.iter().any(|r| r.ai.is_some()) || !cfg.ai.providers.is_empty();
    if !used {
        return Ok(None);
    }
    // Build the tokenizers in the background before the first call needs one.
    tokens::warm_up();
    let mut engine = Engine::compile(&cfg.ai, shared)?;
    let counters = shared
        .counters(cfg.cluster.redis_url.as_deref())
        .map_err(|e| vec![ConfigIssue::new("cluster.redis_url", e)])?;
    engine.governor = govern::Governor::compile(&cfg.ai, counters)
        .map_err(|(path, reason)| vec![ConfigIssue::new(path, reason)])?
        .map(Arc::new);
    Ok(Some(Arc::new(engine)))
}
