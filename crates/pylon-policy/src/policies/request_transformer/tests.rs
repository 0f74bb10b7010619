use bytes::Bytes;
use serde_json::{Value, json};

use crate::testing::*;

fn ctx_with_param() -> crate::PolicyCtx {
    let mut ctx = ctx();
    ctx.path = "/orders/42".into();
    ctx.path_params = vec![("id".into(), "42".into())];
    ctx
}

fn body_json(req: &crate::RequestHead) -> Value {
    serde_json::from_slice(req.body.as_deref().unwrap_or_default())
        .unwrap_or_else(|e| panic!("body is not JSON: {e}"))
}

#[tokio::test]
async fn header_ops_run_in_order_with_templates() {
    let chain = chain(
        json!([{ "name": "request-transformer", "config": { "headers": {
            "remove": ["x-secret"],
            "rename": { "x-old": "x-new" },
            "set": { "x-order": "order-{{params.id}}", "x-was-secret": "{{headers.x-secret}}", "x-user": "{{consumer.name}}" },
            "add": { "x-tag": ["a", "{{method}}"], "x-new": "added" }
        } } }]),
        json!({}),
    );
    let mut req = request(
        "POST",
        "/orders/42",
        &[
            ("x-secret", "s3"),
            ("x-old", "o1"),
            ("x-new", "replaced-by-rename"),
            ("x-order", "client-value"),
            ("x-user", "spoofed"),
            ("x-tag", "client"),
        ],
    );
    let mut ctx = ctx_with_param();
    assert!(run(&chain, &mut req, &mut ctx).await.is_ok());
    let h = &req.parts.headers;
    assert!(!h.contains_key("x-secret"));
    assert!(!h.contains_key("x-old"));
    let all = |n: &str| -> Vec<&str> {
        h.get_all(n)
            .iter()
            .map(|v| v.to_str().unwrap_or("?"))
            .collect()
    };
    assert_eq!(all("x-new"), ["o1", "added"]);
    assert_eq!(all("x-order"), ["order-42"]);
    // Templates see the request as it reached the policy.
    assert_eq!(all("x-was-secret"), ["s3"]);
    // No consumer: the value renders empty and the header is left out, so
    // the client's value does not get through either.
    assert!(!h.contains_key("x-user"));
    assert_eq!(all("x-tag"), ["client", "a", "POST"]);
}

#[tokio::test]
async fn query_ops_keep_untouched_parameters_as_sent() {
    let chain = chain(
        json!([{ "name": "request-transformer", "config": { "query": {
            "remove": ["debug"],
            "rename": { "q": "search" },
            "set": { "order": "{{params.id}}" },
            "add": { "tag": "a b&c", "empty": "{{headers.none}}" }
        } } }]),
        json!({}),
    );
    let mut req = request(
        "GET",
        "/orders/42?keep=a%2Fb+c&debug=1&q=x%20y&order=9&debug",
        &[],
    );
    assert!(run(&chain, &mut req, &mut ctx_with_param()).await.is_ok());
    assert_eq!(
        req.parts.uri.to_string(),
        "/orders/42?keep=a%2Fb+c&search=x%20y&order=42&tag=a+b%26c"
    );
    // Everything removed: no `?` left.
    let chain = crate::testing::chain(
        json!([{ "name": "request-transformer", "config": { "query": { "remove": ["a"] } } }]),
        json!({}),
    );
    let mut req = request("GET", "/p?a=1", &[]);
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    assert_eq!(req.parts.uri.to_string(), "/p");
}

fn body_chain() -> std::sync::Arc<crate::Chain> {
    chain(
        json!([{ "name": "request-transformer", "config": { "body": {
            "remove": ["/password", "/items/0"],
            "rename": [{ "from": "/user", "to": "/account/name" }],
            "set": [
                { "pointer": "/meta/order", "template": "{{params.id}} \"q\"" },
                { "pointer": "/meta/flags", "value": [1, null] },
                { "pointer": "/nothing", "value": null }
            ]
        } } }]),
        json!({}),
    )
}

#[tokio::test]
async fn json_body_ops_edit_the_body_and_its_length() {
    let chain = body_chain();
    let mut req = request(
        "POST",
        "/orders/42",
        &[
            ("content-type", "application/json"),
            ("content-length", "74"),
        ],
    );
    assert!(chain.wants_request_body(&req.parts));
    req.body = Some(Bytes::from_static(
        br#"{"user":"bob","password":"pw","items":[1,2],"z":true,"account":{"id":7}}"#,
    ));
    assert!(run(&chain, &mut req, &mut ctx_with_param()).await.is_ok());
    let text = String::from_utf8_lossy(req.body.as_deref().unwrap_or_default()).into_owned();
    // Key order is kept; new keys come last.
    assert_eq!(
        text,
        r#"{"items":[2],"z":true,"account":{"id":7,"name":"bob"},"meta":{"order":"42 \"q\"","flags":[1,null]},"nothing":null}"#
    );
    assert_eq!(
        req.parts.headers["content-length"],
        text.len().to_string().as_str()
    );
    assert_eq!(body_json(&req)["meta"]["order"], "42 \"q\"");
}

