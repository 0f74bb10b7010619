//! The running gateway: the current snapshot behind an `ArcSwap`, the
//! listeners, telemetry, readiness, and the reload and shutdown procedures.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use pylon_config::Config;
use pylon_policy::Shared;
use pylon_telemetry::{CallLog, Metrics};
use tokio::sync::Mutex;
use tracing::{error, info};

use crate::server::{BoundListener, RunningListener, ServerError};
use crate::snapshot::{CompileError, Snapshot, UpstreamRuntime};

/// Why a start or reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error(transparent)]
    Listener(#[from] ServerError),
}

/// What a successful reload changed.
#[derive(Debug, Clone)]
pub struct ReloadReport {
    pub generation: u64,
    pub duration: Duration,
    pub listeners_started: usize,
    pub listeners_stopped: usize,
    pub upstreams_rebuilt: usize,
}

/// The gateway process state shared by every connection.
pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    /// Policy state that outlives snapshots (limiter counters, caches).
    shared: Arc<Shared>,
    /// AI state that outlives snapshots (key health, deployment stats, pools).
    ai_shared: Arc<pylon_ai::AiShared>,
    metrics: Metrics,
    call_log: CallLog,
    ready: AtomicBool,
    listeners: Mutex<HashMap<String, RunningListener>>,
}

impl Gateway {
    /// Compile `config`, bind every listener (failing with a one-line error per
    /// problem), and start serving.
    pub async fn start(
        config: Config,
        metrics: Metrics,
        call_log: CallLog,
    ) -> Result<Arc<Gateway>, GatewayError> {
        let shared = Shared::with_metrics(metrics.clone());
        Self::start_with_shared(config, metrics, call_log, shared).await
    }

    /// [`Gateway::start`] with policy state prepared by the caller (for example the
    /// subscription set, filled before the first request is served).
    pub async fn start_with_shared(
        config: Config,
        metrics: Metrics,
        call_log: CallLog,
        shared: Arc<Shared>,
    ) -> Result<Arc<Gateway>, GatewayError> {
        let ai_shared = pylon_ai::AiShared::new();
        let snapshot = Snapshot::compile(config, None, &shared, &ai_shared)?;
        let mut bound = Vec::new();
        for l in &snapshot.config.listeners {
            bound.push(BoundListener::bind(l)?);
        }
        let new_upstreams = snapshot.upstreams_not_in(None);
        let gw = Arc::new(Gateway {
            snapshot: ArcSwap::from_pointee(snapshot),
            shared,
            ai_shared,
            metrics,
            call_log,
            ready: AtomicBool::new(false),
            listeners: Mutex::new(HashMap::new()),
        });
        start_upstreams(&new_upstreams);
        warn_unreachable_targets(&new_upstreams);
        gw.metrics.config_loaded();
        {
            let mut running = gw.listeners.lock().await;
            for b in bound {
                running.insert(b.config_name().to_string(), b.serve(gw.clone()));
            }
        }
        gw.ready.store(true, Ordering::SeqCst);
        Ok(gw)
    }

