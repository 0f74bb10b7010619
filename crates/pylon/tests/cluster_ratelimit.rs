//! A cluster-wide limit: three nodes on one PostgreSQL store and one Redis, configured
//! only by `cluster.redis_url` (the rate-limit policy names no backend), admit 100
//! requests per minute in total, whichever node each request reaches.

mod common_admin;
mod common_cluster;
mod common_http;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common_cluster::{
    Schema, fast_cluster, postgres_url, probe_route, publish, redis_url, serves_within, start_nodes,
};
use common_http::bounded;
use serde_json::json;

const LIMIT: usize = 100;

#[tokio::test]
async fn one_hundred_per_minute_across_three_nodes() {
    bounded(150, async {
        let schema = Schema::new();
        let nodes = start_nodes(3, &postgres_url(), &schema).await;
        // A key of this run only (the header value), so reruns and parallel tests never share it.
        let tenant = format!("cluster-rl-{}", schema.0);
        publish(&nodes[0], |doc| {
            doc["cluster"] = fast_cluster(json!({"redis_url": redis_url()}));
            doc["routes"] = json!([
                probe_route("ready"),
                {"name": "limited", "match": {"paths": [{"exact": "/limited"}]},
                 "respond": {"body": "ok"},
                 "policies": [{"name": "rate-limit", "config": {
                     "limits": [{"limit": LIMIT, "per": "minute", "algorithm": "sliding_window"}],
                     "key_by": "header", "header_name": "x-tenant",
                     "on_backend_error": "deny"}}]}
            ]);
        })
        .await;
        for node in &nodes {
            assert!(
                serves_within(node, "/probe", "ready", Duration::from_secs(10))
                    .await
                    .is_some()
            );
        }
        // Windows are aligned to the minute: start early in one, so the whole burst
        // falls inside it (the sliding window is exact within one window).
        let into_minute = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            % 60;
        if into_minute > 40 {
            tokio::time::sleep(Duration::from_secs(61 - into_minute)).await;
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let mut admitted = [0usize; 3];
        let mut other = Vec::new();
        for i in 0..(LIMIT + 50) {
            let node = &nodes[i % 3];
            let resp = client
                .get(node.ports.url("/limited"))
                .header("x-tenant", &tenant)
                .send()
                .await
                .expect("request");
            match resp.status().as_u16() {
                200 => admitted[i % 3] += 1,
                429 => {}
                s => other.push(s),
            }
        }
        let total: usize = admitted.iter().sum();
        println!("admitted {total} of {} (per node {admitted:?})", LIMIT + 50);
        assert!(
            other.is_empty(),
            "unexpected statuses {other:?} (503: Redis unreachable)"
        );
        assert!(
            total.abs_diff(LIMIT) <= 1,
            "admitted {total}, per node {admitted:?}"
        );
        assert!(
            admitted.iter().all(|&n| n >= 30),
            "every node counted: {admitted:?}"
        );
    })
    .await;
}
