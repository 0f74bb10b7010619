//! Cluster mode: several nodes share one store. Each node keeps a [`Node`] (its identity
//! and what it runs), and an agent ([`agent::spawn`]) that follows the store (PostgreSQL
//! `LISTEN` plus polling), activates new config versions through the same reload path
//! as the admin API, refreshes the in-memory subscription set, heartbeats, and keeps the
//! last good config on local disk ([`cache`]). `GET /api/v1/nodes` lists the nodes.

pub mod agent;
pub mod cache;
pub(crate) mod nodes_api;

use std::sync::{Arc, Mutex};

use pylon_policy::policies::subscription::SubscriptionSet;
use pylon_store::sql::{NodeHealth, NodeHeartbeat};
use time::OffsetDateTime;
use tokio::sync::Notify;

pub use cache::{CachedConfig, CachedSubscriptions, DiskCache};

/// Who this node is, as other nodes and operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity {
    pub id: String,
    /// Advertised admin address (`host:port`).
    pub admin_addr: Option<String>,
    /// Advertised proxy address (`host:port`).
    pub proxy_addr: Option<String>,
}

#[derive(Debug, Default)]
struct Status {
    /// The store version this node serves (`None`: not a store version).
    config_version: Option<i64>,
    /// The newest version that failed to activate here, and why.
    failed: Option<(i64, String)>,
    /// The last store error, until the store answers again.
    store_error: Option<String>,
}

/// One node's identity and live status, shared by its agent and its admin API.
pub struct Node {
    pub(crate) identity: NodeIdentity,
    pub(crate) started_at: OffsetDateTime,
    pub(crate) subs: Arc<SubscriptionSet>,
    /// The last-good cache (PostgreSQL stores only: a SQLite file is local anyway).
    pub(crate) cache: Option<DiskCache>,
    status: Mutex<Status>,
    /// Wakes the agent's sync loop (a notification arrived, a listener reconnected).
    pub(crate) wake: Notify,
}

impl Node {
    /// A node serving store version `config_version` (if any), enforcing `subs`.
    pub fn new(
        identity: NodeIdentity,
        subs: Arc<SubscriptionSet>,
        cache: Option<DiskCache>,
        config_version: Option<i64>,
    ) -> Arc<Node> {
        Arc::new(Node {
            identity,
            started_at: OffsetDateTime::now_utc(),
            subs,
            cache,
            status: Mutex::new(Status {
                config_version,
                ..Status::default()
            }),
            wake: Notify::new(),
        })
    }

    pub fn id(&self) -> &str {
        &self.identity.id
    }

    fn with_status<T>(&self, f: impl FnOnce(&mut Status) -> T) -> T {
        match self.status.lock() {
            Ok(mut s) => f(&mut s),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// The store version this node serves.
    pub fn config_version(&self) -> Option<i64> {
        self.with_status(|s| s.config_version)
    }

    pub(crate) fn failed_version(&self) -> Option<i64> {
        self.with_status(|s| s.failed.as_ref().map(|f| f.0))
    }

    /// Version `number` is active here now.
    pub(crate) fn activated(&self, number: i64) {
        self.with_status(|s| {
            s.config_version = Some(number);
            s.failed = None;
        });
    }

    /// Version `number` could not be activated; the previous one keeps serving.
    pub(crate) fn activation_failed(&self, number: i64, reason: String) {
        self.with_status(|s| s.failed = Some((number, reason)));
    }

    pub(crate) fn store_result<T, E: std::fmt::Display>(&self, r: &Result<T, E>) {
        let error = r.as_ref().err().map(|e| e.to_string());
        self.with_status(|s| s.store_error = error);
    }

    /// Keeps `document` as the last good config, if this node has a disk cache.
    pub(crate) async fn cache_config(&self, number: i64, document: &serde_json::Value) {
        if let Some(cache) = &self.cache {
            cache
                .save_config(&CachedConfig {
                    version: number,
                    document: document.clone(),
                })
                .await;
        }
    }

    /// The row this node writes on its heartbeat.
    pub fn heartbeat_row(&self) -> NodeHeartbeat {
        let (config_version, failed, store_error) =
            self.with_status(|s| (s.config_version, s.failed.clone(), s.store_error.clone()));
        let last_error = match (&failed, &store_error) {
            (Some((n, why)), _) => Some(format!("version {n} could not be activated: {why}")),
            (None, Some(e)) => Some(format!("store: {e}")),
            (None, None) => None,
        };
        NodeHeartbeat {
            id: self.identity.id.clone(),
            admin_addr: self.identity.admin_addr.clone(),
            proxy_addr: self.identity.proxy_addr.clone(),
            pylon_version: env!("CARGO_PKG_VERSION").to_owned(),
            config_version,
            subscription_generation: self.subs.generation(),
            health: if last_error.is_some() {
                NodeHealth::Degraded
            } else {
                NodeHealth::Ok
            },
            last_error,
            failed_version: failed.map(|f| f.0),
            started_at: self.started_at,
        }
    }
}
