//! Subscriptions through the real binary on one node with the embedded SQLite store:
//! every transition (pending → approved | rejected, approved → revoked, unsubscribe),
//! invalid transitions (409), 404s, enforcement on the service's routes (403 naming the
//! service), lists, and the audit trail.

mod common_admin;
mod common_cluster;
mod common_http;

use std::time::Duration;

use common_admin::Node;
use common_cluster::{
    APP1_KEY, APP2_KEY, admin, get_with_key, publish, serves_within, with_subscriptions,
};
use common_http::bounded;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn post(node: &Node, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    admin(node, Method::POST, path, body).await
}

fn sub_id(change: &Value) -> String {
    change["subscription"]["id"]
        .as_str()
        .expect("subscription id")
        .to_owned()
}

#[tokio::test]
async fn subscription_lifecycle_enforcement_and_audit_on_sqlite() {
    bounded(90, async {
        let node = Node::start(Some(common_admin::TOKEN)).await;
        publish(&node, with_subscriptions).await;
        assert!(
            serves_within(&node, "/probe", "ready", Duration::from_secs(10))
                .await
                .is_some()
        );

        // No subscription: 403 naming the service.
        let (s, body) = get_with_key(&node, "/pay", APP1_KEY).await;
        assert_eq!(s, 403, "{body}");
        assert_eq!(body["error"]["code"], "subscription_required");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("`pay`"),
            "{body}"
        );
        assert_eq!(body["error"]["details"]["service"], "pay");
        // Without a key: 401 from key-auth, before the subscription check.
        assert_eq!(
            get_with_key(&node, "/pay", "wrong-key-0000000000").await.0,
            401
        );

        // Manual approval: pending until approved.
        let (s, created) = post(
            &node,
            "/api/v1/services/pay/subscriptions",
            Some(json!({"consumer": "app1"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        assert_eq!(created["subscription"]["state"], "pending");
        assert_eq!(created["propagation"]["complete"], true, "{created}");
        assert_eq!(created["propagation"]["pending"], json!([]));
        let id = sub_id(&created);
        assert_eq!(get_with_key(&node, "/pay", APP1_KEY).await.0, 403);
        let (s, dup) = post(
            &node,
            "/api/v1/services/pay/subscriptions",
            Some(json!({"consumer": "app1"})),
        )
        .await;
        assert_eq!(
            (s, dup["error"]["code"].clone()),
            (StatusCode::CONFLICT, json!("already_exists")),
            "{dup}"
        );
        let (s, bad) = post(&node, &format!("/api/v1/subscriptions/{id}/revoke"), None).await;
        assert_eq!(
            (s, bad["error"]["code"].clone()),
            (StatusCode::CONFLICT, json!("invalid_transition")),
            "{bad}"
        );

        let (s, approved) = post(
            &node,
            &format!("/api/v1/subscriptions/{id}/approve"),
            Some(json!({"note": "ok by finance"})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{approved}");
        assert_eq!(approved["subscription"]["state"], "approved");
        assert_eq!(approved["subscription"]["note"], "ok by finance");
        assert_eq!(approved["subscription"]["decided_by"], "admin");
        let (s, body) = get_with_key(&node, "/pay", APP1_KEY).await;
        assert_eq!((s, body), (200, json!("paid")));
        assert_eq!(
            get_with_key(&node, "/pay", APP2_KEY).await.0,
            403,
            "another consumer is not covered"
        );
        for again in ["approve", "reject"] {
            let (s, _) = post(&node, &format!("/api/v1/subscriptions/{id}/{again}"), None).await;
            assert_eq!(s, StatusCode::CONFLICT, "{again} an approved subscription");
        }

        let (s, revoked) = post(&node, &format!("/api/v1/subscriptions/{id}/revoke"), None).await;
        assert_eq!(
            (s, revoked["subscription"]["state"].clone()),
            (StatusCode::OK, json!("revoked"))
        );
        assert_eq!(get_with_key(&node, "/pay", APP1_KEY).await.0, 403);
        let (s, _) = post(&node, &format!("/api/v1/subscriptions/{id}/revoke"), None).await;
        assert_eq!(s, StatusCode::CONFLICT);

        // Rejected: never admitted, cannot be revoked.
        let (_, other) = post(
            &node,
            "/api/v1/services/pay/subscriptions",
            Some(json!({"consumer": "app2"})),
        )
        .await;
        let other_id = sub_id(&other);
        let (s, rejected) = post(
            &node,
            &format!("/api/v1/subscriptions/{other_id}/reject"),
            None,
        )
        .await;
        assert_eq!(
            (s, rejected["subscription"]["state"].clone()),
            (StatusCode::OK, json!("rejected"))
        );
        assert_eq!(get_with_key(&node, "/pay", APP2_KEY).await.0, 403);
        let (s, _) = post(
            &node,
            &format!("/api/v1/subscriptions/{other_id}/revoke"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT);

        // Automatic approval: admitted at once; unsubscribing closes the door again.
        let (s, auto) = post(
            &node,
            "/api/v1/services/maps/subscriptions",
            Some(json!({"consumer": "app1"})),
        )
        .await;
        assert_eq!(
            (s, auto["subscription"]["state"].clone()),
            (StatusCode::CREATED, json!("approved"))
        );
        assert_eq!(get_with_key(&node, "/maps", APP1_KEY).await.0, 200);
        let maps_id = sub_id(&auto);
        let (s, gone) = admin(
            &node,
            Method::DELETE,
            &format!("/api/v1/subscriptions/{maps_id}"),
            None,
        )
        .await;
        assert_eq!(
            (s, gone["subscription"]["id"].clone()),
            (StatusCode::OK, json!(maps_id))
        );
        assert_eq!(get_with_key(&node, "/maps", APP1_KEY).await.0, 403);
        let (s, _) = admin(
            &node,
            Method::DELETE,
            &format!("/api/v1/subscriptions/{maps_id}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // Lists per service (with a state filter) and per consumer.
        let (s, list) = admin(
            &node,
            Method::GET,
            "/api/v1/services/pay/subscriptions",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list["total"], 2);
        let states: Vec<_> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["state"].clone())
            .collect();
        assert_eq!(states, [json!("revoked"), json!("rejected")]);
        let (_, list) = admin(
            &node,
            Method::GET,
            "/api/v1/services/pay/subscriptions?state=rejected",
            None,
        )
        .await;
        assert_eq!(list["items"][0]["consumer"], "app2");
        let (s, bad) = admin(
            &node,
            Method::GET,
            "/api/v1/services/pay/subscriptions?state=maybe",
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        let (_, mine) = admin(
            &node,
            Method::GET,
            "/api/v1/consumers/app1/subscriptions",
            None,
        )
        .await;
        assert_eq!(mine["total"], 1);
        assert_eq!(mine["items"][0]["service"], "pay");
        let (s, one) = admin(
            &node,
            Method::GET,
            &format!("/api/v1/subscriptions/{id}"),
            None,
        )
        .await;
        assert_eq!(
            (s, one["state"].clone()),
            (StatusCode::OK, json!("revoked"))
        );

        // Unknown things are 404s naming what is missing; bodies are checked.
        for (path, body, what) in [
            (
                "/api/v1/services/nope/subscriptions",
                json!({"consumer": "app1"}),
                "service",
            ),
            (
                "/api/v1/services/pay/subscriptions",
                json!({"consumer": "ghost"}),
                "consumer",
            ),
            (
                "/api/v1/subscriptions/nope/approve",
                json!({}),
                "subscription",
            ),
        ] {
            let (s, err) = post(&node, path, Some(body)).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {err}");
            assert!(
                err["error"]["message"].as_str().unwrap().contains(what),
                "{err}"
            );
        }
        let (s, _) = post(
            &node,
            "/api/v1/services/pay/subscriptions",
            Some(json!({"app": "x"})),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        let s = node
            .call(
                Method::POST,
                &format!("/api/v1/subscriptions/{id}/approve"),
                None,
                None,
                None,
            )
            .await
            .0;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // Every change is in the audit log.
        let (_, audit) = admin(
            &node,
            Method::GET,
            "/api/v1/audit?object_kind=subscription",
            None,
        )
        .await;
        let mut actions: Vec<String> = audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect();
        actions.sort();
        assert_eq!(
            actions,
            [
                "approve",
                "reject",
                "revoke",
                "subscribe",
                "subscribe",
                "subscribe",
                "unsubscribe"
            ],
            "{audit:#}"
        );

        // The single node is in the node list.
        let (_, nodes) = admin(&node, Method::GET, "/api/v1/nodes", None).await;
        assert_eq!(nodes["items"].as_array().map(Vec::len), Some(1), "{nodes}");
        assert_eq!(nodes["items"][0]["this_node"], true);
        let s = node
            .call(Method::GET, "/api/v1/nodes", None, None, None)
            .await
            .0;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        // The OpenAPI document describes these endpoints.
        let (_, doc) = admin(&node, Method::GET, "/api/v1/openapi.json", None).await;
        for (path, method) in [
            ("/api/v1/nodes", "get"),
            ("/api/v1/services/{name}/subscriptions", "post"),
            ("/api/v1/services/{name}/subscriptions", "get"),
            ("/api/v1/consumers/{name}/subscriptions", "get"),
            ("/api/v1/subscriptions/{id}", "get"),
            ("/api/v1/subscriptions/{id}", "delete"),
            ("/api/v1/subscriptions/{id}/approve", "post"),
            ("/api/v1/subscriptions/{id}/reject", "post"),
            ("/api/v1/subscriptions/{id}/revoke", "post"),
        ] {
            assert!(
                doc["paths"][path][method].is_object(),
                "{method} {path} missing"
            );
        }
    })
    .await;
}
