use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant, SystemTime};

use pylon_telemetry::CallRecord;
use serde_json::json;

use crate::shared::Shared;
use crate::testing::*;
use crate::{Chain, PolicyCtx, Reject};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

/// Start a request; the returned context holds its slot (if it got one).
async fn start(
    chain: &Chain,
    headers: &[(&str, &str)],
    from: IpAddr,
) -> (Result<(), Reject>, PolicyCtx) {
    let mut req = request("GET", "/", headers);
    let mut ctx = ctx_from(from);
    let r = run(chain, &mut req, &mut ctx).await.map(|_| ());
    (r, ctx)
}

/// The log phase, as when the response body has ended.
fn finish(chain: &Chain, ctx: &PolicyCtx) {
    let mut record = CallRecord::new(SystemTime::now());
    chain.on_log(ctx, &mut record);
}

fn policy(config: serde_json::Value) -> serde_json::Value {
    json!([{ "name": "concurrency-limit", "config": config }])
}

#[tokio::test]
async fn the_second_request_in_flight_is_refused_until_the_first_ends() {
    let chain = chain(policy(json!({ "max": 1, "key_by": "ip" })), json!({}));
    let (first, ctx1) = start(&chain, &[], ip(1)).await;
    assert!(first.is_ok());
    let rej = start(&chain, &[], ip(1))
        .await
        .0
        .expect_err("second in flight");
    assert_eq!(
        (rej.status.as_u16(), rej.code),
        (429, "concurrency_limited")
    );
    assert!(
        rej.headers
            .iter()
            .any(|(k, v)| k == "retry-after" && v == "1")
    );
    // Another client has its own slot.
    let (other, _ctx_other) = start(&chain, &[], ip(2)).await;
    assert!(other.is_ok());
    // The first request's response ends: its slot is free again.
    finish(&chain, &ctx1);
    let (third, ctx3) = start(&chain, &[], ip(1)).await;
    assert!(third.is_ok());
    // The log phase running twice (or on a copy) frees nothing more.
    finish(&chain, &ctx1);
    assert!(start(&chain, &[], ip(1)).await.0.is_err());
    drop(ctx3);
}

#[tokio::test]
async fn a_request_that_fails_early_gives_its_slot_back() {
    let chain = chain(
        policy(json!({ "max": 2, "key_by": "global", "status": 503 })),
        json!({}),
    );
    let (a, ctx_a) = start(&chain, &[], ip(1)).await;
    let (b, ctx_b) = start(&chain, &[], ip(2)).await;
    assert!(a.is_ok() && b.is_ok());
    let rej = start(&chain, &[], ip(3)).await.0.expect_err("full");
    assert_eq!(rej.status.as_u16(), 503);
    // No log phase: the request was abandoned and its context dropped.
    drop(ctx_a);
    let (c, _ctx_c) = start(&chain, &[], ip(3)).await;
    assert!(c.is_ok());
    drop(ctx_b);
}

#[tokio::test]
async fn in_flight_counts_survive_a_reload_that_changes_max() {
    let shared = Shared::new();
    let build = |max: u64| {
        chain_with(
            &config(policy(json!({ "max": max, "key_by": "ip" })), json!({})),
            &shared,
        )
    };
    let old = build(2);
    let (a, ctx_a) = start(&old, &[], ip(1)).await;
    let (b, ctx_b) = start(&old, &[], ip(1)).await;
    assert!(a.is_ok() && b.is_ok());
    // The new snapshot allows 3; the two running requests still count.
    let new = build(3);
    let (c, ctx_c) = start(&new, &[], ip(1)).await;
    assert!(c.is_ok());
    assert!(start(&new, &[], ip(1)).await.0.is_err());
    // Requests that started on the old snapshot end there.
    finish(&old, &ctx_a);
    assert!(start(&new, &[], ip(1)).await.0.is_ok());
    drop((ctx_b, ctx_c));
}

#[tokio::test]
async fn redis_slots_are_shared_and_released() {
    // The real Redis at 127.0.0.1:6379 (the test fails if it is not there).
    let tenant = format!(
        "t-{:x}-{}",
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
        std::process::id()
    );
    let config = json!({
        "max": 1, "key_by": "header", "header_name": "x-tenant",
        "backend": "redis", "redis_url": redis_url(), "on_backend_error": "deny", "lease_ttl": "10s",
    });
    // Two "nodes": separate state, one Redis.
    let node_a = chain(policy(config.clone()), json!({}));
    let node_b = chain(policy(config), json!({}));
    let h = [("x-tenant", tenant.as_str())];
    let (first, ctx1) = start(&node_a, &h, ip(1)).await;
    assert!(
        first.is_ok(),
        "Redis must be running at 127.0.0.1:6379: {first:?}"
    );
    let rej = start(&node_b, &h, ip(2))
        .await
        .0
        .expect_err("held on node a");
    assert_eq!(rej.code, "concurrency_limited");
    finish(&node_a, &ctx1);
    // The release goes to Redis in the background.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (r, ctx) = start(&node_b, &h, ip(2)).await;
        if r.is_ok() {
            finish(&node_b, &ctx);
            break;
        }
        assert!(Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn bad_configs_name_the_field() {
    let errs = |c: serde_json::Value| config_errors(policy(c), json!({}));
    let at = "routes[0].policies[0].config";
    assert_eq!(
        errs(json!({})),
        vec![format!("{at}.max: must be at least 1")]
    );
    assert_eq!(
        errs(json!({ "max": 1, "status": 500 })),
        vec![format!("{at}.status: must be 429 or 503")]
    );
    assert_eq!(
        errs(json!({ "max": 1, "lease_ttl": "10ms" })),
        vec![format!("{at}.lease_ttl: must be at least 1s")]
    );
    assert_eq!(
        errs(json!({ "max": 1, "key_by": "ip", "header_name": "x" })),
        vec![format!("{at}.header_name: only used with `key_by: header`")]
    );
}
