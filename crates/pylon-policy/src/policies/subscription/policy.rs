//! `subscription` at run time: 401 without a consumer, 403 without an approved
//! subscription to the service.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;

use super::set::SubscriptionSet;
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policy::{Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

/// `subscription` settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriptionConfig {
    /// The service subscribed to; default: the route's service.
    pub service: Option<String>,
}

pub struct SubscriptionPolicy {
    service: Option<Arc<str>>,
    set: Arc<SubscriptionSet>,
}

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: SubscriptionConfig = parse_config(value)?;
    if let Some(s) = &cfg.service
        && !env.config.services.iter().any(|svc| &svc.name == s)
    {
        return Err(PolicyError::config(
            "service",
            format!("service `{s}` is not defined"),
        ));
    }
    Ok(Arc::new(SubscriptionPolicy {
        service: cfg.service.map(Arc::from),
        set: SubscriptionSet::of(env.shared),
    }))
}

impl SubscriptionPolicy {
    fn check(&self, ctx: &PolicyCtx) -> Result<(), Reject> {
        let Some(consumer) = &ctx.consumer else {
            return Err(Reject::unauthorized(None));
        };
        let service = self.service.as_ref().or(ctx.service.as_ref());
        let Some(service) = service else {
            return Err(Reject::forbidden(
                "this route belongs to no service to subscribe to",
            ));
        };
        if self.set.allows(service, &consumer.name) {
            return Ok(());
        }
        Err(Reject::new(
            http::StatusCode::FORBIDDEN,
            "subscription_required",
            format!(
                "consumer `{}` has no approved subscription to service `{service}`",
                consumer.name
            ),
        )
        .with_details(json!({"service": &**service, "consumer": &*consumer.name})))
    }
}

impl Policy for SubscriptionPolicy {
    fn kind(&self) -> &'static str {
        "subscription"
    }

    fn on_request<'a>(&'a self, _req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        match self.check(ctx) {
            Ok(()) => Step::next(),
            Err(r) => Step::reject(r),
        }
    }
}
