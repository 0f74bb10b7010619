use serde_json::json;

use super::MirrorTo;
use crate::testing::*;

fn upstreams() -> serde_json::Value {
    json!({ "upstreams": [{ "name": "shadow", "targets": [{ "address": "127.0.0.1:1" }] }] })
}

#[tokio::test]
async fn marks_the_share_of_requests_to_copy() {
    let all = chain(
        json!([{ "name": "mirror", "config": { "upstream": "shadow" } }]),
        upstreams(),
    );
    let mut c = ctx();
    let mut req = request("POST", "/", &[("content-length", "3")]);
    assert!(all.wants_request_body(&req.parts));
    assert!(run(&all, &mut req, &mut c).await.is_ok());
    assert_eq!(
        c.vars.get::<MirrorTo>().map(|m| &*m.upstream),
        Some("shadow")
    );

    let none = chain(
        json!([{ "name": "mirror", "config": { "upstream": "shadow", "percentage": 0, "include_body": false } }]),
        upstreams(),
    );
    let mut req = request("POST", "/", &[("content-length", "3")]);
    assert!(!none.wants_request_body(&req.parts));
    let mut c = ctx();
    assert!(run(&none, &mut req, &mut c).await.is_ok());
    assert!(c.vars.get::<MirrorTo>().is_none());
}

#[test]
fn unknown_shadow_is_a_config_error() {
    let errs = config_errors(
        json!([{ "name": "mirror", "config": { "upstream": "nope" } }]),
        upstreams(),
    );
    assert_eq!(
        errs,
        vec!["routes[0].policies[0].config.upstream: no upstream named `nope`"]
    );
}
