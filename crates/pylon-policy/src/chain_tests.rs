//! Pipeline semantics: which policies a route gets, in what order, group
//! overlays after authentication, and first-authentication-wins.

use serde_json::json;

use crate::testing::*;

fn tags(req: &crate::RequestHead) -> String {
    req.parts
        .headers
        .get("x-tags")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn route_beats_service_beats_global_and_priority_orders() {
    let extra = json!({
        "policies": [{ "name": "test-tag", "config": { "tag": "global" } }],
        "services": [{ "name": "s", "policies": [{ "name": "test-tag", "config": { "tag": "service" } }] }],
    });
    // The route has no own test-tag: the service's replaces the global one.
    let mut cfg = config(json!([]), extra.clone());
    cfg.routes[0].service = Some("s".into());
    let svc = chain_with(&cfg, &crate::Shared::new());
    let mut req = request("GET", "/", &[]);
    let mut c = ctx();
    assert!(run(&svc, &mut req, &mut c).await.is_ok());
    assert_eq!(tags(&req), "service");

    // The route's own wins.
    let chain = crate::testing::chain(
        json!([{ "name": "test-tag", "config": { "tag": "route" } }]),
        extra.clone(),
    );
    let mut req = request("GET", "/", &[]);
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    assert_eq!(tags(&req), "route");

    // A disabled route policy switches the inherited one off.
    let chain = crate::testing::chain(
        json!([{ "name": "test-tag", "enabled": false, "config": { "tag": "off" } }]),
        extra,
    );
    assert!(chain.is_empty());
}

#[tokio::test]
async fn request_phase_stops_at_a_rejection_and_response_phase_covers_the_chain() {
    let extra = json!({
        "consumers": [{ "name": "alice", "credentials": [{ "type": "key_auth", "key": "alice-key-123" }] }],
    });
    // key-auth (1250) runs before test-tag (500); the tag refuses.
    let chain = crate::testing::chain(
        json!([
            { "name": "test-tag", "config": { "tag": "t", "reject": true } },
            { "name": "key-auth" },
        ]),
        extra,
    );
    let mut req = request("GET", "/", &[]);
    let err = run(&chain, &mut req, &mut ctx())
        .await
        .err()
        .map(|e| e.status);
    assert_eq!(err, Some(http::StatusCode::UNAUTHORIZED), "auth runs first");
    assert_eq!(tags(&req), "");

    let mut req = request("GET", "/", &[("x-api-key", "alice-key-123")]);
    let mut c = ctx();
    let err = run(&chain, &mut req, &mut c).await.err().map(|e| e.code);
    assert_eq!(err, Some("tagged"));
    let mut resp = response(403, &[], None);
    assert!(chain.on_response(&mut resp, &mut c).is_ok());
    assert_eq!(resp.parts.headers["x-tags"], "t");

    // Every policy of the chain sees every answer, also a 401 from key-auth
    // that stopped the request phase before the tag ran.
    let mut c = ctx();
    let mut req = request("GET", "/", &[]);
    assert!(run(&chain, &mut req, &mut c).await.is_err());
    assert_eq!(tags(&req), "", "the tag's request phase did not run");
    let mut resp = response(401, &[], None);
    assert!(chain.on_response(&mut resp, &mut c).is_ok());
    assert_eq!(resp.parts.headers["x-tags"], "t");
}

#[tokio::test]
async fn group_policies_replace_route_policies_after_authentication() {
    let extra = json!({
        "consumers": [
            { "name": "alice", "groups": ["pro"], "credentials": [{ "type": "key_auth", "key": "alice-key-123" }] },
            { "name": "bob", "credentials": [{ "type": "key_auth", "key": "bob-key-1234" }] },
        ],
        "consumer_groups": [{ "name": "pro", "policies": [{ "name": "test-tag", "config": { "tag": "pro" } }] }],
    });
    let chain = crate::testing::chain(
        json!([{ "name": "key-auth" }, { "name": "test-tag", "config": { "tag": "route" } }]),
        extra,
    );
    let mut req = request("GET", "/", &[("x-api-key", "alice-key-123")]);
    let mut c = ctx();
    assert!(run(&chain, &mut req, &mut c).await.is_ok());
    assert_eq!(tags(&req), "pro");
    let mut resp = response(200, &[], None);
    assert!(chain.on_response(&mut resp, &mut c).is_ok());
    assert_eq!(resp.parts.headers["x-tags"], "pro");

    let mut req = request("GET", "/", &[("x-api-key", "bob-key-1234")]);
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    assert_eq!(tags(&req), "route");
}

#[test]
fn auth_policies_cannot_be_group_policies_and_duplicates_are_errors() {
    let errs = config_errors(
        json!([{ "name": "test-tag", "config": { "tag": "a" } }, { "name": "test-tag", "config": { "tag": "b" } }]),
        json!({ "consumer_groups": [{ "name": "g", "policies": [{ "name": "key-auth" }] }] }),
    );
    assert!(
        errs.contains(
            &"routes[0].policies[1].name: policy `test-tag` is attached twice here".to_string()
        ),
        "{errs:?}"
    );
    assert!(errs.contains(&"consumer_groups[0].policies[0].name: authentication policies cannot be attached to a consumer group".to_string()), "{errs:?}");
}

#[tokio::test]
async fn identity_header_name_is_configurable_or_off() {
    let extra = |header: &str| {
        json!({
            "server": { "consumer_header": header },
            "consumers": [{ "name": "alice", "credentials": [{ "type": "key_auth", "key": "alice-key-123" }] }],
        })
    };
    let chain = crate::testing::chain(json!([{ "name": "key-auth" }]), extra("x-user"));
    let mut req = request(
        "GET",
        "/",
        &[("x-api-key", "alice-key-123"), ("x-user", "mallory")],
    );
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    assert_eq!(req.parts.headers["x-user"], "alice");
    assert!(req.parts.headers.get("x-consumer-name").is_none());

    let chain = crate::testing::chain(json!([{ "name": "key-auth" }]), extra(""));
    let mut req = request("GET", "/", &[("x-api-key", "alice-key-123")]);
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    assert!(req.parts.headers.get("x-consumer-name").is_none());
    assert!(req.parts.headers.get("x-consumer-tenant").is_none());
}

#[tokio::test]
async fn response_phase_runs_in_reverse_priority_order() {
    let chain = crate::testing::chain(
        json!([
            { "name": "test-tag", "config": { "tag": "outer" } },
            { "name": "test-tag-2", "config": { "tag": "inner" } },
        ]),
        json!({}),
    );
    let mut req = request("GET", "/", &[]);
    let mut c = ctx();
    assert!(run(&chain, &mut req, &mut c).await.is_ok());
    assert_eq!(tags(&req), "outer,inner");
    let mut resp = response(200, &[], None);
    assert!(chain.on_response(&mut resp, &mut c).is_ok());
    assert_eq!(resp.parts.headers["x-tags"], "inner,outer");
}

#[tokio::test]
async fn consumers_of_another_tenant_cannot_use_a_tenants_service() {
    let extra = json!({
        "services": [
            { "name": "acme-api", "tenant": "acme" },
            { "name": "shared-api" },
        ],
        "consumers": [
            { "name": "a", "tenant": "acme", "credentials": [{ "type": "key_auth", "key": "acme-key-123" }] },
            { "name": "g", "tenant": "globex", "credentials": [{ "type": "key_auth", "key": "globex-key-123" }] },
        ],
    });
    let mut cfg = config(json!([{ "name": "key-auth" }]), extra);
    cfg.routes[0].service = Some("acme-api".into());
    let acme = chain_with(&cfg, &crate::Shared::new());
    let mut req = request("GET", "/", &[("x-api-key", "acme-key-123")]);
    assert!(run(&acme, &mut req, &mut ctx()).await.is_ok());
    let mut req = request("GET", "/", &[("x-api-key", "globex-key-123")]);
    let rej = run(&acme, &mut req, &mut ctx()).await.err();
    assert_eq!(
        rej.map(|r| (r.status, r.code)),
        Some((http::StatusCode::FORBIDDEN, "tenant_mismatch"))
    );
    // A service of the default tenant is the platform's: every tenant's consumers pass.
    cfg.routes[0].service = Some("shared-api".into());
    let shared = chain_with(&cfg, &crate::Shared::new());
    let mut req = request("GET", "/", &[("x-api-key", "globex-key-123")]);
    assert!(run(&shared, &mut req, &mut ctx()).await.is_ok());
}
