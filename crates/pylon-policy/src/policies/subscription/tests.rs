use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use super::SubscriptionSet;
use crate::testing::*;
use crate::{Consumer, PolicyCtx, Shared};

fn as_consumer(name: &str) -> PolicyCtx {
    let mut c = ctx();
    c.service = Some(Arc::from("pay"));
    c.consumer = Some(Arc::new(Consumer {
        name: Arc::from(name),
        custom_id: None,
        tenant: Arc::from("default"),
        groups: Vec::new(),
        metadata: BTreeMap::new(),
    }));
    c
}

/// A config whose route `r` belongs to service `pay` requiring subscriptions.
fn service_config(required: bool) -> pylon_config::Config {
    let mut cfg = config(
        json!([]),
        json!({"services": [{"name": "pay", "subscription": {"required": required, "approval": "manual"}}]}),
    );
    cfg.routes[0].service = Some("pay".into());
    cfg
}

async fn status(chain: &crate::Chain, mut c: PolicyCtx) -> Result<(), crate::Reject> {
    let mut req = request("GET", "/", &[]);
    run(chain, &mut req, &mut c).await.map(|_| ())
}

#[tokio::test]
async fn services_requiring_subscriptions_get_the_policy_and_enforce_the_set() {
    let shared = Shared::new();
    let chain = chain_with(&service_config(true), &shared);
    let refused = status(&chain, as_consumer("app1")).await.unwrap_err();
    assert_eq!(refused.status, 403);
    assert_eq!(refused.code, "subscription_required");
    assert!(refused.message.contains("`app1`") && refused.message.contains("`pay`"));
    assert_eq!(refused.details.unwrap()["service"], "pay");

    let set = SubscriptionSet::of(&shared);
    assert!(set.replace(3, &[("pay".into(), "app1".into())]));
    status(&chain, as_consumer("app1")).await.unwrap();
    assert_eq!(
        status(&chain, as_consumer("app2"))
            .await
            .unwrap_err()
            .status,
        403
    );
    // Revoked: the next request is refused.
    assert!(set.replace(4, &[]));
    assert_eq!(
        status(&chain, as_consumer("app1"))
            .await
            .unwrap_err()
            .status,
        403
    );
    // Without a consumer (no authentication): 401.
    let mut anon = ctx();
    anon.service = Some(Arc::from("pay"));
    assert_eq!(status(&chain, anon).await.unwrap_err().status, 401);
}

#[tokio::test]
async fn services_without_the_requirement_are_open() {
    let chain = chain_with(&service_config(false), &Shared::new());
    status(&chain, as_consumer("app1")).await.unwrap();
}

#[test]
fn an_older_generation_never_replaces_a_newer_one() {
    let set = SubscriptionSet::default();
    assert!(!set.is_loaded());
    assert!(set.replace(5, &[("a".into(), "x".into())]));
    assert!(!set.replace(4, &[]));
    assert!(set.allows("a", "x"));
    assert_eq!(set.generation(), 5);
    assert!(set.replace(5, &[("b".into(), "y".into()), ("a".into(), "x".into())]));
    assert_eq!(
        set.pairs(),
        [("a".into(), "x".into()), ("b".into(), "y".into())]
    );
}

#[test]
fn an_explicit_service_must_exist() {
    let errs = config_errors(
        json!([{"name": "subscription", "config": {"service": "nope"}}]),
        json!({}),
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("config.service") && e.contains("not defined")),
        "{errs:?}"
    );
}
