//! HTTP correctness of the real `pylon` binary: request smuggling vectors,
//! path normalisation, error bodies, header and body limits, slowloris
//! protection, routing, static responses and upstream failures.
//!
//! Requests a client library would sanitise are written as raw bytes on a
//! `TcpStream`. Every test starts its own Pylon and mock upstreams on
//! 127.0.0.1 and is bounded by a timeout.

mod common_http;

use std::time::{Duration, Instant};

use common_http::*;
use http::Method;
use pylon_testkit::{
    DeadAddr, DelayServer, DropMode, DropServer, EchoServer, FullResponse, request, send,
};
use serde_json::{Value, json};

/// Upper bound of each test.
const TEST_SECS: u64 = 60;

/// A Pylon with `/admin` (exact, static "admin"), `/a/b` (exact, static "a-b")
/// and the prefix `/public` proxied to `upstream_addr`.
fn public_echo_config(ports: &Ports, upstream_addr: std::net::SocketAddr) -> Value {
    let mut cfg = base_config(ports);
    cfg["upstreams"] = json!([upstream("echo", upstream_addr)]);
    cfg["routes"] = json!([
        {"name": "admin", "match": {"paths": [{"exact": "/admin"}], "methods": ["GET"]},
         "respond": {"status": 200, "body": "admin"}},
        {"name": "ab", "match": {"paths": [{"exact": "/a/b"}]},
         "respond": {"status": 200, "body": "a-b"}},
        {"name": "public", "match": {"paths": [{"prefix": "/public"}]}, "upstream": "echo"},
    ]);
    cfg
}

/// `GET path` through Pylon with extra request headers (Host included).
async fn get_with(ports: &Ports, path: &str, headers: &[(&str, &str)]) -> FullResponse {
    let mut req = request(Method::GET, &ports.url(path), bytes::Bytes::new()).unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    send(req)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e:#}"))
}

/// The JSON the echo upstream answered with; panics with context otherwise.
fn echoed(resp: &FullResponse, what: &str) -> Value {
    assert_eq!(
        resp.status,
        200,
        "{what}: expected the echo upstream's 200, got {} {}",
        resp.status,
        resp.text()
    );
    resp.json()
        .unwrap_or_else(|e| panic!("{what}: {e:#}: {}", resp.text()))
}

