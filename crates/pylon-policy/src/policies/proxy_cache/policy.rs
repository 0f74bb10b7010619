//! `proxy-cache` at run time: look up on the way in (answering hits), store
//! on the way out.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};

use super::config::{CacheBackend, ProxyCacheConfig};
use super::entry::Record;
use super::key::{CacheKey, KeyInput, cache_key};
use super::redis_store::RedisStore;
use super::respond::{self, X_CACHE_STATUS};
use super::rules::{self, CacheControl, StoreRules, Verdict};
use super::store::{CacheError, Home, Store, Write};
use crate::context::{PolicyCtx, RequestHead, ResponseHead};
use crate::error::PolicyError;
use crate::policy::{Flow, Policy, PolicyResult, Reject, Step};
use crate::registry::BuildEnv;
use crate::shared::Shared;
use crate::util::{header_name, parse_config};

/// Largest response the proxy reads into memory for response-phase
/// policies; larger ones are streamed and so never stored.
const PROXY_RESPONSE_BUFFER: usize = 8 << 20;

pub struct ProxyCache {
    shared: Arc<Shared>,
    home: Arc<Home>,
    store: Arc<Store>,
    methods: Vec<Method>,
    statuses: Vec<u16>,
    ttl: Duration,
    respect: bool,
    vary_headers: Vec<String>,
    ignore_query_params: Vec<String>,
    share_authenticated: bool,
    cache_set_cookie: bool,
    max_body_bytes: usize,
}

