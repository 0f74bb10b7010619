//! The PostgreSQL backend, for clusters: several Pylon nodes share one database. Tables
//! live in the connection's `search_path` (optionally a dedicated schema, created on open);
//! each activation sends `NOTIFY` on [`CONFIG_CHANNEL`] so nodes can reload at once.

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};

use super::StoreOptions;
use super::error::{Result, StoreError};

/// Migrations for PostgreSQL, embedded at build time.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// The `LISTEN` channel on which every activation announces its version number (as text).
pub const CONFIG_CHANNEL: &str = "pylon_config_activated";

/// The `LISTEN` channel on which every subscription change announces the new
/// subscription generation (as text).
pub const SUBSCRIPTIONS_CHANNEL: &str = "pylon_subscriptions_changed";

/// All aggregates on one PostgreSQL pool.
pub(crate) struct PgStore {
    pub(crate) pool: PgPool,
    schema: Option<String>,
}

/// A schema name Pylon accepts: lowercase ASCII identifier, so it needs no quoting in
/// `search_path`.
fn check_schema(name: &str) -> Result<()> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if first_ok && rest_ok && name.len() <= 63 {
        Ok(())
    } else {
        Err(StoreError::Config(format!(
            "schema {name:?} must be 1-63 characters of a-z, 0-9 and '_', not starting with a digit"
        )))
    }
}

impl PgStore {
    /// Builds the pool without connecting: the first query (or [`PgStore::prepare`])
    /// connects, and the pool reconnects by itself after the server comes back.
    pub(crate) fn connect_lazy(url: &str, opts: &StoreOptions) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
        if let Some(schema) = &opts.postgres_schema {
            check_schema(schema)?;
            options = options.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy_with(options);
        Ok(PgStore {
            pool,
            schema: opts.postgres_schema.clone(),
        })
    }

    /// Creates the schema from the options if given, and migrates.
    pub(crate) async fn prepare(&self) -> Result<()> {
        if let Some(schema) = &self.schema {
            let mut conn = self.pool.acquire().await?;
            // The name goes in as a bound value; the server quotes it with %I.
            sqlx::query("SELECT set_config('pylon.schema', $1, false)")
                .bind(schema)
                .execute(&mut *conn)
                .await?;
            let created = sqlx::query(
                "DO $$ BEGIN \
                 EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', current_setting('pylon.schema')); \
                 END $$",
            )
            .execute(&mut *conn)
            .await;
            match created {
                // Nodes starting together can race on IF NOT EXISTS; the loser's schema exists.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {}
                other => {
                    other?;
                }
            }
        }
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Connects, creates the schema from `opts` if given, and migrates.
    pub(crate) async fn connect(url: &str, opts: &StoreOptions) -> Result<Self> {
        let store = Self::connect_lazy(url, opts)?;
        store.prepare().await?;
        Ok(store)
    }

    /// Starts a transaction (READ COMMITTED); writers serialize on the rows they update.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Starts a read-only transaction on one snapshot, so a page and its total agree.
    pub(crate) async fn begin_read(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?)
    }

    /// Queues a notification, delivered to listeners when the transaction commits.
    pub(crate) async fn after_activate(conn: &mut PgConnection, number: i64) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CONFIG_CHANNEL)
            .bind(number.to_string())
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// Queues the subscription-change notification, delivered on commit.
impl PgStore {
    pub(crate) async fn after_subscriptions_changed(
        conn: &mut PgConnection,
        generation: i64,
    ) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(SUBSCRIPTIONS_CHANNEL)
            .bind(generation.to_string())
            .execute(conn)
            .await?;
        Ok(())
    }
}

super::shared::config::impl_config_store!(crate::sql::postgres::PgStore, sqlx::PgConnection);
super::shared::audit::impl_audit_log!(crate::sql::postgres::PgStore);
super::shared::auth::impl_admin_auth!(crate::sql::postgres::PgStore, sqlx::PgConnection);
super::shared::tenants::impl_tenants!(crate::sql::postgres::PgStore, sqlx::PgConnection);
super::shared::access::impl_admin_access!(crate::sql::postgres::PgStore, sqlx::PgConnection);
super::shared::cluster::impl_cluster_nodes!(crate::sql::postgres::PgStore);
super::shared::subscriptions::impl_subscriptions!(
    crate::sql::postgres::PgStore,
    sqlx::PgConnection
);
