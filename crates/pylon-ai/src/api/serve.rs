//! The part of a chat call every inbound chat API shares: resolve the model,
//! check it is allowed, run the attempt loop, and fill the call record.
//! Chat Completions, Messages and Responses differ only in their codecs.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::{HeaderValue, Response, StatusCode, header};
use pylon_config::UnsupportedParams;
use pylon_telemetry::AiRecord;

use crate::client::{execute, read_body};
use crate::error::{AiError, ErrorClass, scrub_secrets};
use crate::exec::{self, Attempt};
use crate::guard::{Guard, GuardFilter, GuardState};
use crate::providers::Endpoint;
use crate::route::{AiBody, Call, Overrides};
use crate::router::{Deployment, ModelGroup};
use crate::stream::{EventStream, SseBody, StreamEncoder};
use crate::track::Tracker;
use crate::types::{ChatRequest, ChatResponse};

/// Largest whole answer read from a provider.
const MAX_ANSWER: usize = 64 << 20;
/// Largest error body read from a provider.
const MAX_ERROR: usize = 1 << 20;

/// What a chat attempt produced.
pub enum ChatAnswer {
    Whole(ChatResponse),
    Stream(EventStream),
}

/// One chat call as the attempt loop runs it.
pub struct ChatAttempt<'a> {
    pub req: &'a ChatRequest,
    pub route: &'a crate::route::AiRoute,
    pub overrides: &'a Overrides,
    /// The prompt's size, checked against each deployment's context window.
    pub prompt: crate::tokens::PromptTokens<'a>,
    pub dropped: parking_lot::Mutex<Vec<String>>,
}

impl Attempt for ChatAttempt<'_> {
    type Output = ChatAnswer;

    fn precheck(&self, dep: &Deployment) -> Result<(), AiError> {
        if let Some(cw) = dep.info.as_ref().and_then(|m| m.context_window) {
            let max_out = u64::from(self.req.max_tokens.unwrap_or(0));
            if let Err(want) = self.prompt.fits(dep.token_family(), max_out, cw) {
                let about = if want.exact { "" } else { "about " };
                let mut e = AiError::new(
                    ErrorClass::ContextWindow,
                    format!(
                        "the request needs {about}{} tokens (prompt and max_tokens) but `{}` has a context window of {cw}",
                        want.tokens, dep.model
                    ),
                );
                e.code = Some("context_length_exceeded".into());
                return Err(e);
            }
        }
        let unsupported = dep.provider.adapter.unsupported(self.req);
        if !unsupported.is_empty() && dep.provider.unsupported == UnsupportedParams::Reject {
            let mut e = AiError::new(
                ErrorClass::Unsupported,
                format!(
                    "provider `{}` does not support: {}",
                    dep.provider.name(),
                    unsupported.join(", ")
                ),
            );
            e.param = unsupported.first().map(|p| p.to_string());
            return Err(e);
        }
        Ok(())
    }

    fn run<'b>(
        &'b self,
        dep: &'b Deployment,
        key: Option<&'b str>,
    ) -> BoxFuture<'b, Result<ChatAnswer, AiError>> {
        Box::pin(async move {
            let unsupported = dep.provider.adapter.unsupported(self.req);
            let max_tokens = match self.req.max_tokens {
                None => dep
                    .provider
                    .adapter
                    .default_max_tokens(self.req, dep.info.as_deref()),
                Some(_) => None,
            };
            let cleared;
            let req = if unsupported.is_empty() && max_tokens.is_none() {
                self.req
            } else {
                let mut r = self.req.clone();
                r.clear_params(&unsupported);
                if max_tokens.is_some() {
                    r.max_tokens = max_tokens;
                }
                *self.dropped.lock() = unsupported.iter().map(|s| s.to_string()).collect();
                cleared = r;
                &cleared
            };
            let ep = Endpoint {
                settings: &dep.provider.settings,
                model: &dep.model,
                key,
                stream: req.stream,
            };
            let t = self.route.timeouts(dep, self.overrides);
            let adapter = &dep.provider.adapter;
            let outbound = adapter.chat(req, &ep)?;
            let resp = execute(&dep.provider.client, outbound, t.first_byte).await?;
            if resp.status.as_u16() >= 400 {
                let body = read_body(resp.body, MAX_ERROR, t.first_byte)
                    .await
                    .unwrap_or_default();
                let mut e = adapter.error(resp.status, &resp.headers, &body);
                let secrets: Vec<&str> = dep.provider.keys.secrets().collect();
                e.message = scrub_secrets(&e.message, &secrets);
                if e.retry_after.is_none() {
                    e.retry_after = crate::error::retry_after(&resp.headers);
                }
                return Err(e);
            }
            if req.stream {
                let mut events = EventStream::new(resp.body, adapter.chat_stream(&ep), t.idle);
                match tokio::time::timeout(t.first_byte, events.prime()).await {
                    Ok(r) => r?,
                    Err(_) => {
                        return Err(AiError::new(
                            ErrorClass::Timeout,
                            format!("the provider sent no event within {:?}", t.first_byte),
                        ));
                    }
                }
                Ok(ChatAnswer::Stream(events))
            } else {
                let body = read_body(resp.body, MAX_ANSWER, t.total).await?;
                Ok(ChatAnswer::Whole(adapter.chat_response(&body, &ep)?))
            }
        })
    }
}

