use std::sync::Arc;

use serde_json::{Value, json};

use crate::testing::*;
use crate::{Chain, PolicyCtx, ResponseHead};

fn rt(config: Value) -> Arc<Chain> {
    chain(
        json!([{ "name": "response-transformer", "config": config }]),
        json!({}),
    )
}

/// Run the request phase of `method` with `headers`, then the response phase on `resp`.
async fn exchange(
    chain: &Chain,
    method: &str,
    headers: &[(&str, &str)],
    resp: &mut ResponseHead,
) -> Result<PolicyCtx, crate::Reject> {
    let mut req = request(method, "/items?lang=fr", headers);
    let mut ctx = ctx();
    run(chain, &mut req, &mut ctx).await?;
    chain.on_response(resp, &mut ctx)?;
    Ok(ctx)
}

fn text(resp: &ResponseHead) -> String {
    String::from_utf8_lossy(resp.body.as_deref().unwrap_or_default()).into_owned()
}

#[tokio::test]
async fn headers_and_status_are_rewritten() {
    let chain = rt(json!({
        "headers": {
            "remove": ["server"],
            "rename": { "x-internal-id": "x-id" },
            "set": { "x-correlation": "{{headers.x-correlation}}", "x-status": "{{status}}" },
            "add": { "x-lang": "{{query.lang}}" }
        },
        "status_map": { "404": 200 }
    }));
    let mut resp = response(
        404,
        &[("server", "upstream/1.0"), ("x-internal-id", "7")],
        None,
    );
    assert!(
        exchange(&chain, "GET", &[("x-correlation", "c-1")], &mut resp)
            .await
            .is_ok()
    );
    let h = &resp.parts.headers;
    assert_eq!(resp.parts.status, 200);
    assert!(!h.contains_key("server"));
    assert_eq!(h["x-id"], "7");
    assert_eq!(h["x-correlation"], "c-1");
    // `status` is the status as received.
    assert_eq!(h["x-status"], "404");
    assert_eq!(h["x-lang"], "fr");
    // Unmapped statuses pass.
    let mut resp = response(500, &[], None);
    assert!(exchange(&chain, "GET", &[], &mut resp).await.is_ok());
    assert_eq!(resp.parts.status, 500);
    assert!(!resp.parts.headers.contains_key("x-correlation"));
}