#[tokio::test]
async fn non_json_and_empty_bodies_are_left_alone() {
    let chain = body_chain();
    let mut req = request("POST", "/", &[("content-type", "text/plain")]);
    assert!(!chain.wants_request_body(&req.parts));
    req.body = Some(Bytes::from_static(b"not json"));
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    assert_eq!(req.body.as_deref(), Some(&b"not json"[..]));
    // Compressed JSON is not touched either.
    let req = request(
        "POST",
        "/",
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ],
    );
    assert!(!chain.wants_request_body(&req.parts));
    let mut req = request("POST", "/", &[("content-type", "application/json")]);
    req.body = Some(Bytes::new());
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    assert_eq!(req.body.as_deref(), Some(&b""[..]));
    // Header-only configs never ask for the body.
    let chain = crate::testing::chain(
        json!([{ "name": "request-transformer", "config": { "headers": { "add": { "x": "1" } } } }]),
        json!({}),
    );
    let req = request("POST", "/", &[("content-type", "application/json")]);
    assert!(!chain.wants_request_body(&req.parts));
}

#[tokio::test]
async fn invalid_json_is_400() {
    let chain = body_chain();
    let mut req = request(
        "POST",
        "/",
        &[("content-type", "application/json"), ("x-a", "1")],
    );
    req.body = Some(Bytes::from_static(b"{\"a\":"));
    let err = match run(&chain, &mut req, &mut ctx()).await {
        Err(e) => e,
        Ok(_) => panic!("accepted invalid JSON"),
    };
    assert_eq!(err.status, 400);
    assert_eq!(err.code, "invalid_json_body");
}

#[tokio::test]
async fn replace_renders_a_json_document() {
    let chain = chain(
        json!([{ "name": "request-transformer", "config": { "body": { "replace": {
            "order": "{{params.id}}",
            "by": { "ip": "{{client_ip}}", "agent": "{{headers.user-agent}}" },
            "fixed": [1, "two", { "three": 3 }],
            "literal": "{{{{not a placeholder}}"
        } } } }]),
        json!({}),
    );
    let mut req = request(
        "PUT",
        "/orders/42",
        &[
            ("content-type", "application/json"),
            ("user-agent", "a\"b\\c"),
        ],
    );
    req.body = Some(Bytes::from_static(b"this is ignored"));
    assert!(run(&chain, &mut req, &mut ctx_with_param()).await.is_ok());
    assert_eq!(
        body_json(&req),
        json!({
            "order": "42",
            "by": { "ip": "127.0.0.1", "agent": "a\"b\\c" },
            "fixed": [1, "two", { "three": 3 }],
            "literal": "{{not a placeholder}}"
        })
    );
}

#[test]
fn bad_config_names_the_field() {
    let cases = [
        (
            json!({ "headers": { "set": { "x-a": "{{nope}}" } } }),
            "routes[0].policies[0].config.headers.set.x-a: unknown variable `nope`",
        ),
        (
            json!({ "headers": { "remove": ["content-length"] } }),
            "routes[0].policies[0].config.headers.remove[0]: `content-length` is managed by Pylon",
        ),
        (
            json!({ "headers": { "add": { "x-a": ["ok", "{{status}}"] } } }),
            "routes[0].policies[0].config.headers.add.x-a[1]: `status` is only known in the response phase",
        ),
        (
            json!({ "query": { "set": { "a": "{{route" } } }),
            "routes[0].policies[0].config.query.set.a: placeholder opened at byte 0",
        ),
        (
            json!({ "body": { "remove": ["a/b"] } }),
            "routes[0].policies[0].config.body.remove[0]: JSON pointer `a/b` must be empty",
        ),
        (
            json!({ "body": { "remove": [""] } }),
            "routes[0].policies[0].config.body.remove[0]: the whole document",
        ),
        (
            json!({ "body": { "set": [{ "pointer": "/a", "value": 1, "template": "x" }] } }),
            "routes[0].policies[0].config.body.set[0]: give exactly one",
        ),
        (
            json!({ "body": { "set": [{ "pointer": "/a" }] } }),
            "routes[0].policies[0].config.body.set[0]: give exactly one",
        ),
        (
            json!({ "body": { "remove": ["/a"], "replace": {} } }),
            "routes[0].policies[0].config.body.replace: `replace` cannot be combined",
        ),
        (
            json!({ "body": { "replace": { "a": ["{{claims..x}}"] } } }),
            "routes[0].policies[0].config.body.replace.a[0]: variable `claims..x`",
        ),
        (
            json!({ "headers": { "sett": {} } }),
            "routes[0].policies[0].config.headers.sett: unknown field `sett`",
        ),
    ];
    for (cfg, want) in cases {
        let errs = config_errors(
            json!([{ "name": "request-transformer", "config": cfg }]),
            json!({}),
        );
        assert_eq!(errs.len(), 1, "{cfg}: {errs:?}");
        assert!(errs[0].starts_with(want), "{cfg}: {errs:?}");
    }
}
