//! Runtime state of upstreams: targets with their health, circuit breakers,
//! in-flight counts and resolved addresses; load balancing over them; and the
//! retry budget.
//!
//! # Use
//!
//! ```ignore
//! let up = Upstream::new(&cfg)?;            // compile once per config snapshot
//! up.start(Some(probe));                    // DNS refresh + active health tasks
//! up.retry_budget().on_request();           // once per client request
//! let key = HashInput::new(req.headers(), Some(peer.ip()), req.uri().path());
//! let mut tried = Vec::new();
//! let sel = up.select(&key, &tried)?;       // None: answer 503
//! // ... send to sel.target().resolved() ...
//! up.report(&sel, Outcome::failure(elapsed));
//! tried.push(sel.index());
//! drop(sel);
//! if up.retry_budget().try_retry() { /* select(&key, &tried) again */ }
//! ```
//!
//! # Eligibility and panic mode
//!
//! A target is eligible when it is not in `exclude`, is under
//! `pool.max_requests_per_target`, its breaker admits a request, it passes
//! active health checks and it is not ejected by passive health. When no
//! target is *healthy* (every one fails active checks or is ejected), the
//! upstream enters panic mode and balances over all targets, ignoring health,
//! rather than failing every request: health checks can be wrong, and a
//! partly working upstream beats none (Envoy's panic threshold does the same
//! at 0 %). Exclusions, the in-flight cap and open breakers still apply in
//! panic mode. Passive health also refuses to eject a target when no other
//! target would remain healthy.
//!
//! # Reloads
//!
//! `Upstream::carry_over` returns the running upstream when a new config
//! leaves it unchanged, so health state, ejections, breakers, latency
//! estimates, in-flight counts and the retry budget survive a reload.

mod balancer;
mod breaker;
mod budget;
mod dns;
mod hash;
mod health;
mod passive;
mod target;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pylon_config::{LoadBalancing, TargetAddr, UpstreamConfig};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::client::AddrSource;
use balancer::Balancer;
use breaker::Admission;
pub use breaker::BreakerState;
pub use budget::RetryBudget;
pub use dns::{LookupFn, Resolved, clamp_ttl, system_lookup};
pub use hash::HashInput;
pub use health::{ProbeFn, ProbeTarget};
use passive::PassiveHealth;
pub use target::{Outcome, Selection, Target};

/// Attempts at taking a picked target before `select` gives up (another
/// request may take the last in-flight or probe slot between pick and take).
const SELECT_ATTEMPTS: usize = 3;
/// Latency recorded for a failed attempt at least, so that targets failing
/// fast do not look fast to peak EWMA.
const FAILURE_PENALTY: Duration = Duration::from_secs(1);

/// Why an upstream could not be built.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream `{upstream}` has no targets")]
    NoTargets { upstream: String },
    #[error("upstream `{upstream}`: invalid target `{address}`: {reason}")]
    InvalidTarget {
        upstream: String,
        address: String,
        reason: String,
    },
    #[error("upstream `{upstream}`: consistent hashing: {reason}")]
    InvalidHashKey { upstream: String, reason: String },
}

/// One upstream: its targets and everything the data plane tracks about them.
pub struct Upstream {
    cfg: UpstreamConfig,
    name: Arc<str>,
    targets: Vec<Arc<Target>>,
    balancer: Balancer,
    budget: RetryBudget,
    track_latency: bool,
    max_in_flight: u32,
    stop_tx: watch::Sender<bool>,
    started: AtomicBool,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("targets", &self.targets)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Build the runtime state for `cfg`. Targets start healthy; DNS names have
    /// no addresses until `start` resolves them.
    pub fn new(cfg: &UpstreamConfig) -> Result<Arc<Self>, UpstreamError> {
        if cfg.targets.is_empty() {
            return Err(UpstreamError::NoTargets {
                upstream: cfg.name.clone(),
            });
        }
        let mut targets = Vec::with_capacity(cfg.targets.len());
        for (i, t) in cfg.targets.iter().enumerate() {
            let addr =
                TargetAddr::parse(&t.address).map_err(|reason| UpstreamError::InvalidTarget {
                    upstream: cfg.name.clone(),
                    address: t.address.clone(),
                    reason,
                })?;
            targets.push(Arc::new(Target::new(i, &t.address, addr, t.weight, cfg)));
        }
        let keys: Vec<(&str, u32)> = targets.iter().map(|t| (t.key(), t.weight())).collect();
        let balancer = Balancer::new(&cfg.load_balancing, &keys).map_err(|reason| {
            UpstreamError::InvalidHashKey {
                upstream: cfg.name.clone(),
                reason,
            }
        })?;
        let (stop_tx, _) = watch::channel(false);
        Ok(Arc::new(Self {
            name: Arc::from(cfg.name.as_str()),
            balancer,
            budget: RetryBudget::new(&cfg.retries.budget),
            track_latency: matches!(cfg.load_balancing, LoadBalancing::PeakEwma { .. }),
            max_in_flight: cfg.pool.max_requests_per_target.unwrap_or(u32::MAX),
            targets,
            stop_tx,
            started: AtomicBool::new(false),
            cfg: cfg.clone(),
        }))
    }

