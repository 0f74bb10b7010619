//! The Redis backend against the real Redis at 127.0.0.1:6379 (these tests
//! fail, never skip, when it is not there). Each test uses its own key prefix.

use std::time::Duration;

use serde_json::json;

use super::test_harness::Harness;

const URL: &str = "redis://127.0.0.1:6379";

fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("pylon-test:{test}:{}:{nanos}", std::process::id())
}

async fn redis() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(URL).expect("redis url");
    tokio::time::timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    .expect("redis at 127.0.0.1:6379 did not answer")
    .expect("redis at 127.0.0.1:6379 is required for these tests")
}

/// Keys under `prefix` (SCAN, as the purge does).
async fn keys(conn: &mut redis::aio::MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .expect("scan");
        out.extend(batch);
        if next == 0 {
            out.sort();
            return out;
        }
        cursor = next;
    }
}

/// Wait (bounded) until `n` keys exist under `prefix`: stores are written
/// in the background after the response.
async fn wait_for_keys(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    n: usize,
) -> Vec<String> {
    for _ in 0..200 {
        let found = keys(conn, prefix).await;
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "{n} keys never appeared under {prefix}: {:?}",
        keys(conn, prefix).await
    );
}

fn cache(prefix: &str) -> serde_json::Value {
    json!({ "backend": "redis", "redis_url": URL, "redis_key_prefix": prefix, "ttl": "30s" })
}

#[tokio::test]
async fn redis_hit_ttl_and_304() {
    let prefix = unique_prefix("hit");
    let mut conn = redis().await;
    let mut h = Harness::new(cache(&prefix), false);
    let first = h
        .send(
            "GET",
            "/r?b=2&a=1",
            &[],
            (
                200,
                &[("etag", "\"e\""), ("cache-control", "max-age=20")],
                "body",
            ),
        )
        .await;
    assert_eq!(first.cache, Some("MISS"));
    let stored = wait_for_keys(&mut conn, &prefix, 1).await;
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].starts_with(&format!("{prefix}:route:r:/r?a=1&b=2 ")),
        "{stored:?}"
    );
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&stored[0])
        .query_async(&mut conn)
        .await
        .expect("pttl");
    assert!(
        pttl > 15_000 && pttl <= 20_000,
        "ttl in redis follows max-age: {pttl}"
    );
    h.advance(3);
    let hit = h.send("GET", "/r?a=1&b=2", &[], (200, &[], "")).await;
    assert_eq!(
        (hit.cache, &hit.body[..], hit.header("age")),
        (Some("HIT"), &b"body"[..], Some("3"))
    );
    let nm = h
        .send(
            "GET",
            "/r?a=1&b=2",
            &[("if-none-match", "\"e\"")],
            (200, &[], ""),
        )
        .await;
    assert_eq!((nm.status, nm.cache), (304, Some("HIT")));
    assert_eq!(h.calls, 1);
    // Past its TTL (by the cache's clock) the entry is not served.
    h.advance(20);
    assert_eq!(
        h.send("GET", "/r?a=1&b=2", &[], (200, &[], "")).await.cache,
        Some("MISS")
    );
    let _: () = redis::cmd("UNLINK")
        .arg(&stored)
        .query_async(&mut conn)
        .await
        .expect("cleanup");
}

#[tokio::test]
async fn redis_vary_and_consumers() {
    let prefix = unique_prefix("vary");
    let mut conn = redis().await;
    let mut h = Harness::new(cache(&prefix), true);
    let alice = ("x-api-key", "alice-secret-1");
    let bob = ("x-api-key", "bob-secret-22");
    let up = |body| (200, &[("vary", "accept")][..], body);
    h.send(
        "GET",
        "/v",
        &[alice, ("accept", "text/plain")],
        up("a-text"),
    )
    .await;
    // Vary list + one variant.
    wait_for_keys(&mut conn, &prefix, 2).await;
    h.send(
        "GET",
        "/v",
        &[alice, ("accept", "application/json")],
        up("a-json"),
    )
    .await;
    h.send("GET", "/v", &[bob, ("accept", "text/plain")], up("b-text"))
        .await;
    wait_for_keys(&mut conn, &prefix, 5).await;
    let out = h
        .send("GET", "/v", &[alice, ("accept", "text/plain")], up(""))
        .await;
    assert_eq!((out.cache, &out.body[..]), (Some("HIT"), &b"a-text"[..]));
    let out = h
        .send("GET", "/v", &[bob, ("accept", "text/plain")], up(""))
        .await;
    assert_eq!((out.cache, &out.body[..]), (Some("HIT"), &b"b-text"[..]));
    assert_eq!(h.calls, 3);
    let all = keys(&mut conn, &prefix).await;
    let _: () = redis::cmd("UNLINK")
        .arg(&all)
        .query_async(&mut conn)
        .await
        .expect("cleanup");
}

#[tokio::test]
async fn redis_purge_uses_scan_by_prefix() {
    let prefix = unique_prefix("purge");
    let mut conn = redis().await;
    let mut h = Harness::new(cache(&prefix), false);
    for p in ["/p/1", "/p/2", "/q*[x]"] {
        h.get(p, &[]).await;
    }
    wait_for_keys(&mut conn, &prefix, 3).await;
    assert_eq!(
        super::purge(&h.shared, "route:r", Some("/p/")).await.ok(),
        Some(2)
    );
    let left = keys(&mut conn, &prefix).await;
    assert_eq!(left.len(), 1);
    assert!(left[0].contains(":/q*[x] "), "{left:?}");
    // Glob characters in the prefix match literally.
    assert_eq!(
        super::purge(&h.shared, "route:r", Some("/q*")).await.ok(),
        Some(1)
    );
    assert!(keys(&mut conn, &prefix).await.is_empty());
    assert_eq!(h.get("/p/1", &[]).await.cache, Some("MISS"));
    wait_for_keys(&mut conn, &prefix, 1).await;
    assert_eq!(super::purge(&h.shared, "route:r", None).await.ok(), Some(1));
    assert!(keys(&mut conn, &prefix).await.is_empty());
}

#[tokio::test]
async fn redis_failure_is_a_bypass_and_counted() {
    // Accepts connections but never answers: every operation times out.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr");
    let mut h = Harness::new(
        json!({ "backend": "redis", "redis_url": format!("redis://{addr}"), "redis_timeout": "100ms" }),
        false,
    );
    for _ in 0..2 {
        let out = tokio::time::timeout(Duration::from_secs(5), h.get("/x", &[]))
            .await
            .expect("the request is not held up by redis");
        assert_eq!((out.status, out.cache), (200, Some("BYPASS")));
        assert_eq!(out.header("x-cache-status"), Some("BYPASS"));
    }
    assert_eq!(h.calls, 2);
    let metrics = h.shared.metrics().encode();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("pylon_policy_backend_errors") && l.contains("proxy-cache"))
        .unwrap_or_else(|| panic!("no backend error counted:\n{metrics}"));
    assert!(
        line.contains("backend=\"redis\"") && line.ends_with(" 2"),
        "{line}"
    );
    assert!(super::purge(&h.shared, "route:r", None).await.is_err());
    drop(silent);
}
