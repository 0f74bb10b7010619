//! `POST /v1/embeddings`: OpenAI embeddings over any provider that has them.

use futures_util::future::BoxFuture;
use http::{Response, StatusCode};
use pylon_telemetry::{AiRecord, put_ai_record};

use super::serve::{Served, served_headers};
use crate::client::{execute, read_body};
use crate::error::{AiError, scrub_secrets};
use crate::exec::{self, Attempt};
use crate::providers::Endpoint;
use crate::providers::openai::embeddings;
use crate::route::{AiBody, AiRoute, Call, Overrides, json_response};
use crate::router::Deployment;
use crate::types::{EmbeddingsRequest, EmbeddingsResponse};

struct EmbeddingsAttempt<'a> {
    req: &'a EmbeddingsRequest,
    route: &'a AiRoute,
    overrides: &'a Overrides,
}

impl Attempt for EmbeddingsAttempt<'_> {
    type Output = EmbeddingsResponse;

    fn run<'b>(
        &'b self,
        dep: &'b Deployment,
        key: Option<&'b str>,
    ) -> BoxFuture<'b, Result<EmbeddingsResponse, AiError>> {
        Box::pin(async move {
            let ep = Endpoint {
                settings: &dep.provider.settings,
                model: &dep.model,
                key,
                stream: false,
            };
            let t = self.route.timeouts(dep, self.overrides);
            let adapter = &dep.provider.adapter;
            let resp = execute(
                &dep.provider.client,
                adapter.embeddings(self.req, &ep)?,
                t.first_byte,
            )
            .await?;
            let body = read_body(resp.body, 256 << 20, t.total).await?;
            if resp.status.as_u16() >= 400 {
                let mut e = adapter.error(resp.status, &resp.headers, &body);
                let secrets: Vec<&str> = dep.provider.keys.secrets().collect();
                e.message = scrub_secrets(&e.message, &secrets);
                return Err(e);
            }
            let out = adapter.embeddings_response(&body, &ep)?;
            if out.vectors.len() != self.req.input.len() {
                return Err(AiError::bad_response(format!(
                    "the provider returned {} embeddings for {} inputs",
                    out.vectors.len(),
                    self.req.input.len()
                )));
            }
            Ok(out)
        })
    }
}

pub async fn handle(call: Call<'_>) -> Result<Response<AiBody>, AiError> {
    let mut req = embeddings::decode_request(&call.body)?;
    let group = super::serve::resolve_group(&call, &mut req.model)?;
    let mut rec = AiRecord {
        api: call.api.as_str(),
        model_requested: req.model.clone(),
        model_group: group.configured.then(|| group.name.clone()),
        ..Default::default()
    };
    if let Some(w) = &call.who {
        w.fill(&mut rec);
    }
    let mut admission = None;
    if let (Some(gov), Some(who)) = (&call.route.engine.governor, &call.who) {
        let tokens: u64 = match &req.input {
            crate::types::EmbeddingInput::Texts(t) => t
                .iter()
                .map(|s| crate::tokens::estimate_text(s) * 5 / 4 + 4)
                .sum(),
            crate::types::EmbeddingInput::Tokens(t) => t.iter().map(|v| v.len() as u64).sum(),
        };
        let est = super::serve::dearest(&group, tokens, 0, |_| 0);
        match gov.admit(who, &req.model, est).await {
            Ok(a) => admission = Some(a),
            Err(e) => {
                rec.error_class = Some(e.class.as_str());
                put_ai_record(&call.ctx.slot, rec);
                return Err(e);
            }
        }
    }
    let attempt = EmbeddingsAttempt {
        req: &req,
        route: call.route,
        overrides: &call.overrides,
    };
    match exec::run(
        &call.route.engine,
        group,
        &attempt,
        !call.overrides.no_fallback,
    )
    .await
    {
        Ok(outcome) => {
            let dep = outcome.deployment();
            let served = Served {
                provider: dep.provider.name().to_string(),
                model: dep.model.clone(),
                attempts: outcome.attempts,
            };
            let out = &outcome.value;
            let (input_tokens, estimated) = if out.usage.input_tokens > 0 {
                (out.usage.input_tokens, false)
            } else {
                match &req.input {
                    crate::types::EmbeddingInput::Texts(t) => {
                        let family = dep.token_family();
                        t.iter().fold((0, false), |(n, est), s| {
                            let c = crate::tokens::count_text_in(family, s);
                            (n + c.tokens, est || !c.exact)
                        })
                    }
                    // Token arrays are counted as given.
                    crate::types::EmbeddingInput::Tokens(t) => {
                        (t.iter().map(|v| v.len() as u64).sum(), false)
                    }
                }
            };
            rec.provider = Some(served.provider.clone());
            rec.provider_kind = Some(dep.provider.adapter.kind());
            rec.model_served = Some(served.model.clone());
            rec.key_id = outcome.key_id.clone();
            rec.attempts = outcome.attempts;
            rec.fallback_path = outcome.path.clone();
            rec.input_tokens = input_tokens;
            rec.tokens_estimated = estimated;
            rec.cost_usd = dep.info.as_deref().and_then(|m| {
                let u = crate::types::Usage {
                    input_tokens,
                    ..Default::default()
                };
                crate::cost::cost_usd(m, &u, 0)
            });
            rec.ttft_ms = Some(call.ctx.start.elapsed().as_secs_f64() * 1e3);
            if let Some(a) = admission {
                a.settle(input_tokens, rec.cost_usd);
            }
            put_ai_record(&call.ctx.slot, rec);
            let mut shown = outcome.value.clone();
            shown.usage.input_tokens = input_tokens;
            let base64 = req.encoding_format.as_deref() == Some("base64");
            let mut resp = json_response(
                StatusCode::OK,
                &embeddings::encode_response(&shown, &req.model, base64),
            );
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
