//! The cluster registry and subscriptions.

use pylon_store::StoreError;
use pylon_store::sql::{NodeHealth, NodeHeartbeat, SubscriptionFilter, SubscriptionState};

use crate::harness::Ctx;

fn beat(id: &str, generation: i64) -> NodeHeartbeat {
    NodeHeartbeat {
        id: id.into(),
        admin_addr: Some("10.0.0.1:9080".into()),
        proxy_addr: Some("10.0.0.1:8080".into()),
        pylon_version: "0.1.0".into(),
        config_version: Some(3),
        subscription_generation: generation,
        health: NodeHealth::Ok,
        last_error: None,
        failed_version: None,
        started_at: time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap(),
    }
}

/// Heartbeats upsert one row per node; acknowledgements never go backwards.
pub async fn nodes_heartbeat_ack_and_stop(ctx: Ctx) {
    let nodes = ctx.store.nodes();
    assert!(nodes.list_nodes().await.unwrap().is_empty());
    nodes.heartbeat(&beat("b", 0)).await.unwrap();
    nodes.heartbeat(&beat("a", 0)).await.unwrap();
    let first = nodes.list_nodes().await.unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0].beat.id, "a");
    assert_eq!(first[0].beat, beat("a", 0));

    nodes.ack_subscriptions("a", 5).await.unwrap();
    nodes.ack_subscriptions("a", 4).await.unwrap();
    // A heartbeat carrying an older generation does not undo a newer ack.
    let mut degraded = beat("a", 2);
    degraded.health = NodeHealth::Degraded;
    degraded.last_error = Some("version 4 failed: bad".into());
    degraded.failed_version = Some(4);
    nodes.heartbeat(&degraded).await.unwrap();
    let a = &nodes.list_nodes().await.unwrap()[0];
    assert_eq!(a.beat.subscription_generation, 5);
    assert_eq!(a.beat.health, NodeHealth::Degraded);
    assert_eq!(a.beat.failed_version, Some(4));
    assert!(a.last_seen >= first[0].last_seen);
    assert!(matches!(
        nodes.ack_subscriptions("nobody", 1).await,
        Err(StoreError::NotFound { .. })
    ));

    nodes.mark_stopped("b").await.unwrap();
    let b = &nodes.list_nodes().await.unwrap()[1];
    assert_eq!(b.beat.health, NodeHealth::Stopped);

    assert_eq!(nodes.active_config_number().await.unwrap(), None);
    ctx.store
        .config()
        .publish("alice", "one", None)
        .await
        .unwrap();
    assert_eq!(nodes.active_config_number().await.unwrap(), Some(1));
}