fn error_code(resp: &FullResponse) -> String {
    resp.json()
        .ok()
        .and_then(|v| {
            v.pointer("/error/code")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| panic!("not a Pylon JSON error: {} {}", resp.status, resp.text()))
}

// ---------------------------------------------------------------------------
// 1. Request smuggling
// ---------------------------------------------------------------------------

const SMUGGLED: &str = "GET /public/smuggled HTTP/1.1\r\nHost: pylon.test\r\n\r\n";

/// How a smuggling vector is neutralised.
#[derive(Clone, Copy, PartialEq)]
enum Refusal {
    /// Pylon's JSON 400 with this error code (`None`: any code).
    Json(Option<&'static str>),
    /// hyper's own bare 400 from its HTTP/1 parser, before Pylon's handler runs
    /// (differing Content-Lengths, obsolete line folding): no JSON body.
    Parser,
    /// Content-Length with Transfer-Encoding: hyper drops Content-Length, frames
    /// the body as chunked and closes the connection after the response
    /// (RFC 9112 6.3). The first request may be forwarded, re-framed; the
    /// smuggled one must never be.
    ReframedAndClosed,
    /// A body whose chunk framing breaks mid-stream: the head was already
    /// streamed to the upstream, the client gets Pylon's JSON 400 with this code
    /// and the connection is closed.
    StreamAborted(&'static str),
}

/// Send `first` immediately followed by a smuggled `GET /public/smuggled` on
/// one connection. The smuggled request must never be answered or reach the
/// upstream, and the connection must be closed; how `first` is answered is
/// given by `refusal`.
async fn assert_smuggling_refused(first: &str, refusal: Refusal) {
    let echo = EchoServer::start().await.unwrap();
    let (_pylon, ports) = start_pylon(|p| public_echo_config(p, echo.addr())).await;
    let mut bytes = first.as_bytes().to_vec();
    bytes.extend_from_slice(SMUGGLED.as_bytes());
    let out = raw_exchange(ports.proxy_addr(), &bytes, Duration::from_secs(4)).await;
    // Give a forwarded request time to land before looking at the upstream.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut problems = Vec::new();
    match out.responses.first() {
        None => problems.push(format!(
            "no response at all (closed: {}, bytes: {:?})",
            out.closed,
            String::from_utf8_lossy(&out.leftover)
        )),
        Some(r) => {
            if refusal != Refusal::ReframedAndClosed && r.status != 400 {
                problems.push(format!(
                    "first response is {} (body {:?}), expected 400",
                    r.status,
                    r.text()
                ));
            }
        }
    }
    if out.responses.len() > 1 {
        problems.push(format!(
            "the smuggled request was answered: statuses {:?}",
            out.statuses()
        ));
    }
    if !out.closed {
        problems.push("the connection was kept open after the refused request".into());
    }
    let upstream_paths: Vec<String> = echo
        .requests()
        .iter()
        .map(|r| r.path().to_string())
        .collect();
    if upstream_paths.iter().any(|p| p.contains("smuggled")) {
        problems.push(format!(
            "the upstream received the smuggled request: {upstream_paths:?}"
        ));
    }
    let may_forward = matches!(
        refusal,
        Refusal::ReframedAndClosed | Refusal::StreamAborted(_)
    );
    if !may_forward && echo.request_count() > 0 {
        problems.push(format!(
            "the upstream received {} request(s) ({upstream_paths:?}); a refused request must not be forwarded",
            echo.request_count()
        ));
    }
    let expected_json = match refusal {
        Refusal::Json(code) => Some(code),
        Refusal::StreamAborted(code) => Some(Some(code)),
        _ => None,
    };
    if let (Some(r), Some(expected_code)) = (out.responses.first(), expected_json) {
        match r.error_code() {
            Ok(code) => {
                if let Some(expected) = expected_code
                    && code != expected
                {
                    problems.push(format!("error code `{code}`, expected `{expected}`"));
                }
            }
            Err(e) => problems.push(format!("no JSON error body: {e}")),
        }
    }
    assert!(
        problems.is_empty(),
        "request {first:?} + smuggled GET:\n  - {}",
        problems.join("\n  - ")
    );
}

#[tokio::test]
async fn smuggling_content_length_with_transfer_encoding() {
    bounded(TEST_SECS, async {
        let first = "POST /public/x HTTP/1.1\r\nHost: pylon.test\r\nContent-Length: 5\r\n\
                     Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert_smuggling_refused(first, Refusal::ReframedAndClosed).await;
    })
    .await;
}

#[tokio::test]
async fn smuggling_transfer_encoding_before_content_length() {
    bounded(TEST_SECS, async {
        let first = "POST /public/x HTTP/1.1\r\nHost: pylon.test\r\nTransfer-Encoding: chunked\r\n\
                     Content-Length: 5\r\n\r\n0\r\n\r\n";
        assert_smuggling_refused(first, Refusal::ReframedAndClosed).await;
    })
    .await;
}

#[tokio::test]
async fn smuggling_two_different_content_lengths() {
    bounded(TEST_SECS, async {
        let first = "POST /public/x HTTP/1.1\r\nHost: pylon.test\r\nContent-Length: 5\r\n\
                     Content-Length: 6\r\n\r\nhello";
        assert_smuggling_refused(first, Refusal::Parser).await;
    })
    .await;
}

#[tokio::test]
async fn smuggling_gzip_then_chunked_transfer_encoding() {
    bounded(TEST_SECS, async {
        let first = "POST /public/x HTTP/1.1\r\nHost: pylon.test\r\n\
                     Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
        assert_smuggling_refused(first, Refusal::Json(Some("bad_transfer_encoding"))).await;
    })
    .await;
}

#[tokio::test]
async fn smuggling_bad_chunk_size() {
    bounded(TEST_SECS, async {
        let first = "POST /public/x HTTP/1.1\r\nHost: pylon.test\r\nTransfer-Encoding: chunked\r\n\r\n\
                     zz\r\nhello\r\n0\r\n\r\n";
        assert_smuggling_refused(first, Refusal::StreamAborted("bad_request_body")).await;
    })
    .await;
}

#[tokio::test]
async fn smuggling_obsolete_line_folding() {
    bounded(TEST_SECS, async {
        let first = "POST /public/x HTTP/1.1\r\nHost: pylon.test\r\nX-Folded: a\r\n \
                     Content-Length: 40\r\nContent-Length: 0\r\n\r\n";
        assert_smuggling_refused(first, Refusal::Parser).await;
    })
    .await;
}

// ---------------------------------------------------------------------------
// 2. Path normalisation
// ---------------------------------------------------------------------------

#[tokio::test]
async fn path_dot_segments_route_like_the_resolved_path() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| public_echo_config(p, echo.addr())).await;
        let addr = ports.proxy_addr();
        for path in [
            "/public/../admin",
            "/public/%2e%2e/admin",
            "/public/%2E%2E/admin",
            "/public/x/../../admin",
            "/../admin",
        ] {
            let resp = raw_request(addr, &get_request(path, "pylon.test")).await;
            assert_eq!(
                (resp.status, resp.text().as_str()),
                (200, "admin"),
                "{path} must be served by the /admin route"
            );
        }
        assert_eq!(
            echo.request_count(),
            0,
            "no dot-segment request may reach the /public upstream: {:?}",
            echo.requests()
                .iter()
                .map(|r| r.path().to_string())
                .collect::<Vec<_>>()
        );
    })
    .await;
}