/// The shared-state key of a scope's cache.
pub fn home_key(scope: &str) -> String {
    format!("proxy-cache:{scope}")
}

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: ProxyCacheConfig = parse_config(value)?;
    if cfg.methods.is_empty() {
        return Err(PolicyError::config(
            "methods",
            "at least one method is needed",
        ));
    }
    let mut methods = Vec::new();
    for (i, m) in cfg.methods.iter().enumerate() {
        match m.to_ascii_uppercase().as_str() {
            "GET" => methods.push(Method::GET),
            "HEAD" => methods.push(Method::HEAD),
            _ => {
                return Err(PolicyError::config(
                    format!("methods[{i}]"),
                    format!(
                        "`{m}` cannot be cached: only GET and HEAD (the request body is not part of the key)"
                    ),
                ));
            }
        }
    }
    if cfg.statuses.is_empty() {
        return Err(PolicyError::config(
            "statuses",
            "at least one status is needed",
        ));
    }
    if let Some(i) = cfg.statuses.iter().position(|s| !(200..=599).contains(s)) {
        return Err(PolicyError::config(
            format!("statuses[{i}]"),
            "must be a final status (200-599)",
        ));
    }
    if cfg.ttl.is_zero() {
        return Err(PolicyError::config("ttl", "must be more than 0"));
    }
    let vary_headers = cfg
        .vary_headers
        .iter()
        .enumerate()
        .map(|(i, n)| header_name(&format!("vary_headers[{i}]"), n).map(|h| h.as_str().to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    if cfg.max_body_bytes > PROXY_RESPONSE_BUFFER {
        return Err(PolicyError::config(
            "max_body_bytes",
            format!("at most {PROXY_RESPONSE_BUFFER}: larger responses are streamed, never stored"),
        ));
    }
    let home = env.shared.get_or_init(&home_key(env.scope), Home::default);
    let cluster = env.config.cluster.redis_url.as_deref();
    let backend = cfg.backend.unwrap_or(if cluster.is_some() {
        CacheBackend::Redis
    } else {
        CacheBackend::Memory
    });
    let store = match backend {
        CacheBackend::Memory => {
            if cfg.memory_max_bytes == 0 {
                return Err(PolicyError::config(
                    "memory_max_bytes",
                    "must be more than 0",
                ));
            }
            let max = cfg.memory_max_bytes;
            home.store(&format!("memory:{max}"), || Store::memory(max))
        }
        CacheBackend::Redis => {
            let Some(url) = cfg.redis_url.as_deref().or(cluster) else {
                return Err(PolicyError::config(
                    "redis_url",
                    "required with `backend: redis`",
                ));
            };
            let client = redis::Client::open(url).map_err(|e| {
                PolicyError::config("redis_url", format!("not a valid Redis URL: {e}"))
            })?;
            let prefix = cfg.redis_key_prefix.as_str();
            if prefix.is_empty() || prefix.contains(char::is_whitespace) {
                return Err(PolicyError::config(
                    "redis_key_prefix",
                    "must be non-empty, without spaces",
                ));
            }
            if cfg.redis_timeout.is_zero() {
                return Err(PolicyError::config("redis_timeout", "must be more than 0"));
            }
            let timeout = cfg.redis_timeout;
            let settings = format!("redis:{url}|{prefix}|{}", timeout.as_millis());
            home.store(&settings, || {
                Store::Redis(RedisStore::new(client, prefix, env.scope, timeout))
            })
        }
    };
    Ok(Arc::new(ProxyCache {
        shared: env.shared.clone(),
        home,
        store,
        methods,
        statuses: cfg.statuses,
        ttl: cfg.ttl,
        respect: cfg.respect_cache_control,
        vary_headers,
        ignore_query_params: cfg.ignore_query_params,
        share_authenticated: cfg.share_authenticated,
        cache_set_cookie: cfg.cache_set_cookie,
        max_body_bytes: cfg.max_body_bytes,
    }))
}

/// Marks a request answered from the cache.
#[derive(Clone)]
struct Hit;

/// A request that went upstream: what the response phase needs to store it.
#[derive(Clone)]
struct Pending {
    key: CacheKey,
    head: bool,
    /// The response may be stored (not after a request `no-store` or a backend error).
    store: bool,
    /// `MISS` or `BYPASS`: what the request phase decided.
    status: &'static str,
    consumer_keyed: bool,
    /// The request's headers, for the upstream's `Vary`.
    request_headers: HeaderMap,
    /// The request's conditions, taken off so the upstream answers in full.
    conditions: Option<HeaderMap>,
}

impl ProxyCache {
    fn key(&self, req: &RequestHead, ctx: &PolicyCtx, consumer_keyed: bool) -> CacheKey {
        let uri = &req.parts.uri;
        let host = uri
            .authority()
            .map(|a| a.as_str())
            .or_else(|| {
                req.parts
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
            })
            .unwrap_or("");
        let consumer = ctx
            .consumer
            .as_deref()
            .filter(|_| consumer_keyed)
            .map(|c| (&*c.tenant, &*c.name));
        cache_key(&KeyInput {
            route: &ctx.route,
            method: req.parts.method.as_str(),
            host,
            path: uri.path(),
            query: uri.query(),
            ignore_query_params: &self.ignore_query_params,
            vary_headers: &self.vary_headers,
            headers: &req.parts.headers,
            consumer,
        })
    }

    fn rules(&self, consumer_keyed: bool) -> StoreRules<'_> {
        StoreRules {
            statuses: &self.statuses,
            ttl: self.ttl,
            respect_cache_control: self.respect,
            cache_set_cookie: self.cache_set_cookie,
            consumer_keyed,
        }
    }

    fn verdict(&self, parts: &http::response::Parts, p: &Pending) -> Verdict {
        if !p.store {
            return Verdict::Skip("request");
        }
        let now = self.home.clock.system_time();
        match rules::storable(
            parts.status.as_u16(),
            &parts.headers,
            &self.rules(p.consumer_keyed),
            now,
        ) {
            Verdict::Store(_)
                if content_length(&parts.headers).is_some_and(|l| l > self.max_body_bytes) =>
            {
                Verdict::Skip("too_large")
            }
            v => v,
        }
    }

    /// Decide after the lookup: answer a hit, or let the request go upstream.
    fn after_lookup(
        &self,
        req: &mut RequestHead,
        ctx: &mut PolicyCtx,
        key: CacheKey,
        found: Result<Option<Arc<Record>>, CacheError>,
        max_age: Option<u64>,
        consumer_keyed: bool,
    ) -> PolicyResult {
        let now = self.home.clock.now_ms();
        let head = req.parts.method == Method::HEAD;
        let mut pending = Pending {
            key,
            head,
            store: true,
            status: "MISS",
            consumer_keyed,
            request_headers: HeaderMap::new(),
            conditions: None,
        };
        match found {
            Err(e) => {
                self.backend_error(&e);
                pending.store = false;
                pending.status = "BYPASS";
            }
            Ok(Some(rec)) if max_age.is_none_or(|m| rec.age(now) <= m) => {
                if let Some(resp) = respond::hit(&rec, &req.parts.headers, head, now) {
                    ctx.vars.insert(Hit);
                    ctx.cache_status = Some("HIT");
                    return Ok(Flow::Respond(resp));
                }
            }
            Ok(_) => {}
        }
        if pending.store {
            pending.conditions = take_conditions(&mut req.parts.headers);
            pending.request_headers = req.parts.headers.clone();
        }
        ctx.cache_status = Some(pending.status);
        ctx.vars.insert(pending);
        Ok(Flow::Continue)
    }

    fn backend_error(&self, e: &CacheError) {
        self.shared
            .metrics()
            .policy_backend_error("proxy-cache", "redis");
        tracing::warn!(policy = "proxy-cache", error = %e, "cache backend failed; request not cached");
    }

    fn write(&self, w: Write) {
        match &*self.store {
            Store::Memory(m) => m.put(w),
            Store::Redis(_) => {
                let Ok(rt) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                let store = self.store.clone();
                let shared = self.shared.clone();
                rt.spawn(async move {
                    if let Err(e) = store.put(w).await {
                        shared.metrics().policy_backend_error("proxy-cache", "redis");
                        tracing::warn!(policy = "proxy-cache", error = %e, "storing a response failed");
                    }
                });
            }
        }
    }

    /// Store the response of `p` if it may be stored; whether it was.
    fn store(&self, resp: &ResponseHead, p: &Pending) -> bool {
        let ttl = match self.verdict(&resp.parts, p) {
            Verdict::Store(ttl) => ttl,
            Verdict::Skip(reason) => {
                tracing::debug!(policy = "proxy-cache", reason, "response not stored");
                return false;
            }
        };
        let body = match (&resp.body, p.head) {
            (_, true) => Bytes::new(),
            (Some(b), false) if b.len() <= self.max_body_bytes => b.clone(),
            _ => return false,
        };
        let Some(names) = rules::vary_names(&resp.parts.headers) else {
            return false;
        };
        let now = self.home.clock.now_ms();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        let vary = (!names.is_empty()).then(|| {
            let variant = p.key.variant(&names, &p.request_headers);
            (names, variant)
        });
        self.write(Write {
            key: p.key.clone(),
            vary,
            record: respond::record(&resp.parts, body, now, ttl_ms),
            vary_ttl_ms: u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX),
        });
        true
    }
}

