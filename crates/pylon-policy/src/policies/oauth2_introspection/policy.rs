//! `oauth2-introspection` at run time: cached answer or a POST to the
//! introspection endpoint; active tokens name the consumer.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::Full;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::config::IntrospectionConfig;
use crate::auth::cache::TtlCache;
use crate::auth::clock::Clock;
use crate::auth::fetch::{self, FetchError};
use crate::auth::token::{Found, TokenLocations};
use crate::auth::{consumer_for, invalid_token};
use crate::consumer::Consumers;
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policy::{AuthRole, Flow, Policy, PolicyResult, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

/// Largest introspection answer read.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Answers by token digest: `Some(claims)` active, `None` inactive.
type Answers = TtlCache<Option<Arc<Value>>>;

pub struct Introspection {
    consumers: Arc<Consumers>,
    locations: TokenLocations,
    url: http::Uri,
    client_auth: Option<HeaderValue>,
    token_type_hint: Option<String>,
    cache: Arc<Answers>,
    cache_ttl_ms: u64,
    negative_ttl_ms: u64,
    timeout: std::time::Duration,
    consumer_claims: Vec<String>,
    require_consumer: bool,
    hide: bool,
    anonymous: Option<String>,
    challenge: String,
    clock: Arc<Clock>,
    metrics: pylon_telemetry::Metrics,
}

#[derive(Debug, thiserror::Error)]
enum IntrospectionError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("status {0}")]
    Status(StatusCode),
    #[error("the answer is not an introspection response")]
    Malformed,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: IntrospectionConfig = parse_config(value)?;
    if cfg.introspection_url.is_empty() {
        return Err(PolicyError::config("introspection_url", "is required"));
    }
    let url = crate::policies::jwt::parse_url(&cfg.introspection_url)
        .map_err(|r| PolicyError::config("introspection_url", r))?;
    crate::auth::check_realm(&cfg.realm)?;
    let locations = TokenLocations::new(&cfg.header_names, &cfg.query_params, &cfg.cookie_names)?;
    if cfg.timeout.is_zero() {
        return Err(PolicyError::config("timeout", "must be more than 0s"));
    }
    if cfg.cache_size == 0 {
        return Err(PolicyError::config("cache_size", "must be at least 1"));
    }
    let client_auth = match (&cfg.client_id, &cfg.client_secret) {
        (Some(id), secret) if !id.is_empty() => {
            // RFC 6749 2.3.1: both parts form-encoded, then HTTP Basic.
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(id), enc(secret.as_deref().unwrap_or("")));
            let b64 = base64::engine::general_purpose::STANDARD.encode(pair);
            let mut v = HeaderValue::from_str(&format!("Basic {b64}"))
                .map_err(|_| PolicyError::config("client_id", "cannot be sent in a header"))?;
            v.set_sensitive(true);
            Some(v)
        }
        (None, Some(_)) => {
            return Err(PolicyError::config(
                "client_id",
                "is required with `client_secret`",
            ));
        }
        (Some(_), _) => return Err(PolicyError::config("client_id", "must not be empty")),
        (None, None) => None,
    };
    let consumer_claims = match cfg.consumer_claim {
        Some(c) if c.is_empty() => {
            return Err(PolicyError::config("consumer_claim", "must not be empty"));
        }
        Some(c) => vec![c],
        None => vec!["client_id".into(), "sub".into(), "username".into()],
    };
    let size = cfg.cache_size;
    let cache = env.shared.get_or_init(
        &format!(
            "oauth2-introspection:{}:{}",
            env.scope, cfg.introspection_url
        ),
        || Answers::new(size),
    );
    Ok(Arc::new(Introspection {
        consumers: env.consumers.clone(),
        locations,
        url,
        client_auth,
        token_type_hint: cfg.token_type_hint,
        cache,
        cache_ttl_ms: millis(cfg.cache_ttl),
        negative_ttl_ms: millis(cfg.negative_cache_ttl),
        timeout: cfg.timeout,
        consumer_claims,
        require_consumer: cfg.require_consumer,
        hide: cfg.hide_credentials,
        anonymous: cfg.anonymous,
        challenge: format!("Bearer realm=\"{}\"", cfg.realm),
        clock: crate::auth::clock::shared(env.shared),
        metrics: env.shared.metrics().clone(),
    }))
}

