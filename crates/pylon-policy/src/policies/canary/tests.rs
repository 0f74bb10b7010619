use serde_json::json;

use crate::testing::*;

fn upstreams() -> serde_json::Value {
    json!({ "upstreams": [
        { "name": "v1", "targets": [{ "address": "127.0.0.1:1" }] },
        { "name": "v2", "targets": [{ "address": "127.0.0.1:2" }] },
    ] })
}

async fn side(chain: &crate::Chain, headers: &[(&str, &str)]) -> Option<String> {
    let mut req = request("GET", "/", headers);
    let mut c = ctx();
    assert!(run(chain, &mut req, &mut c).await.is_ok());
    c.upstream_override.map(|s| s.to_string())
}

#[tokio::test]
async fn weights_split_traffic_roughly_as_configured() {
    let chain = chain(
        json!([{ "name": "canary", "config": { "splits": [{ "upstream": "v2", "weight": 20 }] } }]),
        upstreams(),
    );
    let mut to_v2 = 0;
    for _ in 0..2000 {
        if side(&chain, &[]).await.as_deref() == Some("v2") {
            to_v2 += 1;
        }
    }
    // 20 % of 2000 = 400; the binomial sd is ~18, so 300..500 fails only if the split is wrong.
    assert!((300..500).contains(&to_v2), "{to_v2} of 2000 went to v2");
}

#[tokio::test]
async fn sticky_keys_stay_on_one_side_and_force_header_wins() {
    let chain = chain(
        json!([{ "name": "canary", "config": {
            "splits": [{ "upstream": "v2", "weight": 50 }],
            "sticky": { "header": "x-user" },
            "force_header": "x-canary",
        } }]),
        upstreams(),
    );
    let mut sides = std::collections::HashSet::new();
    for user in 0..40 {
        let u = format!("user-{user}");
        let first = side(&chain, &[("x-user", &u)]).await;
        for _ in 0..5 {
            assert_eq!(
                side(&chain, &[("x-user", &u)]).await,
                first,
                "user {u} moved"
            );
        }
        sides.insert(first);
    }
    assert_eq!(sides.len(), 2, "40 users should land on both sides");
    assert_eq!(
        side(&chain, &[("x-canary", "v2"), ("x-user", "a")])
            .await
            .as_deref(),
        Some("v2")
    );
    assert_eq!(side(&chain, &[("x-canary", "default")]).await, None);
}

#[test]
fn config_errors_name_the_field() {
    let errs = config_errors(
        json!([{ "name": "canary", "config": { "splits": [{ "upstream": "nope", "weight": 10 }] } }]),
        upstreams(),
    );
    assert_eq!(
        errs,
        vec!["routes[0].policies[0].config.splits[0].upstream: no upstream named `nope`"]
    );
    let errs = config_errors(
        json!([{ "name": "canary", "config": { "splits": [{ "upstream": "v1", "weight": 60 }, { "upstream": "v2", "weight": 50 }] } }]),
        upstreams(),
    );
    assert_eq!(
        errs,
        vec!["routes[0].policies[0].config.splits: weights add up to 110, more than 100"]
    );
}
