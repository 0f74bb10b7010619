//! The admin API (`/api/v1`) through the real binary. Pylon runs WITHOUT `--config` (the
//! store is the source of truth) in a temp dir, with its listeners moved to fresh loopback
//! ports by the no-config env overrides (`PYLON_DATA_DIR`, `PYLON_ADMIN_LISTEN`,
//! `PYLON_LISTEN`) and a known bootstrap token (`PYLON_ADMIN_TOKEN`).

mod common_admin;
mod common_http;

use common_admin::{Node, TOKEN};
use common_http::{base_config, bounded, start_pylon};
use pylon_store::Store;
use pylon_store::sql::{Role, TenantRole};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn unauthenticated_and_wrong_tokens_get_401_and_viewers_cannot_write() {
    bounded(60, async {
        let node = Node::start(Some(TOKEN)).await;
        let (s, h, body) = node
            .call(Method::GET, "/api/v1/config/draft", None, None, None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(
            h.get("www-authenticate").map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        assert_eq!(body["error"]["code"], "unauthorized");
        assert_eq!(body["error"]["status"], 401);
        let wrong = "pyl_not-the-right-token-0123456789abcdefghij";
        let (s, _, body) = node
            .call(Method::GET, "/api/v1/audit", Some(wrong), None, None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"]["code"], "unauthorized");
        // Unknown paths under /api/v1 do not answer without auth either.
        let (s, _, _) = node
            .call(Method::GET, "/api/v1/nope", None, None, None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // A viewer, created in the node's own SQLite store.
        let store = Store::open(&node.db_url())
            .await
            .expect("open the node's store");
        let user = store
            .auth()
            .create_user("vera", &[TenantRole::new("default", Role::Viewer)])
            .await
            .expect("viewer");
        let tok = store
            .auth()
            .create_token(&user.id, "test", None)
            .await
            .expect("token");
        let viewer = tok.token.expose();
        let (s, h, draft) = node
            .call(
                Method::GET,
                "/api/v1/config/draft",
                Some(viewer),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{draft}");
        let etag = h
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("etag")
            .to_owned();
        let (s, _, body) = node
            .call(
                Method::PUT,
                "/api/v1/config/draft",
                Some(viewer),
                Some(&etag),
                Some(&draft["document"]),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["error"]["code"], "forbidden");
        let (s, _, _) = node
            .call(
                Method::POST,
                "/api/v1/config/publish",
                Some(viewer),
                None,
                Some(&json!({"message": "x"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _, _) = node
            .call(
                Method::POST,
                "/api/v1/config/versions/1/rollback",
                Some(viewer),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    })
    .await;
}

#[tokio::test]
async fn draft_publish_diff_rollback_and_audit() {
    bounded(90, async {
        let mut node = Node::start(Some(TOKEN)).await;
        // The empty store seeded the draft with the (env-adjusted) embedded default.
        let (s, h, draft) = node.get("/api/v1/config/draft").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(draft["version"], 1);
        assert_eq!(h.get("etag").map(|v| v.as_bytes()), Some(&b"\"1\""[..]));
        let base = draft["document"].clone();

        // Version 1: the starting point, without the route.
        let (s, _, v1) = node
            .call(
                Method::POST,
                "/api/v1/config/publish",
                Some(TOKEN),
                None,
                Some(&json!({"message": "baseline"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v1}");
        assert_eq!(v1["number"], 1);

        let mut with_route = base.clone();
        with_route["routes"] = json!([{"name": "hello", "match": {"paths": [{"exact": "/hello"}]},
            "respond": {"body": "hi"}}]);
        let put = |m: Option<&'static str>, doc: Value| {
            let node = &node;
            async move {
                node.call(
                    Method::PUT,
                    "/api/v1/config/draft",
                    Some(TOKEN),
                    m,
                    Some(&doc),
                )
                .await
            }
        };
        let (s, _, body) = put(None, with_route.clone()).await;
        assert_eq!(s, StatusCode::PRECONDITION_REQUIRED, "{body}");
        let (s, _, body) = put(Some("\"0\""), with_route.clone()).await;
        assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{body}");
        assert_eq!(body["error"]["code"], "precondition_failed");

        let mut invalid = base.clone();
        invalid["routes"] =
            json!([{"name": "bad", "match": {"paths": [{"exact": "/x"}]}, "upstream": "missing"}]);
        invalid["listeners"][0]["bind"] = json!("not-an-address");
        let (s, _, body) = put(Some("\"1\""), invalid).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "validation_failed");
        let paths: Vec<&str> = body["error"]["details"]
            .as_array()
            .expect("details")
            .iter()
            .filter_map(|d| d["path"].as_str())
            .collect();
        assert!(
            paths.iter().any(|p| p.starts_with("routes[0]")),
            "{paths:?}"
        );
        assert!(
            paths.iter().any(|p| p.starts_with("listeners[0]")),
            "{paths:?}"
        );
        // Nothing was stored: the draft is still at version 1.
        assert_eq!(node.get("/api/v1/config/draft").await.2["version"], 1);

        let (s, h, body) = put(Some("\"1\""), with_route.clone()).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        assert_eq!(h.get("etag").map(|v| v.as_bytes()), Some(&b"\"2\""[..]));
        assert_eq!(
            node.proxy_status("/hello").await,
            404,
            "not live before publish"
        );

        let (s, _, v2) = node
            .call(
                Method::POST,
                "/api/v1/config/publish",
                Some(TOKEN),
                None,
                Some(&json!({"message": "add hello"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v2}");
        assert_eq!(v2["number"], 2);
        assert_eq!(v2["message"], "add hello");
        assert_eq!(v2["author"], "admin");
        assert_eq!(
            node.proxy_status("/hello").await,
            200,
            "the published route serves"
        );

        // A restart without --config starts on the store's active version (2), not on
        // the embedded default; no second bootstrap token is printed.
        node.restart().await;
        assert_eq!(
            node.proxy_status("/hello").await,
            200,
            "served after restart"
        );
        assert!(
            !node.stderr().contains("bootstrap token"),
            "{}",
            node.stderr()
        );

        let (s, _, list) = node.get("/api/v1/config/versions?page=1&per_page=10").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list["total"], 2);
        assert_eq!(list["items"][0]["number"], 2);
        let (s, _, one) = node.get("/api/v1/config/versions/2").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(one["document"]["routes"][0]["name"], "hello");
        let (s, _, _) = node.get("/api/v1/config/versions/99").await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _, body) = node.get("/api/v1/config/diff?from=1").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["error"]["code"], "bad_request",
            "JSON error shape: {body}"
        );
        let (s, _, diff) = node.get("/api/v1/config/diff?from=1&to=2").await;
        assert_eq!(s, StatusCode::OK, "{diff}");
        let changed: Vec<&str> = diff["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter_map(|c| c["path"].as_str())
            .collect();
        assert!(
            changed.iter().any(|p| p.starts_with("/routes")),
            "{changed:?}"
        );

        let (s, _, v3) = node
            .call(
                Method::POST,
                "/api/v1/config/versions/1/rollback",
                Some(TOKEN),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v3}");
        assert_eq!(v3["number"], 3);
        assert_eq!(v3["rollback_of"], 1);
        assert_eq!(
            node.proxy_status("/hello").await,
            404,
            "the route is gone again"
        );
        assert_eq!(node.get("/api/v1/config/versions").await.2["total"], 3);

        let (s, _, audit) = node
            .get("/api/v1/audit?actor=admin&object_kind=config&limit=50")
            .await;
        assert_eq!(s, StatusCode::OK, "{audit}");
        let actions: Vec<&str> = audit["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert_eq!(
            actions,
            ["rollback", "publish", "update", "publish"],
            "newest first"
        );
    })
    .await;
}

#[tokio::test]
async fn openapi_lists_the_endpoints_and_a_fresh_token_is_printed_once() {
    bounded(60, async {
        let node = Node::start(None).await;
        let err = node.stderr();
        let token = err
            .lines()
            .find_map(|l| l.strip_prefix("pylon: admin bootstrap token: "))
            .expect("bootstrap token on stderr")
            .trim()
            .to_owned();
        assert!(token.starts_with("pyl_"));
        let (s, _, doc) = node
            .call(
                Method::GET,
                "/api/v1/openapi.json",
                Some(&token),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{doc}");
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
        let paths = doc["paths"].as_object().expect("paths");
        for p in [
            "/api/v1/config/draft",
            "/api/v1/config/publish",
            "/api/v1/config/versions",
            "/api/v1/config/versions/{n}",
            "/api/v1/config/versions/{n}/rollback",
            "/api/v1/config/diff",
            "/api/v1/audit",
            "/api/v1/cache/{kind}/{name}",
            "/api/v1/cache/global",
            "/api/v1/openapi.json",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        // 10 config/audit/cache/meta paths + 7 cluster and subscription paths.
        assert_eq!(paths.len(), 17);
        assert!(doc["paths"]["/api/v1/config/draft"]["put"].is_object());
    })
    .await;
}

#[tokio::test]
async fn a_file_managed_config_refuses_config_writes_with_409() {
    bounded(60, async {
        let (pylon, _ports) = start_pylon(base_config).await;
        let token = pylon
            .stderr()
            .lines()
            .find_map(|l| {
                l.strip_prefix("pylon: admin bootstrap token: ")
                    .map(|t| t.trim().to_owned())
            })
            .expect("bootstrap token on stderr");
        let client = Client::new();
        let url = |p: &str| format!("{}{p}", pylon.admin_url());
        let r = client
            .get(url("/api/v1/config/draft"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), StatusCode::OK);
        let r = client
            .put(url("/api/v1/config/draft"))
            .bearer_auth(&token)
            .header("if-match", "\"0\"")
            .json(&json!({}))
            .send()
            .await
            .expect("put");
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "config_file_managed");
        let r = client
            .post(url("/api/v1/config/publish"))
            .bearer_auth(&token)
            .json(&json!({"message": "m"}))
            .send()
            .await
            .expect("publish");
        assert_eq!(r.status(), StatusCode::CONFLICT);
    })
    .await;
}

#[tokio::test]
async fn a_config_the_gateway_cannot_activate_is_not_recorded() {
    bounded(60, async {
        let node = Node::start(Some(TOKEN)).await;
        // A port that is taken: the document is valid, but the listener cannot bind.
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr");
        let (_, _, draft) = node.get("/api/v1/config/draft").await;
        let mut doc = draft["document"].clone();
        let listeners = doc["listeners"].as_array_mut().expect("listeners");
        listeners.push(json!({"name": "second", "bind": addr.to_string()}));
        let (s, _, body) = node
            .call(
                Method::PUT,
                "/api/v1/config/draft",
                Some(TOKEN),
                Some("\"1\""),
                Some(&doc),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (s, _, body) = node
            .call(
                Method::POST,
                "/api/v1/config/publish",
                Some(TOKEN),
                None,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "activation_failed");
        let (_, _, list) = node.get("/api/v1/config/versions").await;
        assert_eq!(list["total"], 0, "nothing recorded: {list}");
        // The running config is unchanged: the proxy listener still answers.
        assert_eq!(node.proxy_status("/anything").await, 404);
        drop(taken);
    })
    .await;
}
