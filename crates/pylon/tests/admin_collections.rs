//! Every object collection of the admin API, table-driven through the real binary: 201,
//! 200, 401, 403 (viewer), 404, 409 (key taken), 412 (stale If-Match), 422 (invalid, with
//! the field path), 428 (no If-Match), 204 on delete. The node has a master key, so secret
//! fields (the certificate's private key) can be stored.

mod common_admin;
mod common_http;

use base64::Engine as _;
use common_admin::{Node, TOKEN};
use common_http::bounded;
use reqwest::Method;
use serde_json::{Value, json};

struct Case {
    url: &'static str,
    key: &'static str,
    valid: Value,
    invalid: Value,
    /// Prefix of the 422's first detail path.
    invalid_path: &'static str,
}

fn cases() -> Vec<Case> {
    let cert = rcgen::generate_simple_self_signed(vec!["c.example.test".to_owned()]).expect("cert");
    let cors = json!({"name": "cors", "config": {"allow_origins": ["https://a.example"]}});
    vec![
        Case {
            url: "/api/v1/services",
            key: "s1",
            valid: json!({"name": "s1"}),
            invalid: json!({"name": "s2", "lifecycle": "bogus"}),
            invalid_path: "services[1].lifecycle",
        },
        Case {
            url: "/api/v1/routes",
            key: "r1",
            valid: json!({"name": "r1", "service": "s1", "match": {}, "respond": {}}),
            invalid: json!({"name": "r2", "match": {}, "upstream": "nope"}),
            invalid_path: "routes[1].upstream",
        },
        Case {
            url: "/api/v1/upstreams",
            key: "u1",
            valid: json!({"name": "u1", "targets": [{"address": "127.0.0.1:9"}]}),
            invalid: json!({"name": "u2", "targets": [{"address": "nowhere:port"}]}),
            invalid_path: "upstreams[1].targets[0]",
        },
        Case {
            url: "/api/v1/consumer_groups",
            key: "g1",
            valid: json!({"name": "g1"}),
            invalid: json!({"name": "g 2"}),
            invalid_path: "consumer_groups[1].name",
        },
        Case {
            url: "/api/v1/consumers",
            key: "c1",
            valid: json!({"name": "c1", "groups": ["g1"]}),
            invalid: json!({"name": "c2", "credentials": "none"}),
            invalid_path: "consumers[1].credentials",
        },
        Case {
            url: "/api/v1/consumers/c1/credentials",
            key: "k1",
            valid: json!({"id": "k1", "type": "key_auth", "key": "0123456789abcdef"}),
            invalid: json!({"id": "k2", "type": "nope"}),
            invalid_path: "consumers[0].credentials[1]",
        },
        Case {
            url: "/api/v1/policies",
            key: "cors",
            valid: cors.clone(),
            invalid: json!({"name": "no-such-policy"}),
            invalid_path: "policies[1]",
        },
        Case {
            url: "/api/v1/services/s1/policies",
            key: "cors",
            valid: cors.clone(),
            invalid: json!({"name": "rate-limit", "config": {"bogus": 1}}),
            invalid_path: "services[0].policies[1]",
        },
        Case {
            url: "/api/v1/routes/r1/policies",
            key: "cors",
            valid: cors,
            invalid: json!({"name": "cors", "enabled": "yes"}),
            invalid_path: "routes[0].policies[1].enabled",
        },
        Case {
            url: "/api/v1/certificates",
            key: "api",
            valid: json!({"name": "api", "cert_pem": cert.cert.pem(), "key_pem": cert.signing_key.serialize_pem()}),
            invalid: json!({"name": "bad", "cert_pem": "not pem", "key_pem": "not pem"}),
            invalid_path: "certificates[1].cert_pem",
        },
        Case {
            url: "/api/v1/ai/providers",
            key: "oai",
            valid: json!({"name": "oai", "kind": "openai", "keys": [PROVIDER_KEY]}),
            invalid: json!({"name": "bad", "kind": "openai", "base_url": "ftp://x"}),
            invalid_path: "ai.providers[1].base_url",
        },
        Case {
            url: "/api/v1/ai/models",
            key: "smart",
            valid: json!({"name": "smart", "deployments": [{"provider": "oai", "model": "gpt-4o"}]}),
            invalid: json!({"name": "dumb", "deployments": [{"provider": "ghost", "model": "x"}]}),
            invalid_path: "ai.models[1].deployments[0].provider",
        },
        Case {
            url: "/api/v1/ai/virtual-keys",
            key: "app",
            valid: json!({"name": "app", "team": "search", "models": ["smart"], "limits": {"rpm": 60}}),
            invalid: json!({"name": "old", "expires_at": "soon"}),
            invalid_path: "ai.virtual_keys[1].expires_at",
        },
        Case {
            url: "/api/v1/ai/budgets",
            key: "team",
            valid: json!({"name": "team", "scope": {"team": "search"}, "amount_usd": 100.0}),
            invalid: json!({"name": "free", "amount_usd": -1.0}),
            invalid_path: "ai.budgets[1].amount_usd",
        },
        Case {
            url: "/api/v1/ai/limits",
            key: "tpm",
            valid: json!({"name": "tpm", "scope": {"model": "smart"}, "tpm": 100000}),
            invalid: json!({"name": "none", "scope": {}}),
            invalid_path: "ai.limits[1]",
        },
    ]
}