#[tokio::test]
async fn path_is_normalised_before_forwarding() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| public_echo_config(p, echo.addr())).await;
        let addr = ports.proxy_addr();
        for (sent, forwarded) in [
            ("/public/./x", "/public/x"),
            ("/public//x///y", "/public/x/y"),
            ("/public/%7Euser/%61", "/public/~user/a"),
            ("/public/a/./b/../c", "/public/a/c"),
            // An encoded slash is data, never a separator: no traversal.
            ("/public/..%2Fadmin", "/public/..%2Fadmin"),
        ] {
            let resp = raw_request(addr, &get_request(sent, "pylon.test")).await;
            assert_eq!(resp.status, 200, "{sent}: {}", resp.text());
            let v = resp.json().unwrap();
            assert_eq!(
                v["path"], forwarded,
                "{sent} must reach the upstream as {forwarded}"
            );
        }
        let resp = raw_request(addr, &get_request("/a//b", "pylon.test")).await;
        assert_eq!(
            (resp.status, resp.text().as_str()),
            (200, "a-b"),
            "/a//b must collapse to /a/b"
        );
    })
    .await;
}

#[tokio::test]
async fn path_with_invalid_escape_gets_400_bad_path() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| public_echo_config(p, echo.addr())).await;
        for path in ["/public/%zz", "/public/%4", "/public/a%"] {
            let resp = raw_request(ports.proxy_addr(), &get_request(path, "pylon.test")).await;
            assert_eq!(resp.status, 400, "{path}: {}", resp.text());
            assert_eq!(resp.error_code().unwrap(), "bad_path", "{path}");
            assert_eq!(resp.header("content-type"), Some("application/json"));
        }
        assert_eq!(echo.request_count(), 0);
    })
    .await;
}

// ---------------------------------------------------------------------------
// 3. 404 and 405
// ---------------------------------------------------------------------------

#[tokio::test]
async fn no_route_is_404_json_with_request_id() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| public_echo_config(p, echo.addr())).await;
        let resp = get_with(&ports, "/nowhere", &[]).await;
        assert_eq!(resp.status, 404);
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let v = resp.json().unwrap();
        assert_eq!(v["error"]["code"], "no_route", "{v}");
        assert_eq!(v["error"]["status"], 404, "{v}");
        let id = v["error"]["request_id"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "request_id missing: {v}");
        assert_eq!(
            resp.header("x-request-id"),
            Some(id),
            "body and header ids differ"
        );

        // A valid client-supplied id is propagated into the error.
        let resp = get_with(&ports, "/nowhere", &[("x-request-id", "client-id-123")]).await;
        assert_eq!(resp.json().unwrap()["error"]["request_id"], "client-id-123");
        assert_eq!(resp.header("x-request-id"), Some("client-id-123"));
    })
    .await;
}

#[tokio::test]
async fn wrong_method_is_405_with_allow() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| public_echo_config(p, echo.addr())).await;
        let req = request(Method::POST, &ports.url("/admin"), "x").unwrap();
        let resp = send(req).await.unwrap();
        assert_eq!(resp.status, 405, "{}", resp.text());
        assert_eq!(resp.header("allow"), Some("GET, HEAD"));
        assert_eq!(error_code(&resp), "method_not_allowed");
        assert!(resp.json().unwrap()["error"]["request_id"].is_string());

        // HEAD is accepted where GET is.
        let req = request(Method::HEAD, &ports.url("/admin"), bytes::Bytes::new()).unwrap();
        assert_eq!(send(req).await.unwrap().status, 200);
    })
    .await;
}

// ---------------------------------------------------------------------------
// 4. Limits
// ---------------------------------------------------------------------------

fn limits_config(ports: &Ports, upstream_addr: std::net::SocketAddr, limits: Value) -> Value {
    let mut cfg = public_echo_config(ports, upstream_addr);
    cfg["listeners"][0]["limits"] = limits;
    cfg
}

