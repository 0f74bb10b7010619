//! AI governance: who may call (virtual keys), how often (requests and tokens per
//! minute, calls in flight) and how much they may spend (budgets in dollars per period).
//!
//! Every call is admitted before it reaches a provider: request and concurrency limits
//! are checked, then the call's largest possible cost and token count are reserved from
//! every budget and token allowance that applies, all or none (see
//! [`pylon_store::counters::reserve`]). When the call ends its [`Admission`] settles the
//! actual amounts and releases the rest. The counters are in-process on one node and in
//! Redis in a cluster (`cluster.redis_url`), so the bounds hold across nodes.

mod admit;
pub mod alerts;
mod keys;
mod period;
mod rules;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use pylon_config::AiConfig;
use pylon_store::counters::Counters;

pub use admit::{Admission, Estimate};
pub use keys::{KeyIndex, VirtualKey, Who};
pub use rules::Rule;

/// The compiled governance of one config snapshot.
pub struct Governor {
    pub keys: KeyIndex,
    rules: Vec<Rule>,
    counters: Arc<dyn Counters>,
}

impl Governor {
    /// The governor of `ai`, counting in `counters`; `None` when there is nothing to
    /// govern. The error is a config path and why.
    pub fn compile(
        ai: &AiConfig,
        counters: Arc<dyn Counters>,
    ) -> Result<Option<Governor>, (String, String)> {
        if ai.virtual_keys.is_empty() && ai.budgets.is_empty() && ai.limits.is_empty() {
            return Ok(None);
        }
        let keys = KeyIndex::compile(&ai.virtual_keys)?;
        let rules = rules::compile(ai)?;
        Ok(Some(Governor {
            keys,
            rules,
            counters,
        }))
    }

    /// The config problem that keeps `ai`'s governance from compiling, if any.
    pub fn check(ai: &AiConfig) -> Result<(), (String, String)> {
        KeyIndex::compile(&ai.virtual_keys)?;
        rules::compile(ai).map(drop)
    }

    /// Whether callers must present a virtual key (when no policy identified them).
    pub fn requires_key(&self) -> bool {
        !self.keys.is_empty()
    }

    /// `local` or `redis`.
    pub fn backend(&self) -> &'static str {
        self.counters.backend()
    }
}
