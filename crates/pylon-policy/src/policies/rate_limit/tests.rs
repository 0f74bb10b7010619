use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde_json::json;

use crate::Reject;
use crate::shared::Shared;
use crate::testing::*;

fn header<'a>(ctx: &'a crate::PolicyCtx, name: &str) -> Option<&'a str> {
    ctx.response_headers
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.to_str().ok())
}

fn reject_header<'a>(r: &'a Reject, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.to_str().ok())
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, last))
}

/// Run the chain for a request with `headers` from `from`; the context is
/// returned for its response headers.
async fn call(
    chain: &crate::Chain,
    headers: &[(&str, &str)],
    from: IpAddr,
) -> (Result<(), Reject>, crate::PolicyCtx) {
    let mut req = request("GET", "/", headers);
    let mut ctx = ctx_from(from);
    let r = run(chain, &mut req, &mut ctx).await.map(|_| ());
    (r, ctx)
}

#[tokio::test(start_paused = true)]
async fn five_per_minute_then_429_with_headers() {
    let chain = chain(
        json!([{ "name": "rate-limit", "config": { "limits": [{ "per": "minute", "limit": 5 }], "key_by": "ip" } }]),
        json!({}),
    );
    for left in (0..5).rev() {
        let (r, ctx) = call(&chain, &[], ip(1)).await;
        assert!(r.is_ok());
        assert_eq!(header(&ctx, "ratelimit-limit"), Some("5"));
        assert_eq!(
            header(&ctx, "ratelimit-remaining"),
            Some(left.to_string().as_str())
        );
    }
    let (r, ctx) = call(&chain, &[], ip(1)).await;
    let rej = r.expect_err("sixth is refused");
    assert_eq!(rej.status, 429);
    assert_eq!(rej.code, "rate_limited");
    assert_eq!(reject_header(&rej, "retry-after"), Some("12"));
    assert_eq!(header(&ctx, "ratelimit-remaining"), Some("0"));
    assert_eq!(header(&ctx, "ratelimit-reset"), Some("60"));
    // Another client is counted apart.
    assert!(call(&chain, &[], ip(2)).await.0.is_ok());
    // One more is admitted every 12 s.
    tokio::time::advance(Duration::from_secs(12)).await;
    assert!(call(&chain, &[], ip(1)).await.0.is_ok());
    assert!(call(&chain, &[], ip(1)).await.0.is_err());
}

#[tokio::test(start_paused = true)]
async fn several_limits_show_the_tightest_and_refusals_spend_nothing_more() {
    let chain = chain(
        json!([{ "name": "rate-limit", "config": {
            "limits": [{ "per": "minute", "limit": 3 }, { "per": "second", "limit": 2 }],
            "key_by": "global",
        } }]),
        json!({}),
    );
    let (r, ctx) = call(&chain, &[], ip(1)).await;
    assert!(r.is_ok());
    // second: 1 left; minute: 2 left → the per-second limit is shown.
    assert_eq!(header(&ctx, "ratelimit-limit"), Some("2"));
    assert_eq!(header(&ctx, "ratelimit-remaining"), Some("1"));
    assert!(call(&chain, &[], ip(2)).await.0.is_ok());
    // Refused by the per-second limit: the minute quota is not spent.
    let rej = call(&chain, &[], ip(3)).await.0.expect_err("2/s");
    assert_eq!(reject_header(&rej, "retry-after"), Some("1"));
    tokio::time::advance(Duration::from_secs(1)).await;
    let (r, ctx) = call(&chain, &[], ip(1)).await;
    assert!(r.is_ok());
    // Now the minute limit is the tighter one: 3rd of 3.
    assert_eq!(header(&ctx, "ratelimit-limit"), Some("3"));
    assert_eq!(header(&ctx, "ratelimit-remaining"), Some("0"));
    let (r, ctx) = call(&chain, &[], ip(1)).await;
    let rej = r.expect_err("3/min");
    // The minute bucket frees its next slot 20 s after the first request.
    assert_eq!(reject_header(&rej, "retry-after"), Some("19"));
    assert_eq!(header(&ctx, "ratelimit-limit"), Some("3"));
}