/// A chat call ready to run: the group to use, the record to fill, and the
/// guardrail state (placeholders to restore in the answer).
pub struct ChatPlan {
    pub group: Arc<ModelGroup>,
    pub tracker: Tracker,
    pub guard: Option<(Arc<Guard>, GuardState)>,
}

/// Resolve and check the model of `req`, apply the input guardrails, and
/// start its record (a refusal here is recorded too).
pub fn start_chat(call: &Call<'_>, req: &mut ChatRequest) -> Result<ChatPlan, AiError> {
    if let Some(m) = &call.overrides.model {
        req.model = m.clone();
    }
    let mut rec = AiRecord {
        api: call.api.as_str(),
        model_requested: req.model.clone(),
        stream: req.stream,
        ..Default::default()
    };
    if let Some(w) = &call.who {
        w.fill(&mut rec);
    }
    let mut tracker = Tracker::new(call.ctx.slot.clone(), rec, call.ctx.start);
    match plan(call, req, &mut tracker) {
        Ok((group, guard)) => {
            tracker.rec.model_group = group.configured.then(|| group.name.clone());
            tracker.set_prompt(req);
            Ok(ChatPlan {
                group,
                tracker,
                guard,
            })
        }
        Err(e) => {
            tracker.failed_before_answer(&e);
            Err(e)
        }
    }
}

type Planned = (Arc<ModelGroup>, Option<(Arc<Guard>, GuardState)>);

fn plan(call: &Call<'_>, req: &mut ChatRequest, tracker: &mut Tracker) -> Result<Planned, AiError> {
    let route = call.route;
    let group = find_group(call, &req.model)?;
    let guard = match &route.guard {
        None => None,
        Some(g) => {
            let mut state = GuardState::default();
            tracker.guard_log = Some(state.decisions.clone());
            g.apply_input(req, &mut state)?;
            Some((g.clone(), state))
        }
    };
    Ok((group, guard))
}

/// The most a chat call can use: its prompt (estimated generously) plus its
/// `max_tokens` (else the model's largest output), priced at the dearest deployment.
fn estimate(req: &ChatRequest, group: &ModelGroup) -> crate::govern::Estimate {
    let input = crate::tokens::estimate_prompt(req);
    dearest(group, input + input / 4 + 16, req.image_count(), |info| {
        req.max_tokens
            .map(u64::from)
            .or_else(|| info.and_then(|m| m.max_output_tokens))
            .unwrap_or(4096)
    })
}

/// `input` tokens and `output(model)` tokens priced at the dearest deployment of `group`.
pub(super) fn dearest(
    group: &ModelGroup,
    input: u64,
    images: u32,
    output: impl Fn(Option<&crate::catalog::ModelInfo>) -> u64,
) -> crate::govern::Estimate {
    let mut est = crate::govern::Estimate::default();
    for d in &group.deployments {
        let info = d.info.as_deref();
        let usage = crate::types::Usage {
            input_tokens: input,
            output_tokens: output(info),
            ..Default::default()
        };
        est.tokens = est.tokens.max(input + usage.output_tokens);
        if let Some(c) = info.and_then(|m| crate::cost::cost_usd(m, &usage, images)) {
            est.cost_usd = Some(est.cost_usd.map_or(c, |p: f64| p.max(c)));
        }
    }
    est
}

/// What served a call, for response headers.
pub struct Served {
    pub provider: String,
    pub model: String,
    pub attempts: u32,
}

