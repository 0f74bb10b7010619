//! Pylon's admin REST API, mounted under `/api/v1` on the admin listener next to the ops
//! endpoints: the versioned config (draft, publish, versions, diff, rollback), the audit
//! log, and the OpenAPI document that describes exactly these endpoints.
//!
//! Every endpoint needs `Authorization: Bearer <admin token>`. The crate does not know the
//! gateway type: activating a config goes through the [`Activator`] callback the binary
//! supplies (on a node, `Gateway::reload`).
#![forbid(unsafe_code)]

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};
use futures_util::future::BoxFuture;
use pylon_config::Config;
use pylon_store::Store;
use tokio::sync::Mutex;

mod audit_api;
mod auth;
mod cache_api;
pub mod cluster;
mod config_api;
mod error;
mod openapi;
mod subscriptions;

pub use auth::{Caller, TENANT};
pub use error::{AdminError, ApiResult, Detail};
pub use openapi::ApiDoc;

/// Activates a validated config on this node; the error is a human-readable reason.
pub type Activator = Arc<dyn Fn(Config) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Applies this machine's overrides (data dir, listen addresses from env) to a config
/// taken from the store before it is activated here.
pub type Localize = Arc<dyn Fn(&mut Config) + Send + Sync>;

/// What the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    pub(crate) store: Arc<Store>,
    pub(crate) activate: Activator,
    pub(crate) file_managed: bool,
    /// Policy state of the running gateway (response caches to purge) and
    /// the config it serves right now (reloads included).
    pub(crate) gateway: Option<GatewayView>,
    /// The config running on this node; the lock also serializes publish and rollback
    /// here so "activate, then record" happens for one change at a time.
    pub(crate) running: Arc<Mutex<Config>>,
    /// Cluster: this node's identity and status, followed by its agent.
    pub(crate) node: Option<Arc<cluster::Node>>,
    pub(crate) localize: Option<Localize>,
    /// Webhook delivery slots (bounded background deliveries).
    pub(crate) webhook_slots: Arc<tokio::sync::Semaphore>,
}

impl AdminState {
    /// `running` is the config the node started with; `file_managed` is true when a
    /// `--config` file is the source of truth (writes then answer 409).
    pub fn new(
        store: Arc<Store>,
        activate: Activator,
        file_managed: bool,
        running: Config,
    ) -> Self {
        AdminState {
            store,
            activate,
            file_managed,
            running: Arc::new(Mutex::new(running)),
            gateway: None,
            node: None,
            localize: None,
            webhook_slots: subscriptions::webhook::slots(),
        }
    }

    /// Cluster mode: this node's identity and status (see [`cluster::agent::spawn`]).
    pub fn with_node(mut self, node: Arc<cluster::Node>) -> Self {
        self.node = Some(node);
        self
    }

    /// The machine-level overrides applied to every store version before activation.
    pub fn with_localize(mut self, localize: Localize) -> Self {
        self.localize = Some(localize);
        self
    }

    /// The config this node serves right now (the gateway's, reloads included; without a
    /// gateway view, the last one activated through this API).
    pub(crate) async fn current_config(&self) -> Arc<Config> {
        match &self.gateway {
            Some(g) => (g.current)(),
            None => Arc::new(self.running.lock().await.clone()),
        }
    }

    /// Validates a stored document and applies this machine's overrides.
    pub(crate) fn prepare(&self, doc: &serde_json::Value) -> Result<Config, AdminError> {
        let mut cfg = config_api::validate(doc)?;
        if let Some(localize) = &self.localize {
            localize(&mut cfg);
        }
        Ok(cfg)
    }

    /// Enable the cache purge endpoints on the gateway's policy state;
    /// `current` returns the config the gateway serves right now.
    pub fn with_gateway(
        mut self,
        shared: Arc<pylon_policy::Shared>,
        current: Arc<dyn Fn() -> Arc<Config> + Send + Sync>,
    ) -> Self {
        self.gateway = Some(GatewayView { shared, current });
        self
    }
}

/// What the admin API sees of the running gateway.
#[derive(Clone)]
pub(crate) struct GatewayView {
    pub(crate) shared: Arc<pylon_policy::Shared>,
    pub(crate) current: Arc<dyn Fn() -> Arc<Config> + Send + Sync>,
}

/// The `/api/v1` router (to be nested under `/api/v1`).
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route(
            "/config/draft",
            get(config_api::get_draft).put(config_api::put_draft),
        )
        .route("/config/publish", post(config_api::publish))
        .route("/config/versions", get(config_api::list_versions))
        .route("/config/versions/{n}", get(config_api::get_version))
        .route("/config/versions/{n}/rollback", post(config_api::rollback))
        .route("/config/diff", get(config_api::diff))
        .route("/audit", get(audit_api::query))
        .route("/cache/global", delete(cache_api::purge_global))
        .route("/cache/{kind}/{name}", delete(cache_api::purge_scope))
        // --- cluster and subscriptions (issue 6, cluster half) ---
        .route("/nodes", get(cluster::nodes_api::list))
        .route(
            "/services/{name}/subscriptions",
            get(subscriptions::api::list_for_service).post(subscriptions::api::subscribe),
        )
        .route(
            "/consumers/{name}/subscriptions",
            get(subscriptions::api::list_for_consumer),
        )
        .route(
            "/subscriptions/{id}",
            get(subscriptions::api::get_one).delete(subscriptions::api::unsubscribe),
        )
        .route(
            "/subscriptions/{id}/approve",
            post(subscriptions::api::approve),
        )
        .route(
            "/subscriptions/{id}/reject",
            post(subscriptions::api::reject),
        )
        .route(
            "/subscriptions/{id}/revoke",
            post(subscriptions::api::revoke),
        )
        // --- end cluster and subscriptions ---
        .route("/openapi.json", get(openapi::serve))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(_caller: Caller) -> AdminError {
    AdminError::NotFound {
        kind: "endpoint",
        id: "(this path)".into(),
    }
}

#[cfg(test)]
mod tests;
