//! The policy in a chain, with the memory backend and a hand-set clock.

use serde_json::json;

use super::test_harness::Harness;
use crate::testing::config_errors;

#[tokio::test]
async fn second_get_is_a_hit_and_a_hit_is_not_stored_again() {
    let mut h = Harness::new(json!({ "ttl": "10s" }), false);
    let first = h.get("/items", &[]).await;
    assert_eq!(
        (first.status, first.header("x-cache-status")),
        (200, Some("MISS"))
    );
    assert_eq!(first.cache, Some("MISS"));
    assert_eq!(h.calls, 1);
    h.advance(6);
    let second = h.get("/items", &[]).await;
    assert_eq!(h.calls, 1, "answered from the cache");
    assert_eq!(second.cache, Some("HIT"));
    assert_eq!(second.header("x-cache-status"), Some("HIT"));
    assert_eq!(second.header("age"), Some("6"));
    assert_eq!(second.header("etag"), Some("\"v1\""));
    assert_eq!(&second.body[..], b"hello");
    // Ten seconds after the first store it expires: the hit did not renew it.
    h.advance(4);
    assert_eq!(h.get("/items", &[]).await.cache, Some("MISS"));
    assert_eq!(h.calls, 2);
}

#[tokio::test]
async fn ttl_follows_cache_control_within_the_limit() {
    let mut h = Harness::new(json!({ "ttl": "60s" }), false);
    let up = (200, &[("cache-control", "max-age=30, s-maxage=5")][..], "x");
    h.send("GET", "/a", &[], up).await;
    h.advance(4);
    assert_eq!(h.send("GET", "/a", &[], up).await.cache, Some("HIT"));
    h.advance(1);
    assert_eq!(
        h.send("GET", "/a", &[], up).await.cache,
        Some("MISS"),
        "s-maxage=5 wins"
    );
    let mut h = Harness::new(
        json!({ "ttl": "60s", "respect_cache_control": false }),
        false,
    );
    let up = (200, &[("cache-control", "no-store")][..], "x");
    h.send("GET", "/a", &[], up).await;
    h.advance(59);
    assert_eq!(h.send("GET", "/a", &[], up).await.cache, Some("HIT"));
}

#[tokio::test]
async fn request_cache_control_bypasses() {
    let mut h = Harness::new(json!({}), false);
    h.get("/a", &[]).await;
    let nc = h.get("/a", &[("cache-control", "no-cache")]).await;
    assert_eq!(
        (nc.cache, nc.header("x-cache-status")),
        (Some("BYPASS"), Some("BYPASS"))
    );
    assert_eq!(h.calls, 2, "no-cache goes upstream");
    assert_eq!(
        h.get("/a", &[("pragma", "no-cache")]).await.cache,
        Some("BYPASS")
    );
    // no-store neither reads nor writes.
    h.get("/b", &[("cache-control", "no-store")]).await;
    assert_eq!(h.get("/b", &[]).await.cache, Some("MISS"));
    // no-cache refreshes the entry it bypassed.
    h.advance(30);
    h.get("/a", &[("cache-control", "no-cache")]).await;
    assert_eq!(h.get("/a", &[]).await.header("age"), Some("0"));
    // A request max-age lower than the entry's age refreshes it.
    h.advance(20);
    assert_eq!(
        h.get("/a", &[("cache-control", "max-age=10")]).await.cache,
        Some("MISS")
    );
}

