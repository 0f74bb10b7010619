//! Protocol integration tests: the real `pylon` binary in front of the
//! testkit's mock upstreams, all on 127.0.0.1 with ports of their own, so the
//! tests can run in parallel.
//!
//! Covered: HTTP/1.1 proxying and header handling, h2c from the client, TLS
//! listeners (SNI, ALPN), the HTTP→HTTPS redirector, HTTPS upstreams, WebSocket,
//! gRPC over h2c, unbuffered streaming of responses (SSE, chunked), a large
//! streamed upload, and HTTP/2 to the upstream.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pylon_testkit::{
    ECHO_COUNT_TRAILER, EchoServer, GrpcEchoServer, PylonProcess, SlowBodyServer, SseServer,
    WebSocketServer, channel_body, free_port, get_h2c, grpc_call, grpc_frame, parse_grpc_frames,
    request, send, send_h2c, sse_event,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Run a test body with an overall deadline.
async fn within<F>(secs: u64, body: F) -> anyhow::Result<()>
where
    F: Future<Output = anyhow::Result<()>>,
{
    tokio::time::timeout(Duration::from_secs(secs), body)
        .await
        .map_err(|_| anyhow!("test did not finish within {secs}s"))?
}

/// Bound one step of a test.
async fn step<T, F>(what: &str, secs: u64, fut: F) -> anyhow::Result<T>
where
    F: Future<Output = T>,
{
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .map_err(|_| anyhow!("{what}: no result within {secs}s"))
}

/// Start the freshly built binary with `yaml`.
async fn start_pylon(yaml: &str) -> anyhow::Result<PylonProcess> {
    PylonProcess::start_with(Path::new(env!("CARGO_BIN_EXE_pylon")), yaml)
        .await
        .with_context(|| format!("starting pylon with config:\n{yaml}"))
}

/// A whole config: `server` with the given admin port, then the given
/// `listeners`, `upstreams` and `routes` sections (each a YAML list, indented
/// by two spaces, or empty).
fn config(admin_port: u16, listeners: &str, upstreams: &str, routes: &str) -> String {
    let section = |name: &str, body: &str| {
        if body.trim().is_empty() {
            format!("{name}: []\n")
        } else {
            format!("{name}:\n{body}")
        }
    };
    format!(
        "server:\n  admin_listen: 127.0.0.1:{admin_port}\n  data_dir: ./data\n  watch_config: false\n  \
         access_log:\n    enabled: true\n    output: stdout\n{}{}{}",
        section("listeners", listeners),
        section("upstreams", upstreams),
        section("routes", routes),
    )
}

/// One plain listener on 127.0.0.1:`port`.
fn plain_listener(name: &str, port: u16) -> String {
    format!("  - name: {name}\n    bind: 127.0.0.1:{port}\n")
}

/// One upstream with one target and optional extra YAML (indented four spaces).
fn upstream(name: &str, address: &str, extra: &str) -> String {
    format!("  - name: {name}\n    targets:\n      - address: {address}\n{extra}")
}

/// A prefix route to an upstream.
fn prefix_route(name: &str, prefix: &str, upstream: &str) -> String {
    format!(
        "  - name: {name}\n    match:\n      paths: [{{ prefix: {prefix} }}]\n    upstream: {upstream}\n"
    )
}

/// Pylon with one plain listener and one upstream reached under `/`.
struct Simple {
    pylon: PylonProcess,
    port: u16,
}

impl Simple {
    async fn start(target: &str, upstream_extra: &str) -> anyhow::Result<Self> {
        let (admin, port) = (free_port()?, free_port()?);
        let yaml = config(
            admin,
            &plain_listener("main", port),
            &upstream("up", target, upstream_extra),
            &prefix_route("all", "/", "up"),
        );
        let pylon = start_pylon(&yaml).await?;
        Ok(Self { pylon, port })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }
}

/// The echo server's JSON view of a request's headers: the first value of `name`.
fn echo_header<'a>(doc: &'a Value, name: &str) -> Option<&'a str> {
    doc["headers"][name].get(0).and_then(Value::as_str)
}

