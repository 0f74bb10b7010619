//! Release and composition features through the real binary: canary splits
//! (sticky and forced), request mirroring to a shadow upstream, and aggregate
//! routes that merge several upstreams' JSON answers.

mod common_http;

use std::time::Duration;

use common_http::*;
use http::Method;
use pylon_testkit::{DeadAddr, EchoServer, UPSTREAM_HEADER, send};
use serde_json::json;

#[tokio::test]
async fn canary_splits_sticky_and_forced() {
    bounded(60, async {
        let v1 = EchoServer::start_named("v1").await.expect("v1");
        let v2 = EchoServer::start_named("v2").await.expect("v2");
        let (a1, a2) = (v1.addr(), v2.addr());
        let (_p, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["upstreams"] = json!([upstream("v1", a1), upstream("v2", a2)]);
            cfg["routes"] = json!([{
                "name": "api", "match": { "paths": [{ "prefix": "/" }] }, "upstream": "v1",
                "policies": [{ "name": "canary", "config": {
                    "splits": [{ "upstream": "v2", "weight": 50 }],
                    "sticky": { "header": "x-user" }, "force_header": "x-canary", "expose": true,
                } }],
            }]);
            cfg
        })
        .await;
        let mut sides = std::collections::HashSet::new();
        for user in 0..20 {
            let u = format!("u{user}");
            let mut seen = std::collections::HashSet::new();
            for _ in 0..3 {
                let r = send(request(
                    Method::GET,
                    &ports.url("/x"),
                    &[("x-user", &u)],
                    "",
                ))
                .await
                .expect("send");
                assert_eq!(r.status, 200);
                let side = r.header(UPSTREAM_HEADER).unwrap_or("").to_string();
                let label = r.header("x-canary").unwrap_or("").to_string();
                assert_eq!(label, if side == "v2" { "v2" } else { "default" });
                seen.insert(side);
            }
            assert_eq!(seen.len(), 1, "user {u} was not sticky: {seen:?}");
            sides.extend(seen);
        }
        assert_eq!(
            sides.len(),
            2,
            "20 users should reach both sides: {sides:?}"
        );
        let r = send(request(
            Method::GET,
            &ports.url("/x"),
            &[("x-canary", "v2")],
            "",
        ))
        .await
        .expect("send");
        assert_eq!(r.header(UPSTREAM_HEADER), Some("v2"));
    })
    .await;
}

#[tokio::test]
async fn mirror_copies_requests_to_a_shadow_and_discards_its_answer() {
    bounded(60, async {
        let main = EchoServer::start_named("main").await.expect("main");
        let shadow = EchoServer::start_named("shadow").await.expect("shadow");
        let (am, ash) = (main.addr(), shadow.addr());
        let (_p, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["upstreams"] = json!([upstream("main", am), upstream("shadow", ash)]);
            cfg["routes"] = json!([{
                "name": "api", "match": { "paths": [{ "prefix": "/" }] }, "upstream": "main",
                "policies": [{ "name": "mirror", "config": { "upstream": "shadow" } }],
            }]);
            cfg
        })
        .await;
        let r = send(request(
            Method::POST,
            &ports.url("/orders?x=1"),
            &[("content-type", "text/plain")],
            "hello",
        ))
        .await
        .expect("send");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header(UPSTREAM_HEADER),
            Some("main"),
            "the client gets the main answer"
        );
        assert!(
            eventually(Duration::from_secs(5), || async {
                shadow.request_count() == 1
            })
            .await,
            "the shadow never got the copy"
        );
        let copy = shadow.last_request().expect("copy");
        assert_eq!(copy.method, Method::POST);
        assert_eq!(copy.uri, "/orders?x=1");
        assert_eq!(&copy.body[..], b"hello");
        assert_eq!(main.request_count(), 1);
    })
    .await;
}

#[tokio::test]
async fn aggregate_merges_parts_and_marks_failures() {
    bounded(60, async {
        let users = EchoServer::start_named("users").await.expect("users");
        let orders = EchoServer::start_named("orders").await.expect("orders");
        let dead = DeadAddr::new().expect("dead");
        let (au, ao, ad) = (users.addr(), orders.addr(), dead.addr());
        let (_p, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["upstreams"] = json!([upstream("users", au), upstream("orders", ao), upstream("gone", ad)]);
            let parts = json!([
                { "name": "user", "upstream": "users", "path": "/users/{id}" },
                { "name": "orders", "upstream": "orders", "path": "/orders", "forward_query": true },
            ]);
            let mut with_gone = parts.clone();
            if let Some(a) = with_gone.as_array_mut() {
                a.push(json!({ "name": "extra", "upstream": "gone", "path": "/x", "timeout": "2s" }));
            }
            cfg["routes"] = json!([
                { "name": "profile", "match": { "paths": [{ "template": "/profile/{id}" }] },
                  "aggregate": { "parts": parts } },
                { "name": "partial", "match": { "paths": [{ "template": "/partial/{id}" }] },
                  "aggregate": { "parts": with_gone.clone(), "on_failure": "partial" } },
                { "name": "strict", "match": { "paths": [{ "template": "/strict/{id}" }] },
                  "aggregate": { "parts": with_gone } },
            ]);
            cfg
        })
        .await;
        let r = send(request(Method::GET, &ports.url("/profile/42?limit=5"), &[("authorization", "Bearer t")], "")).await.expect("send");
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json().expect("json");
        assert_eq!(v["user"]["path"], "/users/42");
        assert_eq!(v["user"]["query"], serde_json::Value::Null);
        assert_eq!(v["orders"]["uri"], "/orders?limit=5");
        assert_eq!(v["orders"]["headers"]["authorization"][0], "Bearer t");

        let r = send(request(Method::GET, &ports.url("/partial/7"), &[], "")).await.expect("send");
        assert_eq!(r.status, 200, "{}", r.text());
        let v = r.json().expect("json");
        assert_eq!(v["user"]["path"], "/users/7");
        assert!(v["extra"].is_null());
        assert!(v["_errors"]["extra"].is_string(), "{v}");

        let r = send(request(Method::GET, &ports.url("/strict/7"), &[], "")).await.expect("send");
        assert_eq!(r.status, 502);
        assert_eq!(r.json().expect("json")["error"]["code"], "aggregate_part_failed");
        assert!(r.text().contains("extra"));
    })
    .await;
}
