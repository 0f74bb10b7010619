//! Three nodes through the real binary on the real PostgreSQL (a fresh schema): a
//! version published on one node serves on the other two within a second (measured and
//! printed; asserted with a generous bound for a loaded machine), `GET /api/v1/nodes`
//! shows every node, and a version a node cannot activate is reported by that node
//! while it keeps serving its previous config.

mod common_admin;
mod common_cluster;
mod common_http;

use std::time::{Duration, Instant};

use common_cluster::{
    Schema, fast_cluster, postgres_url, probe_route, publish, serves_within, start_nodes,
};
use common_http::{bounded, eventually};
use serde_json::{Value, json};

/// Generous: the target is one second; a loaded CI machine gets five.
const BOUND: Duration = Duration::from_secs(5);

async fn nodes_view(node: &common_admin::Node) -> Value {
    let (s, _, body) = node.get("/api/v1/nodes").await;
    assert_eq!(s, reqwest::StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn a_published_version_reaches_every_node_and_failures_are_reported() {
    bounded(120, async {
        let schema = Schema::new();
        let nodes = start_nodes(3, &postgres_url(), &schema).await;

        for (round, text) in ["v1", "v2"].iter().enumerate() {
            let started = Instant::now();
            let version = publish(&nodes[0], |doc| {
                doc["cluster"] = fast_cluster(json!({}));
                doc["routes"] = json!([probe_route(text)]);
            })
            .await;
            for (i, node) in nodes.iter().enumerate().skip(1) {
                let took = serves_within(node, "/probe", text, BOUND).await;
                let took = took.unwrap_or_else(|| {
                    panic!("node-{} did not serve version {version} within {BOUND:?}:\n{}", i + 1, node.stderr())
                });
                let total = started.elapsed();
                println!(
                    "round {round}: version {version} served on node-{} {:.0} ms after publish started",
                    i + 1,
                    total.as_secs_f64() * 1e3
                );
                assert!(total < 2 * BOUND, "{total:?} (polling took {took:?})");
            }
        }

        // Every node is registered, healthy, on the newest version.
        let ok = eventually(Duration::from_secs(10), || async {
            let view = nodes_view(&nodes[2]).await;
            let items = view["items"].as_array().cloned().unwrap_or_default();
            items.len() == 3
                && items.iter().all(|n| {
                    n["health"] == "ok" && n["stale"] == false && n["config_version"] == view["active_config_version"]
                })
        })
        .await;
        let view = nodes_view(&nodes[2]).await;
        assert!(ok, "{view:#}");
        let me: Vec<_> = view["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["this_node"] == true)
            .map(|n| n["id"].clone())
            .collect();
        assert_eq!(me, [json!("node-3")]);
        let item = &view["items"][0];
        assert_eq!(item["id"], "node-1");
        assert_eq!(item["admin_addr"], nodes[0].ports.admin_addr().to_string());
        assert_eq!(item["proxy_addr"], nodes[0].ports.proxy_addr().to_string());
        assert_eq!(item["pylon_version"], env!("CARGO_PKG_VERSION"));
        let good = view["active_config_version"].as_i64().unwrap();

        // A second listener on a port node-1 binds first: node-2 and node-3 cannot bind
        // it, so they refuse that version, say so, and keep serving the previous one.
        let taken = pylon_testkit::free_addr().unwrap();
        let bad = publish(&nodes[0], |doc| {
            doc["routes"] = json!([probe_route("v3")]);
            let mut extra = doc["listeners"][0].clone();
            extra["name"] = json!("extra");
            extra["bind"] = json!(taken.to_string());
            doc["listeners"].as_array_mut().unwrap().push(extra);
        })
        .await;
        assert!(serves_within(&nodes[0], "/probe", "v3", BOUND).await.is_some());
        let reported = eventually(Duration::from_secs(10), || async {
            let view = nodes_view(&nodes[0]).await;
            view["items"].as_array().is_some_and(|items| {
                items.iter().filter(|n| n["id"] != "node-1").all(|n| {
                    n["health"] == "degraded"
                        && n["failed_version"] == bad
                        && n["config_version"] == good
                        && n["last_error"].as_str().is_some_and(|e| e.contains(&format!("version {bad}")))
                })
            })
        })
        .await;
        assert!(reported, "{:#}", nodes_view(&nodes[0]).await);
        for node in &nodes[1..] {
            assert_eq!(common_cluster::body_of(node, "/probe").await, "v2");
        }

        // The next good version heals them.
        publish(&nodes[0], |doc| {
            doc["routes"] = json!([probe_route("v4")]);
            doc["listeners"].as_array_mut().unwrap().truncate(1);
        })
        .await;
        for node in &nodes {
            assert!(serves_within(node, "/probe", "v4", BOUND).await.is_some(), "{}", node.stderr());
        }
        let healed = eventually(Duration::from_secs(10), || async {
            let view = nodes_view(&nodes[1]).await;
            view["items"].as_array().is_some_and(|items| items.iter().all(|n| n["health"] == "ok"))
        })
        .await;
        assert!(healed, "{:#}", nodes_view(&nodes[1]).await);
    })
    .await;
}