#[tokio::test]
async fn unstorable_responses_are_not_stored() {
    for headers in [
        &[("cache-control", "no-store")][..],
        &[("cache-control", "private")],
        &[("set-cookie", "session=1")],
        &[("vary", "*")],
    ] {
        let mut h = Harness::new(json!({}), false);
        let first = h.send("GET", "/a", &[], (200, headers, "x")).await;
        assert_eq!(
            first.header("x-cache-status"),
            Some("BYPASS"),
            "{headers:?}"
        );
        let second = h.send("GET", "/a", &[], (200, headers, "x")).await;
        assert_eq!(h.calls, 2, "{headers:?} was stored");
        assert_eq!(second.cache, Some("BYPASS"));
    }
    let mut h = Harness::new(json!({}), false);
    h.send("GET", "/e", &[], (500, &[], "boom")).await;
    h.send("GET", "/e", &[], (500, &[], "boom")).await;
    assert_eq!(h.calls, 2, "500 is not a cacheable status");
    // A stored response never carries a cookie to someone else.
    let mut h = Harness::new(json!({ "cache_set_cookie": true }), false);
    h.send("GET", "/c", &[], (200, &[("set-cookie", "s=1")], "x"))
        .await;
    let hit = h.send("GET", "/c", &[], (200, &[], "")).await;
    assert_eq!(hit.cache, Some("HIT"));
    assert!(!hit.headers.contains_key("set-cookie"));
}

