//! Object endpoints of the admin API through the real binary: services (lifecycle),
//! routes, upstreams, consumers, consumer groups, credentials and policies at three
//! levels, with their 404/409/412/422/428 answers, publish into live traffic, and the
//! audit trail. Pylon runs without `--config` on a temp store (see `common_admin`).

mod common_admin;
mod common_http;

use common_admin::{Node, TOKEN};
use common_http::bounded;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn detail_paths(body: &Value) -> Vec<String> {
    body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|x| x["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn post(
    node: &Node,
    path: &str,
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    node.call(Method::POST, path, Some(TOKEN), None, Some(&body))
        .await
}

async fn put(node: &Node, path: &str, tag: Option<&str>, body: Value) -> (StatusCode, Value) {
    let (s, _, b) = node
        .call(Method::PUT, path, Some(TOKEN), tag, Some(&body))
        .await;
    (s, b)
}

#[tokio::test]
async fn services_routes_upstreams_with_etags_lifecycle_and_publish() {
    bounded(120, async {
        let node = Node::start(Some(TOKEN)).await;
        let (s, h, svc) = post(&node, "/api/v1/services", json!({"name": "billing", "description": "Bills"})).await;
        assert_eq!(s, StatusCode::CREATED, "{svc}");
        assert_eq!(svc["item"]["owner"], "admin", "the creator owns it");
        assert_eq!(svc["tenant"], "default");
        assert_eq!(h.get("etag").and_then(|v| v.to_str().ok()), svc["etag"].as_str());
        assert_eq!(h.get("location").and_then(|v| v.to_str().ok()), Some("/api/v1/services/billing"));

        // 409: name taken; 409: a service cannot start retired; 422: bad name, unknown field.
        let (s, _, b) = post(&node, "/api/v1/services", json!({"name": "billing"})).await;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "already_exists"), "{b}");
        let (s, _, b) = post(&node, "/api/v1/services", json!({"name": "old", "lifecycle": "retired"})).await;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "invalid_transition"), "{b}");
        let (s, _, b) = post(&node, "/api/v1/services", json!({"name": "bad name!"})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(detail_paths(&b), ["services[1].name"]);
        let (s, _, b) = post(&node, "/api/v1/services", json!({"name": "x", "colour": "red"})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(detail_paths(&b)[0].starts_with("services[1]"), "{b}");
        let (s, _, b) = post(&node, "/api/v1/services", json!(["not", "an", "object"])).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

        // Reads: 200 with the ETag, 404 for unknown names.
        let tag = node.etag("/api/v1/services/billing").await;
        assert_eq!(Some(tag.as_str()), svc["etag"].as_str());
        let (s, _, b) = node.get("/api/v1/services/nope").await;
        assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));

        // Writes need the current ETag: 428 without, 412 when stale; renames are refused.
        let deprecated = json!({"name": "billing", "lifecycle": "deprecated"});
        let (s, b) = put(&node, "/api/v1/services/billing", None, deprecated.clone()).await;
        assert_eq!((s, code(&b)), (StatusCode::PRECONDITION_REQUIRED, "precondition_required"));
        let (s, b) = put(&node, "/api/v1/services/billing", Some("\"0000\""), deprecated.clone()).await;
        assert_eq!((s, code(&b)), (StatusCode::PRECONDITION_FAILED, "precondition_failed"));
        let (s, b) = put(&node, "/api/v1/services/billing", Some(&tag), json!({"name": "renamed"})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(detail_paths(&b), ["services[0].name"]);
        let (s, b) = put(&node, "/api/v1/services/billing", Some(&tag), deprecated).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["item"]["owner"], "admin", "the owner is kept when the body omits it");
        let tag2 = b["etag"].as_str().expect("etag").to_owned();
        assert_ne!(tag, tag2);
        let (s, b) = put(&node, "/api/v1/services/billing", Some(&tag2), json!({"name": "billing", "lifecycle": "draft"})).await;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "invalid_transition"), "{b}");

        // Upstreams and routes; validation is the whole config's.
        let (s, _, b) = post(&node, "/api/v1/upstreams", json!({"name": "up1", "targets": [{"address": "127.0.0.1:9"}]})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, _, b) = post(&node, "/api/v1/upstreams", json!({"name": "up2", "targets": []})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(detail_paths(&b), ["upstreams[1].targets"]);
        let hello = json!({"name": "hello", "service": "billing", "match": {"paths": [{"exact": "/hello"}]},
            "respond": {"body": "hi"}});
        let (s, _, b) = post(&node, "/api/v1/routes", hello).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, _, b) = post(&node, "/api/v1/routes", json!({"name": "r2", "match": {}, "upstream": "missing"})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(detail_paths(&b), ["routes[1].upstream"]);
        let (_, _, b) = node.get("/api/v1/services/billing").await;
        assert_eq!(b["related"]["routes"], json!(["hello"]));

        // Filters and pages.
        let (_, _, b) = node.get("/api/v1/routes?service=billing").await;
        assert_eq!(b["total"], 1);
        let (_, _, b) = node.get("/api/v1/routes?service=other").await;
        assert_eq!(b["total"], 0);
        let (s, _, b) = node.get("/api/v1/routes?colour=red").await;
        assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "bad_request"));
        for name in ["g1", "g2", "g3"] {
            let (s, _, b) = post(&node, "/api/v1/consumer_groups", json!({"name": name})).await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
        }
        let (_, _, b) = node.get("/api/v1/consumer_groups?per_page=2&page=2").await;
        assert_eq!((b["total"].as_u64(), b["items"][0]["item"]["name"].as_str()), (Some(3), Some("g3")));

        // Publish: the route serves; a deprecated service still serves, a retired one 410s.
        node.publish("billing").await;
        assert_eq!(node.proxy_status("/hello").await, 200);
        let tag3 = node.etag("/api/v1/services/billing").await;
        let (s, b) = put(&node, "/api/v1/services/billing", Some(&tag3), json!({"name": "billing", "lifecycle": "retired"})).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        node.publish("retire billing").await;
        assert_eq!(node.proxy_status("/hello").await, 410);

        // Deleting a service that routes still use fails validation; in order it works.
        let tag4 = node.etag("/api/v1/services/billing").await;
        let (s, _, b) = node.call(Method::DELETE, "/api/v1/services/billing", Some(TOKEN), Some(&tag4), None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(detail_paths(&b), ["routes[0].service"]);
        let (s, _, _) = node.call(Method::DELETE, "/api/v1/routes/hello", Some(TOKEN), None, None).await;
        assert_eq!(s, StatusCode::PRECONDITION_REQUIRED);
        let rtag = node.etag("/api/v1/routes/hello").await;
        node.expect(204, Method::DELETE, "/api/v1/routes/hello", TOKEN, Some(&rtag), None).await;
        node.expect(204, Method::DELETE, "/api/v1/services/billing", TOKEN, Some(&tag4), None).await;
        assert_eq!(node.get("/api/v1/services/billing").await.0, StatusCode::NOT_FOUND);

        // Every write is in the audit log with before and after.
        let (_, _, log) = node.get("/api/v1/audit?object_kind=service&object_id=billing").await;
        let actions: Vec<&str> = log["items"].as_array().expect("items").iter().filter_map(|e| e["action"].as_str()).collect();
        assert_eq!(actions, ["delete", "update", "update", "create"], "{log}");
        let create = &log["items"][3];
        assert_eq!((create["actor"].as_str(), create["tenant"].as_str()), (Some("admin"), Some("default")));
        assert!(create["before"].is_null());
        assert_eq!(create["after"]["name"], "billing");
        assert_eq!(log["items"][0]["before"]["lifecycle"], "retired");
    })
    .await;
}

