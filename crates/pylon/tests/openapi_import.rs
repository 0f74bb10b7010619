//! `pylon openapi import` end to end: an OpenAPI 3 document becomes a config
//! that `pylon validate` accepts, and the real binary serving it routes the
//! operations and refuses requests that break the schemas.

mod common_http;

use std::process::Command;

use common_http::*;
use http::{Method, Request};
use http_body_util::Full;
use pylon_testkit::{EchoServer, send};

const SPEC: &str = r##"
openapi: 3.1.0
info: { title: Orders API, version: "1" }
paths:
  /orders/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: integer, minimum: 1 } }
    get: { operationId: getOrder }
  /orders:
    post:
      operationId: createOrder
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/NewOrder" }
components:
  schemas:
    NewOrder:
      type: object
      required: [sku, quantity]
      properties:
        sku: { type: string }
        quantity: { type: integer, minimum: 1 }
"##;

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(pylon_bin())
        .args(args)
        .output()
        .expect("run pylon");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn an_imported_spec_routes_and_validates() {
    bounded(60, async {
        let echo = EchoServer::start().await.expect("echo");
        let dir = tempfile::tempdir().expect("dir");
        let spec = dir.path().join("orders.yaml");
        std::fs::write(&spec, SPEC).expect("write spec");
        let out = dir.path().join("orders-config.yaml");
        let target = echo.addr().to_string();
        let (code, _, err) = run(&[
            "openapi",
            "import",
            spec.to_str().expect("path"),
            "--upstream",
            "orders",
            "--target",
            &target,
            "--output",
            out.to_str().expect("path"),
        ]);
        assert_eq!(code, Some(0), "{err}");
        let (code, stdout, err) = run(&["validate", out.to_str().expect("path")]);
        assert_eq!((code, stdout.trim()), (Some(0), "ok"), "{err}");

        // Serve the generated document plus a listener.
        let text = std::fs::read_to_string(&out).expect("read");
        let generated: serde_json::Value = serde_saphyr::from_str(&text).expect("yaml");
        let (_p, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            for key in ["services", "routes", "upstreams"] {
                cfg[key] = generated[key].clone();
            }
            cfg
        })
        .await;
        let post = |body: &'static str| {
            Request::builder()
                .method(Method::POST)
                .uri(ports.url("/orders"))
                .header("content-type", "application/json")
                .body(Full::new(bytes::Bytes::from(body)))
                .expect("request")
        };
        let r = send(post(r#"{"sku":"A-1","quantity":2}"#))
            .await
            .expect("send");
        assert_eq!(r.status, 200, "{}", r.text());
        let r = send(post(r#"{"sku":"A-1","quantity":0}"#))
            .await
            .expect("send");
        assert_eq!(r.status, 400);
        let v = r.json().expect("json");
        assert_eq!(v["error"]["code"], "validation_failed");
        assert_eq!(v["error"]["details"][0]["path"], "/quantity");

        let get = |path: &str| {
            Request::builder()
                .uri(ports.url(path))
                .body(Full::new(bytes::Bytes::new()))
                .expect("request")
        };
        assert_eq!(send(get("/orders/7")).await.expect("send").status, 200);
        assert_eq!(send(get("/orders/0")).await.expect("send").status, 400);
        // Not in the spec: no route.
        assert_eq!(send(get("/customers")).await.expect("send").status, 404);
        assert_eq!(echo.request_count(), 2);
    })
    .await;
}

#[test]
fn a_document_that_is_not_openapi_3_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let spec = dir.path().join("swagger.json");
    std::fs::write(&spec, r#"{"swagger": "2.0", "paths": {}}"#).expect("write");
    let (code, _, err) = run(&[
        "openapi",
        "import",
        spec.to_str().expect("path"),
        "--upstream",
        "u",
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("swagger.json: not an OpenAPI 3 document"),
        "{err}"
    );
}
