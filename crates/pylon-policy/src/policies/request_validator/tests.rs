use bytes::Bytes;
use serde_json::{Value, json};

use crate::testing::*;

struct Call<'a> {
    method: &'a str,
    uri: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: Option<&'a str>,
    params: &'a [(&'a str, &'a str)],
}

const GET: Call<'static> = Call {
    method: "GET",
    uri: "/",
    headers: &[],
    body: None,
    params: &[],
};

/// `Ok(None)`: passed; `Ok(Some(details))`: 400 with its details; `Err`: refused otherwise.
async fn validate(cfg: Value, call: Call<'_>) -> Result<Option<Value>, crate::Reject> {
    let chain = chain(
        json!([{ "name": "request-validator", "config": cfg }]),
        json!({}),
    );
    let mut req = request(call.method, call.uri, call.headers);
    if chain.wants_request_body(&req.parts) {
        req.body = Some(Bytes::from(call.body.unwrap_or("").to_string()));
    }
    let mut ctx = ctx();
    ctx.path_params = call
        .params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match run(&chain, &mut req, &mut ctx).await {
        Ok(None) => Ok(None),
        Ok(Some(resp)) => panic!("unexpected response {}", resp.status()),
        Err(rej) if rej.code == "validation_failed" => {
            assert_eq!(rej.status, 400);
            Ok(Some(rej.details.unwrap_or_default()))
        }
        Err(rej) => Err(rej),
    }
}

