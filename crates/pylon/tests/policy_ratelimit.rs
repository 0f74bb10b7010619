//! Rate and concurrency limits through the real binary: a local limit
//! refuses with 429, `Retry-After` and the `RateLimit-*` headers; two Pylon
//! processes sharing a Redis limit admit exactly the limit between them (the
//! real Redis at 127.0.0.1:6379, which CI starts: without it the test fails);
//! a concurrency limit of one refuses a second request while the first is
//! still waiting on a slow upstream, and frees the slot when it ends.

mod common_http;

use std::time::Duration;

use common_http::*;
use http::Method;
use pylon_testkit::{DelayServer, EchoServer, FullResponse};
use serde_json::{Value, json};

async fn get(url: &str, headers: &[(&str, &str)]) -> FullResponse {
    call(Method::GET, url, headers, "").await
}

/// One route `limited` on `/` to upstream `up` at `addr`, carrying `policies`.
fn config(ports: &Ports, addr: std::net::SocketAddr, policies: Value) -> Value {
    let mut cfg = base_config(ports);
    cfg["upstreams"] = json!([upstream("up", addr)]);
    cfg["routes"] = json!([{
        "name": "limited",
        "match": { "paths": [{ "prefix": "/" }] },
        "upstream": "up",
        "policies": policies,
    }]);
    cfg
}

#[tokio::test]
async fn local_limit_refuses_the_sixth_request_with_429() {
    bounded(60, async {
        let echo = EchoServer::start().await.expect("echo");
        let addr = echo.addr();
        let policies = json!([{ "name": "rate-limit", "config": {
            "limits": [{ "per": "minute", "limit": 5 }], "key_by": "ip",
        } }]);
        let (_pylon, ports) = start_pylon(|p| config(p, addr, policies.clone())).await;
        for left in (0..5).rev() {
            let resp = get(&ports.url("/x"), &[]).await;
            assert_eq!(resp.status, 200, "{}", resp.text());
            assert_eq!(resp.header("ratelimit-limit"), Some("5"));
            assert_eq!(
                resp.header("ratelimit-remaining"),
                Some(left.to_string().as_str())
            );
            assert!(resp.header("ratelimit-reset").is_some());
        }
        let resp = get(&ports.url("/x"), &[]).await;
        assert_eq!(resp.status, 429, "{}", resp.text());
        let retry: u64 = resp
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=12).contains(&retry), "retry-after {retry}");
        assert_eq!(resp.header("ratelimit-limit"), Some("5"));
        assert_eq!(resp.header("ratelimit-remaining"), Some("0"));
        assert_eq!(resp.json().expect("json")["error"]["code"], "rate_limited");
        // The refused request never reached the upstream.
        assert_eq!(echo.request_count(), 5);
    })
    .await;
}

#[tokio::test]
async fn two_processes_share_one_redis_limit() {
    bounded(90, async {
        let echo = EchoServer::start().await.expect("echo");
        let addr = echo.addr();
        const N: usize = 6;
        // A key of this run only: reruns within the minute do not collide.
        let tenant = format!(
            "run-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let redis_url = std::env::var("PYLON_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let policies = json!([{ "name": "rate-limit", "config": {
            "limits": [{ "per": "minute", "limit": N }],
            "key_by": "header", "header_name": "x-tenant",
            "backend": "redis", "redis_url": redis_url,
            "on_backend_error": "deny",
        } }]);
        let (_a, ports_a) = start_pylon(|p| config(p, addr, policies.clone())).await;
        let (_b, ports_b) = start_pylon(|p| config(p, addr, policies.clone())).await;
        let mut statuses = Vec::new();
        for i in 0..(2 * N) {
            let ports = if i % 2 == 0 { &ports_a } else { &ports_b };
            let resp = get(&ports.url("/x"), &[("x-tenant", &tenant)]).await;
            if resp.status == 429 {
                assert_eq!(resp.json().expect("json")["error"]["code"], "rate_limited");
                assert!(resp.header("retry-after").is_some());
            }
            statuses.push(resp.status);
        }
        let admitted = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(
            admitted, N,
            "statuses {statuses:?} (a 503 means Redis at 127.0.0.1:6379 is not reachable)"
        );
        assert!(statuses[..N].iter().all(|s| *s == 200), "{statuses:?}");
        assert!(statuses[N..].iter().all(|s| *s == 429), "{statuses:?}");
        // Another tenant is counted apart.
        let other = format!("{tenant}-other");
        assert_eq!(
            get(&ports_b.url("/x"), &[("x-tenant", &other)])
                .await
                .status,
            200
        );
    })
    .await;
}

#[tokio::test]
async fn concurrency_limit_of_one_refuses_a_second_request_in_flight() {
    bounded(60, async {
        let slow = DelayServer::start(Duration::from_millis(1500))
            .await
            .expect("delay");
        let addr = slow.addr();
        let policies = json!([{ "name": "concurrency-limit", "config": {
            "max": 1, "key_by": "route",
        } }]);
        let (_pylon, ports) = start_pylon(|p| config(p, addr, policies.clone())).await;
        let url = ports.url("/slow");
        let first = tokio::spawn({
            let url = url.clone();
            async move { get(&url, &[]).await }
        });
        // Wait until the first request is at the upstream (holding the slot).
        assert!(
            eventually(Duration::from_secs(5), || async {
                slow.request_count() == 1
            })
            .await,
            "the first request never reached the upstream"
        );
        let second = get(&url, &[]).await;
        assert_eq!(second.status, 429, "{}", second.text());
        assert_eq!(
            second.json().expect("json")["error"]["code"],
            "concurrency_limited"
        );
        assert_eq!(slow.request_count(), 1);
        let first = first.await.expect("first request");
        assert_eq!(first.status, 200);
        assert_eq!(first.text(), "delayed");
        // Its response has ended: the slot is free again.
        slow.set_delay(Duration::ZERO);
        assert!(
            eventually(Duration::from_secs(5), || async {
                get(&url, &[]).await.status == 200
            })
            .await,
            "the slot was not released"
        );
    })
    .await;
}

#[tokio::test]
async fn adaptive_throttle_sheds_load_while_the_upstream_fails() {
    bounded(60, async {
        let failing = pylon_testkit::StatusServer::start_with(
            pylon_testkit::CannedResponse::new(500).expect("canned"),
        )
        .await
        .expect("upstream");
        let addr = failing.addr();
        let policies = json!([{ "name": "adaptive-throttle", "config": {
            "error_rate_threshold": 0.2, "min_requests": 5, "window": "2s", "interval": "100ms",
            "decrease": 0.5, "increase": 0.01, "min_admit": 0.1, "retry_after": "2s",
        } }]);
        let (_p, ports) = start_pylon(|p| config(p, addr, policies.clone())).await;
        // Every answer is an upstream 500: the controller sees a 100 % error rate.
        for _ in 0..10 {
            assert_eq!(get(&ports.url("/"), &[]).await.status, 500);
        }
        let before = failing.request_count();
        let mut shed = 0;
        for _ in 0..40 {
            let r = get(&ports.url("/"), &[]).await;
            if r.status == 503 {
                assert_eq!(r.json().expect("json")["error"]["code"], "overloaded");
                assert_eq!(r.header("retry-after"), Some("2"));
                shed += 1;
            } else {
                assert_eq!(r.status, 500);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reached = failing.request_count() - before;
        assert!(shed >= 10, "only {shed} of 40 requests were shed");
        assert_eq!(
            reached + shed,
            40,
            "shed requests must not reach the upstream"
        );
    })
    .await;
}
