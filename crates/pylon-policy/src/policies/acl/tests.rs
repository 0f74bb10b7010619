use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::json;

use crate::testing::*;
use crate::{Consumer, PolicyCtx};

fn who(name: &str, groups: &[&str], claims: Option<serde_json::Value>) -> PolicyCtx {
    let mut c = ctx();
    c.consumer = Some(Arc::new(Consumer {
        name: Arc::from(name),
        custom_id: None,
        tenant: Arc::from("default"),
        groups: groups.iter().map(|g| Arc::from(*g)).collect(),
        metadata: BTreeMap::new(),
    }));
    c.claims = claims.map(Arc::new);
    c
}

/// The status the acl answers: 200 when it lets the request through.
async fn status(acl: serde_json::Value, mut c: PolicyCtx) -> u16 {
    let chain = chain(json!([{ "name": "acl", "config": acl }]), json!({}));
    let mut req = request("GET", "/", &[]);
    match run(&chain, &mut req, &mut c).await {
        Ok(_) => 200,
        Err(e) => {
            if e.status == 403 {
                assert_eq!(e.code, "forbidden");
                assert_eq!(e.message, "access to this resource is not allowed");
            }
            e.status.as_u16()
        }
    }
}

#[tokio::test]
async fn no_consumer_is_401() {
    let chain = chain(
        json!([{ "name": "acl", "config": { "allow": ["pro"] } }]),
        json!({}),
    );
    let mut req = request("GET", "/", &[]);
    let err = run(&chain, &mut req, &mut ctx()).await.err();
    assert_eq!(
        err.map(|e| (e.status.as_u16(), e.code)),
        Some((401, "unauthorized"))
    );
}

#[tokio::test]
async fn groups_allow_and_deny_with_deny_winning() {
    let acl = json!({ "allow": ["pro", "team"], "deny": ["banned"] });
    assert_eq!(status(acl.clone(), who("a", &["pro"], None)).await, 200);
    assert_eq!(
        status(acl.clone(), who("a", &["free", "team"], None)).await,
        200
    );
    assert_eq!(status(acl.clone(), who("a", &["free"], None)).await, 403);
    assert_eq!(status(acl.clone(), who("a", &[], None)).await, 403);
    assert_eq!(status(acl, who("a", &["pro", "banned"], None)).await, 403);
    // Deny only: everyone else passes.
    let deny = json!({ "deny": ["banned"] });
    assert_eq!(status(deny.clone(), who("a", &[], None)).await, 200);
    assert_eq!(status(deny, who("a", &["banned"], None)).await, 403);
}

#[tokio::test]
async fn claim_rules_equals_contains_in_and_dotted_paths() {
    let claims = json!({
        "scope": "orders:read profile",
        "role": "admin",
        "level": 3,
        "groups": ["eng", "ops"],
        "realm": { "tier": "gold" },
        "https://example.com/plan": "enterprise",
    });
    let ok = |rule: serde_json::Value| json!({ "claims": [rule] });
    let cases = [
        (json!({ "claim": "scope", "contains": "orders:read" }), 200),
        (json!({ "claim": "scope", "contains": "orders:write" }), 403),
        (json!({ "claim": "scope", "contains": "orders" }), 403),
        (json!({ "claim": "groups", "contains": "ops" }), 200),
        (json!({ "claim": "groups", "contains": "sales" }), 403),
        (json!({ "claim": "role", "equals": "admin" }), 200),
        (json!({ "claim": "role", "equals": "Admin" }), 403),
        (json!({ "claim": "level", "equals": 3.0 }), 200),
        (json!({ "claim": "level", "equals": "3" }), 403),
        (
            json!({ "claim": "realm.tier", "in": ["silver", "gold"] }),
            200,
        ),
        (json!({ "claim": "realm.tier", "in": ["silver"] }), 403),
        (json!({ "claim": "groups", "in": ["ops", "x"] }), 200),
        (
            json!({ "claim": "https://example.com/plan", "equals": "enterprise" }),
            200,
        ),
        (json!({ "claim": "missing", "equals": "x" }), 403),
        (json!({ "claim": "realm.missing.deeper", "in": ["x"] }), 403),
    ];
    for (rule, want) in cases {
        let got = status(ok(rule.clone()), who("a", &[], Some(claims.clone()))).await;
        assert_eq!(got, want, "{rule}");
    }
    // Without claims (e.g. key-auth), a claim rule cannot hold.
    assert_eq!(
        status(
            ok(json!({ "claim": "role", "equals": "admin" })),
            who("a", &[], None)
        )
        .await,
        403
    );
}

#[tokio::test]
async fn groups_and_claims_must_all_hold() {
    let acl = json!({
        "allow": ["pro"],
        "deny": ["banned"],
        "claims": [
            { "claim": "scope", "contains": "orders:read" },
            { "claim": "role", "in": ["admin", "ops"] },
        ],
    });
    let good = json!({ "scope": "orders:read", "role": "ops" });
    assert_eq!(
        status(acl.clone(), who("a", &["pro"], Some(good.clone()))).await,
        200
    );
    assert_eq!(
        status(acl.clone(), who("a", &["free"], Some(good.clone()))).await,
        403
    );
    assert_eq!(
        status(acl.clone(), who("a", &["pro", "banned"], Some(good))).await,
        403
    );
    let one_rule_fails = json!({ "scope": "orders:read", "role": "viewer" });
    assert_eq!(
        status(acl, who("a", &["pro"], Some(one_rule_fails))).await,
        403
    );
}

#[tokio::test]
async fn acl_from_a_consumer_group_applies_after_key_auth() {
    let extra = json!({
        "consumers": [
            { "name": "alice", "groups": ["free"], "credentials": [{ "type": "key_auth", "key": "alice-key-123" }] },
        ],
        "consumer_groups": [{ "name": "free", "policies": [{ "name": "acl", "config": { "deny": ["free"] } }] }],
    });
    let chain = chain(json!([{ "name": "key-auth" }]), extra);
    let mut req = request("GET", "/", &[("x-api-key", "alice-key-123")]);
    let err = run(&chain, &mut req, &mut ctx()).await.err();
    assert_eq!(err.map(|e| e.status.as_u16()), Some(403));
}

#[test]
fn bad_config_names_the_field() {
    let errs = |acl: serde_json::Value| {
        config_errors(json!([{ "name": "acl", "config": acl }]), json!({}))
    };
    assert_eq!(
        errs(json!({})),
        vec![
            "routes[0].policies[0].config: at least one of `allow`, `deny` and `claims` is needed"
        ]
    );
    assert_eq!(
        errs(json!({ "claims": [{ "claim": "a", "equals": 1, "contains": 2 }] })),
        vec![
            "routes[0].policies[0].config.claims[0]: exactly one of `equals`, `contains` and `in` is required"
        ]
    );
    assert_eq!(
        errs(json!({ "claims": [{ "claim": "", "equals": 1 }] })),
        vec!["routes[0].policies[0].config.claims[0].claim: must not be empty"]
    );
    assert_eq!(
        errs(json!({ "allow": ["a", ""] })),
        vec!["routes[0].policies[0].config.allow[1]: must not be empty"]
    );
    let e = errs(json!({ "claims": [{ "claim": "a", "matches": "x" }] }));
    assert!(
        e[0].starts_with("routes[0].policies[0].config.claims[0]"),
        "{e:?}"
    );
}
