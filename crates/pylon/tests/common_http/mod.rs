//! Helpers shared by the integration tests that drive the real `pylon` binary:
//! starting it on fresh loopback ports (retrying if a port was taken in
//! between), a raw HTTP/1.1 connection that sends exactly the bytes given and
//! parses what comes back, and small polling utilities. Every wait is bounded.
#![allow(dead_code)]

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use pylon_testkit::{PylonProcess, free_port};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The binary under test.
pub fn pylon_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pylon"))
}

/// Run `test`, failing if it takes longer than `secs` seconds.
pub async fn bounded<F: Future>(secs: u64, test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), test)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {secs}s"))
}

/// The loopback ports a test's Pylon uses.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub admin: u16,
    pub proxy: u16,
}

impl Ports {
    pub fn fresh() -> anyhow::Result<Self> {
        Ok(Self {
            admin: free_port()?,
            proxy: free_port()?,
        })
    }

    pub fn proxy_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.proxy))
    }

    pub fn admin_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.admin))
    }

    /// `http://127.0.0.1:<proxy port>` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.proxy)
    }

    /// `http://127.0.0.1:<admin port>` followed by `path`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin)
    }
}

/// A minimal config: the admin listener and one listener `public` on the
/// given ports, no file watching, the access log on stdout, no upstreams and
/// no routes. Tests fill in the rest.
pub fn base_config(ports: &Ports) -> Value {
    json!({
        "server": {
            "admin_listen": format!("127.0.0.1:{}", ports.admin),
            "watch_config": false,
            "shutdown_timeout": "5s",
            "access_log": {"enabled": true, "output": "stdout"},
        },
        "listeners": [
            {"name": "public", "bind": format!("127.0.0.1:{}", ports.proxy)}
        ],
        "upstreams": [],
        "routes": [],
    })
}

/// An upstream named `name` with one target at `addr`.
pub fn upstream(name: &str, addr: SocketAddr) -> Value {
    json!({"name": name, "targets": [{"address": addr.to_string()}]})
}

/// Start Pylon with the config `make` builds for a fresh pair of ports; if the
/// start fails (most likely a port taken in the meantime), try again with new
/// ports, up to three times.
pub async fn start_pylon(make: impl Fn(&Ports) -> Value) -> (PylonProcess, Ports) {
    let mut last = String::new();
    for _ in 0..3 {
        let ports = Ports::fresh().expect("free ports");
        let config = make(&ports).to_string();
        match PylonProcess::start_with(pylon_bin(), &config).await {
            Ok(process) => return (process, ports),
            Err(e) => last = format!("{e:#}"),
        }
    }
    panic!("pylon did not start in three attempts; last error:\n{last}");
}

/// Poll `check` every 25 ms until it returns true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A response parsed from raw bytes.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased, in wire order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, or a message describing what came instead.
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "status {} body is not JSON ({e}); headers {:?}; body {:?}",
                self.status,
                self.headers,
                self.text()
            )
        })
    }

    /// `error.code` of a Pylon JSON error body.
    pub fn error_code(&self) -> Result<String, String> {
        let v = self.json()?;
        v.pointer("/error/code")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("no error.code in {v}"))
    }
}

/// What a raw exchange produced: the complete responses, whether the server
/// closed the connection, and any bytes that did not form a response.
#[derive(Debug)]
pub struct RawOutcome {
    pub responses: Vec<RawResponse>,
    pub closed: bool,
    pub leftover: Vec<u8>,
}

impl RawOutcome {
    pub fn statuses(&self) -> Vec<u16> {
        self.responses.iter().map(|r| r.status).collect()
    }
}

/// One HTTP/1.1 connection driven byte by byte, so tests can send what a
/// client library would refuse to (smuggling vectors, dot segments, broken
/// chunking) and see exactly what the server answers.
pub struct RawConn {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl RawConn {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .with_context(|| format!("connecting to {addr} timed out"))?
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            buf: Vec::new(),
            eof: false,
        })
    }

    /// Write `bytes`. A server may close early (after a 413, say), so a
    /// failed write is reported but is not fatal for the caller.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Read once (up to `within`); false when nothing more can come.
    async fn fill(&mut self, within: Duration) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(within, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.eof = true;
                false
            }
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => false,
        }
    }

    /// The next complete response (for a request with method `HEAD` when
    /// `head` is set, so no body is expected), waiting up to `within`.
    pub async fn response(&mut self, head: bool, within: Duration) -> anyhow::Result<RawResponse> {
        let deadline = Instant::now() + within;
        loop {
            if let Some((resp, used)) = parse_response(&self.buf, head, self.eof)? {
                self.buf.drain(..used);
                return Ok(resp);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "no complete response within {within:?}; got {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
            if !self.fill(left).await && self.eof {
                if let Some((resp, used)) = parse_response(&self.buf, head, true)? {
                    self.buf.drain(..used);
                    return Ok(resp);
                }
                bail!(
                    "connection closed before a complete response; got {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
        }
    }

    /// Read until the server closes the connection or `within` passes; returns
    /// every complete response seen and whether the connection was closed.
    pub async fn drain(&mut self, head: bool, within: Duration) -> RawOutcome {
        let deadline = Instant::now() + within;
        while !self.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.fill(left).await;
        }
        let mut responses = Vec::new();
        while let Ok(Some((resp, used))) = parse_response(&self.buf, head, self.eof) {
            self.buf.drain(..used);
            responses.push(resp);
            if self.buf.is_empty() {
                break;
            }
        }
        RawOutcome {
            responses,
            closed: self.eof,
            leftover: std::mem::take(&mut self.buf),
        }
    }

    /// True when the server closes the connection (EOF or reset) within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !self.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            self.fill(left).await;
        }
        true
    }

    /// Bytes received but not consumed as a response yet.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