fn head_with_headers(count: usize) -> Vec<u8> {
    let mut head = String::from("GET /admin HTTP/1.1\r\nHost: pylon.test\r\nConnection: close\r\n");
    for i in 0..count {
        head.push_str(&format!("X-Extra-{i}: v\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[tokio::test]
async fn limits_too_many_headers_get_4xx() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) =
            start_pylon(|p| limits_config(p, echo.addr(), json!({"max_headers": 20}))).await;
        // Under the limit (2 + 10 headers): served.
        let ok = raw_request(ports.proxy_addr(), &head_with_headers(10)).await;
        assert_eq!(ok.status, 200, "{}", ok.text());
        // Over it: hyper answers 431 itself (its max_headers), never a 5xx.
        let out = raw_exchange(
            ports.proxy_addr(),
            &head_with_headers(40),
            Duration::from_secs(5),
        )
        .await;
        let status = out.responses.first().map(|r| r.status);
        assert_eq!(status, Some(431), "40 headers with max_headers 20: {out:?}");
    })
    .await;
}

fn head_with_big_header(bytes: usize) -> Vec<u8> {
    format!(
        "GET /admin HTTP/1.1\r\nHost: pylon.test\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
        "a".repeat(bytes)
    )
    .into_bytes()
}

/// Heads under, just over and far over `max_header_bytes`: just over is
/// Pylon's own JSON 431; far over overflows hyper's read buffer first (bare 431).
#[tokio::test]
async fn limits_header_block_over_max_header_bytes_gets_431() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) =
            start_pylon(|p| limits_config(p, echo.addr(), json!({"max_header_bytes": 10000})))
                .await;
        let ok = raw_request(ports.proxy_addr(), &head_with_big_header(5000)).await;
        assert_eq!(ok.status, 200, "a 5 kB head is under the limit");
        for (size, json) in [(11_500, true), (40_000, false)] {
            let out = raw_exchange(
                ports.proxy_addr(),
                &head_with_big_header(size),
                Duration::from_secs(5),
            )
            .await;
            let first = out.responses.first();
            assert_eq!(
                first.map(|r| r.status),
                Some(431),
                "a {size}-byte head with max_header_bytes 10000: {:?}",
                out.statuses()
            );
            if json {
                assert_eq!(first.unwrap().error_code().unwrap(), "header_too_large");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn limits_content_length_over_max_body_gets_413_without_upstream() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) =
            start_pylon(|p| limits_config(p, echo.addr(), json!({"max_body_bytes": 1000}))).await;
        // Only the head is sent: the answer must come from the declared length.
        let head =
            "POST /public/upload HTTP/1.1\r\nHost: pylon.test\r\nContent-Length: 5000\r\n\r\n";
        let mut conn = RawConn::connect(ports.proxy_addr()).await.unwrap();
        conn.send(head.as_bytes()).await.unwrap();
        let resp = conn.response(false, Duration::from_secs(5)).await.unwrap();
        assert_eq!(resp.status, 413, "{}", resp.text());
        assert_eq!(resp.error_code().unwrap(), "body_too_large");
        tokio::time::sleep(Duration::from_millis(200)).await;
        // (Pylon's start-up reachability probe may have opened a connection; no request may arrive.)
        assert_eq!(
            echo.request_count(),
            0,
            "the upstream must not be contacted"
        );

        // At the limit exactly: forwarded.
        let req = request(Method::POST, &ports.url("/public/upload"), vec![b'x'; 1000]).unwrap();
        let resp = send(req).await.unwrap();
        assert_eq!(echoed(&resp, "1000-byte body")["body_len"], 1000);
    })
    .await;
}

/// A chunked body that crosses `max_body_bytes`: the client must get a 4xx
/// (413 expected) or see the connection closed, never a 2xx.
async fn chunked_over_limit(max_body: u64, total: usize, chunk: usize) -> (RawOutcome, EchoServer) {
    let echo = EchoServer::start().await.unwrap();
    let (_pylon, ports) = start_pylon(|p| {
        let mut cfg = limits_config(p, echo.addr(), json!({"max_body_bytes": max_body}));
        // Keep retries from buffering the body, so it streams to the upstream.
        cfg["upstreams"][0]["retries"] = json!({"attempts": 0});
        cfg
    })
    .await;
    let mut conn = RawConn::connect(ports.proxy_addr()).await.unwrap();
    let head =
        "POST /public/upload HTTP/1.1\r\nHost: pylon.test\r\nTransfer-Encoding: chunked\r\n\r\n";
    let _ = conn.send(head.as_bytes()).await;
    let mut sent = 0;
    while sent < total {
        let n = chunk.min(total - sent);
        let mut piece = format!("{n:x}\r\n").into_bytes();
        piece.extend(std::iter::repeat_n(b'x', n));
        piece.extend_from_slice(b"\r\n");
        match tokio::time::timeout(Duration::from_secs(2), conn.send(&piece)).await {
            Ok(Ok(())) => sent += n,
            _ => break, // The server stopped reading: fine, it has answered or closed.
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), conn.send(b"0\r\n\r\n")).await;
    let out = conn.drain(false, Duration::from_secs(5)).await;
    (out, echo)
}