    /// On reload: the running upstream when `new_cfg` is identical to its
    /// config (the caller keeps using it, with its health state, ejections,
    /// breakers, latency estimates, in-flight counts, retry budget and running
    /// tasks), `None` when the caller must build a new one (and `start` it;
    /// the old one's tasks end when it is dropped or `stop`ped).
    pub fn carry_over(old: &Arc<Upstream>, new_cfg: &UpstreamConfig) -> Option<Arc<Upstream>> {
        (old.cfg == *new_cfg).then(|| Arc::clone(old))
    }

    /// Spawn the background tasks: DNS refresh for targets given by name and,
    /// when the config has active checks and a probe is given, the health
    /// checker. Idempotent. Must run inside a tokio runtime (outside one it
    /// logs an error and does nothing).
    pub fn start(self: &Arc<Self>, probe: Option<ProbeFn>) {
        self.start_inner(probe, None);
    }

    /// `start` with a custom DNS lookup (tests, or a shared resolver).
    pub fn start_with_lookup(self: &Arc<Self>, probe: Option<ProbeFn>, lookup: LookupFn) {
        self.start_inner(probe, Some(lookup));
    }

    fn start_inner(self: &Arc<Self>, probe: Option<ProbeFn>, lookup: Option<LookupFn>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::error!(upstream = %self.name, "Upstream::start called outside a tokio runtime");
            return;
        };
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let named: Vec<&Arc<Target>> = self.targets.iter().filter(|t| !t.addr().is_ip()).collect();
        if !named.is_empty() {
            let lookup = lookup.unwrap_or_else(system_lookup);
            for t in named {
                rt.spawn(dns::refresh_loop(
                    self.name.clone(),
                    t.clone(),
                    lookup.clone(),
                    self.cfg.dns.clone(),
                    self.stop_tx.subscribe(),
                ));
            }
        }
        match (&self.cfg.health_check.active, probe) {
            (Some(active), Some(probe)) => {
                rt.spawn(health::run(
                    Arc::downgrade(self),
                    active.clone(),
                    probe,
                    self.stop_tx.subscribe(),
                ));
            }
            (Some(_), None) => tracing::warn!(
                upstream = %self.name,
                "active health checks configured but no probe given; not running them"
            ),
            (None, _) => {}
        }
    }

    /// Stop the background tasks (they also stop when the upstream is dropped).
    pub fn stop(&self) {
        self.stop_tx.send_replace(true);
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> Arc<str> {
        self.name.clone()
    }

    pub fn config(&self) -> &UpstreamConfig {
        &self.cfg
    }

    pub fn targets(&self) -> &[Arc<Target>] {
        &self.targets
    }

    pub fn retry_budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// The targets' current addresses as the HTTP client's address source:
    /// answers `host:port` of a target from memory (empty until a DNS name
    /// is first resolved, so the client then resolves it itself).
    pub fn addr_source(&self) -> Arc<dyn AddrSource> {
        Arc::new(TargetAddrs(self.targets.clone()))
    }

    /// Choose a target for one attempt, skipping the indexes in `exclude`
    /// (targets already tried). `None` when nothing is eligible: every
    /// target is excluded, at its in-flight cap, or behind an open breaker
    /// (see the module docs for panic mode).
    pub fn select(&self, key: &HashInput<'_>, exclude: &[usize]) -> Option<Selection> {
        let now = Instant::now();
        // Targets that were picked but could not be taken (raced to a cap);
        // only tracked for the first 64 indexes.
        let mut refused = 0u64;
        for _ in 0..SELECT_ATTEMPTS {
            let idx = self.pick(key, exclude, refused, now)?;
            if let Some(sel) = self.take(idx, now) {
                return Some(sel);
            }
            if idx < 64 {
                refused |= 1 << idx;
            }
        }
        None
    }

    fn pick(
        &self,
        key: &HashInput<'_>,
        exclude: &[usize],
        refused: u64,
        now: Instant,
    ) -> Option<usize> {
        let admissible = |i: usize| {
            let Some(t) = self.targets.get(i) else {
                return false;
            };
            let raced = i < 64 && refused & (1 << i) != 0;
            !raced
                && !exclude.contains(&i)
                && t.in_flight() < self.max_in_flight
                && t.breaker.as_ref().is_none_or(|b| b.admits(now))
        };
        let strict =
            |i: usize| admissible(i) && self.targets.get(i).is_some_and(|t| t.serving(now));
        if let Some(i) = self.balancer.pick(&self.targets, key, now, strict) {
            return Some(i);
        }
        if self.targets.iter().any(|t| t.serving(now)) {
            // Healthy targets exist; they are just excluded, full or open.
            return None;
        }
        tracing::debug!(upstream = %self.name, "no healthy target: panic mode, balancing over all");
        self.balancer.pick(&self.targets, key, now, admissible)
    }

    /// Take target `idx`: count it in flight and get the breaker's admission.
    fn take(&self, idx: usize, now: Instant) -> Option<Selection> {
        let t = self.targets.get(idx)?;
        if !t.try_enter(self.max_in_flight) {
            return None;
        }
        let probe = match t.breaker.as_ref().map(|b| b.try_acquire(now)) {
            None | Some(Admission::Allowed) => None,
            Some(Admission::Probe(generation)) => Some(generation),
            Some(Admission::Rejected) => {
                t.leave();
                return None;
            }
        };
        Some(Selection::new(t.clone(), probe))
    }

    /// Report how an attempt went: feeds the latency estimate (peak EWMA),
    /// passive health and the circuit breaker. Only the first report of a
    /// selection counts.
    pub fn report(&self, sel: &Selection, outcome: Outcome) {
        if sel.settled.swap(true, Ordering::AcqRel) {
            return;
        }
        let t = &sel.target;
        let now = Instant::now();
        if self.track_latency {
            let sample = if outcome.success {
                outcome.latency
            } else {
                outcome.latency.max(FAILURE_PENALTY)
            };
            t.ewma.observe(sample, now);
        }
        if let Some(p) = &t.passive {
            if outcome.success {
                p.record_success();
            } else if p.record_failure(now) {
                self.eject(t, p, now);
            }
        }
        if let Some(b) = &t.breaker
            && let Some(state) = b.record(now, outcome.success, sel.probe)
        {
            tracing::info!(
                upstream = %self.name,
                target = %t.key(),
                state = state.as_str(),
                "circuit breaker changed state"
            );
        }
    }

    fn eject(&self, t: &Arc<Target>, p: &PassiveHealth, now: Instant) {
        let others = self
            .targets
            .iter()
            .any(|o| !Arc::ptr_eq(o, t) && o.serving(now));
        if !others {
            tracing::debug!(
                upstream = %self.name,
                target = %t.key(),
                "not ejecting the last healthy target"
            );
            return;
        }
        if let Some(d) = p.eject(now) {
            tracing::warn!(
                upstream = %self.name,
                target = %t.key(),
                state = "ejected",
                ejection_ms = d.as_millis() as u64,
                "passive health: target ejected after consecutive failures"
            );
        }
    }
}

/// `AddrSource` over an upstream's targets (shares the targets, not the
/// upstream, so it keeps no background task alive).
struct TargetAddrs(Vec<Arc<Target>>);

impl AddrSource for TargetAddrs {
    fn lookup(&self, host: &str, port: u16) -> Vec<SocketAddr> {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        self.0
            .iter()
            .find(|t| t.addr().port == port && t.addr().host.eq_ignore_ascii_case(host))
            .map(|t| t.resolved())
            .unwrap_or_default()
    }
}

/// Resolves when the stop signal is raised or its sender is gone.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
