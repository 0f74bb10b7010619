//! [`AiRoute`]: a route with the `ai` action. It dispatches by path to the
//! inbound APIs, reads the request body (bounded), applies the route's model
//! allow-list and the `x-pylon-*` request headers, and renders every failure
//! in the caller's API shape.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use pylon_config::{AiRouteConfig, AiTimeouts};
use pylon_telemetry::AiRecordSlot;

use crate::api;
use crate::client::ProviderBody;
use crate::error::{AiError, ErrorClass};
use crate::router::{Deployment, Engine};

/// Longest time to receive a request body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(300);

/// The body of an AI response.
pub type AiBody = ProviderBody;

/// What the gateway tells the AI handler about the request.
pub struct AiCallCtx {
    /// When the request arrived (time to first token counts from here).
    pub start: Instant,
    /// Where the call's [`pylon_telemetry::AiRecord`] goes.
    pub slot: AiRecordSlot,
    /// Largest request body read.
    pub max_body: u64,
    /// Who is calling, when an authentication policy identified them.
    pub caller: Option<Caller>,
}

/// The authenticated caller of an AI request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub consumer: Arc<pylon_policy::Consumer>,
    /// Id of the credential (key) used.
    pub credential: Option<Arc<str>>,
}

impl Caller {
    pub fn tenant(&self) -> &str {
        &self.consumer.tenant
    }
}

/// The inbound API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    ChatCompletions,
    Embeddings,
    Models,
    Responses,
    Messages,
    CountTokens,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::ChatCompletions => "chat_completions",
            Api::Embeddings => "embeddings",
            Api::Models => "models",
            Api::Responses => "responses",
            Api::Messages => "messages",
            Api::CountTokens => "count_tokens",
        }
    }

    /// Errors on Anthropic's APIs use Anthropic's shape.
    pub fn anthropic(self) -> bool {
        matches!(self, Api::Messages | Api::CountTokens)
    }

    /// The API for a path (by its ending, so any prefix works).
    pub fn of_path(path: &str) -> Option<(Api, Option<&str>)> {
        let p = path.trim_end_matches('/');
        if p.ends_with("/chat/completions") {
            Some((Api::ChatCompletions, None))
        } else if p.ends_with("/embeddings") {
            Some((Api::Embeddings, None))
        } else if p.ends_with("/messages/count_tokens") {
            Some((Api::CountTokens, None))
        } else if p.ends_with("/messages") {
            Some((Api::Messages, None))
        } else if p.ends_with("/responses") {
            Some((Api::Responses, None))
        } else if p.ends_with("/models") {
            Some((Api::Models, None))
        } else if let Some(i) = p.rfind("/models/") {
            let id = &p[i + "/models/".len()..];
            (!id.is_empty()).then_some((Api::Models, Some(id)))
        } else {
            None
        }
    }
}

/// Request options from `x-pylon-*` headers.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `x-pylon-model`: use this model (or group) whatever the body says.
    pub model: Option<String>,
    /// `x-pylon-fallback: off`: no fallbacks.
    pub no_fallback: bool,
    /// `x-pylon-cache: bypass | refresh`.
    pub cache: Option<String>,
    /// `x-pylon-timeout`: seconds (or `250ms`, `2m`) for the whole call.
    pub timeout: Option<Duration>,
}

impl Overrides {
    fn from_headers(h: &HeaderMap) -> Result<Self, AiError> {
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
        let timeout = match get("x-pylon-timeout") {
            None => None,
            Some(v) => Some(parse_duration(v).ok_or_else(|| {
                AiError::invalid_param(
                    "x-pylon-timeout",
                    format!("`{v}` is not a duration (e.g. `30`, `500ms`, `2m`)"),
                )
            })?),
        };
        Ok(Overrides {
            model: get("x-pylon-model")
                .or(get("x-pylon-model-group"))
                .filter(|m| !m.is_empty())
                .map(str::to_string),
            no_fallback: get("x-pylon-fallback").is_some_and(|v| {
                matches!(
                    v.to_ascii_lowercase().as_str(),
                    "off" | "false" | "0" | "no"
                )
            }),
            cache: get("x-pylon-cache").map(str::to_ascii_lowercase),
            timeout,
        })
    }
}

