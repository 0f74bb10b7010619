//! Client tests against real hyper servers on loopback: HTTP/1.1, keep-alive
//! reuse, h2c prior knowledge, connect failures, connect timeout, upgrades.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pylon_config::{UpstreamConfig, UpstreamProtocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// Bounds every test so that a hang fails instead of blocking the suite.
pub(super) async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("test timed out")
}

pub(super) fn upstream(protocol: UpstreamProtocol) -> UpstreamConfig {
    let mut cfg: UpstreamConfig =
        serde_json::from_value(serde_json::json!({"name": "test", "targets": []})).unwrap();
    cfg.protocol = protocol;
    cfg
}

pub(super) fn client(cfg: &UpstreamConfig) -> UpstreamClient {
    UpstreamClient::new(cfg, Arc::new(SystemAddrs)).unwrap()
}

pub(super) fn get(uri: &str) -> Request<ProxyBody> {
    let mut req = Request::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed());
    *req.uri_mut() = uri.parse().unwrap();
    req
}

/// Answers `<version> <path> host=<Host>` to every request.
pub(super) async fn describe(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("-")
        .to_string();
    let authority = req.uri().authority().map(|a| a.to_string());
    let text = format!(
        "{:?} {} host={} authority={}",
        req.version(),
        req.uri().path(),
        host,
        authority.unwrap_or_else(|| "-".into())
    );
    Ok(Response::new(Full::new(Bytes::from(text))))
}

pub(super) async fn body_text(resp: Response<Incoming>) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// An HTTP/1.1 server; returns its address and its accepted-connection count.
async fn http1_server() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(describe))
                    .await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn plain_http1_request() {
    bounded(async {
        let (addr, _) = http1_server().await;
        let client = client(&upstream(UpstreamProtocol::Auto));
        let mut req = get(&format!("http://{addr}/hello?x=1"));
        req.headers_mut()
            .insert(http::header::HOST, "api.example".parse().unwrap());
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), Version::HTTP_11);
        assert_eq!(
            body_text(resp).await,
            "HTTP/1.1 /hello host=api.example authority=-"
        );
        // Without a Host header the target authority is used.
        let resp = client
            .request(get(&format!("http://{addr}/")))
            .await
            .unwrap();
        assert!(body_text(resp).await.contains(&format!("host={addr}")));
    })
    .await;
}

#[tokio::test]
async fn keep_alive_reuses_one_connection() {
    bounded(async {
        let (addr, accepted) = http1_server().await;
        let client = client(&upstream(UpstreamProtocol::Http1));
        for _ in 0..2 {
            let resp = client
                .request(get(&format!("http://{addr}/")))
                .await
                .unwrap();
            body_text(resp).await;
            // The connection returns to the pool once hyper reports it ready.
            while client.idle_connections() == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(client.idle_connections(), 1);
    })
    .await;
}

#[tokio::test]
async fn idle_connections_expire() {
    bounded(async {
        let (addr, accepted) = http1_server().await;
        let mut cfg = upstream(UpstreamProtocol::Http1);
        cfg.pool.idle_timeout = Duration::from_millis(100);
        let client = client(&cfg);
        let resp = client
            .request(get(&format!("http://{addr}/")))
            .await
            .unwrap();
        body_text(resp).await;
        while client.idle_connections() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(client.idle_connections(), 0);
        let resp = client
            .request(get(&format!("http://{addr}/")))
            .await
            .unwrap();
        body_text(resp).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    })
    .await;
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service_fn(describe))
                        .await;
                });
            }
        });
        let client = client(&upstream(UpstreamProtocol::Http2));
        // Concurrent requests share the one HTTP/2 connection.
        let mut calls = Vec::new();
        for i in 0..4 {
            let mut req = get(&format!("http://{addr}/grpc/{i}"));
            req.headers_mut()
                .insert(http::header::HOST, "svc.internal".parse().unwrap());
            calls.push(tokio::spawn(client.request(req)));
        }
        for (i, call) in calls.into_iter().enumerate() {
            let resp = call.await.unwrap().unwrap();
            assert_eq!(resp.version(), Version::HTTP_2);
            assert_eq!(
                body_text(resp).await,
                format!("HTTP/2.0 /grpc/{i} host=- authority=svc.internal")
            );
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    })
    .await;
}

