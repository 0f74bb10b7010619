//! Authentication and authorization policies through the real binary, in
//! front of the testkit echo upstream: key-auth and basic-auth on one route,
//! acl by group, jwt against a JWKS served by a mock, and OAuth2 token
//! introspection against a mock authorization server.

mod common_http;

use base64::Engine as _;
use common_http::*;
use http::Method;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use pylon_testkit::{CannedResponse, EchoServer, FullResponse, StatusServer};
use serde_json::{Value, json};

const RSA1: &str = include_str!("../../pylon-policy/testdata/jwt/rsa1.key");

async fn get(url: &str, headers: &[(&str, &str)]) -> FullResponse {
    call(Method::GET, url, headers, "").await
}

fn basic(user: &str, pw: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
    format!("Basic {b64}")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

fn json_response(v: &Value) -> CannedResponse {
    CannedResponse::new(200)
        .and_then(|r| r.header("content-type", "application/json"))
        .expect("canned")
        .body(v.to_string())
}

fn with_routes(
    ports: &Ports,
    echo: std::net::SocketAddr,
    routes: Value,
    consumers: Value,
) -> Value {
    let mut cfg = base_config(ports);
    cfg["upstreams"] = json!([upstream("echo", echo)]);
    cfg["consumers"] = consumers;
    cfg["routes"] = routes;
    cfg
}

#[tokio::test]
async fn key_auth_or_basic_auth_then_acl_by_group() {
    bounded(60, async {
        let echo = EchoServer::start().await.expect("echo");
        let addr = echo.addr();
        let hash = bcrypt_hash();
        let (_process, ports) = start_pylon(|p| {
            with_routes(
                p,
                addr,
                json!([
                    { "name": "either", "match": { "paths": [{ "prefix": "/either" }] }, "upstream": "echo",
                      "policies": [{ "name": "key-auth" }, { "name": "basic-auth", "config": { "hide_credentials": true } }] },
                    { "name": "pro", "match": { "paths": [{ "prefix": "/pro" }] }, "upstream": "echo",
                      "policies": [{ "name": "key-auth" }, { "name": "acl", "config": { "allow": ["pro"] } }] },
                ]),
                json!([
                    { "name": "alice", "groups": ["pro"], "credentials": [{ "type": "key_auth", "key": "alice-secret-key" }] },
                    { "name": "bob", "groups": ["free"], "credentials": [
                        { "type": "key_auth", "key": "bob-secret-key1" },
                        { "type": "basic_auth", "id": "bob-basic", "username": "bob", "password_hash": hash }] },
                ]),
            )
        })
        .await;

        // Neither credential: one 401 carrying both challenges.
        let resp = get(&ports.url("/either"), &[]).await;
        assert_eq!(resp.status, 401, "{}", resp.text());
        let challenge = resp.header("www-authenticate").unwrap_or_default().to_string();
        assert!(challenge.contains("Key realm=\"pylon\""), "{challenge}");
        assert!(challenge.contains("Basic realm=\"pylon\""), "{challenge}");
        assert_eq!(echo.request_count(), 0);

        // Either one works; the upstream sees who it was.
        let resp = get(&ports.url("/either"), &[("x-api-key", "alice-secret-key")]).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(echo.last_request().expect("seen").headers["x-consumer-name"], "alice");
        let resp = get(&ports.url("/either"), &[("authorization", &basic("bob", "bob-pw"))]).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let seen = echo.last_request().expect("seen");
        assert_eq!(seen.headers["x-consumer-name"], "bob");
        assert_eq!(seen.headers["x-credential-id"], "bob-basic");
        assert!(seen.headers.get("authorization").is_none(), "hidden");
        let resp = get(&ports.url("/either"), &[("authorization", &basic("bob", "nope"))]).await;
        assert_eq!(resp.status, 401);

        // acl: alice is in `pro`, bob is not.
        let resp = get(&ports.url("/pro"), &[("x-api-key", "alice-secret-key")]).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let before = echo.request_count();
        let resp = get(&ports.url("/pro"), &[("x-api-key", "bob-secret-key1")]).await;
        assert_eq!(resp.status, 403, "{}", resp.text());
        assert_eq!(resp.json().expect("json")["error"]["code"], "forbidden");
        assert!(!resp.text().contains("pro"), "the rule is not revealed: {}", resp.text());
        assert_eq!(echo.request_count(), before);
    })
    .await;
}

/// A bcrypt hash of bob's password (lowest cost, for speed).
fn bcrypt_hash() -> String {
    bcrypt::hash("bob-pw", 4).expect("bcrypt")
}

#[tokio::test]
async fn jwt_with_a_jwks_server_and_a_claim_rule() {
    bounded(60, async {
        let key = EncodingKey::from_rsa_pem(RSA1.as_bytes()).expect("key");
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).expect("jwk");
        jwk.common.key_id = Some("k1".into());
        let set = serde_json::to_value(JwkSet { keys: vec![jwk] }).expect("jwks");
        let jwks = StatusServer::start_with(json_response(&set)).await.expect("jwks server");
        let jwks_url = jwks.url_for("/.well-known/jwks.json");
        let echo = EchoServer::start().await.expect("echo");
        let addr = echo.addr();
        let (_process, ports) = start_pylon(|p| {
            with_routes(
                p,
                addr,
                json!([{ "name": "api", "match": { "paths": [{ "prefix": "/api" }] }, "upstream": "echo",
                  "policies": [
                    { "name": "jwt", "config": { "jwks_url": jwks_url, "issuers": ["https://idp.test"] } },
                    { "name": "acl", "config": { "claims": [{ "claim": "scope", "contains": "orders:read" }] } },
                  ] }]),
                json!([{ "name": "alice", "custom_id": "user-1" }]),
            )
        })
        .await;
        let token = |exp: i64, scope: &str| {
            let mut h = Header::new(Algorithm::RS256);
            h.kid = Some("k1".into());
            let claims = json!({ "sub": "user-1", "iss": "https://idp.test", "exp": exp, "scope": scope });
            format!("Bearer {}", jsonwebtoken::encode(&h, &claims, &key).expect("sign"))
        };

        let resp = get(&ports.url("/api/x"), &[("authorization", &token(now() + 300, "orders:read profile"))]).await;
        assert_eq!(resp.status, 200, "{}", resp.text());
        let seen = echo.last_request().expect("seen");
        assert_eq!(seen.headers["x-consumer-name"], "alice");
        assert_eq!(seen.headers["x-credential-id"], "k1");

        let resp = get(&ports.url("/api/x"), &[("authorization", &token(now() - 3600, "orders:read"))]).await;
        assert_eq!(resp.status, 401, "{}", resp.text());
        assert_eq!(
            resp.header("www-authenticate"),
            Some("Bearer realm=\"pylon\", error=\"invalid_token\"")
        );
        let resp = get(&ports.url("/api/x"), &[("authorization", &token(now() + 300, "profile"))]).await;
        assert_eq!(resp.status, 403, "{}", resp.text());
        assert_eq!(jwks.request_count(), 1, "the JWKS is fetched once and cached");
    })
    .await;
}

