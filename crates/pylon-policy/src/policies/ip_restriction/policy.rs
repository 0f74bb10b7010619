//! `ip-restriction` at run time: two range lookups on the client IP.

use std::sync::Arc;

use http::StatusCode;

use super::config::IpRestrictionConfig;
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::ipset::IpSet;
use crate::policy::{Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

pub struct IpRestriction {
    allow: Option<IpSet>,
    deny: IpSet,
    message: String,
}

pub fn build(
    value: &serde_json::Value,
    _env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: IpRestrictionConfig = parse_config(value)?;
    if cfg.allow.is_empty() && cfg.deny.is_empty() {
        return Err(PolicyError::config("", "set `allow`, `deny` or both"));
    }
    let allow = if cfg.allow.is_empty() {
        None
    } else {
        Some(IpSet::parse("allow", &cfg.allow)?)
    };
    let deny = IpSet::parse("deny", &cfg.deny)?;
    Ok(Arc::new(IpRestriction {
        allow,
        deny,
        message: cfg.message,
    }))
}

impl Policy for IpRestriction {
    fn kind(&self) -> &'static str {
        "ip-restriction"
    }

    fn on_request<'a>(&'a self, _req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let ip = ctx.client_ip;
        let denied = self.deny.contains(ip) || self.allow.as_ref().is_some_and(|a| !a.contains(ip));
        if denied {
            return Step::reject(Reject::new(
                StatusCode::FORBIDDEN,
                "ip_forbidden",
                self.message.clone(),
            ));
        }
        Step::next()
    }
}
