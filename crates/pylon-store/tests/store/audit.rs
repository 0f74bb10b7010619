//! Audit log: filters and keyset pagination.

use std::collections::BTreeSet;
use std::time::Duration;

use pylon_store::sql::{AuditFilter, NewAuditEntry};
use serde_json::json;

use crate::harness::Ctx;

fn entry(actor: &str, action: &str, kind: &str, id: &str, tenant: Option<&str>) -> NewAuditEntry {
    NewAuditEntry {
        actor: actor.into(),
        action: action.into(),
        object_kind: kind.into(),
        object_id: id.into(),
        tenant: tenant.map(Into::into),
        before: None,
        after: None,
    }
}

/// Each filter narrows by its field; before/after documents round-trip; time range is
/// [since, until).
pub async fn audit_filters(ctx: Ctx) {
    let audit = ctx.store.audit();
    let first = audit
        .append(NewAuditEntry {
            before: Some(json!({"name": "old"})),
            after: Some(json!({"name": "new", "n": [1, 2]})),
            ..entry("alice", "update", "route", "r1", Some("acme"))
        })
        .await
        .unwrap();
    assert_eq!(first.before, Some(json!({"name": "old"})));
    assert_eq!(first.after, Some(json!({"name": "new", "n": [1, 2]})));
    audit
        .append(entry("bob", "create", "route", "r2", Some("acme")))
        .await
        .unwrap();
    audit
        .append(entry("alice", "delete", "service", "s1", Some("globex")))
        .await
        .unwrap();
    // Make sure the later records get a strictly later timestamp.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cut = audit
        .append(entry("carol", "publish", "config", "4", None))
        .await
        .unwrap();
    audit
        .append(entry("alice", "update", "route", "r1", Some("acme")))
        .await
        .unwrap();

    let ids = |f: AuditFilter| {
        let audit = audit.clone();
        async move {
            let page = audit.query(&f, None, 100).await.unwrap();
            page.items
                .iter()
                .map(|e| e.object_id.clone())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        ids(AuditFilter::default()).await,
        ["r1", "4", "s1", "r2", "r1"]
    );
    let by_actor = AuditFilter {
        actor: Some("alice".into()),
        ..Default::default()
    };
    assert_eq!(ids(by_actor).await, ["r1", "s1", "r1"]);
    let by_object = AuditFilter {
        object_kind: Some("route".into()),
        object_id: Some("r1".into()),
        ..Default::default()
    };
    assert_eq!(ids(by_object).await, ["r1", "r1"]);
    let by_kind = AuditFilter {
        object_kind: Some("route".into()),
        ..Default::default()
    };
    assert_eq!(ids(by_kind).await, ["r1", "r2", "r1"]);
    let by_tenant = AuditFilter {
        tenant: Some("globex".into()),
        ..Default::default()
    };
    assert_eq!(ids(by_tenant).await, ["s1"]);
    let by_action = AuditFilter {
        action: Some("publish".into()),
        ..Default::default()
    };
    assert_eq!(ids(by_action).await, ["4"]);
    let since = AuditFilter {
        since: Some(cut.at),
        ..Default::default()
    };
    assert_eq!(ids(since).await, ["r1", "4"]);
    let until = AuditFilter {
        until: Some(cut.at),
        ..Default::default()
    };
    assert_eq!(ids(until).await, ["s1", "r2", "r1"]);
    let combined = AuditFilter {
        actor: Some("alice".into()),
        tenant: Some("acme".into()),
        until: Some(cut.at),
        ..Default::default()
    };
    assert_eq!(ids(combined).await, ["r1"]);
    let none = AuditFilter {
        actor: Some("nobody".into()),
        ..Default::default()
    };
    assert!(ids(none).await.is_empty());
}

/// Keyset pages cover every record exactly once, newest first, and stay stable while new
/// records are appended between page reads.
pub async fn audit_keyset_pagination(ctx: Ctx) {
    let audit = ctx.store.audit();
    for i in 0..25 {
        audit
            .append(entry(
                "alice",
                "update",
                "route",
                &format!("r{i}"),
                Some("acme"),
            ))
            .await
            .unwrap();
    }
    let filter = AuditFilter {
        tenant: Some("acme".into()),
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = audit.query(&filter, cursor, 10).await.unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|e| (e.id, e.object_id.clone())));
        // A newer record arriving mid-pagination must not shift later pages.
        audit
            .append(entry("bob", "create", "route", "late", Some("acme")))
            .await
            .unwrap();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let names: Vec<String> = seen.iter().map(|(_, n)| n.clone()).collect();
    let expected: Vec<String> = (0..25).rev().map(|i| format!("r{i}")).collect();
    assert_eq!(names, expected);
    let unique: BTreeSet<i64> = seen.iter().map(|(id, _)| *id).collect();
    assert_eq!(unique.len(), 25);
    assert!(
        seen.windows(2).all(|w| w[0].0 > w[1].0),
        "strictly newest first"
    );

    // Exactly one page's worth: no phantom next cursor.
    let exact = AuditFilter {
        actor: Some("bob".into()),
        ..Default::default()
    };
    let page = audit.query(&exact, None, 3).await.unwrap();
    assert_eq!(page.items.len(), 3);
    assert_eq!(page.next_cursor, None);
}