fn assert_refused_not_2xx(out: &RawOutcome, what: &str) {
    let statuses = out.statuses();
    eprintln!(
        "{what}: responses {statuses:?}, connection closed: {}, first body: {:?}",
        out.closed,
        out.responses.first().map(RawResponse::text)
    );
    assert!(
        statuses.iter().all(|s| !(200..300).contains(s)),
        "{what}: got a 2xx: {statuses:?}"
    );
    match out.responses.first() {
        Some(r) => {
            assert!(
                (400..500).contains(&r.status),
                "{what}: {} {}",
                r.status,
                r.text()
            );
            assert_eq!(
                r.status,
                413,
                "{what}: expected 413, got {} {}",
                r.status,
                r.text()
            );
            assert_eq!(r.error_code().unwrap(), "body_too_large", "{what}");
        }
        None => assert!(
            out.closed,
            "{what}: neither a response nor a closed connection"
        ),
    }
}

#[tokio::test]
async fn limits_chunked_body_growing_past_max_gets_413() {
    bounded(TEST_SECS, async {
        // Small: crosses the limit in the second chunk.
        let (out, _echo) = chunked_over_limit(1000, 4096, 512).await;
        assert_refused_not_2xx(&out, "4 kB chunked body, limit 1000");
    })
    .await;
}

#[tokio::test]
async fn limits_streamed_chunked_body_past_max_gets_413_or_close() {
    bounded(TEST_SECS, async {
        // Larger: the body has been streaming to the upstream before it crosses the limit.
        let (out, echo) = chunked_over_limit(100_000, 300_000, 8192).await;
        assert_refused_not_2xx(&out, "300 kB chunked body, limit 100 kB");
        // Whatever reached the upstream must not look like a complete body.
        for r in echo.requests() {
            assert!(
                r.body_len <= 100_000 || r.body_error.is_some(),
                "upstream saw a complete {} byte body",
                r.body_len
            );
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// 5. Slowloris
// ---------------------------------------------------------------------------

fn slow_config(ports: &Ports, upstream_addr: std::net::SocketAddr) -> Value {
    limits_config(ports, upstream_addr, json!({"header_read_timeout": "1s"}))
}

fn assert_closed_or_408(out: &RawOutcome, elapsed: Duration, what: &str) {
    assert!(
        out.closed,
        "{what}: connection still open after {elapsed:?} (header_read_timeout 1s)"
    );
    assert!(
        elapsed <= Duration::from_secs(3),
        "{what}: closed only after {elapsed:?}"
    );
    for r in &out.responses {
        assert_eq!(
            r.status,
            408,
            "{what}: unexpected response {} {}",
            r.status,
            r.text()
        );
    }
}

#[tokio::test]
async fn slowloris_partial_head_is_cut_off() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| slow_config(p, echo.addr())).await;
        let mut conn = RawConn::connect(ports.proxy_addr()).await.unwrap();
        let started = Instant::now();
        conn.send(b"GET /admin HTTP/1.1\r\nHost: pylon.test\r\nX-Slow: ")
            .await
            .unwrap();
        let out = conn.drain(false, Duration::from_secs(6)).await;
        assert_closed_or_408(&out, started.elapsed(), "partial head then stall");
    })
    .await;
}

#[tokio::test]
async fn slowloris_trickled_head_is_cut_off() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| slow_config(p, echo.addr())).await;
        let mut conn = RawConn::connect(ports.proxy_addr()).await.unwrap();
        let started = Instant::now();
        conn.send(b"GET /admin HTTP/1.1\r\nHost: pylon.test\r\n")
            .await
            .unwrap();
        // One header byte every 200 ms: the head never completes.
        let mut closed_at = None;
        for _ in 0..30 {
            if conn.send(b"X").await.is_err()
                || conn.closed_within(Duration::from_millis(200)).await
            {
                closed_at = Some(started.elapsed());
                break;
            }
        }
        let elapsed =
            closed_at.unwrap_or_else(|| panic!("still open after {:?}", started.elapsed()));
        assert!(
            elapsed <= Duration::from_secs(3),
            "closed only after {elapsed:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn slowloris_silent_connection_is_cut_off() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| slow_config(p, echo.addr())).await;
        let mut conn = RawConn::connect(ports.proxy_addr()).await.unwrap();
        let started = Instant::now();
        // Connect and send nothing at all.
        let out = conn.drain(false, Duration::from_secs(6)).await;
        assert_closed_or_408(
            &out,
            started.elapsed(),
            "connection that never sends a byte",
        );
    })
    .await;
}

