//! Pylon's admin REST API, mounted under `/api/v1` on the admin listener next to the ops
//! endpoints: the versioned config (draft, publish, versions, diff, rollback), the objects
//! inside the draft (services, routes, upstreams, consumers, credentials, policies,
//! certificates, ...: one generic module, [`collections`]), tenants, teams, admin users
//! and their tokens, console sessions, the audit log, and the OpenAPI document that
//! describes exactly these endpoints.
//!
//! Every endpoint except `POST /auth/login` needs an admin token
//! (`Authorization: Bearer`) or the console session cookie. The crate does not know the
//! gateway type: activating a config goes through the [`Activator`] callback the binary
//! supplies (on a node, `Gateway::reload`).
#![forbid(unsafe_code)]

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post, put};
use futures_util::future::BoxFuture;
use pylon_config::Config;
use pylon_store::Store;
use tokio::sync::Mutex;

mod audit_api;
mod auth;
mod cache_api;
pub mod cluster;
pub mod collections;
mod config_api;
mod draft;
mod error;
mod openapi;
mod openapi_collections;
mod session_api;
mod subscriptions;
mod teams_api;
mod tenants_api;
mod users_api;

pub use auth::{Caller, TENANT};
pub use draft::{prepare_document, validate};
pub use error::{AdminError, ApiResult, Detail};
pub use openapi::ApiDoc;
pub use pylon_config::envelope::MasterKey;

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
    /// Encrypts secrets written through the API and decrypts them for validation.
    pub(crate) master_key: Option<Arc<MasterKey>>,
    /// Failed console logins, for the lockout.
    pub(crate) logins: Arc<session_api::LoginGuard>,
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
            master_key: pylon_config::envelope::installed().cloned().map(Arc::new),
            logins: Arc::default(),
            node: None,
            localize: None,
            webhook_slots: subscriptions::webhook::slots(),
        }
    }

    /// Use this master key (instead of the process's installed one).
    pub fn with_master_key(mut self, key: Option<MasterKey>) -> Self {
        self.master_key = key.map(Arc::new);
        self
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
        let mut cfg = config_api::validate(self, doc)?;
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
    // -- Versioned config: the whole draft, publish, versions, diff, rollback.
    let router = Router::new()
        .route(
            "/config/draft",
            get(config_api::get_draft).put(config_api::put_draft),
        )
        .route("/config/publish", post(config_api::publish))
        .route("/config/versions", get(config_api::list_versions))
        .route("/config/versions/{n}", get(config_api::get_version))
        .route("/config/versions/{n}/rollback", post(config_api::rollback))
        .route("/config/diff", get(config_api::diff));
    // -- Objects inside the draft: every collection of `collections::COLLECTIONS`.
    let router = collections::handlers::routes(router);
    // -- Tenants, their members (roles) and teams (store tables).
    let router = router
        .route("/tenants", get(tenants_api::list).post(tenants_api::create))
        .route(
            "/tenants/{tenant}",
            get(tenants_api::read)
                .put(tenants_api::update)
                .delete(tenants_api::remove),
        )
        .route("/tenants/{tenant}/members", get(tenants_api::members))
        .route(
            "/tenants/{tenant}/members/{user}",
            put(tenants_api::grant).delete(tenants_api::revoke),
        )
        .route(
            "/tenants/{tenant}/teams",
            get(teams_api::teams).post(teams_api::create_team),
        )
        .route(
            "/tenants/{tenant}/teams/{team}",
            get(teams_api::read_team)
                .put(teams_api::update_team)
                .delete(teams_api::remove_team),
        )
        .route(
            "/tenants/{tenant}/teams/{team}/members/{user}",
            put(teams_api::add_member).delete(teams_api::remove_member),
        );
    // -- Admin users, their tokens, console sessions.
    let router = router
        .route("/users", get(users_api::list).post(users_api::create))
        .route(
            "/users/{user}",
            get(users_api::read).delete(users_api::remove),
        )
        .route("/users/{user}/password", put(users_api::set_password))
        .route(
            "/users/{user}/tokens",
            get(users_api::tokens).post(users_api::create_token),
        )
        .route(
            "/users/{user}/tokens/{token}",
            delete(users_api::revoke_token),
        )
        .route("/auth/login", post(session_api::login))
        .route("/auth/logout", post(session_api::logout))
        .route("/auth/whoami", get(session_api::whoami));
    // -- Audit, cache purges, OpenAPI.
    router
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
