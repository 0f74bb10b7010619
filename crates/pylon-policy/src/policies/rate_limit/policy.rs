//! `rate-limit` at run time: build the client's key, check every limit
//! (shortest period first, stopping at the first refusal so a refused
//! request does not spend the longer quotas), add the `RateLimit-*` headers.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};
use pylon_store::counters::{CounterError, Counters, Decision, Gcra, Reply, Window};
use pylon_telemetry::Metrics;

use super::config::{Algorithm, LimitConfig, RateLimitConfig};
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policies::limiting::{Backend, Keyer, OnBackendError, ceil_secs};
use crate::policy::{Flow, Policy, PolicyResult, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

static LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

pub struct RateLimit {
    backend: Arc<Backend>,
    metrics: Metrics,
    keyer: Keyer,
    /// `<scope>|`: counters of an unchanged policy at the same place carry
    /// over a reload; the same limit elsewhere counts separately.
    scope: String,
    /// Shortest period first.
    limits: Vec<Limit>,
    on_error: OnBackendError,
    hide_headers: bool,
}

struct Limit {
    kind: Kind,
    period: Duration,
    /// The limit's parameters, the last part of its counter keys: a changed
    /// limit starts afresh, an unchanged one keeps its counts.
    sig: String,
}

enum Kind {
    Gcra(Gcra),
    Window(Window),
}

impl Limit {
    fn check(&self, counters: &dyn Counters, key: &str) -> Reply<Decision> {
        match &self.kind {
            Kind::Gcra(g) => counters.gcra(key, g, 1),
            Kind::Window(w) => counters.sliding_window(key, w, 1),
        }
    }
}

/// Why a request is refused.
enum Refusal {
    Limited(Decision),
    Backend,
}

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: RateLimitConfig = parse_config(value)?;
    if cfg.limits.is_empty() {
        return Err(PolicyError::config(
            "limits",
            "at least one limit is needed",
        ));
    }
    let mut limits = cfg
        .limits
        .iter()
        .enumerate()
        .map(|(i, l)| build_limit(&format!("limits[{i}]"), l))
        .collect::<Result<Vec<_>, _>>()?;
    limits.sort_by_key(|l| l.period);
    let keyer = Keyer::new(cfg.key_by, cfg.header_name.as_deref())?;
    let backend = Backend::get(
        env,
        cfg.backend,
        cfg.redis_url.as_deref(),
        cfg.redis_timeout,
    )?;
    Ok(Arc::new(RateLimit {
        backend,
        metrics: env.shared.metrics().clone(),
        keyer,
        scope: format!("{}|", env.scope),
        limits,
        on_error: cfg.on_backend_error,
        hide_headers: cfg.hide_headers,
    }))
}

fn build_limit(at: &str, l: &LimitConfig) -> Result<Limit, PolicyError> {
    let period = match (l.per, l.window) {
        (Some(per), None) => per.duration(),
        (None, Some(w)) => w,
        (Some(_), Some(_)) => {
            return Err(PolicyError::config(
                format!("{at}.window"),
                "give either `per` or `window`, not both",
            ));
        }
        (None, None) => {
            return Err(PolicyError::config(
                format!("{at}.per"),
                "a period is needed: `per` (second, minute, hour, day, month) or `window` (e.g. 90s)",
            ));
        }
    };
    let algorithm = l
        .algorithm
        .unwrap_or(if period < Duration::from_secs(3600) {
            Algorithm::Gcra
        } else {
            Algorithm::SlidingWindow
        });
    let invalid = |field: &str, e: pylon_store::counters::CounterError| {
        PolicyError::config(format!("{at}.{field}"), e.to_string())
    };
    let (kind, sig) = match algorithm {
        Algorithm::Gcra => {
            let burst = l.burst.unwrap_or(l.limit);
            let field = if l.burst.is_some() { "burst" } else { "limit" };
            let g = Gcra::new(l.limit, period, burst).map_err(|e| invalid(field, e))?;
            let sig = format!("g{}/{}/{burst}", period.as_micros(), l.limit);
            (Kind::Gcra(g), sig)
        }
        Algorithm::SlidingWindow => {
            if l.burst.is_some() {
                return Err(PolicyError::config(
                    format!("{at}.burst"),
                    "`burst` applies to the gcra algorithm only",
                ));
            }
            let w = Window::new(l.limit, period).map_err(|e| invalid("limit", e))?;
            (
                Kind::Window(w),
                format!("w{}/{}", period.as_micros(), l.limit),
            )
        }
    };
    Ok(Limit { kind, period, sig })
}

