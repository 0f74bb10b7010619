//! PostgreSQL unreachable mid-test: the nodes reach the database through a loopback TCP
//! proxy that the test cuts (the real server is never touched). While it is cut the
//! nodes keep serving, a node restarted meanwhile starts from its cached last good
//! config, and once the proxy is restored every node catches up with a version
//! published after that.

mod common_admin;
mod common_cluster;
mod common_http;

use std::time::Duration;

use common_cluster::{
    APP1_KEY, APP2_KEY, PgProxy, Schema, admin, body_of, fast_cluster, get_with_key, publish,
    serves_within, start_nodes, with_subscriptions,
};
use common_http::{bounded, eventually};
use serde_json::json;

const BOUND: Duration = Duration::from_secs(10);

#[tokio::test]
async fn nodes_serve_through_a_store_outage_and_catch_up() {
    bounded(150, async {
        let schema = Schema::new();
        let proxy = PgProxy::start().await;
        let mut nodes = start_nodes(3, &proxy.url(), &schema).await;
        let v1 = publish(&nodes[0], |doc| {
            with_subscriptions(doc);
            doc["cluster"] = fast_cluster(json!({}));
            doc["routes"][0]["respond"]["body"] = json!("before");
        })
        .await;
        for node in &nodes {
            assert!(
                serves_within(node, "/probe", "before", BOUND)
                    .await
                    .is_some(),
                "{}",
                node.stderr()
            );
        }
        // app1 may use `maps` (automatic approval), app2 may not.
        let (s, sub) = admin(
            &nodes[0],
            reqwest::Method::POST,
            "/api/v1/services/maps/subscriptions",
            Some(json!({"consumer": "app1"})),
        )
        .await;
        assert!(s.is_success(), "{sub}");
        let generation = sub["propagation"]["generation"].clone();
        // Each node cached the version it activated and the subscriptions it applied.
        for node in &nodes {
            let subs = node.data_dir().join("cluster-cache/subscriptions.json");
            let cached = eventually(Duration::from_secs(5), || async {
                std::fs::read(&subs)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .is_some_and(|c| c["generation"] == generation)
            })
            .await;
            assert!(
                cached,
                "{} has no cache of generation {generation}",
                subs.display()
            );
            let path = node.data_dir().join("cluster-cache/config.json");
            let cached = eventually(Duration::from_secs(5), || async {
                std::fs::read(&path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .is_some_and(|c| c["version"] == v1)
            })
            .await;
            assert!(cached, "{} has no cache of version {v1}", path.display());
        }

        proxy.cut().await;
        // Serving goes on while the store is away (for longer than a poll and a heartbeat).
        for _ in 0..3 {
            for node in &nodes {
                assert_eq!(body_of(node, "/probe").await, "before", "{}", node.stderr());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // The admin API says the store is unavailable instead of hanging.
        let (s, _, _) = nodes[0].get("/api/v1/nodes").await;
        assert!(s.is_server_error(), "{s}");

        // A node restarted during the outage starts from its cache.
        nodes[1].restart().await;
        assert_eq!(
            body_of(&nodes[1], "/probe").await,
            "before",
            "{}",
            nodes[1].stderr()
        );
        assert!(
            nodes[1]
                .stderr()
                .contains("starting on the cached last good config")
        );
        // ... and enforces the cached subscriptions.
        assert_eq!(get_with_key(&nodes[1], "/maps", APP1_KEY).await.0, 200);
        assert_eq!(get_with_key(&nodes[1], "/maps", APP2_KEY).await.0, 403);

        proxy.restore();
        // Publish once node-1's pool reconnects (its first queries after the cut may fail).
        let mut published = None;
        for _ in 0..20 {
            let (s, _, _) = nodes[0].get("/api/v1/config/draft").await;
            if s.is_success() {
                published = Some(
                    publish(&nodes[0], |doc| {
                        doc["routes"][0]["respond"]["body"] = json!("after");
                    })
                    .await,
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let v2 = published.expect("the store did not come back through the proxy");
        for (i, node) in nodes.iter().enumerate() {
            let took = serves_within(node, "/probe", "after", BOUND).await;
            assert!(
                took.is_some(),
                "node-{} did not catch up:\n{}",
                i + 1,
                node.stderr()
            );
            println!(
                "node-{} serves version {v2} after the outage ({:?})",
                i + 1,
                took.unwrap()
            );
        }
        let healthy = eventually(Duration::from_secs(10), || async {
            let (s, _, view) = nodes[2].get("/api/v1/nodes").await;
            s.is_success()
                && view["items"].as_array().is_some_and(|items| {
                    items.len() == 3
                        && items
                            .iter()
                            .all(|n| n["health"] == "ok" && n["config_version"] == v2)
                })
        })
        .await;
        assert!(healthy, "{:#}", nodes[2].get("/api/v1/nodes").await.2);
    })
    .await;
}

#[tokio::test]
async fn a_node_without_store_or_cache_refuses_to_start() {
    bounded(60, async {
        let schema = Schema::new();
        let proxy = PgProxy::start().await;
        proxy.cut().await;
        let env = common_cluster::node_env(&proxy.url(), &schema, "lonely");
        let err = common_admin::Node::try_start_with(Some(common_admin::TOKEN), &env)
            .await
            .err()
            .expect("a node with neither store nor cache must not start");
        assert!(err.contains("no cached config"), "{err}");
    })
    .await;
}