#[tokio::test]
async fn consumers_credentials_and_policies_at_three_levels() {
    bounded(120, async {
        let node = Node::start(Some(TOKEN)).await;
        post(&node, "/api/v1/consumer_groups", json!({"name": "pro"})).await;
        let (s, _, b) = post(&node, "/api/v1/consumers", json!({"name": "alice", "groups": ["pro"]})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let short = json!({"name": "bob", "credentials": [{"type": "key_auth", "key": "short"}]});
        let (s, _, b) = post(&node, "/api/v1/consumers", short).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(detail_paths(&b), ["consumers[1].credentials[0].key"]);

        // A key-auth credential without a key: one is generated, shown once, stored hashed.
        let (s, _, cred) = post(&node, "/api/v1/consumers/alice/credentials", json!({"type": "key_auth"})).await;
        assert_eq!(s, StatusCode::CREATED, "{cred}");
        let key = cred["once"]["key"].as_str().expect("the key, once").to_owned();
        assert!(key.starts_with("pk_") && key.len() > 40, "{key}");
        let id = cred["item"]["id"].as_str().expect("an id").to_owned();
        assert!(id.starts_with("cred_"), "{id}");
        assert_eq!(cred["item"]["key_sha256"], hex::encode(Sha256::digest(key.as_bytes())));
        assert!(cred["item"].get("key").is_none(), "{cred}");
        let (_, _, again) = node.get(&format!("/api/v1/consumers/alice/credentials/{id}")).await;
        assert!(again.get("once").is_none() && !again.to_string().contains(&key), "{again}");
        let (_, _, draft) = node.get("/api/v1/config/draft").await;
        assert!(!draft.to_string().contains(&key), "the clear key is stored nowhere");

        // Basic auth: the password is stored as an argon2 hash.
        let (s, _, b) = post(&node, "/api/v1/consumers/alice/credentials",
            json!({"type": "basic_auth", "username": "alice", "password": "pw-alice-123"})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert!(b["item"]["password_hash"].as_str().is_some_and(|h| h.starts_with("$argon2")), "{b}");
        assert!(!b.to_string().contains("pw-alice-123"));
        // A JWT secret is encrypted at rest: without a master key it is refused.
        let (s, _, b) = post(&node, "/api/v1/consumers/alice/credentials",
            json!({"type": "jwt", "key": "issuer-1", "secret": "hs-secret"})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(detail_paths(&b), ["consumers[0].credentials[2].secret"]);
        let (s, _, b) = post(&node, "/api/v1/consumers/nobody/credentials", json!({"type": "key_auth"})).await;
        assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
        let (_, _, list) = node.get("/api/v1/consumers/alice/credentials?type=basic_auth").await;
        assert_eq!(list["total"], 1);

        // Policies: route level (key-auth), service level, global (CORS).
        post(&node, "/api/v1/services", json!({"name": "shop"})).await;
        let secure = json!({"name": "secure", "service": "shop", "match": {"paths": [{"exact": "/secure"}]},
            "respond": {"body": "ok"}});
        assert_eq!(post(&node, "/api/v1/routes", secure).await.0, StatusCode::CREATED);
        let (s, _, b) = post(&node, "/api/v1/routes/secure/policies", json!({"name": "key-auth"})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (s, _, b) = post(&node, "/api/v1/routes/secure/policies", json!({"name": "key-auth"})).await;
        assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "already_exists"));
        let (s, _, b) = post(&node, "/api/v1/routes/secure/policies", json!({"name": "no-such-policy"})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert!(detail_paths(&b).iter().all(|p| p.starts_with("routes[0].policies[1]")), "{b}");
        let header_policy = json!({"name": "response-transformer", "config": {"headers": {"set": {"x-shop": "1"}}}});
        let (s, _, b) = post(&node, "/api/v1/services/shop/policies", header_policy).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let cors = json!({"name": "cors", "config": {"allow_origins": ["https://app.example.com"]}});
        let (s, _, b) = post(&node, "/api/v1/policies", cors).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (_, _, b) = node.get("/api/v1/services/shop/policies/response-transformer").await;
        assert_eq!(b["tenant"], "default");

        node.publish("policies").await;
        assert_eq!(node.proxy_status("/secure").await, 401, "key-auth on the route");
        let resp = reqwest::Client::new()
            .get(node.ports.url("/secure"))
            .header("x-api-key", &key)
            .header("origin", "https://app.example.com")
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers().get("x-shop").map(|v| v.as_bytes()), Some(&b"1"[..]), "service policy");
        assert!(resp.headers().contains_key("access-control-allow-origin"), "global policy");

        // Deleting the credential locks alice out after the next publish.
        let tag = node.etag(&format!("/api/v1/consumers/alice/credentials/{id}")).await;
        node.expect(204, Method::DELETE, &format!("/api/v1/consumers/alice/credentials/{id}"), TOKEN, Some(&tag), None).await;
        node.publish("revoke key").await;
        let s = reqwest::Client::new().get(node.ports.url("/secure")).header("x-api-key", &key).send().await.expect("request").status();
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    })
    .await;
}

/// Virtual keys: a create without a key gets one, shown once and stored as its SHA-256;
/// an update that names no key keeps it; `"rotate": true` issues a new one, shown once.
#[tokio::test]
async fn virtual_keys_are_shown_once_kept_and_rotated() {
    bounded(60, async {
        let node = Node::start(Some(TOKEN)).await;
        let (s, _, vk) = post(
            &node,
            "/api/v1/ai/virtual-keys",
            json!({"name": "app", "team": "search"}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{vk}");
        let key = vk["once"]["key"]
            .as_str()
            .expect("the key, once")
            .to_owned();
        assert!(key.starts_with("sk-pylon-") && key.len() > 50, "{key}");
        let hash = hex::encode(Sha256::digest(key.as_bytes()));
        assert_eq!(vk["item"]["key_sha256"], hash.as_str());
        assert!(vk["item"].get("key").is_none(), "{vk}");
        let (_, _, draft) = node.get("/api/v1/config/draft").await;
        assert!(
            !draft.to_string().contains(&key),
            "the clear key is stored nowhere"
        );

        let item = "/api/v1/ai/virtual-keys/app";
        let tag = node.etag(item).await;
        let (s, b) = put(
            &node,
            item,
            Some(&tag),
            json!({"name": "app", "team": "ads"}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(
            (b["item"]["key_sha256"].as_str(), b.get("once")),
            (Some(hash.as_str()), None)
        );

        let tag = node.etag(item).await;
        let (s, b) = put(
            &node,
            item,
            Some(&tag),
            json!({"name": "app", "rotate": true}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let rotated = b["once"]["key"].as_str().expect("the new key, once");
        assert_ne!(rotated, key);
        assert_eq!(
            b["item"]["key_sha256"],
            hex::encode(Sha256::digest(rotated.as_bytes()))
        );
        let (s, b) = put(
            &node,
            item,
            Some(&node.etag(item).await),
            json!({"name": "app", "rotate": "yes"}),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    })
    .await;
}