fn failed(r: Result<Option<Value>, crate::Reject>) -> Vec<(String, String, String)> {
    match r {
        Ok(Some(Value::Array(list))) => list
            .iter()
            .map(|d| {
                (
                    d["in"].as_str().unwrap_or("").to_string(),
                    d["path"].as_str().unwrap_or("").to_string(),
                    d["message"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
        other => panic!("not a validation failure: {other:?}"),
    }
}

fn body_schema() -> Value {
    json!({ "body_schema": {
        "type": "object",
        "required": ["name", "items"],
        "properties": {
            "name": { "type": "string", "minLength": 2 },
            "items": { "type": "array", "items": { "type": "integer", "minimum": 0 } },
        },
    }})
}

const JSON_CT: &[(&str, &str)] = &[("content-type", "application/json")];

#[tokio::test]
async fn valid_body_passes_and_invalid_body_lists_paths() {
    let ok = Call {
        method: "POST",
        headers: JSON_CT,
        body: Some(r#"{"name":"ab","items":[1,2]}"#),
        ..GET
    };
    assert!(matches!(validate(body_schema(), ok).await, Ok(None)));
    let bad = Call {
        method: "POST",
        headers: JSON_CT,
        body: Some(r#"{"name":"a","items":[1,-2,"x"]}"#),
        ..GET
    };
    let f = failed(validate(body_schema(), bad).await);
    let paths: Vec<&str> = f.iter().map(|(_, p, _)| p.as_str()).collect();
    assert_eq!(paths.len(), 3, "{f:?}");
    for p in ["/name", "/items/1", "/items/2"] {
        assert!(paths.contains(&p), "{p} missing in {f:?}");
    }
    assert!(f.iter().all(|(loc, _, _)| loc == "body"));
    // Messages do not echo the client's values.
    assert!(f.iter().all(|(_, _, m)| !m.contains("\"x\"")), "{f:?}");
}

#[tokio::test]
async fn missing_required_and_malformed_bodies() {
    let f = failed(
        validate(
            body_schema(),
            Call {
                method: "POST",
                headers: JSON_CT,
                body: Some("{}"),
                ..GET
            },
        )
        .await,
    );
    assert_eq!(f.len(), 2);
    assert!(f.iter().all(|(_, p, _)| p.is_empty()));
    let f = failed(
        validate(
            body_schema(),
            Call {
                method: "POST",
                headers: JSON_CT,
                body: Some("{\"name\":"),
                ..GET
            },
        )
        .await,
    );
    assert!(
        f[0].2.starts_with("request body is not valid JSON"),
        "{f:?}"
    );
    let f = failed(
        validate(
            body_schema(),
            Call {
                method: "POST",
                headers: JSON_CT,
                body: Some(""),
                ..GET
            },
        )
        .await,
    );
    assert_eq!(f[0].2, "request body is required");
    let mut cfg = body_schema();
    cfg["body_required"] = json!(false);
    assert!(matches!(
        validate(
            cfg,
            Call {
                method: "POST",
                headers: JSON_CT,
                body: Some(""),
                ..GET
            }
        )
        .await,
        Ok(None)
    ));
}

#[tokio::test]
async fn non_json_body_is_415() {
    let call = Call {
        method: "POST",
        headers: &[("content-type", "text/plain"), ("content-length", "5")],
        ..GET
    };
    match validate(body_schema(), call).await {
        Err(e) => {
            assert_eq!(e.status, 415);
            assert_eq!(e.code, "unsupported_media_type");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn query_is_coerced_by_declared_types() {
    let cfg = json!({ "query_schema": {
        "type": "object",
        "required": ["limit"],
        "properties": {
            "limit": { "type": "integer", "maximum": 100 },
            "ratio": { "type": "number" },
            "draft": { "type": "boolean" },
            "tag": { "type": "array", "items": { "type": "integer" } },
            "q": { "type": "string" },
        },
        "additionalProperties": false,
    }});
    let ok = Call {
        uri: "/?limit=10&ratio=0.5&draft=true&tag=1&tag=2&q=42",
        ..GET
    };
    assert!(matches!(validate(cfg.clone(), ok).await, Ok(None)));
    let bad = Call {
        uri: "/?limit=1000&draft=yes&tag=x&extra=1&q=a&q=b",
        ..GET
    };
    let f = failed(validate(cfg.clone(), bad).await);
    let paths: Vec<&str> = f.iter().map(|(_, p, _)| p.as_str()).collect();
    for p in ["/limit", "/draft", "/tag/0", "/q", ""] {
        assert!(paths.contains(&p), "{p} missing in {f:?}");
    }
    assert!(f.iter().all(|(loc, _, _)| loc == "query"));
    // Without coercion every value is a string.
    let mut strict = cfg;
    strict["coerce_types"] = json!(false);
    let f = failed(
        validate(
            strict,
            Call {
                uri: "/?limit=10",
                ..GET
            },
        )
        .await,
    );
    assert_eq!(f[0].1, "/limit");
}

#[tokio::test]
async fn path_params_and_headers() {
    let cfg = json!({
        "path_schema": { "properties": { "id": { "type": "integer", "minimum": 1 } }, "required": ["id"] },
        "header_schema": { "properties": { "x-tenant": { "type": "string", "pattern": "^[a-z]+$" } }, "required": ["x-tenant"] },
    });
    let ok = Call {
        params: &[("id", "7")],
        headers: &[("x-tenant", "acme")],
        ..GET
    };
    assert!(matches!(validate(cfg.clone(), ok).await, Ok(None)));
    let bad = Call {
        params: &[("id", "0")],
        headers: &[("x-tenant", "ACME")],
        ..GET
    };
    let f = failed(validate(cfg.clone(), bad).await);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!((f[0].0.as_str(), f[0].1.as_str()), ("path", "/id"));
    assert_eq!((f[1].0.as_str(), f[1].1.as_str()), ("header", "/x-tenant"));
    let f = failed(
        validate(
            cfg,
            Call {
                params: &[("id", "abc")],
                ..GET
            },
        )
        .await,
    );
    assert_eq!(f.len(), 2, "{f:?}");
}

#[tokio::test]
async fn failures_are_bounded() {
    let cfg = json!({ "max_errors": 3, "body_schema": { "type": "array", "items": { "type": "string" } } });
    let body = format!("[{}]", vec!["1"; 50].join(","));
    let f = failed(
        validate(
            cfg,
            Call {
                method: "POST",
                headers: JSON_CT,
                body: Some(&body),
                ..GET
            },
        )
        .await,
    );
    assert_eq!(f.len(), 3);
}

#[test]
fn schemas_compile_at_load_with_paths() {
    let errs = config_errors(
        json!([{ "name": "request-validator", "config": { "body_schema": { "properties": { "a": { "type": "nope" } } } } }]),
        json!({}),
    );
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with(
            "routes[0].policies[0].config.body_schema.properties.a.type: invalid schema"
        ),
        "{errs:?}"
    );
    let errs = config_errors(json!([{ "name": "request-validator" }]), json!({}));
    assert!(
        errs[0].contains("set at least one of body_schema"),
        "{errs:?}"
    );
    let errs = config_errors(
        json!([{ "name": "request-validator", "config": { "header_schema": { "properties": { "X-Tenant": {} } } } }]),
        json!({}),
    );
    assert!(
        errs[0].starts_with("routes[0].policies[0].config.header_schema.properties.X-Tenant"),
        "{errs:?}"
    );
    let errs = config_errors(
        json!([{ "name": "request-validator", "config": { "draft": "3", "query_schema": {} } }]),
        json!({}),
    );
    assert!(
        errs[0].starts_with("routes[0].policies[0].config.draft: unknown draft"),
        "{errs:?}"
    );
    // A remote $ref is not fetched at load time: it is an error.
    let errs = config_errors(
        json!([{ "name": "request-validator", "config": { "body_schema": { "$ref": "https://example.invalid/s.json" } } }]),
        json!({}),
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
}