fn parse_duration(v: &str) -> Option<Duration> {
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)?;
    let secs = match unit {
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// A compiled `ai` route.
pub struct AiRoute {
    pub engine: Arc<Engine>,
    pub config: AiRouteConfig,
    /// The route's guardrails (its own, or `ai.guardrails`).
    pub guard: Option<Arc<crate::guard::Guard>>,
}

/// Everything a handler of one inbound API gets.
pub struct Call<'a> {
    pub route: &'a AiRoute,
    pub api: Api,
    pub parts: http::request::Parts,
    pub body: Bytes,
    pub ctx: AiCallCtx,
    pub overrides: Overrides,
    /// Who is calling, for virtual-key model lists, budgets and limits (`None`: an
    /// anonymous caller on a route nothing governs).
    pub who: Option<crate::govern::Who>,
}

impl Call<'_> {
    /// Whether the route and the caller's virtual key allow `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.route.allows(model)
            && self
                .who
                .as_ref()
                .and_then(|w| w.key.as_ref())
                .is_none_or(|k| self.route.allows_in(&k.models, model))
    }
}

impl AiRoute {
    /// The route; the error names what in its config does not compile.
    pub fn new(engine: Arc<Engine>, config: AiRouteConfig) -> Result<Self, String> {
        let guard = match &config.guardrails {
            Some(g) => Some(Arc::new(
                crate::guard::Guard::compile(g).map_err(|e| format!("ai.guardrails: {e}"))?,
            )),
            None => engine.guardrails.clone(),
        };
        Ok(Self {
            engine,
            config,
            guard,
        })
    }

    /// The caller for governance: the consumer an authentication policy identified, or
    /// the virtual key presented (required when virtual keys are configured).
    fn identify(
        &self,
        headers: &HeaderMap,
        caller: Option<&Caller>,
    ) -> Result<Option<crate::govern::Who>, AiError> {
        let Some(gov) = &self.engine.governor else {
            return Ok(None);
        };
        if let Some(c) = caller {
            return Ok(Some(crate::govern::Who::of_consumer(c)));
        }
        match gov.keys.identify(headers)? {
            Some(who) => Ok(Some(who)),
            None if gov.requires_key() => {
                let mut e = AiError::new(
                    ErrorClass::Authentication,
                    "an API key is required: send `Authorization: Bearer <key>` (or `x-api-key`)",
                );
                e.code = Some("missing_api_key".into());
                Err(e)
            }
            None => Ok(Some(crate::govern::Who::anonymous())),
        }
    }