impl RateLimit {
    /// Take one limit's answer into account: keep the most restrictive
    /// decision for the headers; stop at a refusal.
    fn fold(
        &self,
        shown: &mut Option<Decision>,
        answer: Result<Decision, CounterError>,
    ) -> Result<(), Refusal> {
        match answer {
            Ok(d) if !d.allowed => Err(Refusal::Limited(d)),
            Ok(d) => {
                let tighter = shown.is_none_or(|s| {
                    (d.remaining, std::cmp::Reverse(d.reset_after))
                        < (s.remaining, std::cmp::Reverse(s.reset_after))
                });
                if tighter {
                    *shown = Some(d);
                }
                Ok(())
            }
            Err(e) => {
                self.backend
                    .report_failure("rate-limit", &self.metrics, &e, self.on_error);
                match self.on_error {
                    OnBackendError::Allow => Ok(()),
                    OnBackendError::Deny => Err(Refusal::Backend),
                }
            }
        }
    }

    fn finish(
        &self,
        ctx: &mut PolicyCtx,
        shown: Option<Decision>,
        refusal: Option<Refusal>,
    ) -> PolicyResult {
        match refusal {
            None => {
                if let Some(d) = shown {
                    self.headers(ctx, &d);
                }
                Ok(Flow::Continue)
            }
            Some(Refusal::Limited(d)) => {
                self.headers(ctx, &d);
                let secs = ceil_secs(d.retry_after).max(1);
                Err(Reject::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    format!("rate limit exceeded; retry in {secs} s"),
                )
                .with_header(http::header::RETRY_AFTER, secs.to_string()))
            }
            Some(Refusal::Backend) => Err(Reject::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "rate_limiter_unavailable",
                "the rate limiter is unavailable",
            )),
        }
    }

    /// The IETF draft headers for the most restrictive limit.
    fn headers(&self, ctx: &mut PolicyCtx, d: &Decision) {
        if self.hide_headers {
            return;
        }
        let h = &mut ctx.response_headers;
        h.push((LIMIT.clone(), HeaderValue::from(d.limit)));
        h.push((REMAINING.clone(), HeaderValue::from(d.remaining)));
        h.push((RESET.clone(), HeaderValue::from(ceil_secs(d.reset_after))));
    }
}

impl Policy for RateLimit {
    fn kind(&self) -> &'static str {
        "rate-limit"
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let mut key = String::with_capacity(self.scope.len() + 96);
        key.push_str(&self.scope);
        self.keyer.write(req, ctx, &mut key);
        key.push('|');
        let base = key.len();
        let mut shown = None;
        let counters = &*self.backend.counters;
        for (i, limit) in self.limits.iter().enumerate() {
            key.truncate(base);
            key.push_str(&limit.sig);
            match limit.check(counters, &key) {
                Reply::Ready(answer) => {
                    if let Err(r) = self.fold(&mut shown, answer) {
                        return Step::Ready(self.finish(ctx, shown, Some(r)));
                    }
                }
                Reply::Pending(first) => {
                    return Step::wait(async move {
                        if let Err(r) = self.fold(&mut shown, first.await) {
                            return self.finish(ctx, shown, Some(r));
                        }
                        for limit in &self.limits[i + 1..] {
                            key.truncate(base);
                            key.push_str(&limit.sig);
                            let answer = limit.check(counters, &key).resolve().await;
                            if let Err(r) = self.fold(&mut shown, answer) {
                                return self.finish(ctx, shown, Some(r));
                            }
                        }
                        self.finish(ctx, shown, None)
                    });
                }
            }
        }
        Step::Ready(self.finish(ctx, shown, None))
    }
}
