//! Subscriptions across two nodes on the real PostgreSQL: a change made on one node is
//! applied on the other before the admin call returns (so the very next request there is
//! decided by it), a node that does not acknowledge is reported, and webhooks reach a
//! loopback receiver, signed, with a retry after a failed delivery.

mod common_admin;
mod common_cluster;
mod common_http;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use common_cluster::{
    APP1_KEY, Schema, admin, fast_cluster, get_with_key, postgres_url, publish, serves_within,
    start_nodes, with_subscriptions,
};
use common_http::{bounded, eventually};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "webhook-test-secret";

/// Deliveries received: (headers, body). The first delivery is answered 500.
type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

async fn receiver() -> (String, Received, Arc<Mutex<u32>>) {
    let got: Received = Arc::default();
    let calls = Arc::new(Mutex::new(0u32));
    let (g, c) = (got.clone(), calls.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (g, c) = (g.clone(), c.clone());
            async move {
                let first = {
                    let mut n = c.lock().unwrap();
                    *n += 1;
                    *n == 1
                };
                if first {
                    return StatusCode::INTERNAL_SERVER_ERROR;
                }
                g.lock().unwrap().push((headers, body));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got, calls)
}

/// Checks the signature header of one delivery independently of Pylon's code.
fn signed_correctly(headers: &HeaderMap, body: &str) -> bool {
    let Some(sig) = headers
        .get("x-pylon-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((t, v1)) = sig
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes()) == v1
}

fn id_of(change: &Value) -> String {
    change["subscription"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[tokio::test]
async fn changes_apply_on_every_node_before_the_call_returns() {
    bounded(120, async {
        let schema = Schema::new();
        let (hook_url, received, calls) = receiver().await;
        let mut nodes = start_nodes(2, &postgres_url(), &schema).await;
        publish(&nodes[0], |doc| {
            with_subscriptions(doc);
            doc["cluster"] = fast_cluster(json!({"ack_timeout": "2s"}));
            doc["webhooks"] = json!([{"name": "approvals", "url": hook_url, "secret": SECRET}]);
        })
        .await;
        for node in &nodes {
            assert!(
                serves_within(node, "/probe", "ready", Duration::from_secs(10))
                    .await
                    .is_some()
            );
        }
        let (a, b) = (&nodes[0], &nodes[1]);
        assert_eq!(get_with_key(b, "/pay", APP1_KEY).await.0, 403);

        let (s, created) = admin(
            a,
            Method::POST,
            "/api/v1/services/pay/subscriptions",
            Some(json!({"consumer": "app1"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        let id = id_of(&created);
        let (s, approved) = admin(
            a,
            Method::POST,
            &format!("/api/v1/subscriptions/{id}/approve"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{approved}");
        let mut applied: Vec<_> = approved["propagation"]["applied"]
            .as_array()
            .unwrap()
            .clone();
        applied.sort_by_key(|v| v.to_string());
        assert_eq!(applied, [json!("node-1"), json!("node-2")], "{approved}");
        assert_eq!(approved["propagation"]["complete"], true);
        // The other node decides the very next request by the new state.
        assert_eq!(get_with_key(b, "/pay", APP1_KEY).await.0, 200);

        let (s, _) = admin(
            a,
            Method::POST,
            &format!("/api/v1/subscriptions/{id}/revoke"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            get_with_key(b, "/pay", APP1_KEY).await.0,
            403,
            "revoke is effective on node-2 at once"
        );

        // Unsubscribing and subscribing again through the other node.
        let (s, _) = admin(
            b,
            Method::DELETE,
            &format!("/api/v1/subscriptions/{id}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let (_, again) = admin(
            b,
            Method::POST,
            "/api/v1/services/pay/subscriptions",
            Some(json!({"consumer": "app1"})),
        )
        .await;
        let again_id = id_of(&again);
        let (s, _) = admin(
            b,
            Method::POST,
            &format!("/api/v1/subscriptions/{again_id}/approve"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(get_with_key(a, "/pay", APP1_KEY).await.0, 200);
        let (s, _) = admin(
            b,
            Method::DELETE,
            &format!("/api/v1/subscriptions/{again_id}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            get_with_key(a, "/pay", APP1_KEY).await.0,
            403,
            "unsubscribe is effective on node-1 at once"
        );

        // Webhooks: every event arrived, signed; the first attempt failed and was retried.
        let want = [
            "subscription.requested",
            "subscription.approved",
            "subscription.revoked",
            "subscription.cancelled",
            "subscription.requested",
            "subscription.approved",
            "subscription.cancelled",
        ];
        let all_there = eventually(Duration::from_secs(15), || async {
            received.lock().unwrap().len() >= want.len()
        })
        .await;
        let got = received.lock().unwrap().clone();
        assert!(
            all_there,
            "{} deliveries: {:?}",
            got.len(),
            got.iter().map(|g| &g.1).collect::<Vec<_>>()
        );
        assert!(
            *calls.lock().unwrap() > want.len() as u32,
            "the failed first attempt was retried"
        );
        let mut events: Vec<String> = Vec::new();
        for (headers, body) in &got {
            assert!(signed_correctly(headers, body), "bad signature on {body}");
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(
                headers.get("x-pylon-event").unwrap().to_str().unwrap(),
                v["event"]
            );
            assert!(headers.get("x-pylon-delivery").is_some());
            assert_eq!(v["data"]["subscription"]["service"], "pay");
            assert_eq!(v["data"]["actor"], "admin");
            events.push(v["event"].as_str().unwrap().to_owned());
        }
        let mut sorted_want: Vec<&str> = want.to_vec();
        sorted_want.sort();
        events.sort();
        assert_eq!(events, sorted_want);

        // A node that stopped answering (killed, not yet stale) is reported, within the bound.
        nodes[1].kill();
        let started = std::time::Instant::now();
        let (s, late) = admin(
            &nodes[0],
            Method::POST,
            "/api/v1/services/maps/subscriptions",
            Some(json!({"consumer": "app1"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{late}");
        assert_eq!(late["propagation"]["complete"], false, "{late}");
        assert_eq!(late["propagation"]["pending"], json!(["node-2"]), "{late}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(get_with_key(&nodes[0], "/maps", APP1_KEY).await.0, 200);

        // Once its heartbeat is older than node_stale_after (5s) it is marked stale and no
        // longer waited for.
        let stale = eventually(Duration::from_secs(15), || async {
            let (_, view) = admin(&nodes[0], Method::GET, "/api/v1/nodes", None).await;
            view["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .any(|n| n["id"] == "node-2" && n["stale"] == true)
                    && items
                        .iter()
                        .any(|n| n["id"] == "node-1" && n["stale"] == false)
            })
        })
        .await;
        assert!(
            stale,
            "{:#}",
            admin(&nodes[0], Method::GET, "/api/v1/nodes", None).await.1
        );
        let late_id = id_of(&late);
        let (s, gone) = admin(
            &nodes[0],
            Method::DELETE,
            &format!("/api/v1/subscriptions/{late_id}"),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(gone["propagation"]["complete"], true, "{gone}");
        assert_eq!(gone["propagation"]["applied"], json!(["node-1"]), "{gone}");
    })
    .await;
}
