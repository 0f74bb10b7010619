use serde_json::json;

use crate::testing::*;

fn consumers() -> serde_json::Value {
    json!({
        "consumers": [
            { "name": "alice", "groups": ["pro"], "credentials": [{ "type": "key_auth", "id": "alice-key", "key": "alice-secret-1" }] },
            { "name": "guest" },
        ]
    })
}

#[tokio::test]
async fn valid_key_in_header_identifies_the_consumer() {
    let chain = chain(json!([{ "name": "key-auth" }]), consumers());
    let mut req = request(
        "GET",
        "/",
        &[
            ("x-api-key", "alice-secret-1"),
            ("x-consumer-name", "mallory"),
        ],
    );
    let mut ctx = ctx();
    assert!(run(&chain, &mut req, &mut ctx).await.is_ok());
    assert_eq!(ctx.consumer_name(), Some("alice"));
    assert_eq!(ctx.credential.as_deref(), Some("alice-key"));
    // The spoofed identity header is replaced by the real one; the key stays (not hidden).
    assert_eq!(req.parts.headers["x-consumer-name"], "alice");
    assert_eq!(req.parts.headers["x-consumer-groups"], "pro");
    assert!(req.parts.headers.contains_key("x-api-key"));
}

#[tokio::test]
async fn missing_or_wrong_key_is_401_with_challenge() {
    let chain = chain(json!([{ "name": "key-auth" }]), consumers());
    for headers in [vec![], vec![("x-api-key", "nope-nope-nope")]] {
        let mut req = request("GET", "/", &headers);
        let err = match run(&chain, &mut req, &mut ctx()).await {
            Err(e) => e,
            Ok(_) => panic!("accepted {headers:?}"),
        };
        assert_eq!(err.status, 401);
        assert_eq!(err.code, "unauthorized");
        let challenge = err.headers.iter().find(|(k, _)| k == "www-authenticate");
        assert_eq!(
            challenge.map(|(_, v)| v.as_bytes()),
            Some(&b"Key realm=\"pylon\""[..])
        );
    }
}

#[tokio::test]
async fn query_and_cookie_keys_are_hidden_when_asked() {
    let chain = chain(
        json!([{ "name": "key-auth", "config": { "key_names": ["apikey"], "sources": ["cookie", "query"], "hide_credentials": true } }]),
        consumers(),
    );
    let mut req = request("GET", "/x?apikey=alice-secret-1&a=1", &[]);
    let mut ctx = ctx();
    assert!(run(&chain, &mut req, &mut ctx).await.is_ok());
    assert_eq!(ctx.consumer_name(), Some("alice"));
    assert_eq!(req.parts.uri.to_string(), "/x?a=1");

    let mut req = request("GET", "/x", &[("cookie", "apikey=alice-secret-1; other=1")]);
    let mut ctx = crate::testing::ctx();
    assert!(run(&chain, &mut req, &mut ctx).await.is_ok());
    assert_eq!(req.parts.headers["cookie"], "other=1");
    // A header is not a configured source here.
    let mut req = request("GET", "/x", &[("apikey", "alice-secret-1")]);
    assert!(
        run(&chain, &mut req, &mut crate::testing::ctx())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn anonymous_consumer_only_without_a_key() {
    let chain = chain(
        json!([{ "name": "key-auth", "config": { "anonymous": "guest" } }]),
        consumers(),
    );
    let mut req = request("GET", "/", &[]);
    let mut ctx = ctx();
    assert!(run(&chain, &mut req, &mut ctx).await.is_ok());
    assert_eq!(ctx.consumer_name(), Some("guest"));
    assert_eq!(req.parts.headers["x-anonymous-consumer"], "true");
    let mut req = request("GET", "/", &[("x-api-key", "wrong-key-123")]);
    assert!(
        run(&chain, &mut req, &mut crate::testing::ctx())
            .await
            .is_err()
    );
}

#[test]
fn bad_config_names_the_field() {
    let errs = config_errors(
        json!([{ "name": "key-auth", "config": { "key_names": ["bad header"] } }]),
        json!({}),
    );
    assert_eq!(
        errs,
        vec!["routes[0].policies[0].config.key_names[0]: `bad header` is not a valid header name"]
    );
    let errs = config_errors(
        json!([{ "name": "key-auth", "config": { "keynames": [] } }]),
        json!({}),
    );
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("routes[0].policies[0].config.keynames: unknown field `keynames`"),
        "{errs:?}"
    );
    let errs = config_errors(
        json!([{ "name": "key-auth", "config": { "anonymous": "nobody" } }]),
        json!({}),
    );
    assert_eq!(
        errs,
        vec!["routes[0].policies: anonymous consumer `nobody` is not defined"]
    );
    let errs = config_errors(json!([{ "name": "no-such" }]), json!({}));
    assert!(
        errs[0].starts_with("routes[0].policies[0].name: unknown policy `no-such`"),
        "{errs:?}"
    );
}

#[tokio::test]
async fn sdk_style_headers_map_to_the_same_consumer() {
    let cfg = json!([{ "name": "key-auth", "config": { "key_names": ["authorization", "x-api-key", "api-key"] } }]);
    let chain = chain(cfg, consumers());
    for headers in [
        vec![("authorization", "Bearer alice-secret-1")],
        vec![("authorization", "bearer   alice-secret-1 ")],
        vec![("x-api-key", "alice-secret-1")],
        vec![("api-key", "alice-secret-1")],
        // Another scheme in Authorization is not a key: the next header is used.
        vec![
            ("authorization", "Basic YWxpY2U6eA=="),
            ("api-key", "alice-secret-1"),
        ],
    ] {
        let mut req = request("POST", "/v1/chat/completions", &headers);
        let mut ctx = ctx();
        assert!(run(&chain, &mut req, &mut ctx).await.is_ok(), "{headers:?}");
        assert_eq!(ctx.consumer_name(), Some("alice"), "{headers:?}");
    }
    let mut req = request("GET", "/", &[("authorization", "Basic YWxpY2U6eA==")]);
    let Err(err) = run(&chain, &mut req, &mut ctx()).await else {
        panic!("no key given")
    };
    assert_eq!(err.status, 401);
    let mut req = request("GET", "/", &[("authorization", "Bearer wrong-key-000")]);
    let Err(err) = run(&chain, &mut req, &mut ctx()).await else {
        panic!("wrong key")
    };
    assert_eq!(err.status, 401);
}
