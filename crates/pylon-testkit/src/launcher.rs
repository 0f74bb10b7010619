//! A launcher for the real `pylon` binary: writes a config into a temp dir,
//! runs `pylon serve --config <file>` there with stdout/stderr captured to
//! files, and waits until `GET http://<server.admin_listen>/readyz` answers 200.
//! Dropping the [`PylonProcess`] kills it (SIGKILL); `terminate()` and
//! `reload_signal()` send SIGTERM and SIGHUP.
//!
//! The binary is found, in order, from: `PYLON_BIN`; `CARGO_BIN_EXE_pylon`;
//! the target dir holding the running test executable (`target/<profile>/pylon`);
//! `CARGO_TARGET_DIR`; `<workspace root>/target`, trying `debug` and `release`
//! and taking the newer. Tests outside the `pylon` crate must make sure the
//! binary is built (`cargo build -p pylon`) before they run.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use http::StatusCode;
use tempfile::TempDir;

/// How long [`PylonProcess::start`] waits for `/readyz`.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The admin address used when the config does not set `server.admin_listen`.
const DEFAULT_ADMIN: &str = "127.0.0.1:9080";

/// Most bytes of stderr (and of stdout) quoted in an error.
const OUTPUT_TAIL: usize = 8 * 1024;

/// A free TCP port on 127.0.0.1 (bound, read, released; another process could
/// take it in between, which is rare enough for tests).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?)))
}

/// A loopback address where connections are refused for as long as the value
/// lives: the port is bound but never listened on, so no other server can take
/// it and no outgoing connection can use it as its own source port (which an
/// unbound "free" port allows: a TCP self-connect).
#[derive(Debug)]
pub struct DeadAddr {
    addr: SocketAddr,
    _socket: tokio::net::TcpSocket,
}

impl DeadAddr {
    pub fn new() -> anyhow::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let addr = socket.local_addr()?;
        Ok(Self {
            addr,
            _socket: socket,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl std::fmt::Display for DeadAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.addr.fmt(f)
    }
}

/// A running `pylon serve`.
#[derive(Debug)]
pub struct PylonProcess {
    child: Child,
    dir: TempDir,
    config_path: PathBuf,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    admin: SocketAddr,
    bin: PathBuf,
    exit: Option<ExitStatus>,
}

impl PylonProcess {
    /// Find the binary (see the module docs) and start it with `config_yaml`.
    pub async fn start(config_yaml: &str) -> anyhow::Result<Self> {
        let bin = find_pylon_binary()?;
        Self::start_with(&bin, config_yaml).await
    }

    /// Start the binary at `bin` with `config_yaml` and wait until it is ready.
    /// Its working directory is the temp dir, so relative paths in the config
    /// (such as the default `data_dir`) land there.
    pub async fn start_with(bin: &Path, config_yaml: &str) -> anyhow::Result<Self> {
        let admin = admin_addr(config_yaml)?;
        let dir = tempfile::Builder::new()
            .prefix("pylon-test-")
            .tempdir()
            .context("creating a temp dir")?;
        let config_path = dir.path().join("pylon.yaml");
        std::fs::write(&config_path, config_yaml).context("writing the config")?;
        let stdout_path = dir.path().join("stdout.log");
        let stderr_path = dir.path().join("stderr.log");
        let stdout = File::create(&stdout_path).context("creating stdout.log")?;
        let stderr = File::create(&stderr_path).context("creating stderr.log")?;
        let child = Command::new(bin)
            .arg("serve")
            .arg("--config")
            .arg(&config_path)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let mut process = Self {
            child,
            dir,
            config_path,
            stdout_path,
            stderr_path,
            admin,
            bin: bin.to_path_buf(),
            exit: None,
        };
        process.wait_ready(READY_TIMEOUT).await?;
        Ok(process)
    }

    /// Poll `/readyz` until it answers 200; fails (quoting stderr and stdout) if the
    /// process exits or `timeout` passes first.
    pub async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let url = format!("{}/readyz", self.admin_url());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                bail!(
                    "{} exited with {status} before it was ready\n{}",
                    self.bin.display(),
                    self.output_tail()
                );
            }
            let attempt =
                tokio::time::timeout(Duration::from_secs(1), crate::client::get(&url)).await;
            let last = match attempt {
                Ok(Ok((StatusCode::OK, _, _))) => return Ok(()),
                Ok(Ok((status, _, _))) => format!("{url} answered {status}"),
                Ok(Err(e)) => format!("{e:#}"),
                Err(_) => format!("{url} did not answer within 1s"),
            };
            if Instant::now() >= deadline {
                bail!(
                    "{} not ready within {timeout:?} (last: {last})\n{}",
                    self.bin.display(),
                    self.output_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The admin listener's address (from `server.admin_listen`).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// `http://<admin address>`.
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    /// The binary that was started.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The config file the process was started with; rewrite it for reload tests.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The temp dir holding the config, the logs and the working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    /// Send SIGTERM (graceful shutdown).
    pub fn terminate(&self) -> anyhow::Result<()> {
        self.signal("TERM")
    }

    /// Send SIGHUP (config reload).
    pub fn reload_signal(&self) -> anyhow::Result<()> {
        self.signal("HUP")
    }

    fn signal(&self, name: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill -{name} {} failed: {status}", self.child.id());
        }
        Ok(())
    }

    /// The exit status if the process has exited (reaping it), without waiting.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().ok().flatten();
        }
        self.exit
    }

    /// Wait up to `timeout` for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kill the process (SIGKILL) and reap it.
    pub fn kill(&mut self) {
        if self.try_exit_status().is_none() {
            let _ = self.child.kill();
            self.exit = self.child.wait().ok();
        }
    }

    /// The ends of stderr and stdout, for error messages.
    fn output_tail(&self) -> String {
        format!(
            "--- pylon stderr ---\n{}\n--- pylon stdout ---\n{}",
            tail(&self.stderr()),
            tail(&self.stdout())
        )
    }
}