/// Connect to `addr`, send `request`, and read until the server closes or
/// `within` passes.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8], within: Duration) -> RawOutcome {
    let mut conn = RawConn::connect(addr).await.expect("connect to pylon");
    let _ = conn.send(request).await;
    conn.drain(false, within).await
}

/// Send one request on a new connection and read one response.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let head = request.starts_with(b"HEAD ");
    let mut conn = RawConn::connect(addr).await.expect("connect to pylon");
    conn.send(request).await.expect("send the request");
    conn.response(head, Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "request {:?}: {e:#}",
                String::from_utf8_lossy(&request[..request.len().min(200)])
            )
        })
}

/// `GET path` with `Host: host` and `Connection: close`, as raw bytes.
pub fn get_request(path: &str, host: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parse one response from the front of `buf`: `Ok(None)` when more bytes are
/// needed, `Ok(Some((response, bytes used)))` when complete. With `eof`, a body
/// delimited by the connection's end is complete.
pub fn parse_response(
    buf: &[u8],
    head_request: bool,
    eof: bool,
) -> anyhow::Result<Option<(RawResponse, usize)>> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        bail!("not an HTTP/1 status line: {status_line:?}");
    }
    let status: u16 = parts
        .next()
        .unwrap_or_default()
        .parse()
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line
            .split_once(':')
            .with_context(|| format!("bad header line {line:?}"))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let body_start = head_end + 4;
    let resp = |body: Vec<u8>| RawResponse {
        status,
        headers: headers.clone(),
        body,
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if head_request || status < 200 || status == 204 || status == 304 {
        return Ok(Some((resp(Vec::new()), body_start)));
    }
    let chunked =
        header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut pos = body_start;
        let mut body = Vec::new();
        loop {
            let Some(line_end) = find(&buf[pos..], b"\r\n") else {
                return Ok(None);
            };
            let size_text = std::str::from_utf8(&buf[pos..pos + line_end])?;
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .with_context(|| format!("bad chunk size {size_text:?}"))?;
            pos += line_end + 2;
            if size == 0 {
                // Trailers, then the final blank line.
                let Some(end) = find(&buf[pos..], b"\r\n") else {
                    return Ok(None);
                };
                if end == 0 {
                    return Ok(Some((resp(body), pos + 2)));
                }
                let Some(end) = find(&buf[pos..], b"\r\n\r\n") else {
                    return Ok(None);
                };
                return Ok(Some((resp(body), pos + end + 4)));
            }
            if buf.len() < pos + size + 2 {
                return Ok(None);
            }
            body.extend_from_slice(&buf[pos..pos + size]);
            pos += size + 2;
        }
    }
    if let Some(len) = header("content-length") {
        let len: usize = len.parse().context("bad content-length")?;
        if buf.len() < body_start + len {
            return Ok(None);
        }
        return Ok(Some((
            resp(buf[body_start..body_start + len].to_vec()),
            body_start + len,
        )));
    }
    if eof {
        return Ok(Some((resp(buf[body_start..].to_vec()), buf.len())));
    }
    Ok(None)
}

/// The value of every sample of `metric` whose labels contain all of `labels`
/// (each written `name="value"`), summed; `None` when there is no such sample.
pub fn metric_sum(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        let (label_text, value) = if let Some(rest) = rest.strip_prefix('{') {
            match rest.split_once('}') {
                Some((l, v)) => (l, v),
                None => continue,
            }
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            continue;
        };
        if !labels
            .iter()
            .all(|l| label_text.split(',').any(|x| x == *l))
        {
            continue;
        }
        let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        *found.get_or_insert(0.0) += v;
    }
    found
}

/// `GET` an admin or proxy URL with a 10 s bound; status and body text.
pub async fn http_get(url: &str) -> anyhow::Result<(u16, String)> {
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(10), pylon_testkit::get(url))
        .await
        .with_context(|| format!("GET {url} timed out"))??;
    Ok((status.as_u16(), String::from_utf8_lossy(&body).into_owned()))
}

/// A request to `url` with `headers` and `body`, for `pylon_testkit::send`.
pub fn request(
    method: http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let mut b = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(http_body_util::Full::new(bytes::Bytes::from(
        body.to_string(),
    )))
    .expect("request")
}

/// Send [`request`] over HTTP/1.1 and read the whole response.
pub async fn call(
    method: http::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> pylon_testkit::FullResponse {
    pylon_testkit::send(request(method, url, headers, body))
        .await
        .expect("send")
}