#[tokio::test]
async fn hour_limits_use_a_sliding_window() {
    let chain = chain(
        json!([{ "name": "rate-limit", "config": { "limits": [{ "per": "hour", "limit": 3 }], "key_by": "ip" } }]),
        json!({}),
    );
    for _ in 0..3 {
        assert!(call(&chain, &[], ip(1)).await.0.is_ok());
    }
    let (r, ctx) = call(&chain, &[], ip(1)).await;
    let rej = r.expect_err("3/hour");
    let retry: u64 = reject_header(&rej, "retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // The rest of this hour plus a third of the next (when 3 × 2/3 ≤ 2).
    assert!((1200..=4800).contains(&retry), "retry-after {retry}");
    assert_eq!(header(&ctx, "ratelimit-limit"), Some("3"));
}

#[tokio::test]
async fn consumer_key_falls_back_to_the_ip() {
    let chain = chain(
        json!([{ "name": "rate-limit", "config": { "limits": [{ "per": "minute", "limit": 1 }] } }]),
        json!({}),
    );
    // No authentication on the route: counted per client IP.
    assert!(call(&chain, &[], ip(1)).await.0.is_ok());
    assert!(call(&chain, &[], ip(1)).await.0.is_err());
    assert!(call(&chain, &[], ip(2)).await.0.is_ok());
}

#[tokio::test]
async fn header_key_counts_per_value_and_hides_headers() {
    let chain = chain(
        json!([{ "name": "rate-limit", "config": {
            "limits": [{ "window": "90s", "limit": 1 }],
            "key_by": "header", "header_name": "x-tenant", "hide_headers": true,
        } }]),
        json!({}),
    );
    let (r, ctx) = call(&chain, &[("x-tenant", "a")], ip(1)).await;
    assert!(r.is_ok());
    assert!(ctx.response_headers.is_empty());
    let (r, ctx) = call(&chain, &[("x-tenant", "a")], ip(2)).await;
    let rej = r.expect_err("same tenant from another address");
    assert_eq!(reject_header(&rej, "retry-after"), Some("90"));
    assert!(ctx.response_headers.is_empty());
    assert!(call(&chain, &[("x-tenant", "b")], ip(1)).await.0.is_ok());
    // Without the header: the client IP.
    assert!(call(&chain, &[], ip(1)).await.0.is_ok());
    assert!(call(&chain, &[], ip(1)).await.0.is_err());
}

#[tokio::test]
async fn consumer_groups_get_their_plans_limits() {
    let extra = json!({
        "consumers": [
            { "name": "alice", "groups": ["free"], "credentials": [{ "type": "key_auth", "key": "alice-key-123" }] },
            { "name": "bob", "groups": ["pro"], "credentials": [{ "type": "key_auth", "key": "bob-key-12345" }] },
        ],
        "consumer_groups": [
            { "name": "free", "policies": [{ "name": "rate-limit", "config": { "limits": [{ "per": "minute", "limit": 2 }] } }] },
            { "name": "pro", "policies": [{ "name": "rate-limit", "config": { "limits": [{ "per": "minute", "limit": 5 }] } }] },
        ],
    });
    let chain = chain(json!([{ "name": "key-auth" }]), extra);
    let admitted = |key: &'static str| {
        let chain = chain.clone();
        async move {
            let mut n = 0;
            for _ in 0..10 {
                match call(&chain, &[("x-api-key", key)], ip(1)).await.0 {
                    Ok(()) => n += 1,
                    Err(r) => assert_eq!(r.code, "rate_limited"),
                }
            }
            n
        }
    };
    assert_eq!(admitted("alice-key-123").await, 2);
    assert_eq!(admitted("bob-key-12345").await, 5);
}

#[tokio::test]
async fn counts_survive_a_reload_unless_the_limit_changes() {
    let shared = Shared::new();
    let policies = |limit: u64| json!([{ "name": "rate-limit", "config": { "limits": [{ "per": "minute", "limit": limit }], "key_by": "ip" } }]);
    let first = chain_with(&config(policies(2), json!({})), &shared);
    assert!(call(&first, &[], ip(1)).await.0.is_ok());
    assert!(call(&first, &[], ip(1)).await.0.is_ok());
    // Rebuilt from the same config (a reload): still exhausted.
    let reloaded = chain_with(&config(policies(2), json!({})), &shared);
    assert!(call(&reloaded, &[], ip(1)).await.0.is_err());
    // A changed limit counts afresh.
    let changed = chain_with(&config(policies(3), json!({})), &shared);
    assert!(call(&changed, &[], ip(1)).await.0.is_ok());
}