#[tokio::test]
async fn slowloris_silent_connection_is_cut_off_on_http1_listener() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| {
            let mut cfg = slow_config(p, echo.addr());
            cfg["listeners"][0]["protocol"] = json!("http1");
            cfg
        })
        .await;
        let mut conn = RawConn::connect(ports.proxy_addr()).await.unwrap();
        let started = Instant::now();
        let out = conn.drain(false, Duration::from_secs(6)).await;
        assert_closed_or_408(
            &out,
            started.elapsed(),
            "silent connection, `protocol: http1` listener",
        );
    })
    .await;
}

#[tokio::test]
async fn slowloris_idle_keep_alive_connection_is_closed() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| slow_config(p, echo.addr())).await;
        let mut conn = RawConn::connect(ports.proxy_addr()).await.unwrap();
        conn.send(b"GET /admin HTTP/1.1\r\nHost: pylon.test\r\n\r\n")
            .await
            .unwrap();
        let resp = conn.response(false, Duration::from_secs(5)).await.unwrap();
        assert_eq!(resp.status, 200);
        let started = Instant::now();
        let out = conn.drain(false, Duration::from_secs(6)).await;
        assert_closed_or_408(&out, started.elapsed(), "idle keep-alive connection");
    })
    .await;
}

// ---------------------------------------------------------------------------
// 6. Routing through the binary
// ---------------------------------------------------------------------------

fn static_route(name: &str, matches: Value, body: &str) -> Value {
    json!({"name": name, "match": matches, "respond": {"status": 200, "body": body}})
}

#[tokio::test]
async fn routing_by_exact_and_wildcard_host() {
    bounded(TEST_SECS, async {
        let (_pylon, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["routes"] = json!([
                static_route("exact", json!({"hosts": ["api.example.com"]}), "exact"),
                static_route("wild", json!({"hosts": ["*.example.com"]}), "wildcard"),
                static_route("any", json!({}), "any"),
            ]);
            cfg
        })
        .await;
        for (host, expected) in [
            ("api.example.com", "exact"),
            ("API.Example.COM:8080", "exact"),
            ("a.example.com", "wildcard"),
            ("a.b.example.com", "wildcard"),
            ("example.com", "any"),
            ("notexample.com", "any"),
            ("other.test", "any"),
        ] {
            let resp = get_with(&ports, "/x", &[("host", host)]).await;
            assert_eq!(
                (resp.status.as_u16(), resp.text().as_str()),
                (200, expected),
                "Host: {host}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn routing_template_with_path_rewrite() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["upstreams"] = json!([upstream("echo", echo.addr())]);
            cfg["routes"] = json!([{
                "name": "user",
                "match": {"paths": [{"template": "/users/{id}"}]},
                "rewrite": {"path": "/v2/users/{id}"},
                "upstream": "echo",
            }]);
            cfg
        })
        .await;
        let v = echoed(&get_with(&ports, "/users/42", &[]).await, "/users/42");
        assert_eq!(v["path"], "/v2/users/42");
        let v = echoed(&get_with(&ports, "/users/abc?x=1&y=2", &[]).await, "query");
        assert_eq!(
            v["uri"], "/v2/users/abc?x=1&y=2",
            "the query must survive the rewrite"
        );
        let resp = get_with(&ports, "/users/42/posts", &[]).await;
        assert_eq!(resp.status, 404, "{{id}} matches one segment only");
        let resp = get_with(&ports, "/users", &[]).await;
        assert_eq!(resp.status, 404);
    })
    .await;
}

