//! The store test suite: every behaviour is one async fn taking a [`harness::Ctx`], run
//! once against SQLite (a temp file) and once against the real PostgreSQL (a fresh schema
//! per test). PostgreSQL being unreachable fails the Postgres half; nothing is skipped.

mod access;
mod audit;
mod auth;
mod cluster;
mod config;
mod harness;
mod tenants;

/// Generates `sqlite::name` and `postgres::name` tests for each listed suite function.
macro_rules! on_both_backends {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::harness::run(crate::harness::Db::Sqlite, crate::$module::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::harness::run(crate::harness::Db::Postgres, crate::$module::$name).await;
                }
            )*
        }
    };
}

on_both_backends!(
    config::draft_put_with_stale_version_conflicts,
    config::concurrent_draft_puts_have_one_winner,
    config::publish_numbers_versions_and_stores_diff,
    config::publish_with_stale_expected_draft_conflicts,
    config::concurrent_publishes_get_distinct_consecutive_numbers,
    config::rollback_appends_a_version_equal_to_the_target,
    config::diff_between_any_two_versions,
    config::list_versions_paginates_newest_first,
    config::migrations_are_idempotent_and_data_survives_reopen,
    audit::audit_filters,
    audit::audit_keyset_pagination,
    auth::token_create_authenticate_revoke,
    auth::tokens_are_stored_as_digests_only,
    auth::expired_tokens_do_not_authenticate,
    auth::bootstrap_runs_once,
    auth::concurrent_bootstrap_creates_one_admin,
    auth::users_roles_and_version_conflicts,
    tenants::tenants_crud_with_version_conflicts,
    tenants::teams_crud_members_and_conflicts,
    access::passwords_sessions_and_grants,
    access::rewrite_documents_all_or_nothing,
    cluster::nodes_heartbeat_ack_and_stop,
    cluster::subscription_transitions,
    cluster::approved_set_list_and_unsubscribe,
);

#[tokio::test]
async fn unknown_url_scheme_is_a_config_error() {
    let err = pylon_store::Store::open("mysql://localhost/x")
        .await
        .unwrap_err();
    assert!(matches!(err, pylon_store::StoreError::Config(_)), "{err:?}");
}

#[tokio::test]
async fn sqlite_default_style_url_creates_directory_and_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}/nested/pylon-data/pylon.db?mode=rwc",
        dir.path().display()
    );
    let store = pylon_store::Store::open(&url).await.unwrap();
    assert!(dir.path().join("nested/pylon-data/pylon.db").exists());
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.sqlite_pool().unwrap())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.sqlite_pool().unwrap())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    store.close().await;
}

#[tokio::test]
async fn postgres_activation_sends_notify() {
    use pylon_store::sql::CONFIG_CHANNEL;
    let ctx = harness::Ctx::new(harness::Db::Postgres).await;
    let mut listener = sqlx::postgres::PgListener::connect(&harness::postgres_url())
        .await
        .unwrap();
    listener.listen(CONFIG_CHANNEL).await.unwrap();
    let published = ctx.store.config().publish("alice", "one", None).await;
    // Other tests may publish concurrently on the same database: accept any version number.
    let note = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv()).await;
    ctx.cleanup().await;
    published.unwrap();
    let note = note.expect("no notification within 5s").unwrap();
    assert_eq!(note.channel(), CONFIG_CHANNEL);
    assert!(note.payload().parse::<i64>().is_ok(), "{}", note.payload());
}

#[tokio::test]
async fn postgres_subscription_change_sends_notify() {
    use pylon_store::sql::{SUBSCRIPTIONS_CHANNEL, SubscriptionState};
    let ctx = harness::Ctx::new(harness::Db::Postgres).await;
    let mut listener = sqlx::postgres::PgListener::connect(&harness::postgres_url())
        .await
        .unwrap();
    listener.listen(SUBSCRIPTIONS_CHANNEL).await.unwrap();
    let made = ctx
        .store
        .subscriptions()
        .create_subscription("pay", "app", SubscriptionState::Pending, "alice")
        .await;
    let note = tokio::time::timeout(std::time::Duration::from_secs(5), listener.recv()).await;
    ctx.cleanup().await;
    made.unwrap();
    let note = note.expect("no notification within 5s").unwrap();
    assert!(note.payload().parse::<i64>().is_ok(), "{}", note.payload());
}

#[tokio::test]
async fn postgres_lazy_store_prepares_once_reachable() {
    let schema = format!("pylon_test_{}", uuid::Uuid::new_v4().simple());
    let options = pylon_store::StoreOptions {
        postgres_schema: Some(schema.clone()),
        acquire_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    // Nothing listens on a bound-but-not-listening port: queries fail, nothing panics.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    let down = pylon_store::Store::open_lazy(
        &format!("postgres://postgres@127.0.0.1:{port}/test"),
        &options,
    )
    .unwrap();
    assert!(down.prepare().await.is_err());
    assert!(down.nodes().list_nodes().await.is_err());
    let up = pylon_store::Store::open_lazy(&harness::postgres_url(), &options).unwrap();
    up.prepare().await.unwrap();
    assert!(up.nodes().list_nodes().await.unwrap().is_empty());
    up.close().await;
    drop_schema(&schema).await;
}

#[tokio::test]
async fn postgres_nodes_preparing_one_new_schema_together_all_succeed() {
    let schema = format!("pylon_test_{}", uuid::Uuid::new_v4().simple());
    let options = pylon_store::StoreOptions {
        postgres_schema: Some(schema.clone()),
        ..Default::default()
    };
    let stores: Vec<_> = (0..3)
        .map(|_| pylon_store::Store::open_lazy(&harness::postgres_url(), &options).unwrap())
        .collect();
    let results = futures_join(
        stores
            .iter()
            .cloned()
            .map(|s| async move { s.prepare().await }),
    )
    .await;
    for r in &results {
        assert!(r.is_ok(), "{r:?}");
    }
    assert!(stores[2].nodes().list_nodes().await.unwrap().is_empty());
    for s in &stores {
        s.close().await;
    }
    drop_schema(&schema).await;
}

/// Runs the futures concurrently (no extra dependency for a join).
async fn futures_join<F>(futs: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

async fn drop_schema(schema: &str) {
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&harness::postgres_url())
        .await
        .unwrap();
    sqlx::query("SELECT set_config('pylon.schema', $1, false)")
        .bind(schema)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "DO $$ BEGIN EXECUTE format('DROP SCHEMA %I CASCADE', current_setting('pylon.schema')); END $$",
    )
    .execute(&mut conn)
    .await
    .unwrap();
}
