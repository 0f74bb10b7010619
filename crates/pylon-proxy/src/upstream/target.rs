//! One target of an upstream (`Target`), the RAII guard of a request sent to
//! it (`Selection`), and the outcome a caller reports (`Outcome`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use pylon_config::{TargetAddr, UpstreamConfig};
use tokio::time::Instant;

use super::balancer::{LbTarget, PeakEwma};
use super::breaker::{BreakerState, CircuitBreaker};
use super::passive::PassiveHealth;

/// EWMA decay used when the algorithm is not peak EWMA (estimates are then
/// only kept for introspection).
const DEFAULT_DECAY: Duration = Duration::from_secs(10);

/// Runtime state of one upstream target. Shared (`Arc`) between the upstream,
/// in-flight `Selection`s and the background tasks.
#[derive(Debug)]
pub struct Target {
    index: usize,
    key: Arc<str>,
    addr: TargetAddr,
    weight: u32,
    resolved: ArcSwap<Vec<SocketAddr>>,
    in_flight: AtomicU32,
    healthy: AtomicBool,
    pub(super) passive: Option<PassiveHealth>,
    pub(super) breaker: Option<CircuitBreaker>,
    pub(super) ewma: PeakEwma,
}

impl Target {
    /// State for target `index` of `cfg`, whose address parsed to `addr`.
    pub(super) fn new(
        index: usize,
        key: &str,
        addr: TargetAddr,
        weight: u32,
        cfg: &UpstreamConfig,
    ) -> Self {
        let resolved = match addr.host.parse() {
            Ok(ip) => vec![SocketAddr::new(ip, addr.port)],
            Err(_) => Vec::new(),
        };
        let decay = match cfg.load_balancing {
            pylon_config::LoadBalancing::PeakEwma { decay } => decay,
            _ => DEFAULT_DECAY,
        };
        Self {
            index,
            key: Arc::from(key),
            addr,
            weight: weight.max(1),
            resolved: ArcSwap::from_pointee(resolved),
            in_flight: AtomicU32::new(0),
            healthy: AtomicBool::new(true),
            passive: cfg.health_check.passive.as_ref().map(PassiveHealth::new),
            breaker: cfg.circuit_breaker.as_ref().map(CircuitBreaker::new),
            ewma: PeakEwma::new(decay),
        }
    }

    /// Position of the target in its upstream's list (what `exclude` takes).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The address as written in config; unique within an upstream.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// `key` as a shared string (for call records), without copying.
    pub fn key_arc(&self) -> Arc<str> {
        self.key.clone()
    }

    /// The parsed address: scheme (TLS or not), host and port.
    pub fn addr(&self) -> &TargetAddr {
        &self.addr
    }

    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// Current socket addresses. IP literals have theirs from the start; DNS
    /// names get them from the refresh task, so this is empty until the
    /// first resolution succeeds (callers then resolve `addr()` themselves).
    pub fn resolved(&self) -> Vec<SocketAddr> {
        self.resolved.load().as_ref().clone()
    }

    /// Like `resolved`, without copying the list.
    pub fn resolved_arc(&self) -> Arc<Vec<SocketAddr>> {
        self.resolved.load_full()
    }

    pub(super) fn set_resolved(&self, addrs: Vec<SocketAddr>) {
        self.resolved.store(Arc::new(addrs));
    }

    /// Requests currently holding a `Selection` of this target.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Active-health verdict (always `true` without active checks).
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub(super) fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Whether passive health has ejected the target right now.
    pub fn is_ejected(&self) -> bool {
        self.ejected_at(Instant::now())
    }

    pub(super) fn ejected_at(&self, now: Instant) -> bool {
        self.passive.as_ref().is_some_and(|p| p.is_ejected(now))
    }

    /// Breaker state, when the upstream has a circuit breaker.
    pub fn breaker_state(&self) -> Option<BreakerState> {
        self.breaker.as_ref().map(CircuitBreaker::state)
    }

    /// Healthy by both active and passive checks (breakers aside): the test
    /// that decides panic mode.
    pub(super) fn serving(&self, now: Instant) -> bool {
        self.is_healthy() && !self.ejected_at(now)
    }

    /// Low-cardinality state for metrics: `unhealthy` (active checks),
    /// `ejected` (passive), `open` (breaker open or half-open) or `healthy`,
    /// the first that applies.
    pub fn state_label(&self) -> &'static str {
        if !self.is_healthy() {
            "unhealthy"
        } else if self.is_ejected() {
            "ejected"
        } else if self
            .breaker_state()
            .is_some_and(|s| s != BreakerState::Closed)
        {
            "open"
        } else {
            "healthy"
        }
    }

    /// Count a request in, unless the target is at `cap`.
    pub(super) fn try_enter(&self, cap: u32) -> bool {
        let prev = self.in_flight.fetch_add(1, Ordering::AcqRel);
        if prev >= cap {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    pub(super) fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl LbTarget for Target {
    fn weight(&self) -> u32 {
        self.weight
    }
    fn in_flight(&self) -> u32 {
        Target::in_flight(self)
    }
    fn ewma(&self) -> &PeakEwma {
        &self.ewma
    }
}

/// A chosen target, held for the duration of one attempt.
///
/// While it lives the target's in-flight count includes it; it also carries
/// the breaker's half-open probe slot when it got one. Dropping it without
/// `Upstream::report` gives the probe slot back (the attempt had no outcome,
/// e.g. the client went away).
#[derive(Debug)]
pub struct Selection {
    pub(super) target: Arc<Target>,
    /// Breaker generation when this attempt is a half-open probe.
    pub(super) probe: Option<u64>,
    /// Set by the first `report`; later reports are ignored.
    pub(super) settled: AtomicBool,
}

impl Selection {
    pub(super) fn new(target: Arc<Target>, probe: Option<u64>) -> Self {
        Self {
            target,
            probe,
            settled: AtomicBool::new(false),
        }
    }

    /// Index of the target in the upstream (push it on the retry `exclude` list).
    pub fn index(&self) -> usize {
        self.target.index
    }

    pub fn target(&self) -> &Arc<Target> {
        &self.target
    }

    /// Whether this attempt is a circuit-breaker probe.
    pub fn is_probe(&self) -> bool {
        self.probe.is_some()
    }
}

impl Drop for Selection {
    fn drop(&mut self) {
        self.target.leave();
        if let (Some(generation), Some(breaker)) = (self.probe, &self.target.breaker)
            && !self.settled.load(Ordering::Acquire)
        {
            breaker.release_probe(generation);
        }
    }
}

/// The result of one attempt, as the caller judged it: connect errors,
/// timeouts and 5xx are failures; what counts is the caller's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub success: bool,
    /// Time to the response head (or to the failure).
    pub latency: Duration,
}

impl Outcome {
    pub fn success(latency: Duration) -> Self {
        Self {
            success: true,
            latency,
        }
    }

    pub fn failure(latency: Duration) -> Self {
        Self {
            success: false,
            latency,
        }
    }
}
