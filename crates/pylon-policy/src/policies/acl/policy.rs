//! `acl` at run time: 401 without a consumer, 403 when a rule refuses.

use std::sync::Arc;

use super::config::AclConfig;
use super::rules::ClaimRule;
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policy::{Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

pub struct Acl {
    allow: Vec<String>,
    deny: Vec<String>,
    claims: Vec<ClaimRule>,
}

pub fn build(
    value: &serde_json::Value,
    _env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: AclConfig = parse_config(value)?;
    if cfg.allow.is_empty() && cfg.deny.is_empty() && cfg.claims.is_empty() {
        return Err(PolicyError::config(
            "",
            "at least one of `allow`, `deny` and `claims` is needed",
        ));
    }
    for (field, list) in [("allow", &cfg.allow), ("deny", &cfg.deny)] {
        if let Some(i) = list.iter().position(|g| g.is_empty()) {
            return Err(PolicyError::config(
                format!("{field}[{i}]"),
                "must not be empty",
            ));
        }
    }
    let claims = cfg
        .claims
        .into_iter()
        .enumerate()
        .map(|(i, c)| ClaimRule::parse(&format!("claims[{i}]"), c))
        .collect::<Result<_, _>>()?;
    Ok(Arc::new(Acl {
        allow: cfg.allow,
        deny: cfg.deny,
        claims,
    }))
}

impl Acl {
    fn allowed(&self, ctx: &PolicyCtx) -> Result<(), Reject> {
        let Some(consumer) = &ctx.consumer else {
            return Err(Reject::unauthorized(None));
        };
        let denied = self.deny.iter().any(|g| consumer.in_group(g));
        let allowed = self.allow.is_empty() || self.allow.iter().any(|g| consumer.in_group(g));
        let claims_ok = self.claims.is_empty()
            || ctx
                .claims
                .as_deref()
                .is_some_and(|c| self.claims.iter().all(|r| r.holds(c)));
        if denied || !allowed || !claims_ok {
            // The message does not say which rule refused.
            return Err(Reject::forbidden("access to this resource is not allowed"));
        }
        Ok(())
    }
}

impl Policy for Acl {
    fn kind(&self) -> &'static str {
        "acl"
    }

    fn on_request<'a>(&'a self, _req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        match self.allowed(ctx) {
            Ok(()) => Step::next(),
            Err(r) => Step::reject(r),
        }
    }
}
