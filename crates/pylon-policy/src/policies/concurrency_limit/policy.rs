//! `concurrency-limit` at run time: take a slot in the request phase, keep
//! its lease in the request's context, give it back in the log phase (when
//! the response body has ended). A request that fails before that drops its
//! context, and with it the lease.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use parking_lot::Mutex;
use pylon_store::counters::{CounterError, Lease, Reply};
use pylon_telemetry::{CallRecord, Metrics};

use super::config::ConcurrencyLimitConfig;
use crate::context::{PolicyCtx, RequestHead};
use crate::error::PolicyError;
use crate::policies::limiting::{Backend, Keyer, OnBackendError, ceil_secs};
use crate::policy::{Flow, Policy, PolicyResult, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

pub struct ConcurrencyLimit {
    backend: Arc<Backend>,
    metrics: Metrics,
    keyer: Keyer,
    /// `cl|<scope>|`: in-flight counts do not depend on `max`, so a reload
    /// that changes it keeps counting the requests already running.
    prefix: String,
    max: u64,
    status: StatusCode,
    retry_after: String,
    lease_ttl: Duration,
    on_error: OnBackendError,
}

/// The request's slot, in `ctx.vars` until the log phase. A copy of the
/// context's extensions holds no slot (only the original gives it back).
struct Held(Mutex<Option<Lease>>);

impl Clone for Held {
    fn clone(&self) -> Self {
        Held(Mutex::new(None))
    }
}

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: ConcurrencyLimitConfig = parse_config(value)?;
    if cfg.max == 0 {
        return Err(PolicyError::config("max", "must be at least 1"));
    }
    let status = match cfg.status {
        429 => StatusCode::TOO_MANY_REQUESTS,
        503 => StatusCode::SERVICE_UNAVAILABLE,
        _ => return Err(PolicyError::config("status", "must be 429 or 503")),
    };
    if cfg.lease_ttl < Duration::from_secs(1) {
        return Err(PolicyError::config("lease_ttl", "must be at least 1s"));
    }
    let keyer = Keyer::new(cfg.key_by, cfg.header_name.as_deref())?;
    let backend = Backend::get(
        env,
        cfg.backend,
        cfg.redis_url.as_deref(),
        cfg.redis_timeout,
    )?;
    Ok(Arc::new(ConcurrencyLimit {
        backend,
        metrics: env.shared.metrics().clone(),
        keyer,
        prefix: format!("cl|{}|", env.scope),
        max: cfg.max,
        status,
        retry_after: ceil_secs(cfg.retry_after).max(1).to_string(),
        lease_ttl: cfg.lease_ttl,
        on_error: cfg.on_backend_error,
    }))
}

impl ConcurrencyLimit {
    fn decide(
        &self,
        ctx: &mut PolicyCtx,
        got: Result<Option<Lease>, CounterError>,
    ) -> PolicyResult {
        match got {
            Ok(Some(lease)) => {
                ctx.vars.insert(Held(Mutex::new(Some(lease))));
                Ok(Flow::Continue)
            }
            Ok(None) => Err(Reject::new(
                self.status,
                "concurrency_limited",
                "too many requests in flight; retry later",
            )
            .with_header(http::header::RETRY_AFTER, &self.retry_after)),
            Err(e) => {
                self.backend
                    .report_failure("concurrency-limit", &self.metrics, &e, self.on_error);
                match self.on_error {
                    OnBackendError::Allow => Ok(Flow::Continue),
                    OnBackendError::Deny => Err(Reject::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "concurrency_limiter_unavailable",
                        "the concurrency limiter is unavailable",
                    )),
                }
            }
        }
    }
}

impl Policy for ConcurrencyLimit {
    fn kind(&self) -> &'static str {
        "concurrency-limit"
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let mut key = String::with_capacity(self.prefix.len() + 64);
        key.push_str(&self.prefix);
        self.keyer.write(req, ctx, &mut key);
        match self
            .backend
            .counters
            .acquire(&key, self.max, self.lease_ttl)
        {
            Reply::Ready(got) => Step::Ready(self.decide(ctx, got)),
            Reply::Pending(fut) => Step::wait(async move {
                let got = fut.await;
                self.decide(ctx, got)
            }),
        }
    }

    fn on_log(&self, ctx: &PolicyCtx, _record: &mut CallRecord) {
        if let Some(held) = ctx.vars.get::<Held>() {
            drop(held.0.lock().take());
        }
    }
}
