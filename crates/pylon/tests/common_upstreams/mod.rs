//! Helpers for the upstream integration tests: a running `pylon` with one
//! proxy listener, an admin listener and a JSON-lines access log in its temp
//! dir; YAML builders for upstreams and routes; polling helpers.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use pylon_testkit::{PylonProcess, UPSTREAM_HEADER, free_addr};
use serde_json::Value;

/// Upper bound of every test body.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Per-request client timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Run a test body under [`TEST_TIMEOUT`].
pub async fn bounded<F: Future<Output = ()>>(body: F) {
    tokio::time::timeout(TEST_TIMEOUT, body)
        .await
        .expect("test timed out");
}

/// `{address: "addr"}`.
pub fn target(addr: impl std::fmt::Display) -> String {
    format!("{{address: \"{addr}\"}}")
}

/// `{address: "addr", weight: w}`.
pub fn weighted(addr: impl std::fmt::Display, weight: u32) -> String {
    format!("{{address: \"{addr}\", weight: {weight}}}")
}

/// One `upstreams[]` entry: `settings` are lines such as
/// `load_balancing: {algorithm: round_robin}` (flow style, no indentation).
pub fn upstream(name: &str, targets: &[String], settings: &[&str]) -> String {
    let mut out = format!("  - name: {name}\n    targets: [{}]\n", targets.join(", "));
    for line in settings {
        out.push_str("    ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// One `routes[]` entry sending the path prefix `prefix` to `upstream`.
pub fn route(name: &str, prefix: &str, upstream: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        "  - {{name: {name}, match: {{paths: [{{prefix: \"{prefix}\"}}]}}, upstream: {upstream}{extra}}}\n"
    )
}

/// The `upstreams:` and `routes:` sections for one upstream `up` taking every path.
pub fn single(targets: &[String], settings: &[&str]) -> String {
    format!(
        "upstreams:\n{}routes:\n{}",
        upstream("up", targets, settings),
        route("all", "/", "up", "")
    )
}

/// A response read in full.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The `x-upstream` header of the answering echo server.
    pub fn upstream(&self) -> Option<&str> {
        self.headers
            .get(UPSTREAM_HEADER)
            .and_then(|v| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("body is not JSON: {}", self.text()))
    }

    /// `error.code` of a Pylon JSON error body.
    pub fn error_code(&self) -> Option<String> {
        self.json()
            .ok()?
            .pointer("/error/code")?
            .as_str()
            .map(str::to_string)
    }
}

/// A running `pylon serve`.
pub struct Gateway {
    pub process: PylonProcess,
    pub proxy: SocketAddr,
    pub client: reqwest::Client,
    head: String,
}

/// A reqwest client bound by [`REQUEST_TIMEOUT`], ignoring proxy settings.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("building a reqwest client")
}

impl Gateway {
    /// Start pylon with `body` (the `upstreams:` and `routes:` sections) after
    /// a standard head (admin listener, proxy listener, access log file).
    pub async fn start(body: &str) -> anyhow::Result<Self> {
        let mut last = None;
        // Ports come from free_addr(), which can race with other processes: retry.
        for _ in 0..3 {
            let admin = free_addr()?;
            let proxy = free_addr()?;
            let head = format!(
                "server:\n  admin_listen: \"{admin}\"\n  data_dir: data\n  \
                 access_log:\n    output: access.log\n\
                 listeners:\n  - name: main\n    bind: \"{proxy}\"\n"
            );
            let yaml = format!("{head}{body}");
            match PylonProcess::start_with(Path::new(env!("CARGO_BIN_EXE_pylon")), &yaml).await {
                Ok(process) => {
                    return Ok(Self {
                        process,
                        proxy,
                        client: client(),
                        head,
                    });
                }
                Err(e) => last = Some(e.context(format!("starting pylon with:\n{yaml}"))),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("pylon did not start")))
    }

    /// `http://<proxy><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.proxy, path)
    }

    /// `GET path` through the proxy.
    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send(self.client.get(self.url(path))).await
    }

    /// Send a prepared request and read the whole response.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Reply> {
        read_reply(req).await
    }

    /// The access-log records written so far (complete lines only).
    pub fn access_log(&self) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.process.dir().join("access.log")).unwrap_or_default();
        let complete = match text.rfind('\n') {
            Some(end) => &text[..=end],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad access-log line {l:?}: {e}"))
            })
            .collect()
    }

    /// Wait until the access log holds at least `n` records.
    pub async fn wait_access_log(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let records = self.access_log();
            if records.len() >= n {
                return records;
            }
            assert!(
                Instant::now() < deadline,
                "access log has {} records, expected {n}\n{}",
                records.len(),
                self.process.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The admin `/metrics` text.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let reply = read_reply(
            self.client
                .get(format!("{}/metrics", self.process.admin_url())),
        )
        .await?;
        if reply.status != StatusCode::OK {
            bail!("/metrics answered {}", reply.status);
        }
        Ok(reply.text())
    }

    /// The value of the metrics sample whose line starts with `series` (name and labels).
    pub async fn metric(&self, series: &str) -> anyhow::Result<Option<f64>> {
        let text = self.metrics().await?;
        Ok(metric_value(&text, series))
    }

    /// `config_generation` from `/readyz`.
    pub async fn generation(&self) -> anyhow::Result<u64> {
        let reply = read_reply(
            self.client
                .get(format!("{}/readyz", self.process.admin_url())),
        )
        .await?;
        reply
            .json()?
            .get("config_generation")
            .and_then(Value::as_u64)
            .context("no config_generation in /readyz")
    }

    /// Replace the `upstreams:`/`routes:` sections in the config file (atomic
    /// rename, picked up by the file watcher; SIGHUP as a fallback) and wait
    /// until the new generation serves.
    pub async fn reload(&self, body: &str) -> anyhow::Result<()> {
        let before = self.generation().await?;
        let path = self.process.config_path();
        let tmp = path.with_extension("yaml.tmp");
        std::fs::write(&tmp, format!("{}{}", self.head, body))?;
        std::fs::rename(&tmp, path)?;
        let start = Instant::now();
        let mut signalled = false;
        loop {
            if self.generation().await? > before {
                eprintln!(
                    "reload applied after {:?} ({})",
                    start.elapsed(),
                    if signalled { "SIGHUP" } else { "file watcher" }
                );
                return Ok(());
            }
            let waited = start.elapsed();
            if !signalled && waited > Duration::from_secs(3) {
                self.process.reload_signal()?;
                signalled = true;
            }
            if waited > Duration::from_secs(10) {
                bail!(
                    "config generation stayed at {before} after rewriting the config\n{}",
                    self.process.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Send `req` and read the whole response.
pub async fn read_reply(req: reqwest::RequestBuilder) -> anyhow::Result<Reply> {
    let resp = req.send().await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// The value of the first sample line of `text` that starts with `series`.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The `pylon_upstream_target_health` series of one target and state.
pub fn health_series(upstream: &str, target: &str, state: &str) -> String {
    format!(
        "pylon_upstream_target_health{{upstream=\"{upstream}\",target=\"{target}\",state=\"{state}\"}}"
    )
}

/// Poll `check` every 50 ms until it returns `Some`, or fail after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A record's `retries` field.
pub fn retries_of(record: &Value) -> u64 {
    record
        .get("retries")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("access-log record without numeric retries: {record}"))
}
