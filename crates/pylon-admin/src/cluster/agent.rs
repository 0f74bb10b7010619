//! The node agent: follows the store and keeps this node in step with it.
//!
//! - **Config**: on a `NOTIFY` (PostgreSQL) or every `cluster.poll_interval`, reads the
//!   active version number; a version this node does not run is loaded, validated and
//!   activated through the admin API's activator (the same reload path as publish). A
//!   version that fails is logged and reported in the node's heartbeat (health
//!   `degraded`, `last_error`), and is not retried until a newer one is published; the
//!   node keeps its old config. Activated versions go to the disk cache.
//! - **Subscriptions**: a newer subscription generation reloads the approved set into
//!   memory, then acknowledges the generation in the node's row (what the admin API
//!   waits for), then caches it on disk.
//! - **Heartbeat**: every `cluster.heartbeat_interval`; marked `stopped` on shutdown.
//! - **Listener**: `LISTEN` on both channels, reconnecting with backoff (200 ms doubling
//!   to 5 s); every (re)connect triggers a sync, since notifications sent while it was
//!   away are lost.

use std::sync::Arc;
use std::time::Duration;

use pylon_store::StoreError;
use pylon_store::sql::{CONFIG_CHANNEL, SUBSCRIPTIONS_CHANNEL};
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::Node;
use super::cache::CachedSubscriptions;
use crate::AdminState;

const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Starts the agent of `st`'s node (nothing without one). The handle ends after `stop`
/// turns true and the node is marked stopped.
pub fn spawn(st: AdminState, stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    let node = st.node.clone()?;
    let listener = st
        .store
        .postgres_pool()
        .cloned()
        .map(|pool| tokio::spawn(listen(pool, node.clone(), stop.clone())));
    let beat = tokio::spawn(heartbeats(st.clone(), node.clone(), stop.clone()));
    let sync = tokio::spawn(sync_loop(st.clone(), node.clone(), stop));
    Some(tokio::spawn(async move {
        let _ = sync.await;
        let _ = beat.await;
        if let Some(l) = listener {
            l.abort();
        }
        let stopped = st.store.nodes().mark_stopped(node.id());
        match tokio::time::timeout(Duration::from_secs(2), stopped).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(error = %e, "cannot mark this node stopped"),
            Err(_) => warn!("marking this node stopped timed out"),
        }
    }))
}

/// Cluster timings from the config this node runs.
async fn cluster_settings(st: &AdminState) -> pylon_config::ClusterConfig {
    st.current_config().await.cluster.clone()
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

async fn sync_loop(st: AdminState, node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    loop {
        sync(&st, &node).await;
        let poll = cluster_settings(&st).await.poll_interval;
        tokio::select! {
            _ = node.wake.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

/// One round: config, then subscriptions; the outcome updates the node's store status.
pub(crate) async fn sync(st: &AdminState, node: &Node) {
    let config = sync_config(st, node).await;
    let subs = refresh_subscriptions(st, node).await.map(|_| ());
    node.store_result(&config.and(subs));
}

async fn sync_config(st: &AdminState, node: &Node) -> Result<(), StoreError> {
    if st.file_managed {
        return Ok(());
    }
    let Some(number) = st.store.nodes().active_config_number().await? else {
        return Ok(());
    };
    if Some(number) == node.config_version() || Some(number) == node.failed_version() {
        return Ok(());
    }
    // The lock serializes with publish/rollback on this node; re-check under it.
    let mut running = st.running.lock().await;
    if Some(number) == node.config_version() {
        return Ok(());
    }
    let version = st.store.config().get_version(number).await?;
    let outcome = match st.prepare(&version.document) {
        Ok(cfg) => (st.activate)(cfg.clone()).await.map(|()| cfg),
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(cfg) => {
            *running = cfg;
            drop(running);
            node.activated(number);
            info!(
                version = number,
                "activated the store's active config version"
            );
            node.cache_config(number, &version.document).await;
        }
        Err(reason) => {
            drop(running);
            error!(version = number, %reason, "cannot activate the store's active config version; the previous config keeps serving");
            node.activation_failed(number, reason);
            // Report at once rather than at the next heartbeat.
            if let Err(e) = st.store.nodes().heartbeat(&node.heartbeat_row()).await {
                warn!(error = %e, "cannot report the failed activation");
            }
        }
    }
    Ok(())
}

/// Loads the approved set if the store has a newer generation than this node, applies
/// it, then acknowledges it. Returns the generation now applied.
pub(crate) async fn refresh_subscriptions(st: &AdminState, node: &Node) -> Result<i64, StoreError> {
    let subs = st.store.subscriptions();
    let latest = subs.subscription_generation().await?;
    if node.subs.is_loaded() && latest <= node.subs.generation() {
        return Ok(node.subs.generation());
    }
    let set = subs.approved_set().await?;
    node.subs.replace(set.generation, &set.pairs);
    let applied = node.subs.generation();
    match st.store.nodes().ack_subscriptions(node.id(), applied).await {
        Err(StoreError::NotFound { .. }) => {
            st.store.nodes().heartbeat(&node.heartbeat_row()).await?
        }
        other => other?,
    }
    if let Some(cache) = &node.cache {
        cache
            .save_subscriptions(&CachedSubscriptions {
                generation: applied,
                pairs: node.subs.pairs(),
            })
            .await;
    }
    Ok(applied)
}

async fn heartbeats(st: AdminState, node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    let mut failing = false;
    loop {
        let sent = st.store.nodes().heartbeat(&node.heartbeat_row()).await;
        match (&sent, failing) {
            (Err(e), false) => warn!(error = %e, "heartbeat failed; retrying"),
            (Ok(()), true) => info!("heartbeat sent again"),
            _ => {}
        }
        failing = sent.is_err();
        if failing {
            node.store_result(&sent);
        }
        let every = cluster_settings(&st).await.heartbeat_interval;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped(&mut stop) => return,
        }
    }
}

/// `LISTEN` for config activations and subscription changes; every notification (and
/// every reconnect) wakes the sync loop.
async fn listen(pool: PgPool, node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    let mut backoff = BACKOFF_START;
    loop {
        match subscribe(&pool).await {
            Ok(mut listener) => {
                backoff = BACKOFF_START;
                node.wake.notify_one();
                loop {
                    tokio::select! {
                        got = listener.try_recv() => match got {
                            Ok(Some(_)) => node.wake.notify_one(),
                            // The connection dropped: reconnect explicitly, so the sync
                            // that follows runs once the store answers again.
                            Ok(None) => {
                                warn!("lost the store notification connection; reconnecting");
                                break;
                            }
                            Err(e) => {
                                warn!(error = %e, "lost the store notification connection; reconnecting");
                                break;
                            }
                        },
                        _ = stopped(&mut stop) => return,
                    }
                }
            }
            Err(e) => {
                warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot listen for store notifications")
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped(&mut stop) => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([CONFIG_CHANNEL, SUBSCRIPTIONS_CHANNEL])
        .await?;
    Ok(listener)
}