/// pending → approved | rejected, approved → revoked; anything else is refused with
/// the current state; every change bumps the generation.
pub async fn subscription_transitions(ctx: Ctx) {
    let subs = ctx.store.subscriptions();
    assert_eq!(subs.subscription_generation().await.unwrap(), 0);
    let p = subs
        .create_subscription("pay", "app1", SubscriptionState::Pending, "alice")
        .await
        .unwrap();
    assert_eq!(p.generation, 1);
    assert_eq!(p.value.state, SubscriptionState::Pending);
    assert_eq!(p.value.decided_by, None);
    assert!(matches!(
        subs.create_subscription("pay", "app1", SubscriptionState::Approved, "bob")
            .await,
        Err(StoreError::Duplicate { .. })
    ));
    assert!(matches!(
        subs.create_subscription("pay", "app9", SubscriptionState::Revoked, "bob")
            .await,
        Err(StoreError::Invalid(_))
    ));
    let id = p.value.id.clone();
    // Revoking a pending subscription is not a transition.
    match subs
        .transition(&id, SubscriptionState::Revoked, "bob", None)
        .await
    {
        Err(StoreError::InvalidTransition {
            current, wanted, ..
        }) => {
            assert_eq!((current.as_str(), wanted.as_str()), ("pending", "revoked"));
        }
        other => panic!("{other:?}"),
    }
    let ok = subs
        .transition(&id, SubscriptionState::Approved, "bob", Some("fine"))
        .await
        .unwrap();
    assert_eq!(ok.generation, 2);
    assert_eq!(ok.value.state, SubscriptionState::Approved);
    assert_eq!(ok.value.decided_by.as_deref(), Some("bob"));
    assert_eq!(ok.value.note.as_deref(), Some("fine"));
    assert_eq!(ok.value.version, 2);
    for again in [SubscriptionState::Approved, SubscriptionState::Rejected] {
        assert!(matches!(
            subs.transition(&id, again, "bob", None).await,
            Err(StoreError::InvalidTransition { .. })
        ));
    }
    let revoked = subs
        .transition(&id, SubscriptionState::Revoked, "carol", None)
        .await
        .unwrap();
    assert_eq!(revoked.value.state, SubscriptionState::Revoked);
    assert!(matches!(
        subs.transition(&id, SubscriptionState::Approved, "bob", None)
            .await,
        Err(StoreError::InvalidTransition { .. })
    ));
    let r = subs
        .create_subscription("pay", "app2", SubscriptionState::Pending, "alice")
        .await
        .unwrap();
    let rejected = subs
        .transition(&r.value.id, SubscriptionState::Rejected, "bob", None)
        .await
        .unwrap();
    assert_eq!(rejected.value.state, SubscriptionState::Rejected);
    assert!(matches!(
        subs.transition("missing", SubscriptionState::Approved, "bob", None)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    // Failed transitions did not bump the generation.
    assert_eq!(subs.subscription_generation().await.unwrap(), 5);
}

/// The approved set follows every change; deleting unsubscribes whatever the state.
pub async fn approved_set_list_and_unsubscribe(ctx: Ctx) {
    let subs = ctx.store.subscriptions();
    let a = subs
        .create_subscription("pay", "app1", SubscriptionState::Approved, "alice")
        .await
        .unwrap();
    assert_eq!(a.value.decided_by.as_deref(), Some("alice"));
    subs.create_subscription("pay", "app2", SubscriptionState::Pending, "alice")
        .await
        .unwrap();
    subs.create_subscription("maps", "app1", SubscriptionState::Approved, "alice")
        .await
        .unwrap();
    let set = subs.approved_set().await.unwrap();
    assert_eq!(set.generation, 3);
    assert_eq!(
        set.pairs,
        [
            ("maps".into(), "app1".into()),
            ("pay".into(), "app1".into())
        ]
    );
    let by_service = subs
        .list_subscriptions(
            &SubscriptionFilter {
                service: Some("pay".into()),
                ..Default::default()
            },
            1,
            10,
        )
        .await
        .unwrap();
    assert_eq!(by_service.total, 2);
    let consumers: Vec<_> = by_service
        .items
        .iter()
        .map(|s| s.consumer.as_str())
        .collect();
    assert_eq!(consumers, ["app1", "app2"]);
    let pending = subs
        .list_subscriptions(
            &SubscriptionFilter {
                state: Some(SubscriptionState::Pending),
                ..Default::default()
            },
            1,
            10,
        )
        .await
        .unwrap();
    assert_eq!(pending.total, 1);
    let mine = subs
        .list_subscriptions(
            &SubscriptionFilter {
                consumer: Some("app1".into()),
                ..Default::default()
            },
            1,
            1,
        )
        .await
        .unwrap();
    assert_eq!((mine.total, mine.items.len()), (2, 1));

    let gone = subs.delete_subscription(&a.value.id).await.unwrap();
    assert_eq!(gone.generation, 4);
    assert_eq!(gone.value.id, a.value.id);
    assert!(matches!(
        subs.get_subscription(&a.value.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        subs.delete_subscription(&a.value.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let set = subs.approved_set().await.unwrap();
    assert_eq!((set.generation, set.pairs.len()), (4, 1));
    // After unsubscribing, the consumer may subscribe again.
    subs.create_subscription("pay", "app1", SubscriptionState::Pending, "alice")
        .await
        .unwrap();
}
