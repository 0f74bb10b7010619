//! Test harness: opens a fresh store per test on the chosen backend and cleans it up
//! afterwards, even when the test body panics.

use std::future::Future;
use std::sync::Arc;

use pylon_store::{Store, StoreOptions};
use sqlx::Connection as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// `PYLON_TEST_POSTGRES_URL`, or the CI default.
pub fn postgres_url() -> String {
    std::env::var("PYLON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// One test's store plus what is needed to reopen and remove it.
#[derive(Clone)]
pub struct Ctx {
    pub store: Store,
    pub db: Db,
    url: String,
    options: StoreOptions,
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl Ctx {
    pub async fn new(db: Db) -> Ctx {
        match db {
            Db::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                let url = format!("sqlite://{}/pylon.db?mode=rwc", dir.path().display());
                let options = StoreOptions::default();
                let store = Store::open_with(&url, &options)
                    .await
                    .expect("open SQLite store");
                Ctx {
                    store,
                    db,
                    url,
                    options,
                    _dir: Some(Arc::new(dir)),
                }
            }
            Db::Postgres => {
                let schema = format!("pylon_test_{}", uuid::Uuid::new_v4().simple());
                let options = StoreOptions {
                    postgres_schema: Some(schema),
                    ..StoreOptions::default()
                };
                let url = postgres_url();
                let store = Store::open_with(&url, &options).await.unwrap_or_else(|e| {
                    panic!("PostgreSQL at {url} is required for these tests: {e}")
                });
                Ctx {
                    store,
                    db,
                    url,
                    options,
                    _dir: None,
                }
            }
        }
    }

    /// The SQLite store's directory.
    pub fn store_dir(&self) -> Option<&std::path::Path> {
        self._dir.as_deref().map(|d| d.path())
    }

    /// Opens a second, independent store on the same database.
    pub async fn reopen(&self) -> Store {
        Store::open_with(&self.url, &self.options)
            .await
            .expect("reopen store")
    }

    /// Closes the pool and, on PostgreSQL, drops the test schema.
    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some(schema) = &self.options.postgres_schema {
            let mut conn = sqlx::PgConnection::connect(&self.url)
                .await
                .expect("connect for cleanup");
            sqlx::query("SELECT set_config('pylon.schema', $1, false)")
                .bind(schema)
                .execute(&mut conn)
                .await
                .expect("set schema name");
            sqlx::query(
                "DO $$ BEGIN \
                 EXECUTE format('DROP SCHEMA %I CASCADE', current_setting('pylon.schema')); \
                 END $$",
            )
            .execute(&mut conn)
            .await
            .expect("drop test schema");
            conn.close().await.ok();
        }
    }
}

/// Runs `test` on a fresh store, cleans up, then re-raises the test's panic if any.
pub async fn run<F, Fut>(db: Db, test: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let ctx = Ctx::new(db).await;
    let outcome = tokio::spawn(test(ctx.clone())).await;
    ctx.cleanup().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}
