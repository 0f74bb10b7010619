//! The SQLite backend, Pylon's embedded default: one file in WAL mode with a busy timeout.
//! Write transactions start with `BEGIN IMMEDIATE`, which takes SQLite's single write lock
//! up front (waiting up to the busy timeout), so read-then-write sequences such as publish
//! never fail half-way on a lock upgrade.

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use super::StoreOptions;
use super::error::{Result, StoreError};

/// Migrations for SQLite, embedded at build time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// All aggregates on one SQLite pool.
pub(crate) struct SqliteStore {
    pub(crate) pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating the file and its directory when the URL says `mode=rwc`) and migrates.
    pub(crate) async fn connect(url: &str, opts: &StoreOptions) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(opts.busy_timeout)
            .foreign_keys(true);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut pool = SqlitePoolOptions::new().acquire_timeout(opts.acquire_timeout);
        if in_memory {
            // Every connection to `:memory:` is a separate database: keep exactly one alive.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        } else {
            if let Some(dir) = options.get_filename().parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)?;
            }
            pool = pool.max_connections(opts.max_connections.max(1));
        }
        let pool = pool.connect_with(options).await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    /// Starts a transaction holding the write lock.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Starts a read transaction: in WAL mode it reads one consistent snapshot.
    pub(crate) async fn begin_read(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin().await?)
    }

    /// Runs inside the activating transaction; SQLite has no cross-process notification,
    /// so other processes (there should be none on one file) must poll `active_version`.
    pub(crate) async fn after_activate(_conn: &mut SqliteConnection, _number: i64) -> Result<()> {
        Ok(())
    }

    /// SQLite has no notification: other observers poll the generation.
    pub(crate) async fn after_subscriptions_changed(
        _conn: &mut SqliteConnection,
        _generation: i64,
    ) -> Result<()> {
        Ok(())
    }
}

super::shared::config::impl_config_store!(crate::sql::sqlite::SqliteStore, sqlx::SqliteConnection);
super::shared::audit::impl_audit_log!(crate::sql::sqlite::SqliteStore);
super::shared::auth::impl_admin_auth!(crate::sql::sqlite::SqliteStore, sqlx::SqliteConnection);
super::shared::tenants::impl_tenants!(crate::sql::sqlite::SqliteStore, sqlx::SqliteConnection);
super::shared::access::impl_admin_access!(crate::sql::sqlite::SqliteStore, sqlx::SqliteConnection);
super::shared::cluster::impl_cluster_nodes!(crate::sql::sqlite::SqliteStore);
super::shared::subscriptions::impl_subscriptions!(
    crate::sql::sqlite::SqliteStore,
    sqlx::SqliteConnection
);
