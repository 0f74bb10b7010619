//! `proxy-cache` through the real binary, in front of counting upstreams:
//! a repeated GET is a HIT that does not reach the upstream, `no-store`
//! responses are never kept, `If-None-Match` on a hit answers 304, and two
//! consumers of a key-auth route do not share entries.

mod common_http;

use std::net::SocketAddr;
use std::time::Duration;

use common_http::*;
use http::Method;
use pylon_testkit::{CannedResponse, FullResponse, StatusServer};
use serde_json::json;

fn canned(headers: &[(&str, &str)], body: &'static str) -> CannedResponse {
    let mut r = CannedResponse::new(200).expect("canned");
    for (k, v) in headers {
        r = r.header(k, v).expect("header");
    }
    r.body(body)
}

async fn get(url: &str, headers: &[(&str, &str)]) -> FullResponse {
    call(Method::GET, url, headers, "").await
}

fn config(ports: &Ports, cached: SocketAddr, no_store: SocketAddr) -> serde_json::Value {
    let mut cfg = base_config(ports);
    cfg["upstreams"] = json!([upstream("cached", cached), upstream("nostore", no_store)]);
    cfg["consumers"] = json!([
        { "name": "alice", "credentials": [{ "type": "key_auth", "key": "alice-secret-key" }] },
        { "name": "bob", "credentials": [{ "type": "key_auth", "key": "bob-secret-key-2" }] },
    ]);
    let cache = json!({ "name": "proxy-cache", "config": { "ttl": "60s" } });
    cfg["routes"] = json!([
        { "name": "cached", "match": { "paths": [{ "prefix": "/cached" }] }, "upstream": "cached",
          "policies": [cache.clone()] },
        { "name": "nostore", "match": { "paths": [{ "prefix": "/nostore" }] }, "upstream": "nostore",
          "policies": [cache.clone()] },
        { "name": "me", "match": { "paths": [{ "prefix": "/me" }] }, "upstream": "cached",
          "policies": [{ "name": "key-auth" }, cache] },
    ]);
    cfg
}

async fn upstreams() -> (StatusServer, StatusServer) {
    let cached = StatusServer::start_with(canned(
        &[("cache-control", "max-age=60"), ("etag", "\"v1\"")],
        "hello",
    ))
    .await
    .expect("cached upstream");
    let no_store = StatusServer::start_with(canned(&[("cache-control", "no-store")], "fresh"))
        .await
        .expect("no-store upstream");
    (cached, no_store)
}

#[tokio::test]
async fn hits_bypasses_and_conditional_requests() {
    bounded(60, async {
        let (cached, no_store) = upstreams().await;
        let (a, b) = (cached.addr(), no_store.addr());
        let (process, ports) = start_pylon(|p| config(p, a, b)).await;
        let base = cached.request_count();

        let first = get(&ports.url("/cached/item?b=2&a=1"), &[]).await;
        assert_eq!(first.status, 200, "{}", first.text());
        assert_eq!(first.header("x-cache-status"), Some("MISS"));
        assert_eq!(first.text(), "hello");
        assert_eq!(cached.request_count() - base, 1);

        // Same query in another order: answered from the cache.
        let second = get(&ports.url("/cached/item?a=1&b=2"), &[]).await;
        assert_eq!(second.status, 200);
        assert_eq!(second.header("x-cache-status"), Some("HIT"));
        assert_eq!(second.text(), "hello");
        assert_eq!(second.header("etag"), Some("\"v1\""));
        assert!(second.header("age").is_some());
        assert_eq!(
            cached.request_count() - base,
            1,
            "the upstream was not asked again"
        );

        // The stored ETag matches: 304 without a body, still from the cache.
        let nm = get(
            &ports.url("/cached/item?a=1&b=2"),
            &[("if-none-match", "\"v1\"")],
        )
        .await;
        assert_eq!(nm.status, 304);
        assert!(nm.body.is_empty());
        assert_eq!(nm.header("x-cache-status"), Some("HIT"));
        let other = get(
            &ports.url("/cached/item?a=1&b=2"),
            &[("if-none-match", "\"v0\"")],
        )
        .await;
        assert_eq!(
            (other.status.as_u16(), other.text().as_str()),
            (200, "hello")
        );
        assert_eq!(cached.request_count() - base, 1);

        // A conditional miss: the upstream is asked in full (and the entry
        // stored), the client still gets its 304.
        let miss = get(&ports.url("/cached/other"), &[("if-none-match", "\"v1\"")]).await;
        assert_eq!(miss.status, 304);
        assert_eq!(miss.header("x-cache-status"), Some("MISS"));
        assert!(miss.body.is_empty() && miss.header("content-length").is_none());
        assert!(
            cached
                .last_request()
                .expect("seen")
                .header("if-none-match")
                .is_none()
        );
        let full = get(&ports.url("/cached/other"), &[]).await;
        assert_eq!(
            (full.text().as_str(), full.header("x-cache-status")),
            ("hello", Some("HIT"))
        );
        assert_eq!(cached.request_count() - base, 2);

        // `Cache-Control: no-store` from the upstream is never kept.
        let base_ns = no_store.request_count();
        for _ in 0..2 {
            let r = get(&ports.url("/nostore/x"), &[]).await;
            assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "fresh"));
            assert_eq!(r.header("x-cache-status"), Some("BYPASS"));
        }
        assert_eq!(no_store.request_count() - base_ns, 2);

        // The access log carries the cache outcome.
        let logged = eventually(Duration::from_secs(5), || {
            let out = process.stdout();
            async move {
                out.lines().any(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .is_ok_and(|v| v["cache"] == "HIT" && v["route"] == "cached")
                })
            }
        })
        .await;
        assert!(
            logged,
            "no access-log line with cache HIT:\n{}",
            process.stdout()
        );
    })
    .await;
}

