//! Tests of the plain HTTP mock servers: echo, status, delay, drop, slow body, SSE.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pylon_testkit::*;

/// Every test runs under this bound.
async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("test timed out");
}

#[tokio::test]
async fn echo_describes_and_records_an_http1_request() {
    bounded(async {
        let echo = EchoServer::start_named("alpha").await.unwrap();
        let mut req = request(Method::POST, &echo.url_for("/some/path?a=1&b=2"), "hello").unwrap();
        req.headers_mut().append("x-multi", "one".parse().unwrap());
        req.headers_mut().append("x-multi", "two".parse().unwrap());
        let resp = send(req).await.unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.header(UPSTREAM_HEADER), Some("alpha"));
        assert_eq!(resp.header("content-type"), Some("application/json"));
        let doc = resp.json().unwrap();
        assert_eq!(doc["upstream"], "alpha");
        assert_eq!(doc["method"], "POST");
        assert_eq!(doc["uri"], "/some/path?a=1&b=2");
        assert_eq!(doc["path"], "/some/path");
        assert_eq!(doc["query"], "a=1&b=2");
        assert_eq!(doc["version"], "HTTP/1.1");
        assert_eq!(doc["headers"]["x-multi"], serde_json::json!(["one", "two"]));
        assert_eq!(doc["body_len"], 5);
        assert_eq!(doc["body"], "hello");

        let seen = echo.requests();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, Method::POST);
        assert_eq!(seen[0].path(), "/some/path");
        assert_eq!(seen[0].body_len, 5);
        assert_eq!(seen[0].body_text(), "hello");
        assert_eq!(seen[0].connection, 1);
        assert_eq!(echo.connections(), 1);
        assert_eq!(echo.request_count(), 1);
    })
    .await;
}

#[tokio::test]
async fn echo_speaks_h2c_on_the_same_port() {
    bounded(async {
        let echo = EchoServer::start().await.unwrap();
        let resp = get_h2c(&echo.url_for("/h2?x=y")).await.unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.header(UPSTREAM_HEADER), None);
        let doc = resp.json().unwrap();
        assert_eq!(doc["version"], "HTTP/2.0");
        assert_eq!(doc["uri"], "/h2?x=y");
        assert_eq!(doc["authority"], echo.addr().to_string());
        let (status, _, body) = get(&echo.url()).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(String::from_utf8_lossy(&body).contains("HTTP/1.1"));
        assert_eq!(echo.connections(), 2);
    })
    .await;
}

#[tokio::test]
async fn echo_counts_connections_and_reuse() {
    bounded(async {
        let echo = EchoServer::start().await.unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        for _ in 0..3 {
            let req = request(Method::GET, &echo.url(), Bytes::new()).unwrap();
            let resp = client.request(req).await.unwrap();
            resp.into_body().collect().await.unwrap();
        }
        assert_eq!(echo.request_count(), 3);
        assert_eq!(echo.connections(), 1);
        assert!(echo.requests().iter().all(|r| r.connection == 1));
    })
    .await;
}

#[tokio::test]
async fn echo_streams_a_large_upload_without_keeping_it() {
    bounded(async {
        let echo = EchoServer::start().await.unwrap();
        let stream = tokio::net::TcpStream::connect(echo.addr()).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let (tx, body) = channel_body(4);
        let req = Request::post(echo.url_for("/upload")).body(body).unwrap();
        let feed = tokio::spawn(async move {
            let chunk = Bytes::from(vec![b'z'; 256 * 1024]);
            for _ in 0..32 {
                tx.send(Frame::data(chunk.clone())).await.unwrap();
            }
        });
        let resp = sender.send_request(req).await.unwrap();
        feed.await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["body_len"], 8 * 1024 * 1024);
        assert!(
            doc.get("body").is_none(),
            "bodies over 64 KiB are not echoed"
        );
        let seen = echo.last_request().unwrap();
        assert_eq!(seen.body_len, 8 * 1024 * 1024);
        assert_eq!(seen.body.len(), 64 * 1024);
        assert_eq!(seen.header("transfer-encoding"), Some("chunked"));
    })
    .await;
}

#[tokio::test]
async fn status_server_switches_status_at_run_time() {
    bounded(async {
        let server = StatusServer::start(503).await.unwrap();
        let (status, _, body) = get(&server.url_for("/health")).await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.is_empty());
        server.set_status(200);
        assert_eq!(server.status(), 200);
        assert_eq!(get(&server.url()).await.unwrap().0, StatusCode::OK);
        let canned = CannedResponse::new(429)
            .unwrap()
            .header("retry-after", "1")
            .unwrap()
            .body("slow down");
        server.set_response(canned);
        let resp = get_h2c(&server.url()).await.unwrap();
        assert_eq!(resp.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.header("retry-after"), Some("1"));
        assert_eq!(resp.text(), "slow down");
        assert_eq!(server.request_count(), 3);
        assert_eq!(server.requests()[0].path(), "/health");
        assert!(StatusServer::start(42).await.is_err());
    })
    .await;
}

