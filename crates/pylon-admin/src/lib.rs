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
pub mod collections;
mod config_api;
mod draft;
mod error;
mod openapi;
mod openapi_collections;
mod session_api;
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
        }
    }

    /// Use this master key (instead of the process's installed one).
    pub fn with_master_key(mut self, key: Option<MasterKey>) -> Self {
        self.master_key = key.map(Arc::new);
        self
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
