//! The protection policies through the real binary, in front of the testkit
//! echo server: CORS preflights answered by Pylon (the upstream never sees
//! them) and CORS headers on real answers; ip-restriction on the TCP peer and
//! on the address a trusted proxy reports (real-ip); threat-protection
//! refusing an injection and a too-deep JSON body; retired and deprecated API
//! versions (and routing by a vendor media type); request validation errors
//! listing the failing paths.

mod common_http;

use common_http::*;
use http::Method;
use pylon_testkit::{EchoServer, FullResponse};
use serde_json::{Value, json};

fn route(name: &str, prefix: &str, policies: Value) -> Value {
    json!({ "name": name, "match": { "paths": [{ "prefix": prefix }] }, "upstream": "echo", "policies": policies })
}

fn protect_config(ports: &Ports, echo: std::net::SocketAddr) -> Value {
    let mut cfg = base_config(ports);
    cfg["upstreams"] = json!([upstream("echo", echo)]);
    cfg["routes"] = json!([
        route("cors", "/cors", json!([{ "name": "cors", "config": {
            "allow_origins": ["https://app.example.com", "https://*.tools.example.com"],
            "allow_credentials": true,
            "expose_headers": ["x-request-id"],
            "max_age": 600,
        } }])),
        route("denied", "/denied", json!([{ "name": "ip-restriction", "config": { "deny": ["127.0.0.1"] } }])),
        route("office", "/office", json!([
            { "name": "real-ip", "config": { "trusted_proxies": ["127.0.0.1/32"] } },
            { "name": "ip-restriction", "config": { "allow": ["203.0.113.0/24"] } },
        ])),
        route("tp", "/tp", json!([{ "name": "threat-protection", "config": { "max_json_depth": 10 } }])),
        route("v1", "/v1", json!([{ "name": "api-lifecycle", "config": {
            "state": "retired", "successor": "https://api.example.com/v3",
        } }])),
        route("v2", "/v2", json!([{ "name": "api-lifecycle", "config": {
            "state": "deprecated",
            "deprecated_at": "2025-01-01T00:00:00Z",
            "sunset_at": "2999-12-31T23:59:59Z",
            "successor": "https://api.example.com/v3",
        } }])),
        {
            "name": "things-v2-by-media-type",
            "match": {
                "paths": [{ "prefix": "/things" }],
                "headers": [{ "name": "accept", "regex": ".*application/vnd\\.x\\.v2\\+json.*" }],
            },
            "upstream": "echo",
            "policies": [{ "name": "api-lifecycle", "config": {
                "state": "deprecated", "deprecated_at": "2025-01-01T00:00:00Z",
            } }],
        },
        route("things", "/things", json!([])),
        {
            "name": "orders",
            "match": { "paths": [{ "template": "/orders/{id}" }] },
            "upstream": "echo",
            "policies": [{ "name": "request-validator", "config": {
                "path_schema": { "type": "object", "properties": { "id": { "type": "integer", "minimum": 1 } } },
                "query_schema": { "type": "object", "properties": { "dry_run": { "type": "boolean" } } },
                "body_schema": {
                    "type": "object",
                    "required": ["sku", "quantity"],
                    "properties": {
                        "sku": { "type": "string", "pattern": "^[A-Z]{3}-[0-9]+$" },
                        "quantity": { "type": "integer", "minimum": 1 },
                    },
                },
            } }],
        },
    ]);
    cfg
}