#[tokio::test]
async fn delay_server_delays_the_head_or_the_body() {
    bounded(async {
        let server = DelayServer::start(Duration::from_millis(300))
            .await
            .unwrap();
        let start = Instant::now();
        let (status, _, body) = get(&server.url()).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"delayed");
        assert!(start.elapsed() >= Duration::from_millis(300));

        server.set_delay(Duration::ZERO);
        let start = Instant::now();
        get(&server.url()).await.unwrap();
        assert!(start.elapsed() < Duration::from_millis(300));

        let server = DelayServer::start_body_delay(Duration::from_millis(600))
            .await
            .unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let start = Instant::now();
        let resp = client
            .request(request(Method::GET, &server.url(), Bytes::new()).unwrap())
            .await
            .unwrap();
        let head_at = start.elapsed();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let body_at = start.elapsed();
        assert_eq!(&body[..], b"delayed");
        assert!(
            head_at < Duration::from_millis(300),
            "head took {head_at:?}"
        );
        assert!(
            body_at >= Duration::from_millis(400),
            "body took {body_at:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn drop_server_hangs_up_in_every_mode() {
    bounded(async {
        for mode in [
            DropMode::Immediately,
            DropMode::AfterHead,
            DropMode::ResetAfterHead,
        ] {
            let server = DropServer::start(mode).await.unwrap();
            assert!(
                get(&server.url()).await.is_err(),
                "{mode:?} must not answer"
            );
            assert!(server.connections() >= 1);
            if mode != DropMode::Immediately {
                assert!(server.request_count() >= 1, "{mode:?} reads the head");
            }
        }
    })
    .await;
}

#[tokio::test]
async fn slow_body_arrives_in_timed_chunks() {
    bounded(async {
        let server = SlowBodyServer::start(4, Duration::from_millis(100))
            .await
            .unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let resp = client
            .request(request(Method::GET, &server.url(), Bytes::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.headers()["transfer-encoding"], "chunked");
        let mut body = resp.into_body();
        let mut received = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                received.push((Instant::now(), data));
            }
        }
        let text: String = received
            .iter()
            .map(|(_, d)| String::from_utf8_lossy(d))
            .collect();
        assert_eq!(text, "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
        let first = received.first().unwrap().0;
        let last = received.last().unwrap().0;
        assert!(
            last - first >= Duration::from_millis(250),
            "chunks were not spread out"
        );

        let sent = server.last_chunk_times();
        assert_eq!(sent.len(), 4);
        for pair in sent.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(90));
        }
        assert_eq!(server.chunk_times().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn slow_body_can_drop_the_stream() {
    bounded(async {
        let config = SlowBodyConfig {
            chunks: 5,
            interval: Duration::from_millis(20),
            chunk_size: 100,
            fail_after: Some(2),
            ..SlowBodyConfig::default()
        };
        let server = SlowBodyServer::start_with(config).await.unwrap();
        assert!(
            get(&server.url()).await.is_err(),
            "a cut body must surface as an error"
        );
        assert!(get_h2c(&server.url()).await.is_err());
        assert_eq!(server.last_chunk_times().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn sse_events_are_flushed_one_by_one() {
    bounded(async {
        let server = SseServer::start(3, Duration::from_millis(200))
            .await
            .unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let resp = client
            .request(request(Method::GET, &server.url_for("/events"), Bytes::new()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let mut body = resp.into_body();
        let mut events = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                events.push((Instant::now(), String::from_utf8_lossy(&data).into_owned()));
            }
        }
        let texts: Vec<&str> = events.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(texts, vec![sse_event(0), sse_event(1), sse_event(2)]);
        assert_eq!(texts[1], "data: 1\n\n");
        // Each event arrives before the next one is even sent: nothing buffers them.
        let sent = server.last_event_times();
        assert_eq!(sent.len(), 3);
        for (i, (arrived, _)) in events.iter().enumerate().take(2) {
            assert!(
                *arrived < sent[i + 1],
                "event {i} arrived after event {} was sent",
                i + 1
            );
        }
        assert!(events[2].0 - events[0].0 >= Duration::from_millis(350));
    })
    .await;
}

#[tokio::test]
async fn servers_stop_on_drop_and_on_shutdown() {
    bounded(async {
        let echo = EchoServer::start().await.unwrap();
        let addr = echo.addr();
        get(&echo.url()).await.unwrap();
        drop(echo);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());

        let status = StatusServer::start(204).await.unwrap();
        let addr = status.addr();
        assert_eq!(get(&status.url()).await.unwrap().0, StatusCode::NO_CONTENT);
        status.shutdown().await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    })
    .await;
}
