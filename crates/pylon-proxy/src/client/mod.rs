//! The HTTP client Pylon uses to talk to upstream targets.
//!
//! One [`UpstreamClient`] per configured upstream. The caller puts the
//! configured target (`http://host:port` or `https://host:port`) in the request
//! URI authority, so connections are pooled per target; the Host header is the
//! caller's (the client adds one only when it is missing).
//!
//! Connections are opened by [`UpstreamConnector`]: addresses come from an
//! [`AddrSource`] (the upstream module's DNS cache), falling back to an async
//! system lookup; each TCP attempt is bounded by `timeouts.connect`; `https`
//! targets get TLS with rustls (ring provider), ALPN by protocol. HTTP/1.1 and
//! HTTP/2 run on hyper's connection API with a keep-alive pool of our own
//! (`pool.rs`): hyper-util's legacy client would need a `tower_service::Service`
//! connector, and `tower-service` is not a dependency of this crate.
//!
//! The client never retries by itself: Pylon's retry policy decides, helped by
//! [`ClientError::nothing_sent`]. Per-request timeouts other than connect are
//! the caller's too.

mod addr;
mod connect;
mod error;
mod pool;
mod tls;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, UPGRADE, USER_AGENT};
use http::{HeaderValue, Request, Response, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use pylon_config::{UpstreamConfig, UpstreamProtocol};

pub use addr::{AddrSource, StaticAddrs, SystemAddrs};
pub use connect::{UpstreamConnector, UpstreamIo};
pub use error::ClientError;

use connect::Target;
use pool::{H1Sender, H2Sender, Pool, PoolKey};
use tls::TlsSettings;

/// Boxed error of proxied bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type sent to upstreams.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// Most bytes of a health-probe response body read so that the connection can
/// be reused; a longer body is dropped with its connection.
const PROBE_DRAIN_LIMIT: usize = 64 * 1024;

/// HTTP client for the targets of one upstream. Cheap to clone; clones share
/// the connection pool.
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Arc<Inner>,
}

struct Inner {
    protocol: UpstreamProtocol,
    connector: UpstreamConnector,
    pool: Arc<Pool>,
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
}

/// How a request is carried, decided from the protocol, scheme and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Http1,
    /// Prior-knowledge h2c on TCP, ALPN `h2` on TLS.
    Http2,
    /// TLS with ALPN `h2` + `http/1.1`: whatever the server picks.
    Negotiate,
}

/// A connection ready for one request.
enum Conn {
    Http1(H1Sender),
    Http2(H2Sender),
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field("protocol", &self.inner.protocol)
            .field("connector", &self.inner.connector)
            .finish_non_exhaustive()
    }
}

