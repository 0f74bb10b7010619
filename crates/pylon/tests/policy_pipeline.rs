//! The policy pipeline through the real binary: key-auth identifies the
//! consumer (and the upstream sees who it is, never a spoofed identity),
//! failures are JSON 401s with a challenge and are counted, the access log
//! names the consumer, and bad policy config is refused with its path.

mod common_http;

use std::time::Duration;

use common_http::*;
use http::{Method, Request};
use http_body_util::Full;
use pylon_testkit::{EchoServer, send};
use serde_json::json;

fn key_auth_config(ports: &Ports, echo: std::net::SocketAddr) -> serde_json::Value {
    let mut cfg = base_config(ports);
    cfg["upstreams"] = json!([upstream("echo", echo)]);
    cfg["consumers"] = json!([
        { "name": "alice", "groups": ["pro"], "credentials": [{ "type": "key_auth", "id": "alice-k1", "key": "alice-secret-key" }] }
    ]);
    cfg["services"] = json!([{ "name": "orders", "policies": [
        { "name": "key-auth", "config": { "hide_credentials": true } }
    ] }]);
    cfg["routes"] = json!([
        { "name": "orders", "service": "orders", "match": { "paths": [{ "prefix": "/orders" }] }, "upstream": "echo" },
        { "name": "public", "match": { "paths": [{ "prefix": "/public" }] }, "upstream": "echo" },
    ]);
    cfg
}

fn get_with(url: &str, headers: &[(&str, &str)]) -> Request<Full<bytes::Bytes>> {
    request(Method::GET, url, headers, "")
}

#[tokio::test]
async fn key_auth_identifies_consumers_end_to_end() {
    bounded(60, async {
        let echo = EchoServer::start().await.expect("echo");
        let addr = echo.addr();
        let (process, ports) = start_pylon(|p| key_auth_config(p, addr)).await;

        // No key: 401, JSON, challenge; the upstream is not called.
        let resp = send(get_with(&ports.url("/orders/1"), &[]))
            .await
            .expect("send");
        assert_eq!(resp.status, 401, "{}", resp.text());
        assert_eq!(resp.header("www-authenticate"), Some("Key realm=\"pylon\""));
        assert_eq!(resp.json().expect("json")["error"]["code"], "unauthorized");
        assert_eq!(echo.request_count(), 0);

        // A wrong key: the same answer, not saying what was wrong.
        let resp = send(get_with(
            &ports.url("/orders/1"),
            &[("x-api-key", "not-the-key")],
        ))
        .await
        .expect("send");
        assert_eq!(resp.status, 401);
        assert!(!resp.text().contains("not-the-key"));

        // The right key: the upstream sees the consumer, not the spoofed
        // identity header, and not the key.
        let resp = send(get_with(
            &ports.url("/orders/1"),
            &[
                ("x-api-key", "alice-secret-key"),
                ("x-consumer-name", "mallory"),
            ],
        ))
        .await
        .expect("send");
        assert_eq!(resp.status, 200, "{}", resp.text());
        let seen = echo.last_request().expect("upstream saw the request");
        assert_eq!(seen.headers["x-consumer-name"], "alice");
        assert_eq!(seen.headers["x-consumer-groups"], "pro");
        assert_eq!(seen.headers["x-credential-id"], "alice-k1");
        assert!(
            seen.headers.get("x-api-key").is_none(),
            "key hidden from the upstream"
        );

        // A route outside the service has no policies.
        let resp = send(get_with(
            &ports.url("/public/x"),
            &[("x-consumer-name", "bob")],
        ))
        .await
        .expect("send");
        assert_eq!(resp.status, 200);
        assert_eq!(
            echo.last_request().expect("seen").headers["x-consumer-name"],
            "bob"
        );

        // Rejections are counted by policy and code; the access log names the consumer.
        let (_, metrics) = http_get(&ports.admin_url("/metrics"))
            .await
            .expect("metrics");
        let rejected = metric_sum(
            &metrics,
            "pylon_policy_rejections_total",
            &["policy=\"key-auth\"", "code=\"unauthorized\""],
        );
        assert_eq!(rejected, Some(2.0), "{metrics}");
        let logged = eventually(Duration::from_secs(5), || {
            let out = process.stdout();
            async move {
                out.lines().any(|l| {
                    serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| {
                        v["consumer"] == "alice"
                            && v["credential"] == "alice-k1"
                            && v["service"] == "orders"
                    })
                })
            }
        })
        .await;
        assert!(
            logged,
            "no access-log line with the consumer:\n{}",
            process.stdout()
        );
    })
    .await;
}

#[tokio::test]
async fn bad_policy_config_is_refused_with_its_path() {
    bounded(30, async {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.yaml");
        std::fs::write(
            &file,
            "routes:\n  - name: r\n    match: { paths: [{ prefix: / }] }\n    respond: { status: 200 }\n    policies:\n      - name: key-auth\n        config: { key_names: [\"bad header\"] }\n      - name: no-such-policy\n",
        )
        .expect("write");
        let out = std::process::Command::new(pylon_bin())
            .arg("validate")
            .arg(&file)
            .output()
            .expect("run validate");
        assert_eq!(out.status.code(), Some(1));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("routes[0].policies[0].config.key_names[0]: `bad header` is not a valid header name"), "{text}");
        assert!(text.contains("routes[0].policies[1].name: unknown policy `no-such-policy`"), "{text}");
        assert!(text.contains("bad.yaml"), "{text}");
    })
    .await;
}

#[tokio::test]
async fn bodies_read_for_policies_are_bounded_by_their_own_limit() {
    bounded(60, async {
        let echo = EchoServer::start().await.expect("echo");
        let addr = echo.addr();
        let (_p, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["listeners"][0]["limits"] = json!({ "max_buffered_body_bytes": 64 });
            cfg["upstreams"] = json!([upstream("echo", addr)]);
            cfg["routes"] = json!([
                { "name": "edit", "match": { "paths": [{ "prefix": "/edit" }] }, "upstream": "echo",
                  "policies": [{ "name": "request-transformer", "config": { "body": { "remove": ["/secret"] } } }] },
                { "name": "plain", "match": { "paths": [{ "prefix": "/plain" }] }, "upstream": "echo" },
            ]);
            cfg
        })
        .await;
        let post = |path: &str, body: String| {
            Request::builder()
                .method(Method::POST)
                .uri(ports.url(path))
                .header("content-type", "application/json")
                .body(Full::new(bytes::Bytes::from(body)))
                .expect("request")
        };
        let big = format!("{{\"secret\":1,\"pad\":\"{}\"}}", "x".repeat(200));
        let r = send(post("/edit", big.clone())).await.expect("send");
        assert_eq!(r.status, 413, "{}", r.text());
        assert_eq!(r.json().expect("json")["error"]["code"], "body_too_large");
        // Small bodies are edited; routes without body policies stream any size.
        let r = send(post("/edit", "{\"secret\":1,\"a\":2}".into())).await.expect("send");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json().expect("json")["body"], "{\"a\":2}");
        assert_eq!(send(post("/plain", big)).await.expect("send").status, 200);
    })
    .await;
}
