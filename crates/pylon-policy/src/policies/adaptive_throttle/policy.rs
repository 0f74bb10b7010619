//! `adaptive-throttle` at run time: one controller per upstream-facing unit
//! (the request's service, or its route when it has none), kept in shared
//! state under the policy's scope so a reload keeps what it learnt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use parking_lot::{Mutex, RwLock};

use super::config::AdaptiveThrottleConfig;
use super::controller::{Controller, Settings, Snapshot};
use crate::context::{PolicyCtx, RequestHead, ResponseHead};
use crate::error::PolicyError;
use crate::policies::limiting::ceil_secs;
use crate::policy::{Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

pub struct AdaptiveThrottle {
    state: Arc<Controllers>,
    settings: Settings,
    retry_after: String,
}

/// The controllers of one attachment (scope), by service or route.
pub struct Controllers {
    origin: tokio::time::Instant,
    map: RwLock<HashMap<Arc<str>, Mutex<Controller>>>,
}

impl Controllers {
    fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
            map: RwLock::new(HashMap::new()),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Run `f` on `unit`'s controller (created on first use) at the current time.
    fn with<R>(
        &self,
        unit: &Arc<str>,
        s: &Settings,
        f: impl FnOnce(&mut Controller, u64) -> R,
    ) -> R {
        let now = self.now_ms();
        if let Some(c) = self.map.read().get(&**unit) {
            return f(&mut c.lock(), now);
        }
        let mut map = self.map.write();
        let c = map
            .entry(unit.clone())
            .or_insert_with(|| Mutex::new(Controller::new(s, now)));
        f(&mut c.lock(), now)
    }
}

/// Marks a request this policy let through, so its response is counted once.
#[derive(Clone)]
struct Admitted;

pub fn build(
    value: &serde_json::Value,
    env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: AdaptiveThrottleConfig = parse_config(value)?;
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    if cfg.interval < Duration::from_millis(10) {
        return Err(PolicyError::config("interval", "must be at least 10ms"));
    }
    if cfg.window < cfg.interval {
        return Err(PolicyError::config("window", "must be at least `interval`"));
    }
    let share = |path: &str, v: f64, low_open: bool| {
        let ok = v <= 1.0 && if low_open { v > 0.0 } else { v >= 0.0 };
        if ok {
            Ok(v)
        } else {
            let range = if low_open { "(0, 1]" } else { "[0, 1]" };
            Err(PolicyError::config(path, format!("must be in {range}")))
        }
    };
    if !(cfg.latency_percentile > 0.0 && cfg.latency_percentile < 1.0) {
        return Err(PolicyError::config(
            "latency_percentile",
            "must be between 0 and 1 (e.g. 0.9)",
        ));
    }
    if let Some(r) = cfg.error_rate_threshold {
        share("error_rate_threshold", r, false)?;
    }
    if cfg.latency_threshold.is_none() && cfg.error_rate_threshold.is_none() {
        return Err(PolicyError::config(
            "latency_threshold",
            "set `latency_threshold` or `error_rate_threshold` (or both)",
        ));
    }
    if !(cfg.decrease > 0.0 && cfg.decrease < 1.0) {
        return Err(PolicyError::config("decrease", "must be between 0 and 1"));
    }
    share("increase", cfg.increase, true)?;
    share("min_admit", cfg.min_admit, true)?;
    let settings = Settings {
        window_ms: ms(cfg.window),
        interval_ms: ms(cfg.interval),
        latency_threshold_ms: cfg.latency_threshold.map(ms),
        slow_share: 1.0 - cfg.latency_percentile,
        error_rate: cfg.error_rate_threshold,
        min_requests: cfg.min_requests,
        decrease: cfg.decrease,
        increase: cfg.increase,
        min_admit: cfg.min_admit,
    };
    let state = env.shared.get_or_init(
        &format!("adaptive-throttle:{}", env.scope),
        Controllers::new,
    );
    Ok(Arc::new(AdaptiveThrottle {
        state,
        settings,
        retry_after: ceil_secs(cfg.retry_after).max(1).to_string(),
    }))
}

impl AdaptiveThrottle {
    fn unit(ctx: &PolicyCtx) -> &Arc<str> {
        ctx.service.as_ref().unwrap_or(&ctx.route)
    }

    /// The controller's state for `ctx`'s unit (for tests and diagnostics).
    pub fn snapshot(&self, ctx: &PolicyCtx) -> Snapshot {
        self.state
            .with(Self::unit(ctx), &self.settings, |c, now| c.snapshot(now))
    }
}

impl Policy for AdaptiveThrottle {
    fn kind(&self) -> &'static str {
        "adaptive-throttle"
    }

    fn on_request<'a>(&'a self, _req: &'a mut RequestHead, ctx: &'a mut PolicyCtx) -> Step<'a> {
        let admitted = self.state.with(Self::unit(ctx), &self.settings, |c, now| {
            c.admit(&self.settings, now)
        });
        if admitted {
            ctx.vars.insert(Admitted);
            return Step::next();
        }
        Step::reject(
            Reject::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the upstream is overloaded; retry later",
            )
            .with_header(http::header::RETRY_AFTER, &self.retry_after),
        )
    }

    fn on_response(&self, resp: &mut ResponseHead, ctx: &mut PolicyCtx) -> Result<(), Reject> {
        if ctx.vars.remove::<Admitted>().is_none() {
            return Ok(());
        }
        let latency = u64::try_from(ctx.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let error = resp.parts.status.is_server_error();
        self.state.with(Self::unit(ctx), &self.settings, |c, now| {
            c.record(&self.settings, now, latency, error);
        });
        Ok(())
    }
}