    /// Whether callers of this route may use `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.allows_in(&self.config.models, model)
    }

    /// Whether `model` is in `list` (names, groups, `provider/*`); empty allows all.
    pub fn allows_in(&self, list: &[String], model: &str) -> bool {
        if list.is_empty() {
            return true;
        }
        list.iter().any(|m| {
            m == "*"
                || m == model
                || m.strip_suffix("/*")
                    .is_some_and(|p| model.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
                || self
                    .engine
                    .group(m)
                    .is_some_and(|g| self.engine.group(model).is_some_and(|h| Arc::ptr_eq(g, h)))
        })
    }

    /// Timeouts for a call on `dep`: the route's, else the provider's; a
    /// request's `x-pylon-timeout` caps the total.
    pub fn timeouts(&self, dep: &Deployment, o: &Overrides) -> AiTimeouts {
        let mut t = self
            .config
            .timeouts
            .clone()
            .unwrap_or_else(|| dep.provider.settings.config.timeouts.clone());
        if let Some(total) = o.timeout {
            t.total = t.total.min(total);
            t.first_byte = t.first_byte.min(total);
        }
        t
    }

    pub fn expose_served(&self) -> bool {
        self.config.expose_served.unwrap_or(true)
    }

    /// Serve one request on this route.
    pub async fn serve(&self, req: Request<AiBody>, ctx: AiCallCtx) -> Response<AiBody> {
        let path = req.uri().path().to_string();
        let Some((api, id)) = Api::of_path(&path) else {
            let e = AiError::new(
                ErrorClass::NotFound,
                format!(
                    "no AI API at `{}`; see /v1/chat/completions, /v1/embeddings, /v1/models, /v1/responses, /v1/messages",
                    req.uri().path()
                ),
            );
            return error_response(&e, false);
        };
        let expected = if api == Api::Models { "GET" } else { "POST" };
        if req.method().as_str() != expected {
            let mut e = AiError::new(
                ErrorClass::InvalidRequest,
                format!("use {expected} for this endpoint"),
            );
            e.status = StatusCode::METHOD_NOT_ALLOWED;
            let mut resp = error_response(&e, api.anthropic());
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(expected));
            return resp;
        }
        let overrides = match Overrides::from_headers(req.headers()) {
            Ok(o) => o,
            Err(e) => return error_response(&e, api.anthropic()),
        };
        let who = match self.identify(req.headers(), ctx.caller.as_ref()) {
            Ok(w) => w,
            Err(e) => return error_response(&e, api.anthropic()),
        };
        let (parts, body) = req.into_parts();
        let body = if api == Api::Models {
            Bytes::new()
        } else {
            let limit = usize::try_from(ctx.max_body).unwrap_or(usize::MAX);
            match crate::client::read_body(body, limit, BODY_READ_TIMEOUT).await {
                Ok(b) => b,
                Err(mut err) => {
                    err.class = if err.class == ErrorClass::BadResponse {
                        ErrorClass::RequestTooLarge
                    } else {
                        ErrorClass::InvalidRequest
                    };
                    err.status = err.class.default_status();
                    err.message = format!(
                        "the request body could not be read: {}",
                        err.message
                            .replace("the provider's answer", "the request body")
                    );
                    return error_response(&err, api.anthropic());
                }
            }
        };
        let call = Call {
            route: self,
            api,
            parts,
            body,
            ctx,
            overrides,
            who,
        };
        let anthropic = api.anthropic();
        let result = match api {
            Api::ChatCompletions => api::chat::handle(call).await,
            Api::Embeddings => api::embeddings::handle(call).await,
            Api::Models => api::models::handle(call, id),
            Api::Responses => api::responses::handle(call).await,
            Api::Messages => api::messages::handle(call).await,
            Api::CountTokens => api::count_tokens::handle(call).await,
        };
        result.unwrap_or_else(|e| error_response(&e, anthropic))
    }
}

/// An error in the caller's API shape, with `retry-after` when known.
pub fn error_response(e: &AiError, anthropic: bool) -> Response<AiBody> {
    let body = if anthropic {
        e.anthropic_body()
    } else {
        e.openai_body()
    };
    let mut resp = json_response(e.status, &body);
    if let Some(ra) = e.retry_after {
        let secs = ra.as_secs_f64().ceil().max(1.0) as u64;
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp.headers_mut().insert(
        http::HeaderName::from_static("x-pylon-error-class"),
        HeaderValue::from_static(e.class.as_str()),
    );
    resp
}

/// A JSON response.
pub fn json_response(status: StatusCode, v: &serde_json::Value) -> Response<AiBody> {
    let bytes = Bytes::from(v.to_string());
    let mut resp = Response::new(
        http_body_util::Full::new(bytes)
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apis_by_path_ending() {
        assert_eq!(
            Api::of_path("/v1/chat/completions"),
            Some((Api::ChatCompletions, None))
        );
        assert_eq!(
            Api::of_path("/openai/v1/chat/completions/"),
            Some((Api::ChatCompletions, None))
        );
        assert_eq!(
            Api::of_path("/v1/messages/count_tokens"),
            Some((Api::CountTokens, None))
        );
        assert_eq!(Api::of_path("/v1/messages"), Some((Api::Messages, None)));
        assert_eq!(
            Api::of_path("/v1/models/gpt-4o"),
            Some((Api::Models, Some("gpt-4o")))
        );
        assert_eq!(
            Api::of_path("/v1/models/openai/gpt-4o"),
            Some((Api::Models, Some("openai/gpt-4o")))
        );
        assert_eq!(Api::of_path("/v1/other"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1m"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("-1"), None);
    }
}
