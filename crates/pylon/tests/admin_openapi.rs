//! The OpenAPI document against the real router: every documented operation is routed
//! (never the 405 or the unknown-endpoint 404), and schemathesis (PyPI, installed by
//! scripts/test) fuzzes every operation with the bootstrap token, failing on any 5xx,
//! undocumented status, wrong content type or response that breaks its schema.

mod common_admin;
mod common_http;

use std::process::Command;
use std::time::{Duration, Instant};

use common_admin::{Node, TOKEN};
use common_http::bounded;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn every_documented_operation_is_served() {
    bounded(90, async {
        let node = Node::start(Some(TOKEN)).await;
        let (_, doc) = node
            .expect(200, Method::GET, "/api/v1/openapi.json", TOKEN, None, None)
            .await;
        let paths = doc["paths"].as_object().expect("paths");
        assert!(paths.len() > 40, "{}", paths.len());
        let mut operations = 0;
        for (path, item) in paths {
            let concrete = path
                .replace("{parent}", "no-such-parent")
                .replace("{key}", "no-such-key")
                .replace("{n}", "99")
                .replace("{kind}", "routes")
                .replace("{name}", "x")
                .replace("{tenant}", "no-such-tenant")
                .replace("{team}", "no-such-team")
                .replace("{user}", "no-such-user")
                .replace("{token}", "no-such-token");
            for method in item.as_object().expect("item").keys() {
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                if path == "/api/v1/auth/logout" {
                    continue; // would end nothing, but keep the token list clean
                }
                let (s, _, b) = node
                    .call(
                        m.clone(),
                        &concrete,
                        Some(TOKEN),
                        Some("\"x\""),
                        Some(&json!({})),
                    )
                    .await;
                assert_ne!(s.as_u16(), 405, "{m} {path} is documented but not routed");
                let msg = b["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    !msg.starts_with("endpoint"),
                    "{m} {path} fell through to the fallback: {b}"
                );
                assert!(s.as_u16() < 500, "{m} {path}: {b}");
                operations += 1;
            }
        }
        assert!(operations > 70, "{operations}");
        // And the fallback for what is not documented.
        let (s, _, b) = node
            .call(
                Method::GET,
                "/api/v1/services/a/b/c",
                Some(TOKEN),
                None,
                None,
            )
            .await;
        assert_eq!(
            (s.as_u16(), b["error"]["code"].as_str()),
            (404, Some("not_found"))
        );
    })
    .await;
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_or_schema_violation() {
    bounded(300, async {
        let have = Command::new("schemathesis").arg("--version").output();
        assert!(
            have.is_ok_and(|o| o.status.success()),
            "schemathesis is needed (scripts/test installs it: pip install schemathesis)"
        );
        let node = Node::start(Some(TOKEN)).await;
        let url = node.ports.admin_url("/api/v1/openapi.json");
        let report = node.dir().join("schemathesis");
        let started = Instant::now();
        let out = tokio::task::spawn_blocking(move || {
            Command::new("schemathesis")
                .args(["run", &url, "--header", &format!("Authorization: Bearer {TOKEN}")])
                .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"])
                // Bounded: about 2,000-3,000 cases, 20-40 s on two cores.
                .args(["--phases", "examples,coverage,fuzzing", "--max-examples", "12", "--workers", "2"])
                .args(["--request-timeout", "10", "--no-color", "--seed", "1"])
                .args(["--generation-database", "none", "--report-dir"])
                .arg(&report)
                .env("SCHEMATHESIS_TELEMETRY", "false")
                .output()
                .expect("run schemathesis")
        })
        .await
        .expect("join");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "schemathesis failed after {:?}:\n{stdout}\n{stderr}", started.elapsed());
        assert!(stdout.contains("passed"), "{stdout}");
        assert!(started.elapsed() < Duration::from_secs(240), "{:?}", started.elapsed());
        assert!(node.stderr().lines().all(|l| !l.contains("panicked")), "{}", node.stderr());
    })
    .await;
}