#[tokio::test]
async fn consumers_do_not_share_entries() {
    bounded(60, async {
        let (cached, no_store) = upstreams().await;
        let (a, b) = (cached.addr(), no_store.addr());
        let (_process, ports) = start_pylon(|p| config(p, a, b)).await;
        let base = cached.request_count();
        let alice = [("x-api-key", "alice-secret-key")];
        let bob = [("x-api-key", "bob-secret-key-2")];

        let r = get(&ports.url("/me/profile"), &alice).await;
        assert_eq!(
            (r.status.as_u16(), r.header("x-cache-status")),
            (200, Some("MISS"))
        );
        let r = get(&ports.url("/me/profile"), &bob).await;
        assert_eq!(
            r.header("x-cache-status"),
            Some("MISS"),
            "bob must not get alice's entry"
        );
        assert_eq!(cached.request_count() - base, 2);
        for who in [&alice, &bob] {
            let r = get(&ports.url("/me/profile"), who).await;
            assert_eq!(r.header("x-cache-status"), Some("HIT"));
        }
        assert_eq!(cached.request_count() - base, 2);
        // Unauthenticated requests are refused before the cache is consulted.
        let r = get(&ports.url("/me/profile"), &[]).await;
        assert_eq!(r.status, 401);
        assert!(r.header("x-cache-status").is_none());
    })
    .await;
}

async fn delete(url: &str, token: Option<&str>) -> FullResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    call(Method::DELETE, url, &headers, "").await
}

#[tokio::test]
async fn the_admin_api_purges_a_route_cache() {
    bounded(60, async {
        let (cached, no_store) = upstreams().await;
        let (a, b) = (cached.addr(), no_store.addr());
        let (process, ports) = start_pylon(|p| config(p, a, b)).await;
        let mut token = None;
        for _ in 0..100 {
            token = process
                .stderr()
                .split_whitespace()
                .find(|w| w.starts_with("pyl_"))
                .map(str::to_string);
            if token.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let token = token.expect("the bootstrap token is printed");
        for path in ["/cached/one", "/cached/two", "/cached/one"] {
            get(&ports.url(path), &[]).await;
        }
        assert_eq!(
            get(&ports.url("/cached/one"), &[])
                .await
                .header("x-cache-status"),
            Some("HIT")
        );

        // Admin credentials are required.
        let r = delete(&ports.admin_url("/api/v1/cache/routes/cached"), None).await;
        assert_eq!(r.status, 401);
        assert_eq!(
            get(&ports.url("/cached/one"), &[])
                .await
                .header("x-cache-status"),
            Some("HIT")
        );

        // Only entries under a prefix.
        let url = ports.admin_url("/api/v1/cache/routes/cached?prefix=/cached/one");
        let r = delete(&url, Some(&token)).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json().expect("json")["purged"], 1);
        assert_eq!(
            get(&ports.url("/cached/one"), &[])
                .await
                .header("x-cache-status"),
            Some("MISS")
        );
        assert_eq!(
            get(&ports.url("/cached/two"), &[])
                .await
                .header("x-cache-status"),
            Some("HIT")
        );

        // The whole route.
        let r = delete(
            &ports.admin_url("/api/v1/cache/routes/cached"),
            Some(&token),
        )
        .await;
        assert_eq!(r.json().expect("json")["purged"], 2);
        assert_eq!(
            get(&ports.url("/cached/two"), &[])
                .await
                .header("x-cache-status"),
            Some("MISS")
        );

        let r = delete(&ports.admin_url("/api/v1/cache/routes/nope"), Some(&token)).await;
        assert_eq!(r.status, 404);
        assert_eq!(r.json().expect("json")["error"]["code"], "not_found");
    })
    .await;
}