/// Run the call; on success fill the record with what served it.
pub async fn run_chat(
    call: &Call<'_>,
    req: &ChatRequest,
    plan: ChatPlan,
) -> Result<(ChatAnswer, Served, Tracker), AiError> {
    let ChatPlan {
        group,
        mut tracker,
        guard,
    } = plan;
    if let (Some(gov), Some(who)) = (&call.route.engine.governor, &call.who) {
        let est = estimate(req, &group);
        match gov.admit(who, &req.model, est).await {
            Ok(a) => tracker.admission = Some(a),
            Err(e) => {
                tracker.failed_before_answer(&e);
                return Err(e);
            }
        }
    }
    let attempt = ChatAttempt {
        req,
        route: call.route,
        overrides: &call.overrides,
        prompt: crate::tokens::PromptTokens::new(req),
        dropped: parking_lot::Mutex::new(Vec::new()),
    };
    let allow_fallback = !call.overrides.no_fallback;
    match exec::run(&call.route.engine, group, &attempt, allow_fallback).await {
        Ok(mut outcome) => {
            let in_flight = outcome.in_flight.take();
            let path = std::mem::take(&mut outcome.path);
            let dep = outcome.deployment();
            let served = Served {
                provider: dep.provider.name().to_string(),
                model: dep.model.clone(),
                attempts: outcome.attempts,
            };
            let r = &mut tracker.rec;
            r.provider = Some(dep.provider.name().to_string());
            r.provider_kind = Some(dep.provider.adapter.kind());
            r.model_served = Some(dep.model.clone());
            r.key_id = outcome.key_id.clone();
            r.attempts = outcome.attempts;
            r.fallback_path = path;
            r.dropped_params = attempt.dropped.into_inner();
            tracker.served(dep.info.clone(), in_flight);
            let mut answer = outcome.value;
            if let Some((g, mut state)) = guard {
                match &mut answer {
                    ChatAnswer::Whole(resp) => {
                        if let Err(e) = g.apply_output(resp, &mut state) {
                            tracker.failed_before_answer(&e);
                            return Err(e);
                        }
                    }
                    ChatAnswer::Stream(events) => {
                        if g.filters_output() {
                            events.set_filter(Box::new(GuardFilter::new(g.clone(), state)));
                        }
                    }
                }
            }
            Ok((answer, served, tracker))
        }
        Err(f) => {
            tracker.rec.attempts = f.attempts;
            tracker.rec.fallback_path = f.path;
            tracker.failed_before_answer(&f.error);
            Err(f.error)
        }
    }
}

/// Apply the `x-pylon-model` override to `model`, check the route allows
/// it, and find its group (the Messages token count's path; `start_chat`
/// does the same for calls).
pub fn resolve_group(call: &Call<'_>, model: &mut String) -> Result<Arc<ModelGroup>, AiError> {
    if let Some(m) = &call.overrides.model {
        model.clone_from(m);
    }
    find_group(call, model)
}

/// Check that the route and the caller's virtual key allow `model`, and find its group.
fn find_group(call: &Call<'_>, model: &str) -> Result<Arc<ModelGroup>, AiError> {
    let denied = |whose: &str| {
        let mut e = AiError::new(
            ErrorClass::PermissionDenied,
            format!("the model `{model}` is not allowed {whose}"),
        );
        e.code = Some("model_not_allowed".into());
        e
    };
    if !call.route.allows(model) {
        return Err(denied("on this route"));
    }
    if let Some(k) = call.who.as_ref().and_then(|w| w.key.as_ref())
        && !call.route.allows_in(&k.models, model)
    {
        return Err(denied("for this API key"));
    }
    call.route.engine.resolve(model).ok_or_else(|| {
        let mut e = AiError::new(
            ErrorClass::NotFound,
            format!("the model `{model}` does not exist or you do not have access to it"),
        );
        e.code = Some("model_not_found".into());
        e.param = Some("model".into());
        e
    })
}

/// Headers naming what served the call.
pub fn served_headers(resp: &mut Response<AiBody>, call: &Call<'_>, s: &Served) {
    if !call.route.expose_served() {
        return;
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&s.provider) {
        h.insert("x-pylon-provider", v);
    }
    if let Ok(v) = HeaderValue::from_str(&s.model) {
        h.insert("x-pylon-model", v);
    }
    h.insert("x-pylon-attempts", HeaderValue::from(s.attempts));
}

/// The streamed answer as the caller's SSE.
pub fn stream_response(
    events: EventStream,
    encoder: Box<dyn StreamEncoder>,
    tracker: Tracker,
) -> Response<AiBody> {
    use http_body_util::BodyExt;
    let mut resp = Response::new(SseBody::new(events, encoder, tracker).boxed());
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