/// A provider key written through the API: it must never be read back.
const PROVIDER_KEY: &str = "sk-provider-secret-0123456789";

fn first_path(b: &Value) -> String {
    b["error"]["details"][0]["path"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn every_collection_answers_every_status() {
    bounded(180, async {
        let key = base64::engine::general_purpose::STANDARD.encode([5u8; 32]);
        let node = Node::start_with(Some(TOKEN), &[("PYLON_MASTER_KEY", &key)]).await;
        let (_, viewer) = node.user("vera", &[("default", "viewer")]).await;
        let cases = cases();
        for c in &cases {
            let item = format!("{}/{}", c.url, c.key);
            // 401 and 403 before anything exists.
            let (s, _, b) = node.call(Method::GET, c.url, None, None, None).await;
            assert_eq!(s.as_u16(), 401, "{}: {b}", c.url);
            node.expect(403, Method::POST, c.url, &viewer, None, Some(&c.valid))
                .await;
            // Create, 409 on the same key, 422 with the failing path.
            let (h, created) = node
                .expect(201, Method::POST, c.url, TOKEN, None, Some(&c.valid))
                .await;
            assert!(
                h.contains_key("etag") && h.contains_key("location"),
                "{}",
                c.url
            );
            assert_eq!(
                created["item"]
                    .get("key_pem")
                    .map(|k| k.get("$fingerprint").is_some()),
                c.valid.get("key_pem").map(|_| true)
            );
            assert_eq!(
                created["item"]
                    .get("keys")
                    .map(|k| k[0].get("$fingerprint").is_some()),
                c.valid.get("keys").map(|_| true),
                "{}: provider keys read back as fingerprints",
                c.url
            );
            assert!(!created.to_string().contains(PROVIDER_KEY), "{created}");
            let (_, b) = node
                .expect(409, Method::POST, c.url, TOKEN, None, Some(&c.valid))
                .await;
            assert_eq!(b["error"]["code"], "already_exists");
            let (_, b) = node
                .expect(422, Method::POST, c.url, TOKEN, None, Some(&c.invalid))
                .await;
            assert!(first_path(&b).starts_with(c.invalid_path), "{}: {b}", c.url);
            // Reads: 200 (viewer too), 404; the list has it.
            let (h, got) = node
                .expect(200, Method::GET, &item, &viewer, None, None)
                .await;
            let tag = h
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .expect("etag")
                .to_owned();
            assert_eq!(got["etag"], tag.as_str());
            node.expect(
                404,
                Method::GET,
                &format!("{}/nope", c.url),
                TOKEN,
                None,
                None,
            )
            .await;
            let (_, list) = node
                .expect(200, Method::GET, c.url, TOKEN, None, None)
                .await;
            assert_eq!(list["total"], 1, "{}: {list}", c.url);
            assert!(!list.to_string().contains(PROVIDER_KEY), "{list}");
            // Writes: 428 without If-Match, 412 when stale, 403 for the viewer, 200 with it.
            let body = got["item"].clone();
            node.expect(428, Method::PUT, &item, TOKEN, None, Some(&body))
                .await;
            node.expect(
                412,
                Method::PUT,
                &item,
                TOKEN,
                Some("\"0000000000000000\""),
                Some(&body),
            )
            .await;
            node.expect(403, Method::PUT, &item, &viewer, Some(&tag), Some(&body))
                .await;
            node.expect(
                404,
                Method::PUT,
                &format!("{}/nope", c.url),
                TOKEN,
                Some("*"),
                Some(&body),
            )
            .await;
            let (_, put) = node
                .expect(200, Method::PUT, &item, TOKEN, Some(&tag), Some(&body))
                .await;
            assert_eq!(
                put["item"], got["item"],
                "{}: a read written back changes nothing",
                c.url
            );
        }
        node.publish("every collection").await;
        // Deletes, children first: 428, 412, 403, then 204 and 404.
        for c in cases.iter().rev() {
            let item = format!("{}/{}", c.url, c.key);
            let tag = node.etag(&item).await;
            node.expect(428, Method::DELETE, &item, TOKEN, None, None)
                .await;
            node.expect(
                412,
                Method::DELETE,
                &item,
                TOKEN,
                Some("\"0000000000000000\""),
                None,
            )
            .await;
            node.expect(403, Method::DELETE, &item, &viewer, Some(&tag), None)
                .await;
            node.expect(204, Method::DELETE, &item, TOKEN, Some(&tag), None)
                .await;
            node.expect(404, Method::GET, &item, TOKEN, None, None)
                .await;
        }
        let (_, log) = node
            .expect(
                200,
                Method::GET,
                "/api/v1/audit?action=delete",
                TOKEN,
                None,
                None,
            )
            .await;
        assert_eq!(
            log["items"].as_array().map(Vec::len),
            Some(cases.len()),
            "{log}"
        );
    })
    .await;
}
