//! Active health checks: one task per upstream probes every target each
//! `interval` with a caller-supplied probe (so this module needs no HTTP
//! client).
//!
//! A probe succeeds when it returns a status listed in `expected_statuses`
//! within `timeout`. `healthy_threshold` successes in a row mark a target
//! healthy, `unhealthy_threshold` failures in a row mark it unhealthy; targets
//! start healthy. State changes are logged (upstream, target, new state).
//!
//! The task holds only a `Weak` reference to its upstream and stops when the
//! upstream is dropped or stopped (the stop signal also fires when the
//! upstream, which owns the sender, is dropped).

use std::fmt;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::{BoxFuture, join_all};
use pylon_config::ActiveHealthCheck;
use tokio::sync::watch;
use tokio::time::{MissedTickBehavior, interval, timeout};

use super::target::Target;
use super::{Upstream, stopped};

/// Shortest probe interval accepted (guards against a zero interval).
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// A health probe: given a target, return the HTTP status it answered with, or
/// an error message (connection refused, TLS failure...). The health task adds
/// the timeout itself.
pub type ProbeFn =
    Arc<dyn Fn(ProbeTarget) -> BoxFuture<'static, Result<u16, String>> + Send + Sync>;

/// What a probe is asked to check.
#[derive(Clone)]
pub struct ProbeTarget {
    pub upstream: Arc<str>,
    /// The target; `addr()` and `resolved()` give where to connect.
    pub target: Arc<Target>,
    /// Request path of the probe.
    pub path: Arc<str>,
    /// Host header of the probe (the target's authority when `None`).
    pub host: Option<Arc<str>>,
    /// The probe's time limit (the task enforces it too).
    pub timeout: Duration,
}

impl fmt::Debug for ProbeTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeTarget")
            .field("upstream", &self.upstream)
            .field("target", &self.target.key())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Consecutive results of one target.
#[derive(Debug, Default, Clone, Copy)]
struct Streak {
    ok: u32,
    bad: u32,
}

/// The health-check loop of one upstream.
pub(super) async fn run(
    upstream: Weak<Upstream>,
    cfg: ActiveHealthCheck,
    probe: ProbeFn,
    mut stop: watch::Receiver<bool>,
) {
    let (name, targets) = match upstream.upgrade() {
        Some(up) => (up.name_arc(), up.targets().to_vec()),
        None => return,
    };
    let path: Arc<str> = Arc::from(cfg.path.as_str());
    let host: Option<Arc<str>> = cfg.host.as_deref().map(Arc::from);
    let probe_timeout = cfg.timeout.max(Duration::from_millis(1));
    let thresholds = (cfg.healthy_threshold.max(1), cfg.unhealthy_threshold.max(1));
    let expected: &[u16] = &cfg.expected_statuses;
    let mut streaks = vec![Streak::default(); targets.len()];
    let mut ticker = interval(cfg.interval.max(MIN_INTERVAL));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);

    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stopped(&mut stop) => break,
        }
        if upstream.strong_count() == 0 {
            break;
        }
        // Each probe applies its own result as soon as it has one, so a
        // target that times out does not delay the verdict on the others.
        let round = targets.iter().zip(streaks.iter_mut()).map(|(t, streak)| {
            let fut = probe(ProbeTarget {
                upstream: name.clone(),
                target: t.clone(),
                path: path.clone(),
                host: host.clone(),
                timeout: probe_timeout,
            });
            let name = &name;
            async move {
                let result = match timeout(probe_timeout, fut).await {
                    Ok(Ok(status)) if expected.contains(&status) => Ok(()),
                    Ok(Ok(status)) => Err(format!("unexpected status {status}")),
                    Ok(Err(e)) => Err(e),
                    Err(_) => Err(format!("timed out after {probe_timeout:?}")),
                };
                apply(name, t, streak, result, thresholds);
            }
        });
        tokio::select! {
            _ = join_all(round) => {}
            _ = stopped(&mut stop) => break,
        }
    }
    tracing::debug!(upstream = %name, "active health checks stopped");
}

/// Count one probe result and flip the target's state when a threshold
/// (`(healthy, unhealthy)`) is reached.
fn apply(
    upstream: &str,
    target: &Target,
    streak: &mut Streak,
    result: Result<(), String>,
    (healthy_threshold, unhealthy_threshold): (u32, u32),
) {
    match result {
        Ok(()) => {
            streak.ok = streak.ok.saturating_add(1);
            streak.bad = 0;
            if !target.is_healthy() && streak.ok >= healthy_threshold {
                target.set_healthy(true);
                tracing::info!(
                    upstream = %upstream,
                    target = %target.key(),
                    state = "healthy",
                    "active health check: target is healthy again"
                );
            }
        }
        Err(reason) => {
            streak.bad = streak.bad.saturating_add(1);
            streak.ok = 0;
            tracing::debug!(
                upstream = %upstream,
                target = %target.key(),
                %reason,
                "health probe failed"
            );
            if target.is_healthy() && streak.bad >= unhealthy_threshold {
                target.set_healthy(false);
                tracing::warn!(
                    upstream = %upstream,
                    target = %target.key(),
                    state = "unhealthy",
                    %reason,
                    "active health check: target is unhealthy"
                );
            }
        }
    }
}