#[tokio::test]
async fn connect_refused_is_connect_error() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = client(&upstream(UpstreamProtocol::Auto));
        let err = client
            .request(get(&format!("http://{addr}/")))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Connect { .. }), "{err:?}");
        assert!(err.is_connect() && err.nothing_sent() && !err.is_timeout());
        let probe = client
            .health_probe(
                "127.0.0.1",
                addr.port(),
                false,
                "/",
                None,
                Duration::from_secs(1),
            )
            .await;
        assert!(probe.is_err());
    })
    .await;
}

/// A listener whose accept queue is full drops new SYNs (Linux), so a connect
/// to it hangs until the connect timeout.
#[tokio::test]
async fn connect_timeout_applies() {
    bounded(async {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
        socket.bind(&bind.into()).unwrap();
        socket.listen(0).unwrap();
        let addr = socket.local_addr().unwrap().as_socket().unwrap();
        // Fill the accept queue: connects succeed until one hangs.
        let mut held = Vec::new();
        let mut full = false;
        for _ in 0..16 {
            match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => held.push(stream),
                Ok(Err(e)) => panic!("unexpected connect error: {e}"),
                Err(_) => {
                    full = true;
                    break;
                }
            }
        }
        assert!(full, "accept queue never filled");
        let mut cfg = upstream(UpstreamProtocol::Auto);
        cfg.timeouts.connect = Duration::from_millis(150);
        let client = client(&cfg);
        let started = std::time::Instant::now();
        let err = client
            .request(get(&format!("http://{addr}/")))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::ConnectTimeout { .. }), "{err:?}");
        assert!(err.is_connect() && err.is_timeout());
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(socket);
    })
    .await;
}

#[tokio::test]
async fn invalid_uri_is_rejected() {
    let client = client(&upstream(UpstreamProtocol::Auto));
    let err = client.request(get("/relative")).await.unwrap_err();
    assert!(matches!(err, ClientError::InvalidUri { .. }), "{err:?}");
    assert!(!err.is_connect());
}

#[tokio::test]
async fn health_probe_returns_status() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let svc = service_fn(|req: Request<Incoming>| async move {
                    let status = if req.uri().path() == "/healthz"
                        && req
                            .headers()
                            .get(http::header::HOST)
                            .is_some_and(|h| h == "probe.local")
                    {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    let mut resp = Response::new(Full::new(Bytes::new()));
                    *resp.status_mut() = status;
                    Ok::<_, Infallible>(resp)
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        let client = client(&upstream(UpstreamProtocol::Auto));
        let timeout = Duration::from_secs(2);
        let ok = client.health_probe(
            "127.0.0.1",
            addr.port(),
            false,
            "/healthz",
            Some("probe.local"),
            timeout,
        );
        assert_eq!(ok.await, Ok(204));
        let bad = client.health_probe("127.0.0.1", addr.port(), false, "healthz", None, timeout);
        assert_eq!(bad.await, Ok(503));
    })
    .await;
}

/// Answers upgrade requests with 101 and echoes bytes on the upgraded IO.
async fn upgrade_echo(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if !req.headers().contains_key(http::header::UPGRADE) {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"upgrade required")));
        *resp.status_mut() = StatusCode::UPGRADE_REQUIRED;
        return Ok(resp);
    }
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let mut io = TokioIo::new(upgraded);
        let mut buf = [0u8; 1024];
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    resp.headers_mut()
        .insert(http::header::CONNECTION, "upgrade".parse().unwrap());
    resp.headers_mut()
        .insert(http::header::UPGRADE, "websocket".parse().unwrap());
    Ok(resp)
}

#[tokio::test]
async fn upgrade_to_raw_io() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(upgrade_echo))
                        .with_upgrades()
                        .await;
                });
            }
        });
        let client = client(&upstream(UpstreamProtocol::Auto));
        let mut req = get(&format!("http://{addr}/ws"));
        req.headers_mut()
            .insert(http::header::CONNECTION, "upgrade".parse().unwrap());
        req.headers_mut()
            .insert(http::header::UPGRADE, "websocket".parse().unwrap());
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
        let upgraded = hyper::upgrade::on(resp).await.unwrap();
        let mut io = TokioIo::new(upgraded);
        io.write_all(b"ping over the tunnel").await.unwrap();
        let mut buf = [0u8; 20];
        io.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping over the tunnel");
        // The upgraded connection never returns to the pool.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(client.idle_connections(), 0);
    })
    .await;
}