#[tokio::test]
async fn oauth2_introspection_against_a_mock_server() {
    bounded(60, async {
        let idp = StatusServer::start_with(json_response(&json!({
            "active": true, "client_id": "app-1", "exp": now() + 300
        })))
        .await
        .expect("idp");
        let url = idp.url_for("/introspect");
        let echo = EchoServer::start().await.expect("echo");
        let addr = echo.addr();
        let (_process, ports) = start_pylon(|p| {
            with_routes(
                p,
                addr,
                json!([{ "name": "api", "match": { "paths": [{ "prefix": "/api" }] }, "upstream": "echo",
                  "policies": [{ "name": "oauth2-introspection", "config": {
                      "introspection_url": url, "client_id": "pylon", "client_secret": "s3cret", "hide_credentials": true } }] }]),
                json!([{ "name": "orders-app", "custom_id": "app-1" }]),
            )
        })
        .await;

        for _ in 0..2 {
            let resp = get(&ports.url("/api/x"), &[("authorization", "Bearer opaque-1")]).await;
            assert_eq!(resp.status, 200, "{}", resp.text());
            let seen = echo.last_request().expect("seen");
            assert_eq!(seen.headers["x-consumer-name"], "orders-app");
            assert!(seen.headers.get("authorization").is_none());
        }
        assert_eq!(idp.request_count(), 1, "the second request was answered from the cache");

        idp.set_response(json_response(&json!({ "active": false })));
        let resp = get(&ports.url("/api/x"), &[("authorization", "Bearer revoked")]).await;
        assert_eq!(resp.status, 401, "{}", resp.text());

        idp.set_status(500);
        let resp = get(&ports.url("/api/x"), &[("authorization", "Bearer other")]).await;
        assert_eq!(resp.status, 503, "{}", resp.text());
        assert_eq!(resp.json().expect("json")["error"]["code"], "auth_backend_unavailable");
        let (_, metrics) = http_get(&ports.admin_url("/metrics")).await.expect("metrics");
        let errors = metric_sum(
            &metrics,
            "pylon_policy_backend_errors_total",
            &["policy=\"oauth2-introspection\""],
        );
        assert_eq!(errors, Some(1.0), "{metrics}");
    })
    .await;
}