#[tokio::test]
async fn routing_strip_prefix_and_regex_rewrite() {
    bounded(TEST_SECS, async {
        let echo = EchoServer::start().await.unwrap();
        let (_pylon, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["upstreams"] = json!([upstream("echo", echo.addr())]);
            cfg["routes"] = json!([
                {"name": "api", "match": {"paths": [{"prefix": "/api"}]},
                 "rewrite": {"strip_prefix": null}, "upstream": "echo"},
                {"name": "svc", "match": {"paths": [{"prefix": "/svc/v1"}]},
                 "rewrite": {"strip_prefix": "/svc"}, "upstream": "echo"},
                {"name": "legacy", "match": {"paths": [{"regex": "^/legacy/(?P<name>[a-z]+)$"}]},
                 "rewrite": {"regex": {"pattern": "^/legacy/(.*)$", "replacement": "/modern/$1"}},
                 "upstream": "echo"},
            ]);
            cfg
        })
        .await;
        for (sent, forwarded) in [
            ("/api/things/1", "/things/1"),
            ("/api", "/"),
            ("/api/", "/"),
            ("/svc/v1/x", "/v1/x"),
            ("/legacy/abc", "/modern/abc"),
        ] {
            let v = echoed(&get_with(&ports, sent, &[]).await, sent);
            assert_eq!(v["path"], forwarded, "{sent}");
        }
        let v = echoed(
            &get_with(&ports, "/legacy/abc?q=1", &[]).await,
            "legacy query",
        );
        assert_eq!(v["uri"], "/modern/abc?q=1");
        assert_eq!(
            get_with(&ports, "/apix", &[]).await.status,
            404,
            "prefixes are segment-aware"
        );
        assert_eq!(get_with(&ports, "/legacy/ABC", &[]).await.status, 404);
        assert_eq!(
            get_with(&ports, "/legacy/abc/d", &[]).await.status,
            404,
            "regex is anchored"
        );
    })
    .await;
}

