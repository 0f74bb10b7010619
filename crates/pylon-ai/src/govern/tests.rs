use std::sync::Arc;

use http::HeaderMap;
use pylon_config::AiConfig;
use pylon_store::counters::LocalCounters;

use super::*;
use crate::error::ErrorClass;

fn governor(yaml: &str) -> Governor {
    let ai: AiConfig = serde_saphyr::from_str(yaml).expect("yaml");
    Governor::compile(&ai, Arc::new(LocalCounters::new()))
        .expect("compiles")
        .expect("something to govern")
}

fn headers(k: &str, v: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
        v.parse().unwrap(),
    );
    h
}

const KEYS: &str = "
virtual_keys:
  - name: app
    key: sk-test-0123456789abcdef
    team: search
    user: alice
    models: [smart]
    limits: {rpm: 2}
  - name: old
    key: sk-test-old-0123456789
    expires_at: 2020-01-01T00:00:00Z
  - name: off
    key: sk-test-off-0123456789
    disabled: true
budgets:
  - name: search
    scope: {team: search}
    amount_usd: 1.0
    period: day
";

#[test]
fn keys_are_found_by_any_sdk_header_and_checked() {
    let g = governor(KEYS);
    for (h, v) in [
        ("authorization", "Bearer sk-test-0123456789abcdef"),
        ("x-api-key", "sk-test-0123456789abcdef"),
        ("api-key", "sk-test-0123456789abcdef"),
    ] {
        let who = g.keys.identify(&headers(h, v)).unwrap().unwrap();
        assert_eq!(who.key_name(), Some("app"));
        assert_eq!(who.team.as_deref(), Some("search"));
    }
    let code = |h: HeaderMap| g.keys.identify(&h).unwrap_err().code.unwrap();
    assert_eq!(
        code(headers("authorization", "Bearer nope")),
        "invalid_api_key"
    );
    assert_eq!(
        code(headers("x-api-key", "sk-test-old-0123456789")),
        "key_expired"
    );
    assert_eq!(
        code(headers("x-api-key", "sk-test-off-0123456789")),
        "key_disabled"
    );
    assert!(g.keys.identify(&HeaderMap::new()).unwrap().is_none());
}

fn who(g: &Governor) -> Who {
    g.keys
        .identify(&headers("x-api-key", "sk-test-0123456789abcdef"))
        .unwrap()
        .unwrap()
}

fn est(tokens: u64, usd: f64) -> Estimate {
    Estimate {
        tokens,
        cost_usd: Some(usd),
    }
}

#[tokio::test]
async fn requests_per_minute_of_a_key() {
    let g = governor(KEYS);
    let w = who(&g);
    g.admit(&w, "smart", est(10, 0.0)).await.unwrap();
    g.admit(&w, "smart", est(10, 0.0)).await.unwrap();
    let e = g.admit(&w, "smart", est(10, 0.0)).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::RateLimited);
    assert_eq!(e.code.as_deref(), Some("rate_limit_exceeded"));
    assert!(e.retry_after.is_some());
}

#[tokio::test]
async fn a_budget_admits_what_it_can_pay_for_and_settles_actual_costs() {
    let g = governor(KEYS.replace("limits: {rpm: 2}", "").as_str());
    let w = who(&g);
    // Three calls that may cost 0.4 each: two fit in $1.
    let a = g.admit(&w, "smart", est(0, 0.4)).await.unwrap();
    let b = g.admit(&w, "smart", est(0, 0.4)).await.unwrap();
    let e = g.admit(&w, "smart", est(0, 0.4)).await.unwrap_err();
    assert_eq!(e.class, ErrorClass::Budget);
    assert_eq!(e.status.as_u16(), 402);
    assert!(e.message.contains("budget search"), "{}", e.message);
    // They cost 0.1 each: 0.8 is free again.
    a.settle(0, Some(0.1));
    b.settle(0, Some(0.1));
    let c = g.admit(&w, "smart", est(0, 0.8)).await.unwrap();
    // A call dropped without an answer spends nothing.
    drop(c);
    let d = g.admit(&w, "smart", est(0, 0.8)).await.unwrap();
    d.settle(0, Some(0.8));
    // $1.00 spent: even a call of unknown cost is refused.
    let unknown = Estimate {
        tokens: 0,
        cost_usd: None,
    };
    assert_eq!(
        g.admit(&w, "smart", unknown).await.unwrap_err().class,
        ErrorClass::Budget
    );
}

#[tokio::test]
async fn tokens_per_minute_count_what_calls_really_used() {
    let g = governor(
        "limits:\n  - name: tpm\n    scope: {model: smart}\n    tpm: 1000\n    max_concurrent: 5\n",
    );
    let w = Who::anonymous();
    let a = g.admit(&w, "smart", est(600, 0.0)).await.unwrap();
    let e = g.admit(&w, "smart", est(600, 0.0)).await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("tokens_per_minute_exceeded"));
    // Another model is not counted.
    g.admit(&w, "other", est(600, 0.0)).await.unwrap();
    a.settle(100, None);
    g.admit(&w, "smart", est(600, 0.0)).await.unwrap();
}

#[tokio::test]
async fn calls_in_flight_are_bounded() {
    let g = governor("limits:\n  - name: cc\n    per: user\n    max_concurrent: 2\n");
    let alice = Who {
        user: Some(Arc::from("alice")),
        ..Who::anonymous()
    };
    let bob = Who {
        user: Some(Arc::from("bob")),
        ..alice.clone()
    };
    let a = g.admit(&alice, "m", est(1, 0.0)).await.unwrap();
    let _b = g.admit(&alice, "m", est(1, 0.0)).await.unwrap();
    let e = g.admit(&alice, "m", est(1, 0.0)).await.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("concurrency_limit_exceeded"));
    // Counted per user: bob has his own slots.
    g.admit(&bob, "m", est(1, 0.0)).await.unwrap();
    a.settle(1, None);
    g.admit(&alice, "m", est(1, 0.0)).await.unwrap();
}