#[tokio::test]
async fn an_unreachable_redis_fails_open_or_closed_as_configured() {
    // A listener that never accepts, open for the whole test: Redis never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let url = format!("redis://127.0.0.1:{port}");
    let shared = Shared::new();
    let policies = |on_error: &str| {
        json!([{ "name": "rate-limit", "config": {
            "limits": [{ "per": "second", "limit": 1 }], "key_by": "ip",
            "backend": "redis", "redis_url": url, "redis_timeout": "200ms",
            "on_backend_error": on_error,
        } }])
    };
    let open = chain_with(&config(policies("allow"), json!({})), &shared);
    for _ in 0..3 {
        let (r, ctx) = call(&open, &[], ip(1)).await;
        assert!(r.is_ok());
        assert!(ctx.response_headers.is_empty());
    }
    let closed = chain_with(&config(policies("deny"), json!({})), &shared);
    let rej = call(&closed, &[], ip(1)).await.0.expect_err("fail closed");
    assert_eq!(
        (rej.status.as_u16(), rej.code),
        (503, "rate_limiter_unavailable")
    );
    let text = shared.metrics().encode();
    let line = text
        .lines()
        .find(|l| l.starts_with("pylon_policy_backend_errors") && l.contains("rate-limit"))
        .unwrap_or_default();
    assert!(line.contains("redis") && line.ends_with(" 4"), "{line}");
    drop(listener);
}

#[tokio::test]
async fn redis_backend_limits_through_the_policy() {
    // The real Redis at 127.0.0.1:6379 (the test fails if it is not there).
    let tenant = format!("t-{}", uuid_like());
    let chain = chain(
        json!([{ "name": "rate-limit", "config": {
            "limits": [{ "per": "minute", "limit": 3 }],
            "key_by": "header", "header_name": "x-tenant",
            "backend": "redis", "redis_url": redis_url(), "on_backend_error": "deny",
        } }]),
        json!({}),
    );
    for left in (0..3).rev() {
        let (r, ctx) = call(&chain, &[("x-tenant", &tenant)], ip(1)).await;
        assert!(r.is_ok(), "Redis must be running at 127.0.0.1:6379: {r:?}");
        assert_eq!(
            header(&ctx, "ratelimit-remaining"),
            Some(left.to_string().as_str())
        );
    }
    let rej = call(&chain, &[("x-tenant", &tenant)], ip(2))
        .await
        .0
        .expect_err("fourth");
    assert_eq!(rej.code, "rate_limited");
    assert_eq!(reject_header(&rej, "retry-after"), Some("20"));
}

/// A value unique to this run (the keys expire by themselves within a minute).
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{nanos:x}-{}", std::process::id())
}

#[test]
fn bad_configs_name_the_field() {
    let errs = |config: serde_json::Value| {
        config_errors(
            json!([{ "name": "rate-limit", "config": config }]),
            json!({}),
        )
    };
    let at = "routes[0].policies[0].config";
    assert_eq!(
        errs(json!({})),
        vec![format!("{at}.limits: at least one limit is needed")]
    );
    assert!(
        errs(json!({ "limits": [{ "limit": 5 }] }))[0]
            .starts_with(&format!("{at}.limits[0].per: a period is needed"))
    );
    assert!(
        errs(json!({ "limits": [{ "per": "minute", "window": "1m", "limit": 5 }] }))[0]
            .starts_with(&format!("{at}.limits[0].window: give either"))
    );
    assert!(
        errs(json!({ "limits": [{ "per": "minute", "limit": 0 }] }))[0]
            .starts_with(&format!("{at}.limits[0].limit: invalid limit"))
    );
    assert!(
        errs(json!({ "limits": [{ "per": "day", "limit": 5, "burst": 2 }] }))[0]
            .starts_with(&format!("{at}.limits[0].burst: `burst` applies"))
    );
    assert!(
        errs(json!({ "limits": [{ "per": "fortnight", "limit": 5 }] }))[0]
            .starts_with(&format!("{at}.limits[0].per: unknown variant"))
    );
    let one = json!([{ "per": "second", "limit": 1 }]);
    assert_eq!(
        errs(json!({ "limits": one, "key_by": "header" })),
        vec![format!("{at}.header_name: required with `key_by: header`")]
    );
    assert_eq!(
        errs(json!({ "limits": one, "redis_url": "redis://x" })),
        vec![format!("{at}.redis_url: only used with `backend: redis`")]
    );
    assert!(
        errs(json!({ "limits": one, "backend": "redis", "redis_url": "http://x" }))[0]
            .starts_with(&format!("{at}.redis_url: not a Redis URL"))
    );
    assert!(errs(json!({ "limits": one, "keyby": "ip" }))[0].contains("unknown field `keyby`"));
}
