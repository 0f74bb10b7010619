//! `pylon serve`: load config, start telemetry, listeners and the admin
//! listener, then reload on SIGHUP or file change and drain on SIGTERM/SIGINT.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use pylon_config::Config;
use pylon_proxy::Gateway;
use pylon_telemetry::{CallLog, Metrics};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::cli::ServeArgs;
use crate::control::{self, Control};

pub fn run(args: ServeArgs) -> Result<()> {
    // With a file, it is checked before anything starts; without one, the store decides.
    let file_config = match &args.config {
        Some(p) => Some(load(p)?),
        None => None,
    };
    // One worker: a current-thread runtime (no work-stealing bookkeeping);
    // otherwise the multi-threaded scheduler with the requested thread count.
    let mut rt = match args.workers {
        Some(0) => anyhow::bail!("--workers must be at least 1"),
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    rt.enable_all().thread_name("pylon-worker");
    let rt = rt.build().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let (config, control) = match file_config {
            Some(config) => {
                let control = control::beside_file(&config).await;
                (config, control)
            }
            None => {
                let (config, control) = control::from_store().await?;
                (config, Some(control))
            }
        };
        serve(config, args.config, control).await
    })
}

fn load(p: &Path) -> Result<Config> {
    pylon_config::load_file_with(p, &pylon_ai::check_all).map_err(|e| {
        for issue in e.to_string().lines() {
            eprintln!("{issue}");
        }
        anyhow::anyhow!(
            "invalid config `{}` ({} error(s))",
            p.display(),
            e.issues.len()
        )
    })
}

async fn serve(config: Config, path: Option<PathBuf>, control: Option<Control>) -> Result<()> {
    // Handlers first: a signal that arrives while starting must not take the
    // default action (killing the process) once /readyz can say ready.
    let mut sigterm = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut sighup = signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?;
    let data_dir = PathBuf::from(&config.server.data_dir);
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data dir `{}`", data_dir.display()))?;
    let metrics = Metrics::new();
    let (call_log, call_log_worker) =
        CallLog::start(&config.server.access_log, Some(metrics.clone()))
            .context("cannot start the access log")?;
    let admin_addr = config.server.admin_listen.clone();
    let admin_listener = match &admin_addr {
        Some(a) => Some(pylon_proxy::ops::bind(a).await?),
        None => None,
    };
    let watch_file = config.server.watch_config;
    // The subscription set is in place before the first request is served.
    let shared = pylon_policy::Shared::with_metrics(metrics.clone());
    if let Some(set) = control.as_ref().and_then(|c| c.subscriptions.as_ref()) {
        pylon_policy::policies::subscription::SubscriptionSet::of(&shared)
            .replace(set.generation, &set.pairs);
    }
    let gw = Gateway::start_with_shared(config, metrics, call_log, shared).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let admin_state = match &control {
        Some(c) => Some(control::admin_state(c, &gw)?),
        None => None,
    };
    let agent = admin_state
        .clone()
        .and_then(|st| pylon_admin::cluster::agent::spawn(st, stop_rx.clone()));
    let admin_task = admin_listener.map(|l| {
        if let Ok(a) = l.local_addr() {
            info!(addr = %a, "admin listener ready");
        }
        let mut router = pylon_proxy::ops::router(gw.clone());
        if let Some(st) = &admin_state {
            router = router.nest("/api/v1", pylon_admin::router(st.clone()));
        }
        tokio::spawn(pylon_proxy::ops::serve(l, router, stop_rx))
    });
    info!(version = env!("CARGO_PKG_VERSION"), config = ?path, "pylon started");

    let (_watcher, mut changes) = match (&path, watch_file) {
        (Some(p), true) => match crate::watch::watch(p) {
            Ok((w, rx)) => (Some(w), Some(rx)),
            Err(e) => {
                warn!(error = %e, "cannot watch the config file; reload with SIGHUP");
                (None, None)
            }
        },
        _ => (None, None),
    };
    loop {
        tokio::select! {
            _ = sigterm.recv() => { info!("SIGTERM received"); break; }
            _ = sigint.recv() => { info!("SIGINT received"); break; }
            _ = sighup.recv() => reload(&gw, path.as_deref()).await,
            Some(()) = async { match changes.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                reload(&gw, path.as_deref()).await;
            }
        }
    }
    // The drain deadline of the config active now, which a reload may have changed.
    gw.shutdown(gw.snapshot().config.server.shutdown_timeout)
        .await;
    let _ = stop_tx.send(true);
    if let Some(t) = admin_task {
        let _ = t.await;
    }
    if let Some(a) = agent
        && tokio::time::timeout(std::time::Duration::from_secs(5), a)
            .await
            .is_err()
    {
        warn!("the cluster agent did not stop within 5s");
    }
    if let Err(e) = call_log_worker.shutdown().await {
        error!(error = %e, "access log did not flush cleanly");
    }
    info!("pylon stopped");
    Ok(())
}

async fn reload(gw: &Arc<Gateway>, path: Option<&Path>) {
    let Some(path) = path else {
        warn!("reload requested, but pylon runs on the embedded default config; nothing to reload");
        return;
    };
    match pylon_config::load_file_with(path, &pylon_ai::check_all) {
        Ok(cfg) => {
            // Errors are logged inside reload; the old config keeps serving.
            let _ = gw.reload(cfg).await;
        }
        Err(e) => {
            gw.metrics().config_reload(false);
            for line in e.to_string().lines() {
                error!(
                    problem = line,
                    "config reload refused; the previous config keeps serving"
                );
            }
        }
    }
}
