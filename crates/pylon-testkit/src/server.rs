//! The plumbing every mock server shares: binding 127.0.0.1:0, the accept loop,
//! per-connection HTTP serving (HTTP/1.1 and h2c on one port), counters, the
//! request log, and a handle that stops the server when dropped.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::body::{BodySummary, ResponseBody, drain};

/// How many requests a server's log keeps; older entries are dropped first.
/// The counters keep counting past it.
pub const MAX_RECORDED: usize = 10_000;

/// How long `shutdown()` lets open connections finish before cutting them.
const GRACE: Duration = Duration::from_secs(2);

/// What an upstream saw of one request: its head, and how much body arrived.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: Method,
    /// As the server saw it: origin form (`/a?b`) over HTTP/1.1, absolute
    /// form (`http://host/a?b`) over HTTP/2.
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    /// Body bytes received (counted, not kept).
    pub body_len: u64,
    /// The first [`crate::body::KEEP_BODY`] bytes of the body.
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
    /// Set when reading the body failed (for example the sender aborted it).
    pub body_error: Option<String>,
    /// 1-based number of the TCP connection it came on (per server), so tests
    /// can tell connection reuse apart from new connections.
    pub connection: u64,
    pub peer: SocketAddr,
}

impl RecordedRequest {
    /// The request path without the query.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The first value of header `name` as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The kept body prefix as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn from_head(
        method: Method,
        uri: Uri,
        version: Version,
        headers: HeaderMap,
        ctx: &ConnCtx,
    ) -> Self {
        Self {
            method,
            uri,
            version,
            headers,
            body_len: 0,
            body: Bytes::new(),
            trailers: None,
            body_error: None,
            connection: ctx.id,
            peer: ctx.peer,
        }
    }
}

/// Counters and the request log of one server.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    connections: AtomicU64,
    requests: AtomicU64,
    recorded: Mutex<VecDeque<RecordedRequest>>,
}

impl Stats {
    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        let mut log = lock(&self.recorded);
        if log.len() >= MAX_RECORDED {
            log.pop_front();
        }
        log.push_back(request);
    }
}

/// Lock a mutex, ignoring poisoning (a panicking test must not cascade).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running mock server. Dropping it stops the server at once (open
/// connections are cut); [`ServerHandle::shutdown`] stops it gracefully.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The bound address (always 127.0.0.1 with an ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port>` followed by `path` (which should start with `/`).
    pub fn url_for(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Accepted TCP connections so far.
    pub fn connections(&self) -> u64 {
        self.stats.connections.load(Ordering::SeqCst)
    }

    /// Requests received so far (counted when the head arrives).
    pub fn request_count(&self) -> u64 {
        self.stats.requests.load(Ordering::SeqCst)
    }

    /// The recorded requests, oldest first (at most [`MAX_RECORDED`]). A request
    /// is recorded once its body has been read, so it can trail `request_count`.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.stats.recorded).iter().cloned().collect()
    }

    /// The most recently recorded request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.stats.recorded).back().cloned()
    }

    /// Forget the recorded requests (the counters keep their values).
    pub fn clear_requests(&self) {
        lock(&self.stats.recorded).clear();
    }

    /// Stop accepting, let open connections finish (up to 2 s), then cut them.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            // Dropping the accept loop drops its JoinSet, which aborts every connection.
            task.abort();
        }
    }
}

/// Resolves once the server is told to stop (or its handle is gone).
#[derive(Debug, Clone)]
pub(crate) struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub(crate) async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Facts about the connection a request or stream arrived on.
#[derive(Debug, Clone)]
pub(crate) struct ConnCtx {
    pub id: u64,
    pub peer: SocketAddr,
    pub stats: Arc<Stats>,
}

/// One accepted connection, handed to a server's connection function.
pub(crate) struct Conn {
    pub stream: TcpStream,
    pub ctx: ConnCtx,
    pub shutdown: Shutdown,
}

/// Bind 127.0.0.1 on an ephemeral port.
pub(crate) async fn bind() -> anyhow::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("binding 127.0.0.1:0")
}

/// Run an accept loop on `listener`, calling `on_conn` for every connection.
pub(crate) fn spawn_tcp<F, Fut>(listener: TcpListener, on_conn: F) -> anyhow::Result<ServerHandle>
where
    F: Fn(Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let addr = listener.local_addr().context("reading the bound address")?;
    let stats = Arc::new(Stats::default());
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(
        listener,
        stats.clone(),
        Shutdown(stop_rx),
        on_conn,
    ));
    Ok(ServerHandle {
        addr,
        stats,
        stop,
        task: Some(task),
    })
}

async fn accept_loop<F, Fut>(
    listener: TcpListener,
    stats: Arc<Stats>,
    shutdown: Shutdown,
    on_conn: F,
) where
    F: Fn(Conn) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut conns = JoinSet::new();
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            _ = stop.wait() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let id = stats.connections.fetch_add(1, Ordering::SeqCst) + 1;
                    let _ = stream.set_nodelay(true);
                    let ctx = ConnCtx { id, peer, stats: stats.clone() };
                    conns.spawn(on_conn(Conn { stream, ctx, shutdown: shutdown.clone() }));
                }
                // Out of file descriptors and the like: back off briefly.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drain = async { while conns.join_next().await.is_some() {} };
    let _ = tokio::time::timeout(GRACE, drain).await;
    conns.abort_all();
}

/// Which HTTP versions a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    /// HTTP/1.1 and h2c with prior knowledge, detected per connection.
    Auto,
    /// h2c with prior knowledge only.
    Http2Only,
}

/// Run an HTTP server on `listener`; `handler` answers every request.
pub(crate) fn spawn_http<H, Fut>(
    listener: TcpListener,
    proto: Proto,
    handler: H,
) -> anyhow::Result<ServerHandle>
where
    H: Fn(Request<Incoming>, ConnCtx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<ResponseBody>> + Send + 'static,
{
    let handler = Arc::new(handler);
    spawn_tcp(listener, move |conn| {
        serve_conn(conn, proto, handler.clone())
    })
}

async fn serve_conn<H, Fut>(conn: Conn, proto: Proto, handler: Arc<H>)
where
    H: Fn(Request<Incoming>, ConnCtx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response<ResponseBody>> + Send + 'static,
{
    let Conn {
        stream,
        ctx,
        mut shutdown,
    } = conn;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if proto == Proto::Http2Only {
        builder = builder.http2_only();
    }
    let service = service_fn(move |req: Request<Incoming>| {
        ctx.stats.count_request();
        let fut = handler(req, ctx.clone());
        async move { Ok::<_, Infallible>(fut.await) }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.wait() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Record a request whose body has been drained.
pub(crate) fn record_parts(parts: http::request::Parts, summary: BodySummary, ctx: &ConnCtx) {
    let mut record =
        RecordedRequest::from_head(parts.method, parts.uri, parts.version, parts.headers, ctx);
    record.body_len = summary.len;
    record.body = summary.prefix;
    record.trailers = summary.trailers;
    record.body_error = summary.error;
    ctx.stats.record(record);
}

/// Drain a request's body and record it: the first step of the servers that
/// do not care about the body.
pub(crate) async fn record_drained(req: Request<Incoming>, ctx: &ConnCtx) {
    let (parts, body) = req.into_parts();
    let summary = drain(body).await;
    record_parts(parts, summary, ctx);
}