/// `VmRSS` and `VmHWM` (peak) of a process, in bytes.
fn memory_of(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .context("malformed line")?
            .parse()?;
        Ok(kb * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// A self-signed certificate for `names`, as (cert DER, key DER, cert PEM, key PEM).
struct TestCert {
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
    cert_pem: String,
    key_pem: String,
}

impl TestCert {
    fn new(names: &[&str]) -> anyhow::Result<Self> {
        let ck = rcgen::generate_simple_self_signed(
            names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(Self {
            der: ck.cert.der().clone(),
            key_der: ck.signing_key.serialize_der(),
            cert_pem: ck.cert.pem(),
            key_pem: ck.signing_key.serialize_pem(),
        })
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// Write `<stem>.pem` and `<stem>.key` into `dir`; returns their paths.
    fn write(&self, dir: &Path, stem: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
        let cert = dir.join(format!("{stem}.pem"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &self.cert_pem)?;
        std::fs::write(&key, &self.key_pem)?;
        Ok((cert, key))
    }
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client trusting exactly `roots`, offering `alpn`.
fn tls_client(
    roots: &[&CertificateDer<'static>],
    alpn: &[&[u8]],
) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add((*root).clone())?;
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(store)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(cfg))
}

/// A TLS upstream (HTTP/1.1 and h2 by ALPN) answering JSON
/// `{"tls": true, "version": ..., "path": ...}`.
struct TlsUpstream {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_tls_upstream(cert: &TestCert) -> anyhow::Result<TlsUpstream> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der.clone()], cert.key())?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let counter = counter.clone();
            conns.spawn(async move {
                // A client rejecting our certificate ends here.
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(move |req: Request<Incoming>| {
                    let counter = counter.clone();
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let doc = serde_json::json!({
                            "tls": true,
                            "version": format!("{:?}", req.version()),
                            "path": req.uri().path(),
                        });
                        let mut resp = Response::new(Full::new(Bytes::from(doc.to_string())));
                        resp.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok(TlsUpstream { addr, hits, task })
}

/// Read a streamed response body, splitting it into items ending in `sep`,
/// and note when each item arrived complete.
async fn timed_items(body: Incoming, sep: &str) -> anyhow::Result<Vec<(String, Instant)>> {
    let mut body = body;
    let mut pending = String::new();
    let mut items = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("reading the response body")?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let at = Instant::now();
        pending.push_str(std::str::from_utf8(&data)?);
        while let Some(end) = pending.find(sep) {
            let item: String = pending.drain(..end + sep.len()).collect();
            items.push((item, at));
        }
    }
    ensure!(
        pending.is_empty(),
        "body ended with a partial item: {pending:?}"
    );
    Ok(items)
}

/// GET `url` over HTTP/1.1 and return the response with its body still streaming.
async fn get_streaming(url: &str) -> anyhow::Result<Response<Incoming>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let req = Request::get(url).body(Empty::new())?;
    Ok(client.request(req).await?)
}

// ---------------------------------------------------------------------------
// 1. HTTP/1.1 proxying and header handling
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_proxying_forwards_request_and_handles_headers() -> anyhow::Result<()> {
    within(90, async {
        let echo = EchoServer::start().await?;
        let pylon = Simple::start(&echo.addr().to_string(), "").await?;

        // Method, path, query and body arrive; hop-by-hop headers do not.
        let with_hop_headers = |url: &str| -> anyhow::Result<_> {
            let mut req = request(Method::PUT, url, "hello body")?;
            let h = req.headers_mut();
            h.insert("connection", HeaderValue::from_static("x-foo"));
            h.insert("x-foo", HeaderValue::from_static("secret"));
            h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
            h.insert(
                "proxy-authorization",
                HeaderValue::from_static("Basic dXNlcjpwYXNz"),
            );
            h.insert("x-kept", HeaderValue::from_static("kept"));
            Ok(req)
        };
        // Sanity check of the client: sent directly, the headers do arrive.
        let direct = send(with_hop_headers(&echo.url_for("/direct"))?)
            .await?
            .json()?;
        for hop in ["x-foo", "keep-alive", "proxy-authorization"] {
            assert!(
                direct["headers"].get(hop).is_some(),
                "client did not send {hop}"
            );
        }
        echo.clear_requests();

        let resp = send(with_hop_headers(&pylon.url("/api/items/42?x=1&y=two"))?).await?;
        ensure!(
            resp.status == StatusCode::OK,
            "status {}: {}",
            resp.status,
            resp.text()
        );
        let doc = resp.json()?;
        assert_eq!(doc["method"], "PUT");
        assert_eq!(doc["path"], "/api/items/42");
        assert_eq!(doc["query"], "x=1&y=two");
        assert_eq!(doc["body"], "hello body");
        assert_eq!(doc["body_len"], 10);
        assert_eq!(doc["version"], "HTTP/1.1");
        assert_eq!(echo_header(&doc, "x-kept"), Some("kept"));
        for hop in ["x-foo", "keep-alive", "proxy-authorization"] {
            assert!(
                doc["headers"].get(hop).is_none(),
                "hop-by-hop header `{hop}` reached the upstream: {doc}"
            );
        }
        if let Some(conn) = echo_header(&doc, "connection") {
            assert!(
                !conn.to_ascii_lowercase().contains("x-foo"),
                "the client's Connection header reached the upstream: {conn}"
            );
        }

        // Forwarding headers.
        assert_eq!(echo_header(&doc, "x-forwarded-for"), Some("127.0.0.1"));
        assert_eq!(echo_header(&doc, "x-forwarded-proto"), Some("http"));
        let client_host = format!("127.0.0.1:{}", pylon.port);
        assert_eq!(
            echo_header(&doc, "x-forwarded-host"),
            Some(client_host.as_str())
        );
        let via = echo_header(&doc, "via").context("no Via upstream")?;
        assert!(via.contains("1.1 pylon"), "upstream Via: {via}");
        let resp_via = resp.header("via").context("no Via on the response")?;
        assert!(resp_via.contains("pylon"), "response Via: {resp_via}");

        // A request id is generated, sent upstream and returned.
        let generated = resp
            .header("x-request-id")
            .context("no x-request-id on the response")?;
        assert!(!generated.is_empty());
        assert_eq!(echo_header(&doc, "x-request-id"), Some(generated));

        // A fresh request gets a fresh id.
        let again = send(request(Method::GET, &pylon.url("/api/again"), "")?).await?;
        let second = again.header("x-request-id").context("no x-request-id")?;
        assert_ne!(second, generated, "request ids must differ per request");

        // An incoming id is propagated unchanged both ways.
        let mut req = request(Method::GET, &pylon.url("/api/with-id"), "")?;
        req.headers_mut().insert(
            "x-request-id",
            HeaderValue::from_static("client-chosen-id-123"),
        );
        let resp = send(req).await?;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.header("x-request-id"), Some("client-chosen-id-123"));
        let doc = resp.json()?;
        assert_eq!(
            echo_header(&doc, "x-request-id"),
            Some("client-chosen-id-123")
        );
        let seen = echo.last_request().context("echo saw nothing")?;
        assert_eq!(seen.header("x-request-id"), Some("client-chosen-id-123"));
        drop(pylon);
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------
// 2. h2c from the client
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_client_to_http1_upstream() -> anyhow::Result<()> {
    within(90, async {
        let echo = EchoServer::start().await?;
        let pylon = Simple::start(&echo.addr().to_string(), "").await?;

        let resp = get_h2c(&pylon.url("/h2c/get?a=b")).await?;
        ensure!(
            resp.status == StatusCode::OK,
            "status {}: {}",
            resp.status,
            resp.text()
        );
        let doc = resp.json()?;
        assert_eq!(doc["method"], "GET");
        assert_eq!(doc["path"], "/h2c/get");
        assert_eq!(doc["query"], "a=b");
        assert_eq!(
            doc["version"], "HTTP/1.1",
            "upstream speaks HTTP/1.1 by default"
        );
        let via = echo_header(&doc, "via").context("no Via upstream")?;
        assert!(
            via.contains("2 pylon"),
            "upstream Via for an h2 request: {via}"
        );
        assert!(resp.header("x-request-id").is_some());

        let resp = send_h2c(request(Method::POST, &pylon.url("/h2c/post"), "h2c body")?).await?;
        assert_eq!(resp.status, StatusCode::OK);
        let doc = resp.json()?;
        assert_eq!(doc["method"], "POST");
        assert_eq!(doc["body"], "h2c body");
        let seen = echo.last_request().context("echo saw nothing")?;
        assert_eq!(seen.version, Version::HTTP_11);
        assert_eq!(seen.body_len, 8);
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------
// 3. TLS listener: SNI and ALPN
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_picks_cert_by_sni_and_negotiates_alpn() -> anyhow::Result<()> {
    within(90, async {
        let dir = tempfile::tempdir()?;
        let cert_a = TestCert::new(&["a.test"])?;
        let cert_b = TestCert::new(&["b.test"])?;
        let (a_pem, a_key) = cert_a.write(dir.path(), "a")?;
        let (b_pem, b_key) = cert_b.write(dir.path(), "b")?;
        let echo = EchoServer::start().await?;
        let (admin, port) = (free_port()?, free_port()?);
        let listeners = format!(
            "  - name: tls\n    bind: 127.0.0.1:{port}\n    tls:\n      certificates:\n        \
             - cert_file: {}\n          key_file: {}\n        \
             - cert_file: {}\n          key_file: {}\n",
            a_pem.display(),
            a_key.display(),
            b_pem.display(),
            b_key.display(),
        );
        let yaml = config(
            admin,
            &listeners,
            &upstream("echo", &echo.addr().to_string(), ""),
            &prefix_route("all", "/", "echo"),
        );
        let _pylon = start_pylon(&yaml).await?;
        let addr = format!("127.0.0.1:{port}");

        let connect = |sni: &'static str, alpn: &'static [u8]| {
            let roots = [&cert_a.der, &cert_b.der];
            let cfg = tls_client(&roots, &[alpn]);
            let addr = addr.clone();
            async move {
                let connector = tokio_rustls::TlsConnector::from(cfg?);
                let tcp = TcpStream::connect(&addr).await?;
                let name = ServerName::try_from(sni)?;
                let tls = step("TLS handshake", 10, connector.connect(name, tcp))
                    .await?
                    .with_context(|| format!("TLS handshake with SNI {sni}"))?;
                anyhow::Ok(tls)
            }
        };

        // SNI a.test gets certificate A; ALPN h2 gives HTTP/2 end to end.
        let tls = connect("a.test", b"h2").await?;
        {
            let (_, session) = tls.get_ref();
            let peer = session.peer_certificates().context("no peer certificate")?;
            assert!(
                peer[0] == cert_a.der,
                "SNI a.test did not get certificate A"
            );
            assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]));
        }
        let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake::<_, Full<Bytes>>(TokioIo::new(tls))
            .await?;
        tokio::spawn(conn);
        let req =
            Request::post("https://a.test/tls/h2?q=1").body(Full::new(Bytes::from("over h2")))?;
        let resp = step("h2 request over TLS", 30, sender.send_request(req)).await??;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), Version::HTTP_2);
        let body = resp.into_body().collect().await?.to_bytes();
        let doc: Value = serde_json::from_slice(&body)?;
        assert_eq!(doc["path"], "/tls/h2");
        assert_eq!(doc["query"], "q=1");
        assert_eq!(doc["body"], "over h2");
        assert_eq!(echo_header(&doc, "x-forwarded-proto"), Some("https"));
        assert_eq!(echo_header(&doc, "x-forwarded-host"), Some("a.test"));

        // SNI b.test gets certificate B; ALPN http/1.1 gives HTTP/1.1.
        let tls = connect("b.test", b"http/1.1").await?;
        {
            let (_, session) = tls.get_ref();
            let peer = session.peer_certificates().context("no peer certificate")?;
            assert!(
                peer[0] == cert_b.der,
                "SNI b.test did not get certificate B"
            );
            assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
        }
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let req = Request::get("/tls/h1")
            .header(http::header::HOST, "b.test")
            .body(Full::new(Bytes::new()))?;
        let resp = step("h1 request over TLS", 30, sender.send_request(req)).await??;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), Version::HTTP_11);
        let body = resp.into_body().collect().await?.to_bytes();
        let doc: Value = serde_json::from_slice(&body)?;
        assert_eq!(doc["path"], "/tls/h1");
        assert_eq!(echo_header(&doc, "x-forwarded-proto"), Some("https"));
        assert_eq!(echo_header(&doc, "x-forwarded-host"), Some("b.test"));
        assert_eq!(echo.request_count(), 2);
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------
// 4. HTTP → HTTPS redirect listener
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_listener_answers_308_to_https() -> anyhow::Result<()> {
    within(60, async {
        let (admin, custom, standard) = (free_port()?, free_port()?, free_port()?);
        let listeners = format!(
            "  - name: redirect-custom\n    bind: 127.0.0.1:{custom}\n    redirect_https_port: 8443\n\
             \x20 - name: redirect-standard\n    bind: 127.0.0.1:{standard}\n    redirect_https_port: 443\n"
        );
        let routes = "  - name: hello\n    match:\n      paths: [{ prefix: / }]\n    \
                      respond:\n      status: 200\n      body: \"not a redirect\"\n";
        let yaml = config(admin, &listeners, "", routes);
        let _pylon = start_pylon(&yaml).await?;

        let redirect = |port: u16, host: &'static str, path: &'static str| async move {
            let mut req = request(Method::GET, &format!("http://127.0.0.1:{port}{path}"), "")?;
            req.headers_mut()
                .insert(http::header::HOST, HeaderValue::from_static(host));
            send(req).await
        };

        let resp = redirect(custom, "example.test:8080", "/a/b?x=1&y=2").await?;
        assert_eq!(resp.status, StatusCode::PERMANENT_REDIRECT, "{}", resp.text());
        assert_eq!(
            resp.header("location"),
            Some("https://example.test:8443/a/b?x=1&y=2")
        );

        let resp = redirect(standard, "Example.Test", "/").await?;
        assert_eq!(resp.status, StatusCode::PERMANENT_REDIRECT, "{}", resp.text());
        assert_eq!(resp.header("location"), Some("https://example.test/"));

        let resp = redirect(standard, "www.example.test:80", "/deep/path?q").await?;
        assert_eq!(resp.status, StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            resp.header("location"),
            Some("https://www.example.test/deep/path?q")
        );
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------
// 5. HTTPS upstreams
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_upstream_verifies_with_ca_file_or_skips_when_told() -> anyhow::Result<()> {
    within(90, async {
        let dir = tempfile::tempdir()?;
        let cert = TestCert::new(&["localhost", "127.0.0.1"])?;
        let (ca_file, _) = cert.write(dir.path(), "upstream")?;
        let tls_up = start_tls_upstream(&cert).await?;
        let target = format!("https://127.0.0.1:{}", tls_up.addr.port());
        let (admin, port) = (free_port()?, free_port()?);
        let upstreams = [
            upstream(
                "with-ca",
                &target,
                &format!("    tls:\n      ca_file: {}\n", ca_file.display()),
            ),
            upstream("no-ca", &target, ""),
            upstream(
                "insecure",
                &target,
                "    tls:\n      insecure_skip_verify: true\n",
            ),
        ]
        .concat();
        let routes = [
            prefix_route("with-ca", "/ca", "with-ca"),
            prefix_route("no-ca", "/noca", "no-ca"),
            prefix_route("insecure", "/insecure", "insecure"),
        ]
        .concat();
        let yaml = config(admin, &plain_listener("main", port), &upstreams, &routes);
        let _pylon = start_pylon(&yaml).await?;
        let url = |path: &str| format!("http://127.0.0.1:{port}{path}");

        // Trusted through ca_file.
        let resp = send(request(Method::GET, &url("/ca/x"), "")?).await?;
        assert_eq!(resp.status, StatusCode::OK, "with ca_file: {}", resp.text());
        let doc = resp.json()?;
        assert_eq!(doc["tls"], true);
        assert_eq!(doc["path"], "/ca/x");
        let hits_after_ca = tls_up.hits.load(Ordering::SeqCst);
        assert_eq!(hits_after_ca, 1);

        // Self-signed, not trusted by the system roots: 502 upstream_connect.
        let resp = send(request(Method::GET, &url("/noca/x"), "")?).await?;
        assert_eq!(
            resp.status,
            StatusCode::BAD_GATEWAY,
            "without a CA: {}",
            resp.text()
        );
        let doc = resp.json()?;
        assert_eq!(doc["error"]["code"], "upstream_connect", "{doc}");
        assert_eq!(
            tls_up.hits.load(Ordering::SeqCst),
            hits_after_ca,
            "no request may reach an unverified upstream"
        );

        // Verification off: OK.
        let resp = send(request(Method::GET, &url("/insecure/x"), "")?).await?;
        assert_eq!(resp.status, StatusCode::OK, "insecure: {}", resp.text());
        assert_eq!(resp.json()?["path"], "/insecure/x");
        assert_eq!(tls_up.hits.load(Ordering::SeqCst), hits_after_ca + 1);
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------
// 6. WebSocket
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_messages_echo_through_pylon() -> anyhow::Result<()> {
    within(60, async {
        let ws_up = WebSocketServer::start().await?;
        let pylon = Simple::start(&ws_up.addr().to_string(), "").await?;
        let url = format!("ws://127.0.0.1:{}/ws/echo?room=1", pylon.port);
        let (mut ws, resp) = step(
            "websocket handshake",
            15,
            tokio_tungstenite::connect_async(url),
        )
        .await?
        .context("websocket handshake through pylon")?;
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);

        let texts = ["hello", "second message", "ünïcödé ✓"];
        for text in texts {
            ws.send(Message::Text(text.into())).await?;
            let got = step("text echo", 10, ws.next())
                .await?
                .context("stream ended")??;
            assert_eq!(got, Message::Text(text.into()));
        }
        let binary = Bytes::from((0..=255u8).cycle().take(70_000).collect::<Vec<u8>>());
        ws.send(Message::Binary(binary.clone())).await?;
        let got = step("binary echo", 10, ws.next())
            .await?
            .context("stream ended")??;
        assert_eq!(got, Message::Binary(binary));

        // Close: our close frame is answered and the stream ends.
        ws.close(None).await?;
        let mut saw_close = false;
        loop {
            match step("close handshake", 10, ws.next()).await? {
                Some(Ok(Message::Close(_))) => saw_close = true,
                Some(Ok(other)) => bail!("unexpected message after close: {other:?}"),
                Some(Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed)) | None => break,
                Some(Err(e)) => bail!("error while closing: {e}"),
            }
        }
        assert!(saw_close, "the close frame was not answered");
        assert_eq!(ws_up.messages(), 4);
        let handshake = ws_up.last_request().context("no handshake recorded")?;
        assert_eq!(handshake.path(), "/ws/echo");
        assert_eq!(handshake.uri.query(), Some("room=1"));
        assert_eq!(handshake.header("x-forwarded-for"), Some("127.0.0.1"));
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------
// 7. gRPC
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_unary_streaming_and_failure_through_pylon() -> anyhow::Result<()> {
    within(60, async {
        let grpc = GrpcEchoServer::start().await?;
        let pylon = Simple::start(&grpc.addr().to_string(), "    protocol: http2\n").await?;
        let base = pylon.url("");

        // Unary.
        let reply = grpc_call(&base, "/echo.Echo/Say", &[b"hello grpc"]).await?;
        assert_eq!(reply.http_status, StatusCode::OK);
        assert_eq!(reply.messages, vec![b"hello grpc".to_vec()]);
        assert_eq!(reply.grpc_status(), Some("0"), "{reply:?}");
        let trailers = reply.trailers.as_ref().context("no trailers")?;
        assert_eq!(
            trailers.get(ECHO_COUNT_TRAILER).map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );

        // Several messages in one call.
        let messages: [&[u8]; 4] = [b"one", b"", b"three", &[7u8; 20_000]];
        let reply = grpc_call(&base, "/echo.Echo/Stream", &messages).await?;
        assert_eq!(reply.http_status, StatusCode::OK);
        let expected: Vec<Vec<u8>> = messages.iter().map(|m| m.to_vec()).collect();
        assert_eq!(reply.messages, expected);
        assert_eq!(reply.grpc_status(), Some("0"), "{reply:?}");
        let trailers = reply.trailers.as_ref().context("no trailers")?;
        assert_eq!(
            trailers.get(ECHO_COUNT_TRAILER).map(|v| v.as_bytes()),
            Some(&b"4"[..])
        );
        assert_eq!(
            trailers.get("grpc-message").map(|v| v.as_bytes()),
            Some(&b"ok"[..])
        );

        // Trailers-only failure.
        let reply = grpc_call(&base, "/echo.Echo/Fail", &[b"x"]).await?;
        assert_eq!(reply.http_status, StatusCode::OK);
        assert_eq!(reply.grpc_status(), Some("13"), "{reply:?}");
        assert_eq!(
            reply.headers.get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"13"[..]),
            "a trailers-only response carries grpc-status in its only HEADERS: {reply:?}"
        );
        assert!(reply.messages.is_empty());

        // The upstream saw HTTP/2 with `te: trailers`.
        let seen = grpc.requests();
        assert_eq!(seen.len(), 3);
        for r in &seen {
            assert_eq!(r.version, Version::HTTP_2);
            assert_eq!(r.header("te"), Some("trailers"));
            assert_eq!(r.header("content-type"), Some("application/grpc"));
        }
        Ok(())
    })
    .await
}

/// Bidirectional streaming: each message must be echoed back through Pylon
/// before the client sends the next one (a request body that is held back
/// until it ends would deadlock this). Default upstream settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_bidi_streaming_is_interleaved() -> anyhow::Result<()> {
    grpc_bidi_ping_pong("    protocol: http2\n").await
}

/// The same with retries off: tells a retry-buffering problem apart from a
/// streaming problem elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_bidi_streaming_without_retries_is_interleaved() -> anyhow::Result<()> {
    grpc_bidi_ping_pong("    protocol: http2\n    retries:\n      attempts: 0\n").await
}

async fn grpc_bidi_ping_pong(upstream_extra: &str) -> anyhow::Result<()> {
    within(60, async {
        let grpc = GrpcEchoServer::start().await?;
        let pylon = Simple::start(&grpc.addr().to_string(), upstream_extra).await?;
        let tcp = TcpStream::connect(("127.0.0.1", pylon.port)).await?;
        let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .handshake(TokioIo::new(tcp))
            .await?;
        tokio::spawn(conn);
        let (tx, body) = channel_body(4);
        let req = Request::post(format!("http://127.0.0.1:{}/echo.Echo/Chat", pylon.port))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(body)?;
        tx.send(Frame::data(grpc_frame(b"ping 0"))).await?;
        let resp = step(
            "response head while the request stream is still open",
            10,
            sender.send_request(req),
        )
        .await??;
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        for i in 0..3 {
            if i > 0 {
                tx.send(Frame::data(grpc_frame(format!("ping {i}").as_bytes())))
                    .await?;
            }
            let frame = step(
                &format!("echo of message {i} while the request stream is open"),
                10,
                body.frame(),
            )
            .await?
            .context("response ended early")??;
            let data = frame.into_data().map_err(|_| anyhow!("expected data"))?;
            assert_eq!(
                parse_grpc_frames(&data),
                vec![format!("ping {i}").into_bytes()]
            );
        }
        drop(tx);
        let mut trailers = None;
        while let Some(frame) = step("end of the call", 10, body.frame()).await? {
            if let Ok(t) = frame?.into_trailers() {
                trailers = Some(t);
            }
        }
        let trailers = trailers.context("no trailers")?;
        assert_eq!(
            trailers.get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"0"[..])
        );
        assert_eq!(
            trailers.get(ECHO_COUNT_TRAILER).map(|v| v.as_bytes()),
            Some(&b"3"[..])
        );
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------
// 8. Streaming responses are not buffered
// ---------------------------------------------------------------------------

const STREAM_ITEMS: usize = 6;
const STREAM_INTERVAL: Duration = Duration::from_millis(300);

/// The first and last items arrived at least (N-2) intervals apart.
fn assert_spread(what: &str, items: &[(String, Instant)]) {
    let first = items[0].1;
    let last = items[items.len() - 1].1;
    let spread = last.duration_since(first);
    let min = STREAM_INTERVAL * (STREAM_ITEMS as u32 - 2);
    assert!(
        spread >= min,
        "{what}: first and last item arrived {spread:?} apart, expected at least {min:?} \
         (the response looks buffered)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_events_stream_through_unbuffered() -> anyhow::Result<()> {
    within(60, async {
        let sse = SseServer::start(STREAM_ITEMS, STREAM_INTERVAL).await?;
        let pylon = Simple::start(&sse.addr().to_string(), "").await?;
        let resp = step(
            "SSE response head",
            15,
            get_streaming(&pylon.url("/events")),
        )
        .await??;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers().get("content-type").map(|v| v.as_bytes()),
            Some(&b"text/event-stream"[..])
        );
        let items = timed_items(resp.into_body(), "\n\n").await?;
        let texts: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
        let expected: Vec<String> = (0..STREAM_ITEMS).map(sse_event).collect();
        assert_eq!(texts, expected);
        assert_spread("SSE", &items);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_body_streams_through_unbuffered() -> anyhow::Result<()> {
    within(60, async {
        let slow = SlowBodyServer::start(STREAM_ITEMS, STREAM_INTERVAL).await?;
        let pylon = Simple::start(&slow.addr().to_string(), "").await?;
        let resp = step(
            "slow body response head",
            15,
            get_streaming(&pylon.url("/slow")),
        )
        .await??;
        assert_eq!(resp.status(), StatusCode::OK);
        let items = timed_items(resp.into_body(), "\n").await?;
        let texts: Vec<&str> = items.iter().map(|(t, _)| t.as_str()).collect();
        let expected: Vec<String> = (0..STREAM_ITEMS).map(|i| format!("chunk {i}\n")).collect();
        assert_eq!(texts, expected);
        assert_spread("chunked body", &items);
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------
// 9. Large streamed upload
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_streamed_upload_is_not_buffered() -> anyhow::Result<()> {
    const CHUNK: usize = 256 * 1024;
    const CHUNKS: usize = 1024; // 256 MiB
    const TOTAL: u64 = (CHUNK * CHUNKS) as u64;
    const RSS_LIMIT: u64 = 150 * 1024 * 1024;
    within(300, async {
        let echo = EchoServer::start().await?;
        let pylon = Simple::start(&echo.addr().to_string(), "").await?;
        let (rss_before, _) = memory_of(pylon.pylon.pid())?;

        // One shared chunk, handed out CHUNKS times: nothing is held in memory.
        let chunk = Bytes::from(vec![b'u'; CHUNK]);
        let stream = futures_util::stream::iter(
            (0..CHUNKS).map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone()))),
        );
        let body = StreamBody::new(stream);
        let client = Client::builder(TokioExecutor::new()).build_http();
        let req = Request::post(pylon.url("/upload")).body(body)?;
        let started = Instant::now();
        let resp = step("256 MiB upload", 240, client.request(req)).await??;
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await?.to_bytes();
        let doc: Value = serde_json::from_slice(&body)?;
        assert_eq!(
            doc["body_len"], TOTAL,
            "the echo server did not get the whole body"
        );
        let seen = echo.last_request().context("echo saw nothing")?;
        assert_eq!(seen.body_len, TOTAL);
        assert!(seen.body_error.is_none(), "{:?}", seen.body_error);

        let (rss, peak) = memory_of(pylon.pylon.pid())?;
        let mib = |b: u64| b / (1024 * 1024);
        eprintln!(
            "upload took {:?}; pylon memory: before {} MiB, after {} MiB, peak {} MiB",
            started.elapsed(),
            mib(rss_before),
            mib(rss),
            mib(peak)
        );
        assert!(
            rss < RSS_LIMIT,
            "pylon RSS after the upload is {} MiB (before: {} MiB)",
            mib(rss),
            mib(rss_before)
        );
        assert!(
            peak < RSS_LIMIT,
            "pylon peak RSS during the upload was {} MiB (before: {} MiB)",
            mib(peak),
            mib(rss_before)
        );
        Ok(())
    })
    .await
}

// ---------------------------------------------------------------------------
// 10. HTTP/2 to the upstream
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_upstream_protocol_speaks_h2c() -> anyhow::Result<()> {
    within(60, async {
        let echo = EchoServer::start().await?;
        let pylon = Simple::start(&echo.addr().to_string(), "    protocol: http2\n").await?;

        let resp = send(request(Method::POST, &pylon.url("/h2/up?z=9"), "to h2")?).await?;
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
        let doc = resp.json()?;
        assert_eq!(doc["version"], "HTTP/2.0");
        assert_eq!(doc["method"], "POST");
        assert_eq!(doc["path"], "/h2/up");
        assert_eq!(doc["query"], "z=9");
        assert_eq!(doc["body"], "to h2");
        let authority = echo.addr().to_string();
        assert_eq!(doc["authority"], authority.as_str());

        // And from an h2c client too; the upstream connection is shared.
        let resp = get_h2c(&pylon.url("/h2/again")).await?;
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.json()?["version"], "HTTP/2.0");
        let seen = echo.requests();
        assert_eq!(seen.len(), 2);
        assert!(seen.iter().all(|r| r.version == Version::HTTP_2));
        // Counted by the requests' connection ids: Pylon's start-up reachability
        // probe opens (and closes) one connection that carries no request.
        assert_eq!(
            seen[0].connection, seen[1].connection,
            "one h2 connection should carry both requests"
        );
        Ok(())
    })
    .await
}
