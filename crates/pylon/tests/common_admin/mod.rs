//! A `pylon serve` WITHOUT `--config` for the admin API tests: data in a temp dir,
//! listeners on fresh loopback ports via the no-config env overrides, killed on drop.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

use crate::common_http::{Ports, pylon_bin};

pub const TOKEN: &str = "pyl_test-admin-token-0123456789abcdefghijklmnop";

/// A `pylon serve` without `--config`; killed on drop.
pub struct Node {
    child: Child,
    dir: tempfile::TempDir,
    pub ports: Ports,
    /// Extra environment (e.g. a PostgreSQL store), kept across restarts.
    env: Vec<(String, String)>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pylon serve` without `--config`, data in `dir/data`, listeners on `ports`.
fn spawn(
    dir: &std::path::Path,
    ports: &Ports,
    token: Option<&str>,
    env: &[(String, String)],
) -> Child {
    let stderr = std::fs::File::create(dir.join("stderr.log")).expect("stderr file");
    let mut cmd = Command::new(pylon_bin());
    cmd.arg("serve")
        .current_dir(dir)
        .env_remove("PYLON_CONFIG")
        .env_remove("PYLON_STORE_URL")
        .env("PYLON_DATA_DIR", dir.join("data"))
        .env("PYLON_ADMIN_LISTEN", ports.admin_addr().to_string())
        .env("PYLON_LISTEN", ports.proxy_addr().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    for (k, v) in env {
        cmd.env(k, v);
    }
    match token {
        Some(t) => cmd.env("PYLON_ADMIN_TOKEN", t),
        None => cmd.env_remove("PYLON_ADMIN_TOKEN"),
    };
    cmd.env_remove("PYLON_MASTER_KEY")
        .env_remove("PYLON_MASTER_KEY_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn pylon")
}

impl Node {
    /// Starts a node on fresh ports; retries with new ports (up to three times) if one
    /// was taken in between.
    pub async fn start(token: Option<&str>) -> Node {
        Node::start_with::<&str, &str>(token, &[]).await
    }

    /// [`Node::start`] with extra environment variables (e.g. `PYLON_MASTER_KEY`).
    pub async fn start_with<K: AsRef<str>, V: AsRef<str>>(
        token: Option<&str>,
        env: &[(K, V)],
    ) -> Node {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        let mut last = String::new();
        for _ in 0..3 {
            match Node::try_start_with(token, &env).await {
                Ok(node) => return node,
                Err(e) => last = e,
            }
        }
        panic!("pylon did not start in three attempts; last stderr:\n{last}");
    }

    pub async fn try_start(token: Option<&str>) -> Result<Node, String> {
        Node::try_start_with(token, &[]).await
    }

    pub async fn try_start_with(
        token: Option<&str>,
        env: &[(String, String)],
    ) -> Result<Node, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = Ports::fresh().expect("ports");
        let child = spawn(dir.path(), &ports, token, env);
        let mut node = Node {
            child,
            dir,
            ports,
            env: env.to_vec(),
        };
        if node.wait_ready().await {
            Ok(node)
        } else {
            Err(node.stderr())
        }
    }

    /// Stops the process (SIGKILL) and starts a new one on the same data dir and ports,
    /// without `PYLON_ADMIN_TOKEN`: the store already has its admin.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(self.dir.path(), &self.ports, None, &self.env);
        assert!(
            self.wait_ready().await,
            "no restart; stderr:\n{}",
            self.stderr()
        );
    }

    /// Waits (up to 15 s) for `/readyz`; gives up at once if the process exits.
    pub async fn wait_ready(&mut self) -> bool {
        let url = self.ports.admin_url("/readyz");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::time::Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return false;
            }
            if matches!(reqwest::get(&url).await, Ok(r) if r.status() == StatusCode::OK) {
                return matches!(self.child.try_wait(), Ok(None));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Kills the process (SIGKILL) without restarting it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// Restarts with other extra environment variables.
    pub async fn restart_with(&mut self, env: &[(&str, &str)]) {
        self.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.restart().await;
    }

    /// The node's temp dir (data in `data/`).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn db_url(&self) -> String {
        format!(
            "sqlite://{}/data/pylon.db?mode=rwc",
            self.dir.path().display()
        )
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        if_match: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = Client::new().request(method, self.ports.admin_url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(m) = if_match {
            req = req.header("if-match", m);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("admin request");
        let (status, headers) = (resp.status(), resp.headers().clone());
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        self.call(Method::GET, path, Some(TOKEN), None, None).await
    }

    pub async fn proxy_status(&self, path: &str) -> u16 {
        match reqwest::get(self.ports.url(path)).await {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }
}

impl Node {
    /// A call that must answer `want`; returns headers and body.
    pub async fn expect(
        &self,
        want: u16,
        method: Method,
        path: &str,
        token: &str,
        if_match: Option<&str>,
        body: Option<&Value>,
    ) -> (reqwest::header::HeaderMap, Value) {
        let (s, h, b) = self
            .call(method.clone(), path, Some(token), if_match, body)
            .await;
        assert_eq!(s.as_u16(), want, "{method} {path}: {b}");
        (h, b)
    }

    /// Creates tenant `id` as the bootstrap admin (who becomes its owner).
    pub async fn tenant(&self, id: &str) {
        self.expect(
            201,
            Method::POST,
            "/api/v1/tenants",
            TOKEN,
            None,
            Some(&serde_json::json!({"id": id})),
        )
        .await;
    }

    /// Creates user `name` with `(tenant, role)` grants and returns (user id, token).
    pub async fn user(&self, name: &str, roles: &[(&str, &str)]) -> (String, String) {
        let roles: Vec<Value> = roles
            .iter()
            .map(|(t, r)| serde_json::json!({"tenant": t, "role": r}))
            .collect();
        let (_, u) = self
            .expect(
                201,
                Method::POST,
                "/api/v1/users",
                TOKEN,
                None,
                Some(&serde_json::json!({"name": name, "roles": roles})),
            )
            .await;
        let id = u["id"].as_str().expect("user id").to_owned();
        let (_, t) = self
            .expect(
                201,
                Method::POST,
                &format!("/api/v1/users/{id}/tokens"),
                TOKEN,
                None,
                Some(&serde_json::json!({"name": "test"})),
            )
            .await;
        (id, t["token"].as_str().expect("token").to_owned())
    }

    /// The ETag of `path` (GET with the bootstrap token).
    pub async fn etag(&self, path: &str) -> String {
        let (h, _) = self.expect(200, Method::GET, path, TOKEN, None, None).await;
        h.get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("etag")
            .to_owned()
    }

    /// Publishes the draft as the bootstrap admin.
    pub async fn publish(&self, message: &str) -> Value {
        self.expect(
            201,
            Method::POST,
            "/api/v1/config/publish",
            TOKEN,
            None,
            Some(&serde_json::json!({"message": message})),
        )
        .await
        .1
    }
}
