//! Cluster test helpers: a random PostgreSQL schema per test (dropped afterwards), a
//! loopback TCP proxy in front of PostgreSQL that the test can cut and restore (the
//! real server is never touched), nodes of one cluster (`pylon serve` without
//! `--config` on `PYLON_STORE_URL`), and publishing through a node's admin API.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::common_admin::{Node, TOKEN};

/// `PYLON_TEST_POSTGRES_URL`, or the CI default.
pub fn postgres_url() -> String {
    std::env::var("PYLON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `PYLON_TEST_REDIS_URL`, or the CI default.
pub fn redis_url() -> String {
    std::env::var("PYLON_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A fresh schema name; the schema itself is created by the first node and dropped
/// when this value is dropped.
pub struct Schema(pub String);

impl Schema {
    pub fn new() -> Schema {
        Schema(format!("pylon_it_{}", uuid::Uuid::new_v4().simple()))
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.0.clone();
        // Drop runs inside the test's runtime: use a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                use sqlx::Connection as _;
                let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_url()).await else {
                    return;
                };
                let _ = sqlx::query("SELECT set_config('pylon.schema', $1, false)")
                    .bind(&name)
                    .execute(&mut conn)
                    .await;
                let _ = sqlx::query(
                    "DO $$ BEGIN EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', \
                     current_setting('pylon.schema')); END $$",
                )
                .execute(&mut conn)
                .await;
            });
        })
        .join();
    }
}

/// A TCP proxy on 127.0.0.1 in front of PostgreSQL. `cut()` closes every relayed
/// connection and refuses new ones (accepted and closed at once) until `restore()`.
pub struct PgProxy {
    addr: SocketAddr,
    cut: Arc<AtomicBool>,
    conns: Arc<tokio::sync::Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl PgProxy {
    pub async fn start() -> PgProxy {
        let upstream: SocketAddr = {
            let url = postgres_url();
            let host = url
                .split('@')
                .nth(1)
                .and_then(|h| h.split('/').next())
                .unwrap_or("127.0.0.1:5432")
                .to_owned();
            tokio::net::lookup_host(host)
                .await
                .expect("resolve PostgreSQL")
                .next()
                .expect("a PostgreSQL address")
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let cut = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(tokio::sync::Mutex::new(JoinSet::new()));
        let (c, set) = (cut.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if c.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                set.lock().await.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let mut client = client;
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        PgProxy {
            addr,
            cut,
            conns,
            accept,
        }
    }

    /// `postgres://...` through this proxy.
    pub fn url(&self) -> String {
        let url = postgres_url();
        let (user, rest) = url
            .split_once('@')
            .unwrap_or(("postgres://postgres", "127.0.0.1:5432/test"));
        let db = rest.split_once('/').map(|(_, d)| d).unwrap_or("test");
        format!("{user}@{}/{db}", self.addr)
    }

    /// PostgreSQL becomes unreachable through the proxy.
    pub async fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.conns.lock().await.abort_all();
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// The env of a node of the cluster on `store_url` in `schema`.
pub fn node_env(store_url: &str, schema: &Schema, id: &str) -> Vec<(String, String)> {
    vec![
        ("PYLON_STORE_URL".into(), store_url.into()),
        ("PYLON_STORE_SCHEMA".into(), schema.0.clone()),
        ("PYLON_NODE_ID".into(), id.into()),
    ]
}

/// `n` nodes (`node-1`...) on `store_url`, started together.
pub async fn start_nodes(n: usize, store_url: &str, schema: &Schema) -> Vec<Node> {
    let starts = (1..=n).map(|i| {
        let env = node_env(store_url, schema, &format!("node-{i}"));
        async move { Node::start_with(Some(TOKEN), &env).await }
    });
    futures_util::future::join_all(starts).await
}

/// Short cluster timings for tests.
pub fn fast_cluster(extra: Value) -> Value {
    let mut c = json!({"heartbeat_interval": "300ms", "poll_interval": "1s",
        "node_stale_after": "5s", "ack_timeout": "5s"});
    if let (Some(c), Value::Object(more)) = (c.as_object_mut(), extra) {
        c.extend(more);
    }
    c
}

/// Replaces the draft on `node` with `edit(draft)` and publishes it; the new version.
pub async fn publish(node: &Node, edit: impl FnOnce(&mut Value)) -> i64 {
    let (s, h, draft) = node.get("/api/v1/config/draft").await;
    assert_eq!(s, StatusCode::OK, "{draft}");
    let etag = h
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("etag")
        .to_owned();
    let mut doc = draft["document"].clone();
    edit(&mut doc);
    let (s, _, body) = node
        .call(
            Method::PUT,
            "/api/v1/config/draft",
            Some(TOKEN),
            Some(&etag),
            Some(&doc),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, v) = node
        .call(
            Method::POST,
            "/api/v1/config/publish",
            Some(TOKEN),
            None,
            Some(&json!({"message": "test"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["number"].as_i64().expect("version number")
}

/// A route `/probe` answering `body`.
pub fn probe_route(body: &str) -> Value {
    json!({"name": "probe", "match": {"paths": [{"exact": "/probe"}]}, "respond": {"body": body}})
}

/// The body `node` answers on `path` (empty on any failure).
pub async fn body_of(node: &Node, path: &str) -> String {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    match client.get(node.ports.url(path)).send().await {
        Ok(r) if r.status() == StatusCode::OK => r.text().await.unwrap_or_default(),
        _ => String::new(),
    }
}

/// Polls until `node` answers `want` on `path`; the time it took, or `None` after `within`.
pub async fn serves_within(
    node: &Node,
    path: &str,
    want: &str,
    within: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if body_of(node, path).await == want {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// API keys of the test consumers.
pub const APP1_KEY: &str = "app1-key-0123456789abcdef";
pub const APP2_KEY: &str = "app2-key-0123456789abcdef";

/// Consumers `app1`/`app2` (key-auth everywhere but `/probe`), service `pay` (manual
/// approval) on `/pay`, service `maps` (automatic approval) on `/maps`.
pub fn with_subscriptions(doc: &mut Value) {
    doc["policies"] = json!([{"name": "key-auth"}]);
    doc["consumers"] = json!([
        {"name": "app1", "credentials": [{"type": "key_auth", "key": APP1_KEY}]},
        {"name": "app2", "credentials": [{"type": "key_auth", "key": APP2_KEY}]},
    ]);
    doc["services"] = json!([
        {"name": "pay", "subscription": {"required": true, "approval": "manual"}},
        {"name": "maps", "subscription": {"required": true, "approval": "automatic"}},
    ]);
    let mut probe = probe_route("ready");
    probe["policies"] = json!([{"name": "key-auth", "enabled": false}]);
    doc["routes"] = json!([
        probe,
        {"name": "pay", "service": "pay", "match": {"paths": [{"exact": "/pay"}]}, "respond": {"body": "paid"}},
        {"name": "maps", "service": "maps", "match": {"paths": [{"exact": "/maps"}]}, "respond": {"body": "mapped"}},
    ]);
}

/// Status and JSON body of `GET path` on `node`'s proxy with `key`.
pub async fn get_with_key(node: &Node, path: &str, key: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .get(node.ports.url(path))
        .header("x-api-key", key)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("proxy request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// An admin call with the test token; status and JSON body.
pub async fn admin(
    node: &Node,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (s, _, b) = node
        .call(method, path, Some(TOKEN), None, body.as_ref())
        .await;
    (s, b)
}
