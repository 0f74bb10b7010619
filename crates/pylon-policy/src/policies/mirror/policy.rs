//! `mirror` settings and decision.

use std::sync::Arc;

use serde::Deserialize;

use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policy::{Policy, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorConfig {
    /// The shadow upstream.
    pub upstream: String,
    /// Percent of requests copied (0 to 100).
    #[serde(default = "hundred")]
    pub percentage: f64,
    /// Copy request bodies too (they are then read into memory, up to the
    /// listener's body limit, before forwarding).
    #[serde(default = "yes")]
    pub include_body: bool,
}

fn hundred() -> f64 {
    100.0
}

fn yes() -> bool {
    true
}

/// Left in the request's `vars` for the proxy: send a copy to this upstream.
#[derive(Debug, Clone)]
pub struct MirrorTo {
    pub upstream: Arc<str>,
    pub include_body: bool,
}

pub struct Mirror {
    to: MirrorTo,
    percentage: f64,
}

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: MirrorConfig = parse_config(value)?;
    if !env.config.upstreams.iter().any(|u| u.name == cfg.upstream) {
        return Err(PolicyError::config(
            "upstream",
            format!("no upstream named `{}`", cfg.upstream),
        ));
    }
    if !(0.0..=100.0).contains(&cfg.percentage) {
        return Err(PolicyError::config(
            "percentage",
            "must be between 0 and 100",
        ));
    }
    Ok(Arc::new(Mirror {
        to: MirrorTo {
            upstream: Arc::from(cfg.upstream.as_str()),
            include_body: cfg.include_body,
        },
        percentage: cfg.percentage,
    }))
}

impl Policy for Mirror {
    fn kind(&self) -> &'static str {
        "mirror"
    }

    fn wants_request_body(&self, parts: &http::request::Parts) -> bool {
        self.to.include_body
            && (parts.headers.contains_key(http::header::TRANSFER_ENCODING)
                || parts
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .is_some_and(|v| v.as_bytes() != b"0"))
    }

    fn on_request<'a>(&'a self, _req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        if self.percentage >= 100.0 || rand::random_range(0.0..100.0) < self.percentage {
            ctx.vars.insert(self.to.clone());
        }
        Step::next()
    }
}