#[tokio::test]
async fn json_response_bodies_are_edited() {
    let chain = rt(json!({ "body": {
        "remove": ["/internal"],
        "set": [{ "pointer": "/meta/route", "template": "{{route}}" }]
    } }));
    let mut req = request("GET", "/", &[]);
    let mut ctx = ctx();
    assert!(run(&chain, &mut req, &mut ctx).await.is_ok());
    let mut resp = response(
        200,
        &[
            ("content-type", "application/json"),
            ("content-length", "28"),
        ],
        Some(r#"{"id":1,"internal":"secret"}"#),
    );
    assert!(chain.wants_response_body(&resp.parts, &ctx));
    let plain = response(200, &[("content-type", "text/html")], None);
    assert!(!chain.wants_response_body(&plain.parts, &ctx));
    assert!(chain.on_response(&mut resp, &mut ctx).is_ok());
    assert_eq!(text(&resp), r#"{"id":1,"meta":{"route":"r"}}"#);
    assert_eq!(resp.parts.headers["content-length"], "29");
}

#[tokio::test]
async fn invalid_upstream_json_is_502() {
    let chain = rt(json!({ "body": { "remove": ["/a"] } }));
    let mut resp = response(200, &[("content-type", "application/json")], Some("<html>"));
    let err = match exchange(&chain, "GET", &[], &mut resp).await {
        Err(e) => e,
        Ok(_) => panic!("accepted"),
    };
    assert_eq!(
        (err.status.as_u16(), err.code),
        (502, "invalid_upstream_body")
    );
}

fn error_bodies() -> Arc<Chain> {
    rt(json!({
        "status_map": { "404": 200 },
        "error_bodies": {
            "5xx": { "json": { "error": { "code": "upstream_{{status}}", "request": "{{request_id}}", "path": "{{path}}" } } },
            "503": { "content_type": "text/plain", "body": "down for maintenance ({{status}})" },
            "404": { "json": { "items": [] } }
        }
    }))
}

#[tokio::test]
async fn error_bodies_replace_the_body_exact_status_first() {
    let chain = error_bodies();
    let mut resp = response(
        502,
        &[("content-type", "text/html"), ("content-encoding", "gzip")],
        Some("<h1>Bad Gateway</h1>"),
    );
    let mut req = request("GET", "/", &[]);
    let mut ctx = ctx();
    assert!(run(&chain, &mut req, &mut ctx).await.is_ok());
    assert!(chain.wants_response_body(&resp.parts, &ctx));
    assert!(chain.on_response(&mut resp, &mut ctx).is_ok());
    let h = &resp.parts.headers;
    assert_eq!(h["content-type"], "application/json");
    assert!(!h.contains_key("content-encoding"));
    assert_eq!(h["content-length"], text(&resp).len().to_string().as_str());
    let v: Value = serde_json::from_str(&text(&resp)).unwrap_or_default();
    assert_eq!(
        v,
        json!({ "error": { "code": "upstream_502", "request": "test-id", "path": "/" } })
    );

    let mut resp = response(503, &[("content-type", "application/json")], Some("{}"));
    assert!(exchange(&chain, "GET", &[], &mut resp).await.is_ok());
    assert_eq!(resp.parts.headers["content-type"], "text/plain");
    assert_eq!(text(&resp), "down for maintenance (503)");

    // Chosen by the status as received, then mapped.
    let mut resp = response(404, &[("content-type", "text/html")], Some("nope"));
    assert!(exchange(&chain, "GET", &[], &mut resp).await.is_ok());
    assert_eq!(resp.parts.status, 200);
    assert_eq!(text(&resp), r#"{"items":[]}"#);

    // Other statuses keep their body, and it is not even read.
    let ok = response(200, &[("content-type", "application/json")], None);
    let mut req = request("GET", "/", &[]);
    let mut ctx = crate::testing::ctx();
    assert!(run(&chain, &mut req, &mut ctx).await.is_ok());
    assert!(!chain.wants_response_body(&ok.parts, &ctx));
}

#[tokio::test]
async fn bodiless_responses_get_no_body() {
    let chain = rt(json!({
        "error_bodies": { "5xx": { "body": "x" } },
        "body": { "replace": { "a": 1 } }
    }));
    for (method, status) in [("HEAD", 502), ("GET", 204), ("GET", 304), ("HEAD", 200)] {
        let mut resp = response(status, &[("content-type", "application/json")], None);
        let mut req = request(method, "/", &[]);
        let mut ctx = ctx();
        assert!(run(&chain, &mut req, &mut ctx).await.is_ok());
        assert!(
            !chain.wants_response_body(&resp.parts, &ctx),
            "{method} {status}"
        );
        assert!(chain.on_response(&mut resp, &mut ctx).is_ok());
        assert!(resp.body.is_none(), "{method} {status}");
        assert!(!resp.parts.headers.contains_key("content-length"));
    }
}

#[test]
fn bad_config_names_the_field() {
    let cases = [
        (
            json!({ "status_map": { "abc": 200 } }),
            "routes[0].policies[0].config.status_map.abc: not a status code",
        ),
        (
            json!({ "status_map": { "404": 101 } }),
            "routes[0].policies[0].config.status_map.404: must map to a status in 200-599",
        ),
        (
            json!({ "error_bodies": { "6xx": { "body": "x" } } }),
            "routes[0].policies[0].config.error_bodies.6xx: not a status",
        ),
        (
            json!({ "error_bodies": { "502": { "body": "x", "json": {} } } }),
            "routes[0].policies[0].config.error_bodies.502: give exactly one of `body` and `json`",
        ),
        (
            json!({ "error_bodies": { "5XX": { "body": "{{ headers. }}" } } }),
            "routes[0].policies[0].config.error_bodies.5XX.body: variable `headers.`",
        ),
        (
            json!({ "error_bodies": { "500": { "body": "x", "content_type": "a\nb" } } }),
            "routes[0].policies[0].config.error_bodies.500.content_type: not a valid header value",
        ),
        (
            json!({ "headers": { "set": { "transfer-encoding": "x" } } }),
            "routes[0].policies[0].config.headers.set.transfer-encoding: `transfer-encoding` is managed",
        ),
    ];
    for (cfg, want) in cases {
        let errs = config_errors(
            json!([{ "name": "response-transformer", "config": cfg }]),
            json!({}),
        );
        assert_eq!(errs.len(), 1, "{cfg}: {errs:?}");
        assert!(errs[0].starts_with(want), "{cfg}: {errs:?}");
    }
}

#[tokio::test]
async fn body_is_asked_for_only_when_needed() {
    let chain = rt(json!({ "headers": { "add": { "x-a": "1" } } }));
    let mut req = request("GET", "/", &[]);
    let mut ctx = ctx();
    assert!(run(&chain, &mut req, &mut ctx).await.is_ok());
    let resp = response(502, &[("content-type", "application/json")], None);
    assert!(!chain.wants_response_body(&resp.parts, &ctx));
}