/// The cache key of a token: its SHA-256 (the token itself is not kept).
fn token_key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Introspection {
    /// Ask the endpoint: `Some(answer)` when active and in its lifetime.
    async fn introspect(&self, token: &str) -> Result<Option<Value>, IntrospectionError> {
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("token", token);
            if let Some(h) = &self.token_type_hint {
                form.append_pair("token_type_hint", h);
            }
            form.finish()
        };
        let mut req = Request::post(self.url.clone())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| IntrospectionError::Malformed)?;
        if let Some(auth) = &self.client_auth {
            req.headers_mut()
                .insert(header::AUTHORIZATION, auth.clone());
        }
        let resp = fetch::send(req, self.timeout, MAX_ANSWER_BYTES).await?;
        if !resp.status.is_success() {
            return Err(IntrospectionError::Status(resp.status));
        }
        let answer: Value =
            serde_json::from_slice(&resp.body).map_err(|_| IntrospectionError::Malformed)?;
        match answer.get("active").and_then(Value::as_bool) {
            Some(true) => Ok(self.in_lifetime(&answer).then_some(answer)),
            Some(false) => Ok(None),
            None => Err(IntrospectionError::Malformed),
        }
    }

    /// `exp`/`nbf` of an active answer, when given, hold now.
    fn in_lifetime(&self, answer: &Value) -> bool {
        let now = self.clock.now_secs() as f64;
        let ok = |name: &str, good: &dyn Fn(f64) -> bool| match answer.get(name) {
            None | Some(Value::Null) => true,
            Some(v) => v.as_f64().is_some_and(good),
        };
        ok("exp", &|exp| exp > now) && ok("nbf", &|nbf| nbf <= now)
    }

    /// How long an active answer may be reused: `cache_ttl`, cut at `exp`.
    fn expiry(&self, answer: &Value, now_ms: u64) -> u64 {
        let by_ttl = now_ms.saturating_add(self.cache_ttl_ms);
        match answer.get("exp").and_then(Value::as_f64) {
            Some(exp) if exp >= 0.0 => by_ttl.min((exp * 1000.0) as u64),
            _ => by_ttl,
        }
    }

    fn accept(
        &self,
        answer: Arc<Value>,
        found: Found,
        req: &mut RequestHead,
        ctx: &mut PolicyCtx,
    ) -> PolicyResult {
        let Some(consumer) = consumer_for(
            &self.consumers,
            &answer,
            &self.consumer_claims,
            self.require_consumer,
        ) else {
            tracing::debug!("introspected token names no consumer");
            return Err(invalid_token(&self.challenge));
        };
        ctx.consumer = Some(consumer);
        ctx.credential = ["client_id", "sub"]
            .iter()
            .find_map(|c| crate::auth::claim_text(answer.get(*c)))
            .map(Arc::from);
        ctx.claims = Some(answer);
        if self.hide {
            self.locations.hide(req, found);
        }
        Ok(Flow::Continue)
    }
}

impl Policy for Introspection {
    fn kind(&self) -> &'static str {
        "oauth2-introspection"
    }

    fn auth(&self) -> Option<AuthRole<'_>> {
        Some(AuthRole {
            anonymous: self.anonymous.as_deref(),
            challenge: Some(&self.challenge),
        })
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let Some((token, found)) = self.locations.find(req) else {
            return Step::next();
        };
        if token.is_empty() {
            return Step::reject(invalid_token(&self.challenge));
        }
        let key = token_key(&token);
        match self.cache.get(&key, self.clock.now_ms()) {
            Some(Some(answer)) => return Step::Ready(self.accept(answer, found, req, ctx)),
            Some(None) => return Step::reject(invalid_token(&self.challenge)),
            None => {}
        }
        Step::wait(async move {
            match self.introspect(&token).await {
                Ok(Some(answer)) => {
                    let now = self.clock.now_ms();
                    let answer = Arc::new(answer);
                    let expires = self.expiry(&answer, now);
                    self.cache.insert(key, Some(answer.clone()), expires, now);
                    self.accept(answer, found, req, ctx)
                }
                Ok(None) => {
                    if self.negative_ttl_ms > 0 {
                        let now = self.clock.now_ms();
                        let expires = now.saturating_add(self.negative_ttl_ms);
                        self.cache.insert(key, None, expires, now);
                    }
                    Err(invalid_token(&self.challenge))
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "token introspection failed");
                    self.metrics
                        .policy_backend_error("oauth2-introspection", "introspection");
                    Err(Reject::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "auth_backend_unavailable",
                        "the authentication service is unavailable; try again later",
                    ))
                }
            }
        })
    }
}
