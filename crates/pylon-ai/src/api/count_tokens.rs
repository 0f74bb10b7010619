//! `POST /v1/messages/count_tokens`: the prompt tokens of a Messages
//! request, `{"input_tokens": N}`. Deployments whose provider counts
//! natively (Anthropic's own endpoint) are asked, through the same attempt
//! loop as calls (keys, retries, fallbacks); the others are estimated with
//! [`crate::tokens`].

use futures_util::future::BoxFuture;
use http::{Response, StatusCode};
use pylon_telemetry::{AiRecord, put_ai_record};
use serde_json::json;

use super::serve::{Served, resolve_group, served_headers};
use crate::client::{execute, read_body};
use crate::error::{AiError, scrub_secrets};
use crate::exec::{self, Attempt};
use crate::providers::Endpoint;
use crate::providers::anthropic::request;
use crate::route::{AiBody, AiRoute, Call, Overrides, json_response};
use crate::router::Deployment;
use crate::types::ChatRequest;

/// Largest count answer read from a provider.
const MAX_ANSWER: usize = 1 << 20;

struct CountAttempt<'a> {
    req: &'a ChatRequest,
    route: &'a AiRoute,
    overrides: &'a Overrides,
}

impl Attempt for CountAttempt<'_> {
    /// The count, and whether the provider made it (else an estimate).
    type Output = (u64, bool);

    fn run<'b>(
        &'b self,
        dep: &'b Deployment,
        key: Option<&'b str>,
    ) -> BoxFuture<'b, Result<(u64, bool), AiError>> {
        Box::pin(async move {
            let ep = Endpoint {
                settings: &dep.provider.settings,
                model: &dep.model,
                key,
                stream: false,
            };
            let adapter = &dep.provider.adapter;
            let Some(outbound) = adapter.count_tokens(self.req, &ep) else {
                return Ok((crate::tokens::estimate_prompt(self.req), false));
            };
            let t = self.route.timeouts(dep, self.overrides);
            let resp = execute(&dep.provider.client, outbound?, t.first_byte).await?;
            let body = read_body(resp.body, MAX_ANSWER, t.total).await?;
            if resp.status.as_u16() >= 400 {
                let mut e = adapter.error(resp.status, &resp.headers, &body);
                let secrets: Vec<&str> = dep.provider.keys.secrets().collect();
                e.message = scrub_secrets(&e.message, &secrets);
                return Err(e);
            }
            Ok((adapter.count_tokens_response(&body)?, true))
        })
    }
}

pub async fn handle(call: Call<'_>) -> Result<Response<AiBody>, AiError> {
    let mut req = request::decode_request(&call.body, true)?;
    let group = resolve_group(&call, &mut req.model)?;
    let mut rec = AiRecord {
        api: call.api.as_str(),
        model_requested: req.model.clone(),
        model_group: group.configured.then(|| group.name.clone()),
        ..Default::default()
    };
    let attempt = CountAttempt {
        req: &req,
        route: call.route,
        overrides: &call.overrides,
    };
    let allow_fallback = !call.overrides.no_fallback;
    match exec::run(&call.route.engine, group, &attempt, allow_fallback).await {
        Ok(outcome) => {
            let dep = outcome.deployment();
            let (count, native) = outcome.value;
            rec.provider = Some(dep.provider.name().to_string());
            rec.provider_kind = Some(dep.provider.adapter.kind());
            rec.model_served = Some(dep.model.clone());
            rec.key_id = outcome.key_id.clone().filter(|_| native);
            rec.attempts = outcome.attempts;
            rec.fallback_path = outcome.path.clone();
            put_ai_record(&call.ctx.slot, rec);
            let served = Served {
                provider: dep.provider.name().to_string(),
                model: dep.model.clone(),
                attempts: outcome.attempts,
            };
            let mut resp = json_response(StatusCode::OK, &json!({ "input_tokens": count }));
            served_headers(&mut resp, &call, &served);
            Ok(resp)
        }
        Err(f) => {
            rec.attempts = f.attempts;
            rec.fallback_path = f.path;
            rec.error_class = Some(f.error.class.as_str());
            put_ai_record(&call.ctx.slot, rec);
            Err(f.error)
        }
    }
}