/// Remove `If-None-Match` and `If-Modified-Since` from a request; what was there.
fn take_conditions(headers: &mut HeaderMap) -> Option<HeaderMap> {
    let mut taken = HeaderMap::new();
    for name in [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE] {
        for v in headers.get_all(&name) {
            taken.append(name.clone(), v.clone());
        }
        headers.remove(&name);
    }
    (!taken.is_empty()).then_some(taken)
}

fn content_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

impl Policy for ProxyCache {
    fn kind(&self) -> &'static str {
        "proxy-cache"
    }

    fn wants_response_body(&self, parts: &http::response::Parts, ctx: &PolicyCtx) -> bool {
        match ctx.vars.get::<Pending>() {
            Some(p) => !p.head && matches!(self.verdict(parts, p), Verdict::Store(_)),
            None => false,
        }
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        if !self.methods.contains(&req.parts.method) {
            return Step::next();
        }
        let cc = if self.respect {
            CacheControl::of_request(&req.parts.headers)
        } else {
            CacheControl::default()
        };
        let consumer_keyed = ctx.consumer.is_some() && !self.share_authenticated;
        let key = self.key(req, ctx, consumer_keyed);
        // Credentials the gateway did not check may select what the upstream
        // answers: such requests neither read nor fill the shared cache.
        let unchecked_auth =
            ctx.consumer.is_none() && req.parts.headers.contains_key(header::AUTHORIZATION);
        if unchecked_auth || cc.no_store || cc.no_cache || cc.max_age == Some(0) {
            ctx.cache_status = Some("BYPASS");
            ctx.vars.insert(Pending {
                key,
                head: req.parts.method == Method::HEAD,
                store: !(unchecked_auth || cc.no_store),
                status: "BYPASS",
                consumer_keyed,
                request_headers: req.parts.headers.clone(),
                conditions: None,
            });
            return Step::next();
        }
        let now = self.home.clock.now_ms();
        match &*self.store {
            Store::Memory(m) => {
                let found = m.lookup(&key, &req.parts.headers, now);
                Step::Ready(self.after_lookup(req, ctx, key, Ok(found), cc.max_age, consumer_keyed))
            }
            Store::Redis(_) => Step::wait(async move {
                let found = self.store.lookup(&key, &req.parts.headers, now).await;
                self.after_lookup(req, ctx, key, found, cc.max_age, consumer_keyed)
            }),
        }
    }

    fn on_response(&self, resp: &mut ResponseHead, ctx: &mut PolicyCtx) -> Result<(), Reject> {
        if ctx.vars.get::<Hit>().is_some() {
            return Ok(());
        }
        let Some(p) = ctx.vars.remove::<Pending>() else {
            return Ok(());
        };
        let status = if self.store(resp, &p) {
            p.status
        } else {
            "BYPASS"
        };
        if let Some(conditions) = &p.conditions
            && resp.parts.status == http::StatusCode::OK
            && rules::not_modified(
                conditions,
                resp.parts.headers.get(header::ETAG),
                resp.parts.headers.get(header::LAST_MODIFIED),
            )
        {
            respond::make_not_modified(&mut resp.parts, &mut resp.body);
        }
        resp.parts
            .headers
            .insert(X_CACHE_STATUS.clone(), HeaderValue::from_static(status));
        ctx.cache_status = Some(status);
        Ok(())
    }
}