#[tokio::test]
async fn routing_by_header_and_query() {
    bounded(TEST_SECS, async {
        let (_pylon, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            let prefix = json!([{"prefix": "/svc"}]);
            cfg["routes"] = json!([
                static_route(
                    "canary",
                    json!({"paths": prefix, "headers": [{"name": "x-canary", "value": "1"}]}),
                    "canary"
                ),
                static_route(
                    "versioned",
                    json!({"paths": prefix, "headers": [{"name": "x-version", "regex": "v[23]"}]}),
                    "v23"
                ),
                static_route(
                    "json",
                    json!({"paths": prefix, "query": [{"name": "format", "value": "json"}]}),
                    "json"
                ),
                static_route("stable", json!({"paths": prefix}), "stable"),
            ]);
            cfg
        })
        .await;
        for (path, headers, expected) in [
            ("/svc/a", vec![], "stable"),
            ("/svc/a", vec![("x-canary", "1")], "canary"),
            ("/svc/a", vec![("x-canary", "2")], "stable"),
            ("/svc/a", vec![("x-version", "v3")], "v23"),
            ("/svc/a", vec![("x-version", "v4")], "stable"),
            ("/svc/a", vec![("x-version", "v33")], "stable"),
            ("/svc/a?format=json", vec![], "json"),
            ("/svc/a?x=1&format=json", vec![], "json"),
            ("/svc/a?format=xml", vec![], "stable"),
        ] {
            let resp = get_with(&ports, path, &headers).await;
            assert_eq!(
                (resp.status.as_u16(), resp.text().as_str()),
                (200, expected),
                "{path} with {headers:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn routing_priority_then_specificity() {
    bounded(TEST_SECS, async {
        let (_pylon, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["routes"] = json!([
                // Equal priority: the exact path beats the prefix, whatever the file order.
                static_route("spec-prefix", json!({"paths": [{"prefix": "/spec"}]}), "prefix"),
                static_route("spec-exact", json!({"paths": [{"exact": "/spec/x"}]}), "exact"),
                static_route("spec-template", json!({"paths": [{"template": "/spec/t/{id}"}]}), "template"),
                // Higher priority wins over a more specific route.
                static_route("prio-exact", json!({"paths": [{"exact": "/prio/x"}]}), "exact"),
                {"name": "prio-prefix", "priority": 10, "match": {"paths": [{"prefix": "/prio"}]},
                 "respond": {"body": "priority"}},
            ]);
            cfg
        })
        .await;
        for (path, expected) in [
            ("/spec/x", "exact"),
            ("/spec/y", "prefix"),
            ("/spec/t/1", "template"),
            ("/prio/x", "priority"),
            ("/prio/y", "priority"),
        ] {
            let resp = get_with(&ports, path, &[]).await;
            assert_eq!(
                (resp.status.as_u16(), resp.text().as_str()),
                (200, expected),
                "{path}"
            );
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// 7. Static responses
// ---------------------------------------------------------------------------

#[tokio::test]
async fn static_response_with_headers_and_head_without_body() {
    bounded(TEST_SECS, async {
        let (_pylon, ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["routes"] = json!([{
                "name": "created",
                "match": {"paths": [{"exact": "/static"}], "methods": ["GET"]},
                "respond": {"status": 201,
                            "headers": {"content-type": "text/plain", "x-custom": "yes", "cache-control": "no-store"},
                            "body": "created\n"},
            }]);
            cfg
        })
        .await;
        let resp = get_with(&ports, "/static", &[]).await;
        assert_eq!(resp.status, 201);
        assert_eq!(resp.header("content-type"), Some("text/plain"));
        assert_eq!(resp.header("x-custom"), Some("yes"));
        assert_eq!(resp.header("cache-control"), Some("no-store"));
        assert!(resp.header("x-request-id").is_some());
        assert_eq!(resp.text(), "created\n");

        // HEAD then GET on one connection: if HEAD leaked body bytes, the GET
        // response would not parse.
        let mut conn = RawConn::connect(ports.proxy_addr()).await.unwrap();
        conn.send(b"HEAD /static HTTP/1.1\r\nHost: pylon.test\r\n\r\n")
            .await
            .unwrap();
        let head = conn.response(true, Duration::from_secs(5)).await.unwrap();
        assert_eq!(head.status, 201);
        assert_eq!(head.header("x-custom"), Some("yes"));
        assert_eq!(head.header("content-type"), Some("text/plain"));
        // RFC 9110 9.3.2/8.6: a Content-Length on HEAD must be the GET body's length.
        if let Some(len) = head.header("content-length") {
            assert_eq!(len, "8", "HEAD announces a Content-Length that GET would not send");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(conn.pending().is_empty(), "HEAD response carried body bytes: {:?}", String::from_utf8_lossy(conn.pending()));
        conn.send(b"GET /static HTTP/1.1\r\nHost: pylon.test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let get = conn.response(false, Duration::from_secs(5)).await.unwrap();
        assert_eq!((get.status, get.text().as_str()), (201, "created\n"));
    })
    .await;
}

// ---------------------------------------------------------------------------
// 8. Upstream failures
// ---------------------------------------------------------------------------

fn single_upstream_config(
    ports: &Ports,
    addr: std::net::SocketAddr,
    upstream_extra: Value,
) -> Value {
    let mut cfg = base_config(ports);
    let mut up = upstream("up", addr);
    if let (Value::Object(up), Value::Object(extra)) = (&mut up, upstream_extra) {
        up.extend(extra);
    }
    cfg["upstreams"] = json!([up]);
    cfg["routes"] =
        json!([{"name": "up", "match": {"paths": [{"prefix": "/up"}]}, "upstream": "up"}]);
    cfg
}

#[tokio::test]
async fn upstream_unreachable_is_502_upstream_connect() {
    bounded(TEST_SECS, async {
        let dead_guard = DeadAddr::new().unwrap(); // Connections are refused while it lives.
        let dead = dead_guard.addr();
        let (_pylon, ports) = start_pylon(|p| {
            single_upstream_config(p, dead, json!({"timeouts": {"connect": "2s"}}))
        })
        .await;
        let started = Instant::now();
        let resp = get_with(&ports, "/up/x", &[]).await;
        assert_eq!(resp.status, 502, "{}", resp.text());
        assert_eq!(error_code(&resp), "upstream_connect");
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert!(started.elapsed() < Duration::from_secs(5));
    })
    .await;
}

#[tokio::test]
async fn upstream_slower_than_read_timeout_is_504() {
    bounded(TEST_SECS, async {
        let slow = DelayServer::start(Duration::from_secs(5)).await.unwrap();
        let (_pylon, ports) = start_pylon(|p| {
            single_upstream_config(
                p,
                slow.addr(),
                json!({"timeouts": {"read": "500ms"}, "retries": {"attempts": 0}}),
            )
        })
        .await;
        let started = Instant::now();
        let resp = get_with(&ports, "/up/slow", &[]).await;
        let elapsed = started.elapsed();
        assert_eq!(resp.status, 504, "{}", resp.text());
        assert_eq!(error_code(&resp), "upstream_timeout");
        assert!(
            elapsed >= Duration::from_millis(450) && elapsed < Duration::from_secs(3),
            "504 after {elapsed:?} with a 500ms read timeout"
        );
    })
    .await;
}

#[tokio::test]
async fn upstream_dropping_the_connection_is_502() {
    bounded(TEST_SECS, async {
        for mode in [
            DropMode::AfterHead,
            DropMode::ResetAfterHead,
            DropMode::Immediately,
        ] {
            let drop = DropServer::start(mode).await.unwrap();
            let (_pylon, ports) =
                start_pylon(|p| single_upstream_config(p, drop.addr(), json!({}))).await;
            let resp = get_with(&ports, "/up/x", &[]).await;
            assert_eq!(resp.status, 502, "{mode:?}: {}", resp.text());
            let code = error_code(&resp);
            assert!(
                code == "upstream_error" || code == "upstream_connect",
                "{mode:?}: code {code}"
            );
            if mode != DropMode::Immediately {
                assert_eq!(
                    code, "upstream_error",
                    "{mode:?}: the request was sent, then the upstream hung up"
                );
            }
        }
    })
    .await;
}
