//! The `pylon` command line, end to end: `--version`, `validate`, `serve`
//! start-up failures, hot reload (file watch and SIGHUP, including reloads
//! under load), graceful shutdown, the ops endpoints, worker and log-format
//! options. Every test runs the real binary and is bounded by a timeout.
#![cfg(unix)]

mod common_http;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common_http::*;
use pylon_testkit::{DelayServer, EchoServer};
use serde_json::{Value, json};

/// Upper bound of each test.
const TEST_SECS: u64 = 90;

// ---------------------------------------------------------------------------
// Process helpers
// ---------------------------------------------------------------------------

/// What a finished command produced.
#[derive(Debug)]
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// A `pylon` process started by hand (for options the launcher does not
/// pass), with stdout and stderr captured to files. Killed when dropped.
struct Spawned {
    child: Child,
    dir: tempfile::TempDir,
    exit: Option<ExitStatus>,
}

impl Spawned {
    /// Run `pylon <args>` in a fresh temp dir with `envs` set; `{dir}` in an
    /// argument is replaced by the temp dir. The variables in `unset` are removed.
    fn start(args: &[&str], envs: &[(&str, &str)], unset: &[&str], files: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("pylon-cli-")
            .tempdir()
            .expect("temp dir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write file");
        }
        let stdout = std::fs::File::create(dir.path().join("stdout.log")).unwrap();
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let dir_text = dir.path().display().to_string();
        let mut cmd = Command::new(pylon_bin());
        cmd.args(args.iter().map(|a| a.replace("{dir}", &dir_text)))
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        for var in [
            "PYLON_LOG",
            "PYLON_LOG_FORMAT",
            "PYLON_CONFIG",
            "PYLON_WORKERS",
        ] {
            cmd.env_remove(var);
        }
        for var in unset {
            cmd.env_remove(var);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn pylon");
        Self {
            child,
            dir,
            exit: None,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.path("stdout.log")).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.path("stderr.log")).unwrap_or_default()
    }

    fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait for the process to exit on its own and collect its output.
    async fn finish(mut self, within: Duration) -> Finished {
        let Some(status) = self.wait_exit(within).await else {
            panic!(
                "pylon still running after {within:?}\nstderr:\n{}\nstdout:\n{}",
                self.stderr(),
                self.stdout()
            );
        };
        Finished {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }

    fn signal(&self, name: &str) {
        send_signal(self.child.id(), name);
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn send_signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Run `pylon <args>` to completion (at most 20 s).
async fn run(args: &[&str], files: &[(&str, &str)], unset: &[&str]) -> Finished {
    Spawned::start(args, &[], unset, files)
        .finish(Duration::from_secs(20))
        .await
}

/// Replace the config file the way editors do (write aside, then rename), so
/// a watcher never reads a half-written file.
fn write_config(path: &Path, config: &Value) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, config.to_string()).expect("write config");
    std::fs::rename(&tmp, path).expect("rename config");
}

/// The body of `GET url`, or the error as text.
async fn body_of(url: &str) -> String {
    match http_get(url).await {
        Ok((200, body)) => body,
        Ok((status, body)) => format!("<{status}> {body}"),
        Err(e) => format!("<error> {e:#}"),
    }
}

