//! Versioned config: drafts, publish numbering, concurrency, rollback, diffs.

use std::collections::BTreeSet;

use pylon_store::StoreError;
use pylon_store::sql::{DiffKind, DiffOp};
use serde_json::json;

use crate::harness::Ctx;

fn op(op: DiffKind, path: &str) -> DiffOp {
    DiffOp {
        op,
        path: path.to_owned(),
    }
}

/// A stale expected draft version is refused with the current version; nothing changes.
pub async fn draft_put_with_stale_version_conflicts(ctx: Ctx) {
    let config = ctx.store.config();
    let draft = config.get_draft().await.unwrap();
    assert_eq!(draft.version, 0);
    assert_eq!(draft.document, json!({}));
    assert_eq!(draft.updated_by, None);

    let v1 = config
        .put_draft(&json!({"a": 1}), 0, "alice")
        .await
        .unwrap();
    assert_eq!(v1, 1);
    let err = config
        .put_draft(&json!({"a": 2}), 0, "bob")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { current: 1 }),
        "{err:?}"
    );

    let draft = config.get_draft().await.unwrap();
    assert_eq!(draft.document, json!({"a": 1}));
    assert_eq!(draft.version, 1);
    assert_eq!(draft.updated_by.as_deref(), Some("alice"));
    assert!(draft.updated_at.is_some());
    assert_eq!(
        config.put_draft(&json!({"a": 3}), 1, "bob").await.unwrap(),
        2
    );
}