/// The last [`OUTPUT_TAIL`] bytes of `text` (on a char boundary).
fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(OUTPUT_TAIL);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    &text[start..]
}

impl Drop for PylonProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// Where to poll for readiness: `server.admin_listen` from the config (YAML
/// or JSON), with an unspecified IP (0.0.0.0, ::) mapped to loopback.
pub fn admin_addr(config_yaml: &str) -> anyhow::Result<SocketAddr> {
    let doc: serde_json::Value = if config_yaml.trim().is_empty() {
        serde_json::Value::Null
    } else {
        serde_saphyr::from_str(config_yaml)
            .map_err(|e| anyhow::anyhow!("config is not valid YAML/JSON: {e}"))?
    };
    let text = match doc.pointer("/server/admin_listen") {
        None => DEFAULT_ADMIN.to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) => {
            bail!("server.admin_listen is null: the launcher needs it to check readiness")
        }
        Some(other) => bail!("server.admin_listen is not a string: {other}"),
    };
    let mut addr: SocketAddr = text
        .parse()
        .with_context(|| format!("server.admin_listen `{text}` is not ip:port"))?;
    if addr.port() == 0 {
        bail!("server.admin_listen must name a port (use free_port())");
    }
    if addr.ip().is_unspecified() {
        addr.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    Ok(addr)
}

/// Locate the `pylon` binary (see the module docs for the search order).
pub fn find_pylon_binary() -> anyhow::Result<PathBuf> {
    let mut tried = Vec::new();
    for var in ["PYLON_BIN", "CARGO_BIN_EXE_pylon"] {
        if let Some(path) = std::env::var_os(var).map(PathBuf::from) {
            if path.is_file() {
                return Ok(path);
            }
            tried.push(format!("{var}={}", path.display()));
        }
    }
    // Test executables live in <target>/<profile>/deps/; the binary one level up.
    if let Some(profile_dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
    {
        let candidate = profile_dir.join(exe_name());
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    let root = workspace_root();
    let mut target_dirs = Vec::new();
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        target_dirs.push(match &root {
            Some(root) if dir.is_relative() => root.join(dir),
            _ => dir,
        });
    }
    if let Some(root) = &root {
        target_dirs.push(root.join("target"));
    }
    for target in target_dirs {
        let found = ["debug", "release"]
            .iter()
            .map(|profile| target.join(profile).join(exe_name()))
            .inspect(|c| tried.push(c.display().to_string()))
            .filter_map(|c| Some((c.metadata().ok()?.modified().ok()?, c)))
            .max_by_key(|(modified, _)| *modified);
        if let Some((_, path)) = found {
            return Ok(path);
        }
    }
    bail!(
        "cannot find the pylon binary (build it with `cargo build -p pylon` or set PYLON_BIN); tried: {}",
        tried.join(", ")
    )
}

fn exe_name() -> String {
    format!("pylon{}", std::env::consts::EXE_SUFFIX)
}

/// The workspace root: walking up from `CARGO_MANIFEST_DIR` (at run time, else
/// this crate's own) to the first directory whose Cargo.toml has `[workspace]`.
pub fn workspace_root() -> Option<PathBuf> {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|text| text.lines().any(|line| line.trim() == "[workspace]"))
        })
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_addr_from_yaml_json_and_default() {
        let yaml = "server:\n  admin_listen: \"0.0.0.0:9123\"\n";
        assert_eq!(admin_addr(yaml).unwrap(), "127.0.0.1:9123".parse().unwrap());
        let json = r#"{"server": {"admin_listen": "127.0.0.1:9124"}}"#;
        assert_eq!(admin_addr(json).unwrap(), "127.0.0.1:9124".parse().unwrap());
        assert_eq!(
            admin_addr("listeners: []\n").unwrap(),
            DEFAULT_ADMIN.parse().unwrap()
        );
        assert!(admin_addr("server:\n  admin_listen: null\n").is_err());
        assert!(admin_addr("server:\n  admin_listen: 127.0.0.1:0\n").is_err());
    }

    #[test]
    fn finds_the_workspace_root_and_a_free_port() {
        let root = workspace_root().unwrap();
        assert!(root.join("crates").join("pylon-testkit").is_dir());
        assert_ne!(free_port().unwrap(), 0);
    }
}