    /// The snapshot requests are served from right now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Policy state shared across snapshots (e.g. for cache purges).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn call_log(&self) -> &CallLog {
        &self.call_log
    }

    /// Ready once listeners are up; not ready while shutting down.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Validate-and-swap: compile `config` against the current snapshot, bind
    /// new listeners, swap atomically, then retire what is no longer used.
    /// On any error nothing changes and the old config keeps serving.
    pub async fn reload(self: &Arc<Self>, config: Config) -> Result<ReloadReport, GatewayError> {
        let started = Instant::now();
        let mut running = self.listeners.lock().await;
        let result = self.reload_locked(config, &mut running).await;
        self.metrics.config_reload(result.is_ok());
        match &result {
            Ok(_) => {}
            Err(e) => {
                error!(error = %e, "config reload refused; the previous config keeps serving")
            }
        }
        result.map(|mut r| {
            r.duration = started.elapsed();
            info!(
                generation = r.generation,
                ms = r.duration.as_secs_f64() * 1e3,
                listeners_started = r.listeners_started,
                listeners_stopped = r.listeners_stopped,
                upstreams_rebuilt = r.upstreams_rebuilt,
                "config reloaded"
            );
            r
        })
    }

    async fn reload_locked(
        self: &Arc<Self>,
        config: Config,
        running: &mut HashMap<String, RunningListener>,
    ) -> Result<ReloadReport, GatewayError> {
        let old = self.snapshot.load_full();
        let shutdown_timeout = config.server.shutdown_timeout;
        let next = Snapshot::compile(config, Some(&old), &self.shared, &self.ai_shared)?;

        // Listeners: unchanged ones keep running; changed ones get their
        // settings swapped in place when the address is the same, otherwise a
        // new socket is bound before the old one drains.
        let mut to_bind = Vec::new();
        let mut to_update = Vec::new();
        for l in &next.config.listeners {
            match running.get(&l.name) {
                Some(r) if r.config == *l => {}
                Some(r) if r.config.bind == l.bind => to_update.push(l.clone()),
                _ => to_bind.push(l.clone()),
            }
        }
        let mut prepared = Vec::new();
        for l in &to_bind {
            // A listener moving to a new address: bind first so a failure leaves everything as it was.
            prepared.push(BoundListener::bind(l)?);
        }
        let mut updates = Vec::new();
        for l in &to_update {
            updates.push((l.name.clone(), crate::server::ListenerRuntime::build(l)?));
        }

        let new_upstreams = next.upstreams_not_in(Some(&old));
        let retired = old.upstreams_not_in(Some(&next));
        let generation = next.generation;
        let upstreams_rebuilt = new_upstreams.len();
        start_upstreams(&new_upstreams);
        self.snapshot.store(Arc::new(next));
        for rt in &retired {
            rt.upstream.stop();
        }
        self.forget_removed_targets(&old, &self.snapshot.load());

        for (name, rt) in updates {
            if let Some(r) = running.get_mut(&name) {
                r.update(rt);
            }
        }
        let keep: Vec<String> = self
            .snapshot
            .load()
            .config
            .listeners
            .iter()
            .map(|l| l.name.clone())
            .collect();
        let mut stopped = Vec::new();
        for b in &prepared {
            if let Some(old) = running.remove(b.config_name()) {
                stopped.push(old);
            }
        }
        let names: Vec<String> = running.keys().cloned().collect();
        for name in names {
            if !keep.contains(&name)
                && let Some(old) = running.remove(&name)
            {
                stopped.push(old);
            }
        }
        let listeners_stopped = stopped.len();
        let listeners_started = prepared.len();
        for b in prepared {
            running.insert(b.config_name().to_string(), b.serve(self.clone()));
        }
        for old in stopped {
            tokio::spawn(old.shutdown(shutdown_timeout));
        }
        Ok(ReloadReport {
            generation,
            duration: Duration::ZERO,
            listeners_started,
            listeners_stopped,
            upstreams_rebuilt,
        })
    }

    /// Drop the health series of targets that `next` no longer has, so
    /// `/metrics` does not report removed targets forever.
    fn forget_removed_targets(&self, old: &Snapshot, next: &Snapshot) {
        for (name, rt) in &old.upstreams {
            let kept = next.upstreams.get(name);
            for t in rt.upstream.targets() {
                let still_there =
                    kept.is_some_and(|n| n.upstream.targets().iter().any(|nt| nt.key() == t.key()));
                if !still_there {
                    self.metrics.remove_target(name, t.key());
                }
            }
        }
    }

    /// Graceful shutdown: become unready, stop accepting, drain in-flight
    /// requests up to `deadline`, stop background tasks.
    pub async fn shutdown(&self, deadline: Duration) {
        self.ready.store(false, Ordering::SeqCst);
        let listeners: Vec<RunningListener> = self
            .listeners
            .lock()
            .await
            .drain()
            .map(|(_, l)| l)
            .collect();
        info!(
            listeners = listeners.len(),
            deadline_s = deadline.as_secs_f64(),
            "shutting down"
        );
        let drains = listeners.into_iter().map(|l| l.shutdown(deadline));
        futures_util::future::join_all(drains).await;
        for rt in self.snapshot.load().upstreams.values() {
            rt.upstream.stop();
        }
    }
}

/// One TCP connect per target at start: a target that cannot be reached is
/// reported in one warning line (Pylon still starts; health checks and retries
/// deal with it while it stays down).
fn warn_unreachable_targets(list: &[Arc<UpstreamRuntime>]) {
    for rt in list {
        let connect_timeout = rt.config().timeouts.connect;
        for t in rt.upstream.targets() {
            let name = rt.name.clone();
            let target = t.clone();
            tokio::spawn(async move {
                let addr = target.addr();
                let attempt = tokio::net::TcpStream::connect((addr.host.as_str(), addr.port));
                let problem = match tokio::time::timeout(connect_timeout, attempt).await {
                    Ok(Ok(_)) => return,
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => format!("no answer within {connect_timeout:?}"),
                };
                tracing::warn!(upstream = %name, target = target.key(), "upstream target unreachable at start: {problem}");
            });
        }
    }
}

fn start_upstreams(list: &[Arc<UpstreamRuntime>]) {
    for rt in list {
        rt.start();
    }
}
