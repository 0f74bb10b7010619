//! SQL persistence for the control plane: versioned config, audit log, admin auth and
//! tenants, each a trait with a SQLite and a PostgreSQL implementation, opened from a URL
//! through [`Store`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

mod diff;
mod error;
mod model;
mod model_cluster;
mod postgres;
mod rows;
mod rows_cluster;
mod shared;
mod sqlite;
mod token;
mod traits;
mod traits_cluster;

pub use diff::{DiffKind, DiffOp, json_diff};
pub use error::{Result, StoreError};
pub use model::{
    AdminUser, AuditEntry, AuditFilter, AuditPage, Authenticated, Bootstrap, ClearToken,
    ConfigVersion, Draft, MAX_PER_PAGE, NewAuditEntry, NewToken, Page, Role, Team, Tenant,
    TenantRole, TokenInfo, VersionInfo,
};
pub use model_cluster::{
    ApprovedSet, Changed, NodeHealth, NodeHeartbeat, NodeRecord, Subscription, SubscriptionFilter,
    SubscriptionState,
};
pub use postgres::{CONFIG_CHANNEL, SUBSCRIPTIONS_CHANNEL};
pub use token::{MIN_IMPORTED_TOKEN_LEN, TOKEN_PREFIX};
pub use traits::{AdminAccess, AdminAuth, AuditLog, ConfigStore, DocumentRewrite, Tenants};
pub use traits_cluster::{ClusterNodes, Subscriptions};

/// The embedded default: one SQLite file under `./pylon-data`, created if missing.
pub const DEFAULT_URL: &str = "sqlite://./pylon-data/pylon.db?mode=rwc";

/// Which database a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Tuning for [`Store::open_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Pool size (SQLite in-memory databases always use one connection).
    pub max_connections: u32,
    /// How long to wait for a free pooled connection.
    pub acquire_timeout: Duration,
    /// SQLite: how long a writer waits for the write lock before failing.
    pub busy_timeout: Duration,
    /// PostgreSQL: keep Pylon's tables in this schema (created if missing) instead of the
    /// server's default `search_path`.
    pub postgres_schema: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(5),
            postgres_schema: None,
        }
    }
}

#[derive(Clone)]
enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// The handle the rest of Pylon holds: one pool, one `Arc<dyn Trait>` per aggregate.
/// Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    config: Arc<dyn ConfigStore>,
    audit: Arc<dyn AuditLog>,
    auth: Arc<dyn AdminAuth>,
    access: Arc<dyn AdminAccess>,
    tenants: Arc<dyn Tenants>,
    nodes: Arc<dyn ClusterNodes>,
    subscriptions: Arc<dyn Subscriptions>,
    /// The PostgreSQL backend itself, for [`Store::prepare`].
    pg: Option<Arc<postgres::PgStore>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `url` (`sqlite:...` or `postgres://...`/`postgresql://...`) with
    /// default options and applies pending migrations. Opening an up-to-date store again is
    /// a no-op for the schema.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(url, &StoreOptions::default()).await
    }

    /// Like [`Store::open`], with explicit options.
    pub async fn open_with(url: &str, options: &StoreOptions) -> Result<Store> {
        if url.starts_with("sqlite:") {
            let store = Arc::new(sqlite::SqliteStore::connect(url, options).await?);
            Ok(Store {
                pool: Pool::Sqlite(store.pool.clone()),
                config: store.clone(),
                audit: store.clone(),
                auth: store.clone(),
                access: store.clone(),
                tenants: store.clone(),
                nodes: store.clone(),
                subscriptions: store,
                pg: None,
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let store = postgres::PgStore::connect(url, options).await?;
            Ok(Store::postgres(Arc::new(store)))
        } else {
            Err(StoreError::Config(
                "the store URL must start with sqlite: or postgres://".into(),
            ))
        }
    }

    /// PostgreSQL only: builds the store without connecting, for a node that must start
    /// while the database is unreachable. Queries fail until it is back; call
    /// [`Store::prepare`] (which migrates) once it answers.
    pub fn open_lazy(url: &str, options: &StoreOptions) -> Result<Store> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let store = postgres::PgStore::connect_lazy(url, options)?;
            Ok(Store::postgres(Arc::new(store)))
        } else {
            Err(StoreError::Config(
                "only a postgres:// store can be opened before it is reachable".into(),
            ))
        }
    }

    /// Creates the schema if configured and applies pending migrations (what `open` does
    /// after connecting); for a store from [`Store::open_lazy`].
    pub async fn prepare(&self) -> Result<()> {
        match (&self.pool, &self.pg) {
            (Pool::Postgres(_), Some(pg)) => pg.prepare().await,
            (Pool::Sqlite(p), _) => Ok(sqlite::MIGRATOR.run(p).await?),
            (Pool::Postgres(_), None) => Err(StoreError::Config("no PostgreSQL backend".into())),
        }
    }

    fn postgres(store: Arc<postgres::PgStore>) -> Store {
        Store {
            pool: Pool::Postgres(store.pool.clone()),
            config: store.clone(),
            audit: store.clone(),
            auth: store.clone(),
            access: store.clone(),
            tenants: store.clone(),
            nodes: store.clone(),
            subscriptions: store.clone(),
            pg: Some(store),
        }
    }

    pub fn nodes(&self) -> &Arc<dyn ClusterNodes> {
        &self.nodes
    }

    pub fn subscriptions(&self) -> &Arc<dyn Subscriptions> {
        &self.subscriptions
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub fn config(&self) -> &Arc<dyn ConfigStore> {
        &self.config
    }

    pub fn audit(&self) -> &Arc<dyn AuditLog> {
        &self.audit
    }

    pub fn auth(&self) -> &Arc<dyn AdminAuth> {
        &self.auth
    }

    pub fn access(&self) -> &Arc<dyn AdminAccess> {
        &self.access
    }

    pub fn tenants(&self) -> &Arc<dyn Tenants> {
        &self.tenants
    }

    /// The SQLite pool, for modules that add their own tables (and for tests).
    pub fn sqlite_pool(&self) -> Option<&sqlx::SqlitePool> {
        match &self.pool {
            Pool::Sqlite(p) => Some(p),
            Pool::Postgres(_) => None,
        }
    }

    /// The PostgreSQL pool, for modules that add their own tables, `LISTEN`, and tests.
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.pool {
            Pool::Postgres(p) => Some(p),
            Pool::Sqlite(_) => None,
        }
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}