#[tokio::test]
async fn if_none_match_on_a_hit_is_304_without_body() {
    let mut h = Harness::new(json!({}), false);
    h.get("/a", &[]).await;
    let out = h.get("/a", &[("if-none-match", "\"v0\", \"v1\"")]).await;
    assert_eq!((out.status, out.cache), (304, Some("HIT")));
    assert!(out.body.is_empty());
    assert_eq!(out.header("etag"), Some("\"v1\""));
    assert_eq!(out.header("x-cache-status"), Some("HIT"));
    assert!(out.header("content-length").is_none());
    let other = h.get("/a", &[("if-none-match", "\"v2\"")]).await;
    assert_eq!((other.status, &other.body[..]), (200, &b"hello"[..]));
    assert_eq!(h.calls, 1);
    // Last-Modified / If-Modified-Since.
    let lm = "Tue, 14 Nov 2023 22:13:20 GMT";
    h.send("GET", "/lm", &[], (200, &[("last-modified", lm)], "x"))
        .await;
    let out = h
        .send("GET", "/lm", &[("if-modified-since", lm)], (200, &[], ""))
        .await;
    assert_eq!(out.status, 304);
    let older = "Tue, 14 Nov 2023 22:13:19 GMT";
    assert_eq!(
        h.send(
            "GET",
            "/lm",
            &[("if-modified-since", older)],
            (200, &[], "")
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn a_conditional_miss_fills_the_cache_and_still_gets_304() {
    let mut h = Harness::new(json!({}), false);
    let out = h.get("/a", &[("if-none-match", "\"v1\"")]).await;
    assert!(
        !h.upstream_saw.contains_key("if-none-match"),
        "asked upstream in full"
    );
    assert_eq!((out.status, out.cache), (304, Some("MISS")));
    assert!(out.body.is_empty() && out.header("content-type").is_none());
    let full = h.get("/a", &[]).await;
    assert_eq!(
        (full.status, full.cache, &full.body[..]),
        (200, Some("HIT"), &b"hello"[..])
    );
}

#[tokio::test]
async fn consumers_do_not_share_entries_unless_configured() {
    let alice = [("x-api-key", "alice-secret-1")];
    let bob = [("x-api-key", "bob-secret-22")];
    let private = (200, &[("cache-control", "private")][..], "mine");
    let mut h = Harness::new(json!({}), true);
    assert_eq!(
        h.send("GET", "/me", &alice, private).await.cache,
        Some("MISS")
    );
    assert_eq!(
        h.send("GET", "/me", &bob, private).await.cache,
        Some("MISS")
    );
    assert_eq!(h.calls, 2);
    assert_eq!(
        h.send("GET", "/me", &alice, private).await.cache,
        Some("HIT")
    );
    assert_eq!(h.send("GET", "/me", &bob, private).await.cache, Some("HIT"));
    assert_eq!(h.calls, 2);

    let mut h = Harness::new(json!({ "share_authenticated": true }), true);
    h.get("/pub", &alice).await;
    assert_eq!(h.get("/pub", &bob).await.cache, Some("HIT"));
    // Shared entries never keep private responses.
    h.send("GET", "/me", &alice, private).await;
    assert_eq!(
        h.send("GET", "/me", &bob, private).await.cache,
        Some("BYPASS")
    );
    assert_eq!(h.calls, 3);
}

#[tokio::test]
async fn unchecked_authorization_bypasses() {
    let mut h = Harness::new(json!({}), false);
    let out = h.get("/a", &[("authorization", "Bearer x")]).await;
    assert_eq!(out.cache, Some("BYPASS"));
    assert_eq!(h.get("/a", &[]).await.cache, Some("MISS"));
    assert_eq!(
        h.get("/a", &[("authorization", "Bearer x")]).await.cache,
        Some("BYPASS")
    );
    assert_eq!(h.calls, 3);
}

#[tokio::test]
async fn upstream_vary_keeps_one_entry_per_header_value() {
    let mut h = Harness::new(json!({}), false);
    let vary = |body| (200, &[("vary", "Accept-Language")][..], body);
    let de = [("accept-language", "de")];
    let fr = [("accept-language", "fr")];
    assert_eq!(
        h.send("GET", "/v", &de, vary("hallo")).await.cache,
        Some("MISS")
    );
    assert_eq!(
        h.send("GET", "/v", &fr, vary("salut")).await.cache,
        Some("MISS")
    );
    let out = h.send("GET", "/v", &de, vary("")).await;
    assert_eq!((out.cache, &out.body[..]), (Some("HIT"), &b"hallo"[..]));
    let out = h
        .send(
            "GET",
            "/v",
            &[("accept-language", "fr"), ("x-other", "1")],
            vary(""),
        )
        .await;
    assert_eq!((out.cache, &out.body[..]), (Some("HIT"), &b"salut"[..]));
    assert_eq!(
        h.send("GET", "/v", &[], vary("?")).await.cache,
        Some("MISS")
    );
    assert_eq!(h.calls, 3);
    // Configured vary_headers are part of the key itself.
    let mut h = Harness::new(json!({ "vary_headers": ["X-Tenant"] }), false);
    h.get("/t", &[("x-tenant", "a")]).await;
    assert_eq!(h.get("/t", &[("x-tenant", "b")]).await.cache, Some("MISS"));
    assert_eq!(h.get("/t", &[("x-tenant", "a")]).await.cache, Some("HIT"));
}

#[tokio::test]
async fn query_order_and_ignored_params_share_an_entry() {
    let mut h = Harness::new(json!({ "ignore_query_params": ["utm_source"] }), false);
    h.get("/s?b=1&a=2", &[]).await;
    assert_eq!(
        h.get("/s?a=2&b=1&utm_source=mail", &[]).await.cache,
        Some("HIT")
    );
    assert_eq!(h.get("/s?a=2&b=2", &[]).await.cache, Some("MISS"));
}

#[tokio::test]
async fn head_and_other_methods() {
    let mut h = Harness::new(json!({}), false);
    let up = (200, &[("content-length", "5")][..], "hello");
    assert_eq!(h.send("HEAD", "/h", &[], up).await.cache, Some("MISS"));
    let out = h.send("HEAD", "/h", &[], up).await;
    assert_eq!(
        (out.cache, out.header("content-length")),
        (Some("HIT"), Some("5"))
    );
    assert!(out.body.is_empty());
    assert_eq!(
        h.send("GET", "/h", &[], up).await.cache,
        Some("MISS"),
        "HEAD and GET are apart"
    );
    let post = h.send("POST", "/h", &[], up).await;
    assert_eq!((post.cache, post.header("x-cache-status")), (None, None));
}

#[tokio::test]
async fn large_bodies_are_not_stored() {
    let mut h = Harness::new(json!({ "max_body_bytes": 4 }), false);
    let out = h
        .send(
            "GET",
            "/big",
            &[],
            (200, &[("content-length", "5")], "hello"),
        )
        .await;
    assert_eq!(out.header("x-cache-status"), Some("BYPASS"));
    // Without Content-Length the body is read, then found too large.
    h.send("GET", "/big2", &[], (200, &[], "hello")).await;
    h.send("GET", "/big2", &[], (200, &[], "hello")).await;
    h.send(
        "GET",
        "/big",
        &[],
        (200, &[("content-length", "5")], "hello"),
    )
    .await;
    assert_eq!(h.calls, 4);
    assert_eq!(
        h.send("GET", "/ok", &[], (200, &[], "hey")).await.cache,
        Some("MISS")
    );
    assert_eq!(
        h.send("GET", "/ok", &[], (200, &[], "")).await.cache,
        Some("HIT")
    );
}

#[tokio::test]
async fn purge_by_prefix_and_whole_scope() {
    let mut h = Harness::new(json!({}), false);
    for p in ["/a/1", "/a/2?x=1", "/b"] {
        h.get(p, &[]).await;
    }
    assert_eq!(
        super::purge(&h.shared, "route:r", Some("/a/")).await.ok(),
        Some(2)
    );
    assert_eq!(h.get("/a/1", &[]).await.cache, Some("MISS"));
    assert_eq!(h.get("/b", &[]).await.cache, Some("HIT"));
    assert_eq!(
        super::purge(&h.shared, "route:r", Some("/a/1?")).await.ok(),
        Some(1)
    );
    assert_eq!(super::purge(&h.shared, "route:r", None).await.ok(), Some(1));
    assert_eq!(h.get("/b", &[]).await.cache, Some("MISS"));
    assert_eq!(
        super::purge(&h.shared, "route:nope", None).await.ok(),
        Some(0)
    );
}

#[tokio::test]
async fn the_cache_survives_a_reload_with_the_same_backend() {
    let mut h = Harness::new(json!({}), false);
    h.get("/a", &[]).await;
    h.reload(json!({ "ttl": "30s" }));
    assert_eq!(h.get("/a", &[]).await.cache, Some("HIT"));
    h.reload(json!({ "memory_max_bytes": 1000000 }));
    assert_eq!(
        h.get("/a", &[]).await.cache,
        Some("MISS"),
        "a resized store starts empty"
    );
}

#[test]
fn bad_config_names_the_field() {
    let err = |cfg: serde_json::Value| {
        config_errors(json!([{ "name": "proxy-cache", "config": cfg }]), json!({}))
    };
    let at = "routes[0].policies[0].config";
    assert_eq!(
        err(json!({ "methods": ["GET", "POST"] }))[0]
            .split(':')
            .next(),
        Some(&*format!("{at}.methods[1]"))
    );
    assert_eq!(
        err(json!({ "statuses": [200, 99] }))[0].split(':').next(),
        Some(&*format!("{at}.statuses[1]"))
    );
    assert_eq!(
        err(json!({ "ttl": "0s" }))[0].split(':').next(),
        Some(&*format!("{at}.ttl"))
    );
    assert_eq!(
        err(json!({ "vary_headers": ["bad header"] }))[0]
            .split(':')
            .next(),
        Some(&*format!("{at}.vary_headers[0]"))
    );
    assert_eq!(
        err(json!({ "max_body_bytes": 9_000_000 }))[0]
            .split(':')
            .next(),
        Some(&*format!("{at}.max_body_bytes"))
    );
    assert_eq!(
        err(json!({ "backend": "redis" })),
        vec![format!("{at}.redis_url: required with `backend: redis`")]
    );
    assert_eq!(
        err(json!({ "backend": "redis", "redis_url": "nope://x" }))[0]
            .split(':')
            .next(),
        Some(&*format!("{at}.redis_url"))
    );
    assert!(err(json!({ "backend": "disk" }))[0].starts_with(&format!("{at}.backend:")));
    assert!(err(json!({ "ttl": 60 }))[0].starts_with(&format!("{at}.ttl:")));
    assert!(err(json!({ "backend": "redis", "redis_url": "redis://127.0.0.1:6379" })).is_empty());
}