impl UpstreamClient {
    /// Builds the client of `cfg`: protocol, TLS, pool and connect timeout.
    /// Fails when the TLS settings are unusable (unreadable `ca_file`, invalid
    /// `server_name`).
    pub fn new(cfg: &UpstreamConfig, addrs: Arc<dyn AddrSource>) -> Result<Self, ClientError> {
        let tls = TlsSettings::new(&cfg.tls, cfg.protocol)?;
        let connector = UpstreamConnector::new(addrs, cfg.timeouts.connect, tls);
        let pool = Pool::new(cfg.pool.max_idle_per_target, cfg.pool.idle_timeout);
        let mut h1 = http1::Builder::new();
        h1.max_buf_size(1024 * 1024);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new())
            .initial_stream_window_size(1024 * 1024)
            .initial_connection_window_size(4 * 1024 * 1024);
        Ok(Self {
            inner: Arc::new(Inner {
                protocol: cfg.protocol,
                connector,
                pool,
                h1,
                h2,
            }),
        })
    }

    /// The connector this client opens connections with.
    pub fn connector(&self) -> &UpstreamConnector {
        &self.inner.connector
    }

    /// Idle HTTP/1.1 connections plus open shared HTTP/2 connections.
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count()
    }

    /// Sends `req` to the target in its URI authority and resolves with the
    /// response head. Requests carrying an `Upgrade` header go over HTTP/1.1
    /// (unless the protocol is `http2`), so `hyper::upgrade::on(response)`
    /// works after a `101`.
    pub fn request(
        &self,
        req: Request<ProxyBody>,
    ) -> impl Future<Output = Result<Response<Incoming>, ClientError>> + Send + 'static + use<>
    {
        let inner = self.inner.clone();
        async move { inner.send(req).await }
    }

    /// One active health-check GET of `path` on `target_host:port`, over the
    /// upstream's pool, with the whole exchange bounded by `timeout`. Resolves
    /// with the response status.
    pub fn health_probe(
        &self,
        target_host: &str,
        port: u16,
        tls: bool,
        path: &str,
        host_header: Option<&str>,
        timeout: Duration,
    ) -> impl Future<Output = Result<u16, String>> + Send + 'static + use<> {
        let inner = self.inner.clone();
        let target = Target {
            tls,
            host: target_host.to_ascii_lowercase(),
            port,
        };
        let path = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{path}")
        };
        let host_header = host_header.map(str::to_string);
        async move {
            let authority = target.authority();
            let uri: Uri = format!("{}://{authority}{path}", target.scheme())
                .parse()
                .map_err(|e| format!("invalid probe URI: {e}"))?;
            let host = HeaderValue::try_from(host_header.unwrap_or(authority))
                .map_err(|e| format!("invalid probe Host header: {e}"))?;
            let mut req = Request::new(Empty::<Bytes>::new().map_err(|e| match e {}).boxed());
            *req.uri_mut() = uri;
            req.headers_mut().insert(HOST, host);
            req.headers_mut()
                .insert(USER_AGENT, HeaderValue::from_static("pylon-health-check"));
            let deadline = tokio::time::Instant::now() + timeout;
            let response = tokio::time::timeout_at(deadline, inner.send(req))
                .await
                .map_err(|_| format!("no response within {timeout:?}"))?
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            // Read the (small) body so that the connection goes back to the pool.
            let drain = http_body_util::Limited::new(response.into_body(), PROBE_DRAIN_LIMIT);
            let _ = tokio::time::timeout_at(deadline, drain.collect()).await;
            Ok(status)
        }
    }
}