fn all(resp: &FullResponse, name: &str) -> Vec<String> {
    resp.headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

fn vary_has(resp: &FullResponse, token: &str) -> bool {
    all(resp, "vary")
        .iter()
        .flat_map(|v| {
            v.split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .any(|t| t == token)
}

async fn start() -> (pylon_testkit::PylonProcess, Ports, EchoServer) {
    let echo = EchoServer::start().await.expect("echo");
    let addr = echo.addr();
    let (process, ports) = start_pylon(|p| protect_config(p, addr)).await;
    (process, ports, echo)
}

#[tokio::test]
async fn cors_preflight_is_answered_by_pylon_and_responses_carry_the_grant() {
    bounded(60, async {
        let (_p, ports, echo) = start().await;
        let url = ports.url("/cors/items");
        let resp = call(
            Method::OPTIONS,
            &url,
            &[
                ("origin", "https://app.example.com"),
                ("access-control-request-method", "DELETE"),
                (
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
            ],
            "",
        )
        .await;
        assert_eq!(resp.status, 204, "{}", resp.text());
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(
            resp.header("access-control-allow-credentials"),
            Some("true")
        );
        assert!(
            resp.header("access-control-allow-methods")
                .is_some_and(|m| m.contains("DELETE"))
        );
        assert_eq!(
            resp.header("access-control-allow-headers"),
            Some("authorization, content-type")
        );
        assert_eq!(resp.header("access-control-max-age"), Some("600"));
        assert!(vary_has(&resp, "origin"));
        assert_eq!(
            echo.request_count(),
            0,
            "the preflight reached the upstream"
        );

        // A preflight from an origin not allowed: refused, still not forwarded.
        let resp = call(
            Method::OPTIONS,
            &url,
            &[
                ("origin", "https://evil.example.net"),
                ("access-control-request-method", "GET"),
            ],
            "",
        )
        .await;
        assert_eq!(resp.status, 403);
        assert_eq!(
            resp.json().expect("json")["error"]["code"],
            "cors_forbidden"
        );
        assert_eq!(resp.header("access-control-allow-origin"), None);
        assert_eq!(echo.request_count(), 0);

        // The actual request goes through and gets the grant (a wildcard subdomain here).
        let resp = call(
            Method::GET,
            &url,
            &[("origin", "https://a.b.tools.example.com")],
            "",
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(
            resp.header("access-control-allow-origin"),
            Some("https://a.b.tools.example.com")
        );
        assert_eq!(
            resp.header("access-control-allow-credentials"),
            Some("true")
        );
        assert_eq!(
            resp.header("access-control-expose-headers"),
            Some("x-request-id")
        );
        assert!(vary_has(&resp, "origin"));
        assert_eq!(echo.request_count(), 1);

        // Another origin's actual request is served but gets no grant.
        let resp = call(
            Method::GET,
            &url,
            &[("origin", "https://evil.example.net")],
            "",
        )
        .await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("access-control-allow-origin"), None);
    })
    .await;
}

#[tokio::test]
async fn ip_restriction_on_the_peer_and_on_the_real_ip() {
    bounded(60, async {
        let (process, ports, echo) = start().await;
        let resp = call(Method::GET, &ports.url("/denied"), &[], "").await;
        assert_eq!(resp.status, 403, "{}", resp.text());
        assert_eq!(resp.json().expect("json")["error"]["code"], "ip_forbidden");
        assert_eq!(echo.request_count(), 0);

        // 127.0.0.1 is a trusted proxy on /office: the client it reports decides.
        let office = ports.url("/office");
        let resp = call(
            Method::GET,
            &office,
            &[("x-forwarded-for", "6.6.6.6, 203.0.113.7")],
            "",
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(echo.request_count(), 1);
        let resp = call(
            Method::GET,
            &office,
            &[("x-forwarded-for", "203.0.113.7, 198.51.100.9")],
            "",
        )
        .await;
        assert_eq!(resp.status, 403);
        assert_eq!(resp.json().expect("json")["error"]["code"], "ip_forbidden");
        // Without the header the client is the proxy itself, which is not allowed.
        let resp = call(Method::GET, &office, &[], "").await;
        assert_eq!(resp.status, 403);
        assert_eq!(echo.request_count(), 1);

        // The access log records the real client.
        let logged = eventually(std::time::Duration::from_secs(5), || {
            let out = process.stdout();
            async move {
                out.lines().any(|l| {
                    serde_json::from_str::<Value>(l)
                        .is_ok_and(|v| v["route"] == "office" && v["client_ip"] == "203.0.113.7")
                })
            }
        })
        .await;
        assert!(
            logged,
            "no access-log line with the real client:\n{}",
            process.stdout()
        );
    })
    .await;
}

#[tokio::test]
async fn threat_protection_blocks_injection_and_deep_json() {
    bounded(60, async {
        let (_p, ports, echo) = start().await;
        let resp = call(
            Method::GET,
            &ports.url("/tp/search?q=1%27%20OR%20%271%27%3D%271"),
            &[],
            "",
        )
        .await;
        assert_eq!(resp.status, 400, "{}", resp.text());
        let v = resp.json().expect("json");
        assert_eq!(v["error"]["code"], "request_rejected");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("sql_injection"), "{message}");
        assert!(
            !resp.text().contains("OR"),
            "payload echoed: {}",
            resp.text()
        );

        let ct = [("content-type", "application/json")];
        let deep = format!("{}1{}", "[".repeat(50), "]".repeat(50));
        let resp = call(Method::POST, &ports.url("/tp/items"), &ct, &deep).await;
        assert_eq!(resp.status, 400, "{}", resp.text());
        let v = resp.json().expect("json");
        assert_eq!(v["error"]["code"], "request_rejected");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("json_depth")
        );
        assert_eq!(echo.request_count(), 0);

        // A harmless body goes through whole.
        let resp = call(
            Method::POST,
            &ports.url("/tp/items"),
            &ct,
            r#"{"name":"O'Brien","tags":[["a"]]}"#,
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let seen = echo.last_request().expect("upstream saw it");
        assert_eq!(&seen.body[..], br#"{"name":"O'Brien","tags":[["a"]]}"#);
    })
    .await;
}

#[tokio::test]
async fn retired_and_deprecated_api_versions() {
    bounded(60, async {
        let (_p, ports, echo) = start().await;
        let resp = call(Method::GET, &ports.url("/v1/things"), &[], "").await;
        assert_eq!(resp.status, 410, "{}", resp.text());
        assert_eq!(resp.json().expect("json")["error"]["code"], "api_retired");
        assert_eq!(
            resp.header("link"),
            Some("<https://api.example.com/v3>; rel=\"successor-version\"")
        );
        assert_eq!(echo.request_count(), 0);

        let resp = call(Method::GET, &ports.url("/v2/things"), &[], "").await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.header("deprecation"), Some("@1735689600"));
        assert_eq!(resp.header("sunset"), Some("Tue, 31 Dec 2999 23:59:59 GMT"));
        assert!(
            all(&resp, "link")
                .contains(&"<https://api.example.com/v3>; rel=\"successor-version\"".to_string())
        );
        assert_eq!(echo.request_count(), 1);

        // Versions chosen by media type: the route matching the Accept header is the deprecated one.
        let resp = call(
            Method::GET,
            &ports.url("/things/1"),
            &[("accept", "application/vnd.x.v2+json")],
            "",
        )
        .await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("deprecation"), Some("@1735689600"));
        let resp = call(
            Method::GET,
            &ports.url("/things/1"),
            &[("accept", "application/json")],
            "",
        )
        .await;
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("deprecation"), None);
    })
    .await;
}

#[tokio::test]
async fn request_validator_lists_failing_paths() {
    bounded(60, async {
        let (_p, ports, echo) = start().await;
        let ct = [("content-type", "application/json")];
        let resp = call(
            Method::POST,
            &ports.url("/orders/0?dry_run=maybe"),
            &ct,
            r#"{"sku":"abc","quantity":0}"#,
        )
        .await;
        assert_eq!(resp.status, 400, "{}", resp.text());
        let v = resp.json().expect("json");
        assert_eq!(v["error"]["code"], "validation_failed");
        let details = v["error"]["details"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let found: Vec<(String, String)> = details
            .iter()
            .map(|d| {
                (
                    d["in"].as_str().unwrap_or_default().to_string(),
                    d["path"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        for want in [
            ("path", "/id"),
            ("query", "/dry_run"),
            ("body", "/sku"),
            ("body", "/quantity"),
        ] {
            assert!(
                found.contains(&(want.0.to_string(), want.1.to_string())),
                "{want:?} missing in {details:?}"
            );
        }
        assert_eq!(echo.request_count(), 0);

        let resp = call(
            Method::POST,
            &ports.url("/orders/7"),
            &[("content-type", "text/plain")],
            "sku=ABC-1",
        )
        .await;
        assert_eq!(resp.status, 415, "{}", resp.text());
        assert_eq!(
            resp.json().expect("json")["error"]["code"],
            "unsupported_media_type"
        );

        let resp = call(
            Method::POST,
            &ports.url("/orders/7?dry_run=true"),
            &ct,
            r#"{"sku":"ABC-12","quantity":2}"#,
        )
        .await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(echo.request_count(), 1);
    })
    .await;
}