/// Poll until `GET url` answers 200 with `expected`, for up to `within`.
async fn wait_for_body(url: &str, expected: &str, within: Duration) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let got = body_of(url).await;
        if got == expected {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(got);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A config with a static route `/v` answering `body` and a proxy route
/// `/echo` to `echo` (when given).
fn versioned_config(ports: &Ports, body: &str, echo: Option<SocketAddr>, watch: bool) -> Value {
    let mut cfg = base_config(ports);
    cfg["server"]["watch_config"] = json!(watch);
    cfg["routes"] = json!([{
        "name": "version", "match": {"paths": [{"exact": "/v"}]},
        "respond": {"status": 200, "headers": {"content-type": "text/plain"}, "body": body},
    }]);
    if let Some(addr) = echo {
        cfg["upstreams"] = json!([upstream("echo", addr)]);
        cfg["routes"].as_array_mut().unwrap().push(
            json!({"name": "echo", "match": {"paths": [{"prefix": "/echo"}]}, "upstream": "echo"}),
        );
    }
    cfg
}

// ---------------------------------------------------------------------------
// 1. --version
// ---------------------------------------------------------------------------

#[tokio::test]
async fn version_prints_the_version() {
    bounded(TEST_SECS, async {
        let out = run(&["--version"], &[], &[]).await;
        assert_eq!(out.code(), Some(0), "{out:?}");
        assert_eq!(
            out.stdout.trim(),
            format!("pylon {}", env!("CARGO_PKG_VERSION")),
            "{out:?}"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------
// 2. validate
// ---------------------------------------------------------------------------

const GOOD_YAML: &str = r#"
server:
  admin_listen: 127.0.0.1:9080
  shutdown_timeout: 10s
listeners:
  - name: public
    bind: 0.0.0.0:8080
    limits: { max_headers: 50, header_read_timeout: 5s }
upstreams:
  - name: users
    targets:
      - address: 127.0.0.1:9001
        weight: 2
      - address: http://localhost:9002
    retries: { attempts: 2 }
routes:
  - name: users
    match:
      hosts: [api.example.com, "*.example.org"]
      paths: [{ template: "/users/{id}" }, { regex: "^/u/(?P<id>[0-9]+)$" }]
      methods: [GET]
    rewrite: { path: "/v2/users/{id}" }
    upstream: users
  - name: hello
    match: { paths: [{ exact: /hello }] }
    respond: { status: 200, body: "hi\n" }
"#;

#[tokio::test]
async fn validate_good_config_prints_ok() {
    bounded(TEST_SECS, async {
        let out = run(&["validate", "good.yaml"], &[("good.yaml", GOOD_YAML)], &[]).await;
        assert_eq!(out.code(), Some(0), "{out:?}");
        assert_eq!(out.stdout.trim(), "ok", "{out:?}");

        // The same document as JSON.
        let json_doc = json!({
            "listeners": [{"name": "public", "bind": "127.0.0.1:8080"}],
            "routes": [{"name": "hello", "match": {"paths": [{"exact": "/hello"}]}, "respond": {"body": "hi"}}],
        });
        let out = run(&["validate", "good.json"], &[("good.json", &json_doc.to_string())], &[]).await;
        assert_eq!(out.code(), Some(0), "{out:?}");
        assert_eq!(out.stdout.trim(), "ok", "{out:?}");
    })
    .await;
}

const UNSET_VAR: &str = "PYLON_CLI_TEST_SURELY_UNSET_VAR";

fn bad_yaml() -> String {
    format!(
        r#"
server:
  admin_listen: 127.0.0.1:9080
  no_such_field: true
listeners:
  - name: public
    bind: 127.0.0.1:8080
upstreams:
  - name: users
    targets:
      - address: "${{{UNSET_VAR}}}"
routes:
  - name: dup
    match: {{ paths: [{{ regex: "^/(unclosed" }}] }}
    upstream: nowhere
  - name: dup
    match: {{ paths: [{{ exact: /x }}] }}
    respond: {{ body: "x" }}
"#
    )
}

/// The problems `bad_yaml` must report: (path, part of the reason).
fn expected_problems() -> Vec<(&'static str, String)> {
    vec![
        ("server.no_such_field", "unknown field".to_string()),
        ("upstreams[0].targets[0].address", UNSET_VAR.to_string()),
        ("routes[0].match.paths[0]", "regular expression".to_string()),
        ("routes[0].upstream", "nowhere".to_string()),
        ("routes[1].name", "duplicate".to_string()),
    ]
}

fn assert_every_problem_listed(output: &str, file: &str) {
    let lines: Vec<&str> = output.lines().collect();
    for (path, reason) in expected_problems() {
        let prefix = format!("{file}: {path}: ");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&prefix) && l[prefix.len()..].contains(&reason)),
            "missing `{prefix}...{reason}...` in:\n{output}"
        );
    }
}

#[tokio::test]
async fn validate_bad_config_lists_every_problem() {
    bounded(TEST_SECS, async {
        let out = run(
            &["validate", "bad.yaml"],
            &[("bad.yaml", &bad_yaml())],
            &[UNSET_VAR],
        )
        .await;
        assert_eq!(out.code(), Some(1), "{out:?}");
        assert!(!out.stdout.contains("ok"), "{out:?}");
        assert_every_problem_listed(&out.stderr, "bad.yaml");
        // Every problem line has the `file: path: reason` shape.
        for line in out.stderr.lines().filter(|l| l.starts_with("bad.yaml")) {
            let parts: Vec<&str> = line.splitn(3, ": ").collect();
            assert!(
                parts.len() == 3 && !parts[1].is_empty() && !parts[2].trim().is_empty(),
                "not `file: path: reason`: {line:?}"
            );
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// 3. serve start-up failures
// ---------------------------------------------------------------------------

#[tokio::test]
async fn serve_with_bad_config_exits_1_with_errors() {
    bounded(TEST_SECS, async {
        let out = run(
            &["serve", "--config", "bad.yaml"],
            &[("bad.yaml", &bad_yaml())],
            &[UNSET_VAR],
        )
        .await;
        assert_eq!(out.code(), Some(1), "{out:?}");
        assert_every_problem_listed(&out.stderr, "bad.yaml");
        assert!(
            !out.stderr.contains("listening"),
            "nothing may start: {}",
            out.stderr
        );
    })
    .await;
}

/// Start `pylon serve` on a config whose `what` address is already taken and
/// check the exit and the one line naming `listener` and `addr`.
async fn assert_bind_failure(config: &Value, listener: &str, addr: &str) {
    let out = run(
        &["serve", "--config", "pylon.json"],
        &[("pylon.json", &config.to_string())],
        &[],
    )
    .await;
    assert!(
        out.code().is_some_and(|c| c != 0),
        "expected a failing exit, got {:?}\n{}",
        out.status,
        out.stderr
    );
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains(addr)).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line naming {addr}, got:\n{}",
        out.stderr
    );
    let line = lines[0];
    assert!(
        line.contains(listener),
        "the line must name listener `{listener}`: {line:?}"
    );
    assert!(
        line.to_lowercase().contains("in use"),
        "the line must say why: {line:?}"
    );
    assert_eq!(
        line.matches("Address already in use").count(),
        1,
        "the cause is repeated: {line:?}"
    );
}

#[tokio::test]
async fn serve_with_listener_port_in_use_exits_with_one_clear_line() {
    bounded(TEST_SECS, async {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let ports = Ports::fresh().unwrap();
        let mut cfg = base_config(&ports);
        cfg["listeners"][0]["bind"] = json!(addr);
        assert_bind_failure(&cfg, "public", &addr).await;
        drop(taken);
    })
    .await;
}

#[tokio::test]
async fn serve_with_admin_port_in_use_exits_with_one_clear_line() {
    bounded(TEST_SECS, async {
        let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let ports = Ports::fresh().unwrap();
        let mut cfg = base_config(&ports);
        cfg["server"]["admin_listen"] = json!(addr);
        assert_bind_failure(&cfg, "admin", &addr).await;
        drop(taken);
    })
    .await;
}

#[tokio::test]
async fn serve_with_unreadable_certificate_exits_with_a_clear_line() {
    bounded(TEST_SECS, async {
        let ports = Ports::fresh().unwrap();
        let mut cfg = base_config(&ports);
        // A missing file.
        cfg["listeners"][0]["tls"] = json!({"certificates": [
            {"cert_file": "/nonexistent/pylon-test/cert.pem", "key_file": "/nonexistent/pylon-test/key.pem"}
        ]});
        let out = run(
            &["serve", "--config", "pylon.json"],
            &[("pylon.json", &cfg.to_string())],
            &[],
        )
        .await;
        assert!(out.code().is_some_and(|c| c != 0), "{out:?}");
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains("/nonexistent/pylon-test/cert.pem") && l.contains("cert_file")),
            "no line names the certificate file:\n{}",
            out.stderr
        );

        // A file that exists but holds no certificate.
        let certs = tempfile::tempdir().unwrap();
        let garbage = certs.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let mut cfg = base_config(&ports);
        cfg["listeners"][0]["tls"] = json!({"certificates": [
            {"cert_file": garbage.display().to_string(), "key_file": garbage.display().to_string()}
        ]});
        let out = run(
            &["serve", "--config", "pylon.json"],
            &[("pylon.json", &cfg.to_string())],
            &[],
        )
        .await;
        assert!(out.code().is_some_and(|c| c != 0), "{out:?}");
        let garbage = garbage.display().to_string();
        let lines: Vec<&str> = out.stderr.lines().filter(|l| l.contains(&garbage)).collect();
        assert!(
            !lines.is_empty() && lines.iter().any(|l| l.contains("public")),
            "no clear line naming listener `public` and {garbage}:\n{}",
            out.stderr
        );
    })
    .await;
}

// ---------------------------------------------------------------------------
// 4. Hot reload
// ---------------------------------------------------------------------------

#[tokio::test]
async fn reload_on_file_change_refuses_invalid_and_reloads_on_sighup() {
    bounded(TEST_SECS, async {
        let (mut pylon, ports) = start_pylon(|p| versioned_config(p, "one", None, true)).await;
        let url = ports.url("/v");
        assert_eq!(body_of(&url).await, "one");

        // A changed file is picked up by the watcher.
        write_config(
            pylon.config_path(),
            &versioned_config(&ports, "two", None, true),
        );
        if let Err(got) = wait_for_body(&url, "two", Duration::from_secs(10)).await {
            panic!(
                "file change not applied within 10s (serving {got:?})\n{}",
                pylon.stderr()
            );
        }

        // An invalid file is refused and the old config keeps serving.
        let mut invalid = versioned_config(&ports, "broken", None, true);
        invalid["routes"][0]["respond"] = Value::Null;
        invalid["routes"][0]["upstream"] = json!("no-such-upstream");
        write_config(pylon.config_path(), &invalid);
        let refused = eventually(Duration::from_secs(10), || async {
            pylon.stderr().contains("refused")
        })
        .await;
        assert!(refused, "no `refused` on stderr:\n{}", pylon.stderr());
        for _ in 0..5 {
            assert_eq!(
                body_of(&url).await,
                "two",
                "the old config must keep serving"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            pylon.stderr().contains("no-such-upstream"),
            "the refused reload should name the problem:\n{}",
            pylon.stderr()
        );

        // Fixed, plus SIGHUP: served.
        write_config(
            pylon.config_path(),
            &versioned_config(&ports, "three", None, true),
        );
        pylon.reload_signal().unwrap();
        if let Err(got) = wait_for_body(&url, "three", Duration::from_secs(10)).await {
            panic!(
                "fixed config not applied (serving {got:?}; exit status {:?})\n{}",
                pylon.try_exit_status(),
                pylon.stderr()
            );
        }
    })
    .await;
}

#[tokio::test]
async fn reload_on_sighup_when_watching_is_off() {
    bounded(TEST_SECS, async {
        let (mut pylon, ports) = start_pylon(|p| versioned_config(p, "one", None, false)).await;
        let url = ports.url("/v");
        write_config(
            pylon.config_path(),
            &versioned_config(&ports, "two", None, false),
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            body_of(&url).await,
            "one",
            "watch_config is false: no reload without SIGHUP"
        );
        pylon.reload_signal().unwrap();
        if let Err(got) = wait_for_body(&url, "two", Duration::from_secs(10)).await {
            panic!(
                "SIGHUP did not reload (serving {got:?}; exit status {:?})\n{}",
                pylon.try_exit_status(),
                pylon.stderr()
            );
        }
    })
    .await;
}

/// A client loop that keeps sending requests until told to stop, counting
/// them and recording every one that was not a 200.
fn spawn_client_loop(
    client: reqwest::Client,
    urls: Vec<String>,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut i = 0usize;
        while !stop.load(Ordering::SeqCst) {
            let url = &urls[i % urls.len()];
            i += 1;
            let result = client.get(url).send().await;
            let problem = match result {
                Ok(resp) if resp.status() == 200 => match resp.bytes().await {
                    Ok(_) => None,
                    Err(e) => Some(format!("{url}: body: {e}")),
                },
                Ok(resp) => {
                    let status = resp.status();
                    let body = resp.text().await.unwrap_or_default();
                    Some(format!("{url}: {status} {body}"))
                }
                Err(e) => Some(format!("{url}: {e:?}")),
            };
            count.fetch_add(1, Ordering::SeqCst);
            if let Some(p) = problem {
                failures.lock().unwrap().push(p);
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_under_load_fail_no_request() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let config_for = |ports: &Ports, generation: usize| {
            let mut cfg = versioned_config(
                ports,
                &format!("gen-{generation}"),
                Some(echo.addr()),
                false,
            );
            // Every other reload changes the listener's settings (swapped in
            // place) and the upstream (rebuilt), not only the routes.
            cfg["listeners"][0]["limits"] = json!({"max_headers": 100 + generation % 2});
            cfg["upstreams"][0]["timeouts"] = json!({"read": format!("{}s", 30 + generation % 2)});
            cfg
        };
        let (mut pylon, ports) = start_pylon(|p| config_for(p, 0)).await;
        let urls = vec![
            ports.url("/v"),
            ports.url("/echo/a"),
            ports.url("/echo/b?x=1"),
        ];

        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let keep_alive = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let fresh = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let loops = [
            spawn_client_loop(
                keep_alive.clone(),
                urls.clone(),
                stop.clone(),
                count.clone(),
                failures.clone(),
            ),
            spawn_client_loop(
                keep_alive,
                urls.clone(),
                stop.clone(),
                count.clone(),
                failures.clone(),
            ),
            spawn_client_loop(
                fresh,
                urls.clone(),
                stop.clone(),
                count.clone(),
                failures.clone(),
            ),
        ];

        for generation in 1..=20 {
            write_config(pylon.config_path(), &config_for(&ports, generation));
            pylon.reload_signal().unwrap();
            let expected = format!("gen-{generation}");
            if let Err(got) =
                wait_for_body(&ports.url("/v"), &expected, Duration::from_secs(10)).await
            {
                panic!(
                    "reload {generation} not applied (serving {got:?}; process exit status: {:?}; \
                     {} requests so far, failures: {:?})\n{}",
                    pylon.try_exit_status(),
                    count.load(Ordering::SeqCst),
                    failures.lock().unwrap().iter().take(5).collect::<Vec<_>>(),
                    pylon.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        stop.store(true, Ordering::SeqCst);
        for l in loops {
            l.await.unwrap();
        }
        let total = count.load(Ordering::SeqCst);
        let failures = failures.lock().unwrap().clone();
        assert!(
            failures.is_empty(),
            "{} of {total} requests failed during 20 reloads, e.g.:\n{}",
            failures.len(),
            failures
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(total >= 60, "the client loops sent only {total} requests");

        let (_, metrics) = http_get(&ports.admin_url("/metrics")).await.unwrap();
        let ok = metric_sum(
            &metrics,
            "pylon_config_reloads_total",
            &["result=\"success\""],
        )
        .unwrap_or(0.0);
        assert_eq!(ok, 20.0, "pylon_config_reloads_total{{result=\"success\"}}");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 5. Graceful shutdown
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests_and_exits_0() {
    bounded(TEST_SECS, async {
        let slow = DelayServer::start(Duration::from_millis(1500)).await.unwrap();
        let (mut pylon, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["server"]["shutdown_timeout"] = json!("10s");
            cfg["upstreams"] = json!([upstream("slow", slow.addr())]);
            cfg["routes"] = json!([{"name": "slow", "match": {"paths": [{"prefix": "/slow"}]}, "upstream": "slow"}]);
            cfg
        })
        .await;
        let url = ports.url("/slow");
        let in_flight = tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap();
            let resp = client.get(&url).send().await?;
            let status = resp.status().as_u16();
            let body = resp.text().await?;
            anyhow::Ok((status, body, Instant::now()))
        });
        let arrived = eventually(Duration::from_secs(10), || async { slow.request_count() >= 1 }).await;
        assert!(arrived, "the request never reached the slow upstream");

        let sigterm_at = Instant::now();
        pylon.terminate().unwrap();

        // New connections are refused once the listener has closed.
        let mut refused_after = None;
        while sigterm_at.elapsed() < Duration::from_secs(3) {
            match tokio::net::TcpStream::connect(ports.proxy_addr()).await {
                Err(_) => {
                    refused_after = Some(sigterm_at.elapsed());
                    break;
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let refused_after = refused_after.expect("new connections were still accepted 3s after SIGTERM");
        assert!(
            tokio::net::TcpStream::connect(ports.proxy_addr()).await.is_err(),
            "a connection was accepted after the listener had closed"
        );

        let (status, body, done_at) = in_flight.await.unwrap().expect("the in-flight request failed");
        assert_eq!((status, body.as_str()), (200, "delayed"), "the in-flight request must complete");
        assert!(done_at > sigterm_at);

        let exit = pylon.wait_exit(Duration::from_secs(12)).await;
        let exit = exit.unwrap_or_else(|| panic!("pylon did not exit within the 10s deadline\n{}", pylon.stderr()));
        assert_eq!(exit.code(), Some(0), "exit status {exit}\n{}", pylon.stderr());
        assert!(
            sigterm_at.elapsed() < Duration::from_secs(10),
            "exit took {:?}",
            sigterm_at.elapsed()
        );
        eprintln!("new connections refused {refused_after:?} after SIGTERM");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_file_has_every_request_after_sigterm() {
    bounded(TEST_SECS, async {
        let (mut pylon, ports) = start_pylon(|p| {
            let mut cfg = versioned_config(p, "logged", None, false);
            cfg["server"]["access_log"] = json!({"enabled": true, "output": "access.log"});
            cfg
        })
        .await;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let mut workers = Vec::new();
        for w in 0..4 {
            let client = client.clone();
            let base = ports.url("/v");
            workers.push(tokio::spawn(async move {
                for i in 0..50 {
                    let resp = client
                        .get(format!("{base}?w={w}&i={i}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(resp.status(), 200);
                    resp.bytes().await.unwrap();
                }
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
        pylon.terminate().unwrap();
        let exit = pylon
            .wait_exit(Duration::from_secs(15))
            .await
            .expect("pylon did not exit");
        assert_eq!(exit.code(), Some(0), "{}", pylon.stderr());

        let log_path = pylon.dir().join("access.log");
        let text = std::fs::read_to_string(&log_path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", log_path.display(), pylon.stderr()));
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 200, "access log lines\n{}", pylon.stderr());
        let mut ids = HashSet::new();
        let mut queries = HashSet::new();
        for line in &lines {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert_eq!(v["status"], 200, "{line}");
            assert_eq!(v["route"], "version", "{line}");
            assert_eq!(v["path"], "/v", "{line}");
            ids.insert(v["request_id"].as_str().unwrap_or_default().to_string());
            queries.insert(v["query"].as_str().unwrap_or_default().to_string());
        }
        assert_eq!(ids.len(), 200, "request ids are not unique");
        assert_eq!(
            queries.len(),
            200,
            "some requests are logged twice and others not at all"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------
// 6. Ops endpoints
// ---------------------------------------------------------------------------

#[tokio::test]
async fn ops_endpoints_and_metrics() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (pylon, ports) =
            start_pylon(|p| versioned_config(p, "one", Some(echo.addr()), false)).await;
        let (status, body) = http_get(&ports.admin_url("/healthz")).await.unwrap();
        assert_eq!(status, 200, "{body}");
        let (status, body) = http_get(&ports.admin_url("/readyz")).await.unwrap();
        assert_eq!(status, 200, "{body}");

        for _ in 0..3 {
            assert_eq!(http_get(&ports.url("/v")).await.unwrap().0, 200);
        }
        for _ in 0..2 {
            assert_eq!(http_get(&ports.url("/echo/x")).await.unwrap().0, 200);
        }
        assert_eq!(http_get(&ports.url("/missing")).await.unwrap().0, 404);

        let metrics_url = ports.admin_url("/metrics");
        // A request is counted when its response body has been sent: poll briefly.
        let deadline = Instant::now() + Duration::from_secs(5);
        let (text, counted) = loop {
            let text = http_get(&metrics_url)
                .await
                .map(|(_, b)| b)
                .unwrap_or_default();
            let counted = metric_sum(&text, "pylon_http_requests_total", &["route=\"version\""])
                == Some(3.0)
                && metric_sum(&text, "pylon_http_requests_total", &["route=\"echo\""]) == Some(2.0);
            if counted || Instant::now() >= deadline {
                break (text, counted);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(
            counted,
            "pylon_http_requests_total by route is wrong:\n{text}"
        );
        assert_eq!(
            metric_sum(
                &text,
                "pylon_http_requests_total",
                &["route=\"version\"", "status_class=\"2xx\""]
            ),
            Some(3.0),
            "{text}"
        );
        assert!(
            metric_sum(
                &text,
                "pylon_http_requests_total",
                &["status_class=\"4xx\""]
            )
            .unwrap_or(0.0)
                >= 1.0,
            "the 404 is not counted:\n{text}"
        );
        let reloads_ok = |t: &str| {
            metric_sum(t, "pylon_config_reloads_total", &["result=\"success\""]).unwrap_or(0.0)
        };
        let reloads_failed = |t: &str| {
            metric_sum(t, "pylon_config_reloads_total", &["result=\"failure\""]).unwrap_or(0.0)
        };
        let before_ok = reloads_ok(&text);
        let before_failed = reloads_failed(&text);

        // A good reload.
        write_config(
            pylon.config_path(),
            &versioned_config(&ports, "two", Some(echo.addr()), false),
        );
        pylon.reload_signal().unwrap();
        wait_for_body(&ports.url("/v"), "two", Duration::from_secs(10))
            .await
            .unwrap();
        let (_, text) = http_get(&metrics_url).await.unwrap();
        assert_eq!(
            reloads_ok(&text),
            before_ok + 1.0,
            "success reloads:\n{text}"
        );

        // A refused reload.
        let mut invalid = versioned_config(&ports, "x", None, false);
        invalid["routes"][0]["respond"] = Value::Null;
        invalid["routes"][0]["upstream"] = json!("nope");
        write_config(pylon.config_path(), &invalid);
        pylon.reload_signal().unwrap();
        let url = metrics_url.clone();
        let failed = eventually(Duration::from_secs(10), || {
            let url = url.clone();
            async move {
                let t = http_get(&url).await.map(|(_, b)| b).unwrap_or_default();
                reloads_failed(&t) == before_failed + 1.0
            }
        })
        .await;
        assert!(
            failed,
            "pylon_config_reloads_total{{result=\"failure\"}} did not increase"
        );
        assert_eq!(body_of(&ports.url("/v")).await, "two");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 7. Workers and log format
// ---------------------------------------------------------------------------

/// Start `pylon <args>` on a small config, check it serves, stop it with
/// SIGTERM and return it (exited) for inspection of its output.
async fn serve_and_stop(args: &[&str], envs: &[(&str, &str)]) -> Spawned {
    let mut last_err = String::new();
    for _ in 0..3 {
        let ports = Ports::fresh().unwrap();
        let cfg = versioned_config(&ports, "served", None, false);
        let mut spawned = Spawned::start(args, envs, &[], &[("pylon.json", &cfg.to_string())]);
        let ready_url = ports.admin_url("/readyz");
        // A port taken in between makes the process exit early: try again.
        let deadline = Instant::now() + Duration::from_secs(20);
        let ready = loop {
            if spawned.try_exit().is_some() {
                break false;
            }
            if let Ok((200, _)) = http_get(&ready_url).await {
                break true;
            }
            if Instant::now() >= deadline {
                break false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if !ready {
            last_err = spawned.stderr();
            continue;
        }
        assert_eq!(body_of(&ports.url("/v")).await, "served");
        spawned.signal("TERM");
        let exit = spawned
            .wait_exit(Duration::from_secs(15))
            .await
            .expect("pylon did not exit");
        assert_eq!(exit.code(), Some(0), "{}", spawned.stderr());
        return spawned;
    }
    panic!("pylon {args:?} never became ready:\n{last_err}");
}

#[tokio::test]
async fn workers_flag_and_env_are_accepted() {
    bounded(TEST_SECS, async {
        serve_and_stop(&["serve", "--config", "pylon.json", "--workers", "1"], &[]).await;
        serve_and_stop(
            &["serve", "--config", "pylon.json"],
            &[("PYLON_WORKERS", "1")],
        )
        .await;
        // Zero workers is refused with a message.
        let ports = Ports::fresh().unwrap();
        let cfg = versioned_config(&ports, "x", None, false);
        let out = run(
            &["serve", "--config", "pylon.json", "--workers", "0"],
            &[("pylon.json", &cfg.to_string())],
            &[],
        )
        .await;
        assert!(out.code().is_some_and(|c| c != 0), "{out:?}");
        assert!(out.stderr.contains("workers"), "{out:?}");
    })
    .await;
}

#[tokio::test]
async fn log_format_json_makes_stderr_json_lines() {
    bounded(TEST_SECS, async {
        let spawned = serve_and_stop(
            &["--log-format", "json", "serve", "--config", "pylon.json"],
            &[],
        )
        .await;
        let stderr = spawned.stderr();
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            lines.len() >= 2,
            "expected log lines on stderr, got:\n{stderr}"
        );
        for line in &lines {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(v.is_object(), "{line}");
            assert!(v.get("level").is_some(), "no level: {line}");
        }
        assert!(
            lines.iter().any(|l| l.contains("pylon started")),
            "no start message:\n{stderr}"
        );
        // The subcommand-level spelling works too.
        serve_and_stop(
            &["serve", "--config", "pylon.json", "--log-format", "json"],
            &[],
        )
        .await;
        // And the environment variable.
        let spawned = serve_and_stop(
            &["serve", "--config", "pylon.json"],
            &[("PYLON_LOG_FORMAT", "json")],
        )
        .await;
        for line in spawned.stderr().lines().filter(|l| !l.trim().is_empty()) {
            assert!(
                serde_json::from_str::<Value>(line).is_ok(),
                "not JSON: {line}"
            );
        }
    })
    .await;
}