impl Inner {
    async fn send(
        self: Arc<Self>,
        req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, ClientError> {
        let target = Target::from_uri(req.uri())?;
        let wants_upgrade = req.headers().contains_key(UPGRADE);
        let mode = match (self.protocol, target.tls) {
            (UpstreamProtocol::Http2, _) => Mode::Http2,
            (UpstreamProtocol::Http1, _) | (UpstreamProtocol::Auto, false) => Mode::Http1,
            (UpstreamProtocol::Auto, true) if wants_upgrade => Mode::Http1,
            (UpstreamProtocol::Auto, true) => Mode::Negotiate,
        };
        let key = PoolKey {
            http1_only: target.tls
                && self.protocol == UpstreamProtocol::Auto
                && mode == Mode::Http1,
            target,
        };
        match self.conn_for(&key, mode).await? {
            Conn::Http1(tx) => self.send_http1(key, tx, req).await,
            Conn::Http2(tx) => send_http2(&key.target, tx, req).await,
        }
    }

    /// A pooled connection for `key`, or a new one.
    async fn conn_for(&self, key: &PoolKey, mode: Mode) -> Result<Conn, ClientError> {
        if mode != Mode::Http1
            && let Some(tx) = self.pool.shared_http2(key)
        {
            return Ok(Conn::Http2(tx));
        }
        if mode == Mode::Http1 || (mode == Mode::Negotiate && self.pool.learned_http1(key)) {
            if let Some(tx) = self.pool.checkout_http1(key) {
                return Ok(Conn::Http1(tx));
            }
            return self.open(key, mode).await;
        }
        // An h2 connection may result: open one at a time, then share it.
        let lock = self.pool.connect_lock(key);
        let _guard = lock.lock().await;
        if let Some(tx) = self.pool.shared_http2(key) {
            return Ok(Conn::Http2(tx));
        }
        if mode == Mode::Negotiate
            && self.pool.learned_http1(key)
            && let Some(tx) = self.pool.checkout_http1(key)
        {
            return Ok(Conn::Http1(tx));
        }
        self.open(key, mode).await
    }

    /// Opens a connection and runs the HTTP handshake; an h2 one becomes the
    /// target's shared connection.
    async fn open(&self, key: &PoolKey, mode: Mode) -> Result<Conn, ClientError> {
        let io = self
            .connector
            .connect_target(&key.target, key.http1_only)
            .await?;
        let handshake_error = |source| ClientError::Handshake {
            target: key.target.authority(),
            source,
        };
        let use_h2 = match mode {
            Mode::Http2 => true,
            Mode::Http1 => false,
            Mode::Negotiate => io.alpn_h2(),
        };
        if use_h2 {
            let (tx, conn) = self.h2.handshake(io).await.map_err(handshake_error)?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "upstream h2 connection closed");
                }
            });
            self.pool.put_http2(key.clone(), tx.clone());
            Ok(Conn::Http2(tx))
        } else {
            let (tx, conn) = self.h1.handshake(io).await.map_err(handshake_error)?;
            tokio::spawn(async move {
                if let Err(e) = conn.with_upgrades().await {
                    tracing::debug!(error = %e, "upstream http/1.1 connection closed");
                }
            });
            if mode == Mode::Negotiate {
                self.pool.set_learned_http1(key.clone());
            }
            Ok(Conn::Http1(tx))
        }
    }

    async fn send_http1(
        &self,
        key: PoolKey,
        mut tx: H1Sender,
        mut req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, ClientError> {
        if !req.headers().contains_key(HOST)
            && let Ok(host) = HeaderValue::try_from(key.target.authority())
        {
            req.headers_mut().insert(HOST, host);
        }
        let origin_form = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .parse::<Uri>()
            .unwrap_or_else(|_| Uri::from_static("/"));
        *req.uri_mut() = origin_form;
        *req.version_mut() = Version::HTTP_11;
        match tx.try_send_request(req).await {
            Ok(response) => {
                // Back to the pool once the exchange is over and the connection
                // kept alive; never after an upgrade (the connection is gone).
                let pool = self.pool.clone();
                tokio::spawn(async move {
                    if tx.ready().await.is_ok() {
                        pool.checkin_http1(key, tx);
                    }
                });
                Ok(response)
            }
            Err(mut e) => Err(send_error(
                &key.target,
                e.take_message().is_none(),
                e.into_error(),
            )),
        }
    }
}

async fn send_http2(
    target: &Target,
    mut tx: H2Sender,
    mut req: Request<ProxyBody>,
) -> Result<Response<Incoming>, ClientError> {
    // :authority carries the caller's Host (RFC 9113 §8.3.1); the URI keeps the
    // target only as the pool key.
    let authority = req
        .headers_mut()
        .remove(HOST)
        .and_then(|h| h.to_str().ok().map(str::to_string))
        .unwrap_or_else(|| target.authority());
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let uri = Uri::builder()
        .scheme(target.scheme())
        .authority(authority.as_str())
        .path_and_query(path)
        .build()
        .map_err(|_| ClientError::InvalidUri {
            uri: format!("{}://{authority}{path}", target.scheme()),
            reason: "Host header is not a valid :authority",
        })?;
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_2;
    match tx.try_send_request(req).await {
        Ok(response) => Ok(response),
        Err(mut e) => Err(send_error(
            target,
            e.take_message().is_none(),
            e.into_error(),
        )),
    }
}

fn send_error(target: &Target, sent: bool, source: hyper::Error) -> ClientError {
    let target = target.authority();
    if sent {
        ClientError::Request { target, source }
    } else {
        ClientError::NotSent { target, source }
    }
}