/// Ten writers race on the same draft version: exactly one wins.
pub async fn concurrent_draft_puts_have_one_winner(ctx: Ctx) {
    let mut tasks = Vec::new();
    for i in 0..10 {
        let config = ctx.store.config().clone();
        tasks.push(tokio::spawn(async move {
            config.put_draft(&json!({"writer": i}), 0, "racer").await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(v) => {
                assert_eq!(v, 1);
                wins += 1;
            }
            Err(StoreError::Conflict { current: 1 }) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(wins, 1);
}

/// Publishing numbers versions 1, 2, ... with author, message, time and a diff against
/// the previous version, and activates the new version.
pub async fn publish_numbers_versions_and_stores_diff(ctx: Ctx) {
    let config = ctx.store.config();
    assert!(config.active_version().await.unwrap().is_none());

    config
        .put_draft(&json!({"routes": [{"path": "/a"}], "x": 1}), 0, "alice")
        .await
        .unwrap();
    let v1 = config.publish("alice", "first", Some(1)).await.unwrap();
    assert_eq!(v1.number, 1);
    assert_eq!(v1.parent, None);
    assert_eq!(v1.author, "alice");
    assert_eq!(v1.message, "first");
    assert_eq!(v1.rollback_of, None);
    assert_eq!(
        v1.changes,
        vec![op(DiffKind::Add, "/routes"), op(DiffKind::Add, "/x")]
    );

    config
        .put_draft(
            &json!({"routes": [{"path": "/b"}, {"path": "/c"}], "y": true}),
            1,
            "bob",
        )
        .await
        .unwrap();
    let v2 = config.publish("bob", "second", None).await.unwrap();
    assert_eq!(v2.number, 2);
    assert_eq!(v2.parent, Some(1));
    assert!(v2.created_at >= v1.created_at);
    assert_eq!(
        v2.changes,
        vec![
            op(DiffKind::Replace, "/routes/0/path"),
            op(DiffKind::Add, "/routes/1"),
            op(DiffKind::Remove, "/x"),
            op(DiffKind::Add, "/y"),
        ]
    );

    let active = config.active_version().await.unwrap().unwrap();
    assert_eq!(active.info, v2);
    assert_eq!(
        active.document,
        json!({"routes": [{"path": "/b"}, {"path": "/c"}], "y": true})
    );
    let stored = config.get_version(1).await.unwrap();
    assert_eq!(stored.info, v1);
    assert_eq!(stored.document, json!({"routes": [{"path": "/a"}], "x": 1}));
    assert!(matches!(
        config.get_version(3).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// A publish that names a draft version the caller validated fails if the draft moved.
pub async fn publish_with_stale_expected_draft_conflicts(ctx: Ctx) {
    let config = ctx.store.config();
    config
        .put_draft(&json!({"a": 1}), 0, "alice")
        .await
        .unwrap();
    config.put_draft(&json!({"a": 2}), 1, "bob").await.unwrap();
    let err = config
        .publish("alice", "validated v1", Some(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { current: 2 }),
        "{err:?}"
    );
    // The failed publish consumed no number and activated nothing.
    assert!(config.active_version().await.unwrap().is_none());
    let v = config
        .publish("alice", "validated v2", Some(2))
        .await
        .unwrap();
    assert_eq!(v.number, 1);
    assert_eq!(
        config.get_version(1).await.unwrap().document,
        json!({"a": 2})
    );
}

/// Ten concurrent publishes: ten versions numbered exactly 1..=10, none lost, the active
/// one is the highest.
pub async fn concurrent_publishes_get_distinct_consecutive_numbers(ctx: Ctx) {
    ctx.store
        .config()
        .put_draft(&json!({"k": "v"}), 0, "setup")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let config = ctx.store.config().clone();
        tasks.push(tokio::spawn(async move {
            config.publish(&format!("user{i}"), "race", None).await
        }));
    }
    let mut numbers = BTreeSet::new();
    for t in tasks {
        let info = t.await.unwrap().unwrap();
        assert!(
            numbers.insert(info.number),
            "duplicate number {}",
            info.number
        );
    }
    assert_eq!(numbers, (1..=10).collect::<BTreeSet<i64>>());
    let page = ctx.store.config().list_versions(1, 100).await.unwrap();
    assert_eq!(page.total, 10);
    let authors: BTreeSet<String> = page.items.iter().map(|v| v.author.clone()).collect();
    assert_eq!(authors.len(), 10, "every publish is recorded: {authors:?}");
    let active = ctx.store.config().active_version().await.unwrap().unwrap();
    assert_eq!(active.info.number, 10);
}

/// Rollback records a new version equal to the target, activates it, resets the draft,
/// and leaves history intact.
pub async fn rollback_appends_a_version_equal_to_the_target(ctx: Ctx) {
    let config = ctx.store.config();
    let docs = [
        json!({"v": 1}),
        json!({"v": 2, "extra": [1]}),
        json!({"v": 3}),
    ];
    for (i, doc) in docs.iter().enumerate() {
        config.put_draft(doc, i as i64, "alice").await.unwrap();
        config.publish("alice", "edit", None).await.unwrap();
    }
    let draft_before = config.get_draft().await.unwrap().version;

    let rb = config.activate(1, "bob").await.unwrap();
    assert_eq!(rb.number, 4);
    assert_eq!(rb.rollback_of, Some(1));
    assert_eq!(rb.message, "rollback to 1");
    assert_eq!(rb.author, "bob");
    assert_eq!(rb.parent, Some(3));
    assert_eq!(rb.changes, vec![op(DiffKind::Replace, "/v")]);

    let active = config.active_version().await.unwrap().unwrap();
    assert_eq!(active.info.number, 4);
    assert_eq!(active.document, docs[0]);
    for (i, doc) in docs.iter().enumerate() {
        assert_eq!(
            &config.get_version(i as i64 + 1).await.unwrap().document,
            doc
        );
    }
    let draft = config.get_draft().await.unwrap();
    assert_eq!(draft.document, docs[0]);
    assert_eq!(draft.version, draft_before + 1);
    assert_eq!(draft.updated_by.as_deref(), Some("bob"));
    // An editor still holding the pre-rollback draft version is refused.
    assert!(matches!(
        config
            .put_draft(&json!({"v": 9}), draft_before, "carol")
            .await,
        Err(StoreError::Conflict { .. })
    ));

    let missing = config.activate(99, "bob").await.unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { .. }),
        "{missing:?}"
    );
    // The failed rollback used no number.
    config
        .put_draft(&json!({"v": 5}), draft.version, "alice")
        .await
        .unwrap();
    assert_eq!(
        config.publish("alice", "after", None).await.unwrap().number,
        5
    );
}

/// `diff(a, b)` works between any two versions, both ways, and names missing versions.
pub async fn diff_between_any_two_versions(ctx: Ctx) {
    let config = ctx.store.config();
    let docs = [
        json!({"a": 1, "list": [1, 2]}),
        json!({"a": 1, "list": [1, 2, 3], "b/c": "x"}),
        json!({"a": "one", "list": [1]}),
    ];
    for (i, doc) in docs.iter().enumerate() {
        config.put_draft(doc, i as i64, "alice").await.unwrap();
        config.publish("alice", "edit", None).await.unwrap();
    }
    assert_eq!(
        config.diff(1, 3).await.unwrap(),
        vec![op(DiffKind::Replace, "/a"), op(DiffKind::Remove, "/list/1")]
    );
    assert_eq!(
        config.diff(3, 1).await.unwrap(),
        vec![op(DiffKind::Replace, "/a"), op(DiffKind::Add, "/list/1")]
    );
    assert_eq!(
        config.diff(1, 2).await.unwrap(),
        vec![op(DiffKind::Add, "/b~1c"), op(DiffKind::Add, "/list/2")]
    );
    assert!(config.diff(2, 2).await.unwrap().is_empty());
    // The diff stored at publish time matches the computed one.
    assert_eq!(
        config.get_version(3).await.unwrap().info.changes,
        config.diff(2, 3).await.unwrap()
    );
    assert!(matches!(
        config.diff(1, 7).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Versions list newest first with offset pages and a total.
pub async fn list_versions_paginates_newest_first(ctx: Ctx) {
    let config = ctx.store.config();
    for i in 0..7 {
        config
            .publish("alice", &format!("m{i}"), None)
            .await
            .unwrap();
    }
    let p1 = config.list_versions(1, 3).await.unwrap();
    let p3 = config.list_versions(3, 3).await.unwrap();
    let p4 = config.list_versions(4, 3).await.unwrap();
    assert_eq!(p1.total, 7);
    let nums = |p: &pylon_store::sql::Page<pylon_store::sql::VersionInfo>| {
        p.items.iter().map(|v| v.number).collect::<Vec<_>>()
    };
    assert_eq!(nums(&p1), vec![7, 6, 5]);
    assert_eq!(nums(&p3), vec![1]);
    assert!(p4.items.is_empty());
    // page 0 is treated as page 1; per_page is clamped to at least 1.
    let p0 = config.list_versions(0, 0).await.unwrap();
    assert_eq!((p0.page, p0.per_page, nums(&p0)), (1, 1, vec![7]));
}

/// Opening the same database again runs no migration twice and sees the same data.
pub async fn migrations_are_idempotent_and_data_survives_reopen(ctx: Ctx) {
    ctx.store
        .config()
        .put_draft(&json!({"kept": true}), 0, "alice")
        .await
        .unwrap();
    ctx.store
        .config()
        .publish("alice", "one", None)
        .await
        .unwrap();
    let again = ctx.reopen().await;
    let third = ctx.reopen().await;
    assert_eq!(
        again.config().get_version(1).await.unwrap().document,
        json!({"kept": true})
    );
    assert_eq!(third.config().get_draft().await.unwrap().version, 1);
    let applied: i64 = match ctx.db {
        crate::harness::Db::Sqlite => sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(again.sqlite_pool().unwrap())
            .await
            .unwrap(),
        crate::harness::Db::Postgres => sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(again.postgres_pool().unwrap())
            .await
            .unwrap(),
    };
    let dir = match ctx.db {
        crate::harness::Db::Sqlite => "sqlite",
        crate::harness::Db::Postgres => "postgres",
    };
    let files = std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "sql")
        })
        .count();
    assert_eq!(
        applied, files as i64,
        "each migration is recorded exactly once"
    );
    again.close().await;
    third.close().await;
}
