//! Listeners: binding sockets, TLS handshakes, serving HTTP/1.1 and HTTP/2
//! connections into the gateway handler, and draining them on shutdown or
//! when a reload removes or changes a listener.

mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use pylon_config::{ListenerConfig, ListenerProtocol};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::gateway::Gateway;

/// Listener errors, each worded as one line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("listener `{listener}`: cannot bind {addr}")]
    Bind {
        listener: String,
        addr: String,
        source: std::io::Error,
    },
    #[error("listener `{listener}`: TLS: {reason}")]
    Tls { listener: String, reason: String },
}

/// What the handler knows about the connection a request came on.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub listener: Arc<str>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub tls: bool,
    pub max_body_bytes: u64,
    /// Limit for bodies read into memory for policies.
    pub max_buffered_body_bytes: u64,
    pub max_header_bytes: usize,
    pub redirect_https_port: Option<u16>,
    /// Names in the client's verified TLS certificate (mutual TLS), if any.
    pub client_cert_names: Arc<[String]>,
}

/// The per-connection settings of a listener; swapped in place when a reload
/// changes a listener but not its address.
pub struct ListenerRuntime {
    config: ListenerConfig,
    tls: Option<TlsAcceptor>,
    builder: Builder<TokioExecutor>,
}

impl ListenerRuntime {
    /// Load TLS material and prepare the HTTP settings; errors name the listener.
    pub fn build(config: &ListenerConfig) -> Result<Arc<Self>, ServerError> {
        let tls = match &config.tls {
            Some(t) => Some(TlsAcceptor::from(tls::server_config(
                &config.name,
                t,
                config.protocol,
            )?)),
            None => None,
        };
        Ok(Arc::new(Self {
            config: config.clone(),
            tls,
            builder: http_builder(config),
        }))
    }
}

/// A bound, prepared listener that is not serving yet.
pub struct BoundListener {
    runtime: Arc<ListenerRuntime>,
    tcp: TcpListener,
}

impl BoundListener {
    /// Bind the socket and load TLS material; errors name the listener.
    pub fn bind(config: &ListenerConfig) -> Result<Self, ServerError> {
        let runtime = ListenerRuntime::build(config)?;
        let bind_err = |source| ServerError::Bind {
            listener: config.name.clone(),
            addr: config.bind.clone(),
            source,
        };
        let addr: SocketAddr = config.bind.parse().map_err(|_| {
            bind_err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not ip:port",
            ))
        })?;
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )
        .map_err(bind_err)?;
        socket.set_reuse_address(true).map_err(bind_err)?;
        if addr.is_ipv6() {
            socket.set_only_v6(false).ok();
        }
        socket.set_nonblocking(true).map_err(bind_err)?;
        socket.bind(&addr.into()).map_err(bind_err)?;
        socket.listen(4096).map_err(bind_err)?;
        let tcp = TcpListener::from_std(socket.into()).map_err(bind_err)?;
        Ok(Self { runtime, tcp })
    }

    pub fn config_name(&self) -> &str {
        &self.runtime.config.name
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.tcp.local_addr().ok()
    }

    /// Start accepting; the returned handle stops and drains the listener.
    pub fn serve(self, gateway: Arc<Gateway>) -> RunningListener {
        let (stop_tx, stop_rx) = watch::channel(None::<Duration>);
        let config = self.runtime.config.clone();
        let runtime = Arc::new(ArcSwap::new(self.runtime));
        let task = tokio::spawn(accept_loop(self.tcp, runtime.clone(), gateway, stop_rx));
        RunningListener {
            config,
            runtime,
            stop_tx,
            task,
        }
    }
}

/// A listener that is accepting connections.
pub struct RunningListener {
    pub config: ListenerConfig,
    runtime: Arc<ArcSwap<ListenerRuntime>>,
    stop_tx: watch::Sender<Option<Duration>>,
    task: JoinHandle<()>,
}

impl RunningListener {
    /// New connections use `runtime` from now on; open ones keep theirs.
    pub fn update(&mut self, runtime: Arc<ListenerRuntime>) {
        self.config = runtime.config.clone();
        self.runtime.store(runtime);
    }

    /// Stop accepting, ask open connections to finish their in-flight requests,
    /// and wait up to `deadline` for them before closing whatever is left.
    pub async fn shutdown(self, deadline: Duration) {
        let _ = self.stop_tx.send(Some(deadline));
        let _ = self.task.await;
    }
}

fn http_builder(cfg: &ListenerConfig) -> Builder<TokioExecutor> {
    let mut b = Builder::new(TokioExecutor::new());
    let lim = &cfg.limits;
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(lim.header_read_timeout)
        .max_headers(lim.max_headers)
        // hyper's buffer is the outer bound; the handler enforces the exact limit
        // with a JSON 431, so heads a little over it still get a clear answer.
        .max_buf_size((lim.max_header_bytes + 16 * 1024).max(8192))
        .keep_alive(true);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(lim.max_concurrent_streams)
        .max_header_list_size(u32::try_from(lim.max_header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    match cfg.protocol {
        ListenerProtocol::Auto => b,
        ListenerProtocol::Http1 => b.http1_only(),
        ListenerProtocol::Http2 => b.http2_only(),
    }
}

async fn accept_loop(
    tcp: TcpListener,
    runtime: Arc<ArcSwap<ListenerRuntime>>,
    gateway: Arc<Gateway>,
    mut stop: watch::Receiver<Option<Duration>>,
) {
    let name: Arc<str> = Arc::from(runtime.load().config.name.as_str());
    let graceful = GracefulShutdown::new();
    {
        let rt = runtime.load();
        info!(listener = %name, bind = %rt.config.bind, tls = rt.tls.is_some(), "listening");
    }
    let deadline = loop {
        tokio::select! {
            changed = stop.changed() => {
                let d = if changed.is_ok() { *stop.borrow() } else { None };
                break d.unwrap_or(Duration::from_secs(30));
            }
            accepted = tcp.accept() => {
                let (stream, peer) = match accepted {
                    Ok(v) => v,
                    Err(e) => {
                        // EMFILE and friends: back off briefly rather than spin.
                        warn!(listener = %name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().unwrap_or(peer);
                let rt = runtime.load_full();
                let info = Arc::new(ConnInfo {
                    listener: name.clone(),
                    peer,
                    local,
                    tls: rt.tls.is_some(),
                    max_body_bytes: rt.config.limits.max_body_bytes,
                    max_buffered_body_bytes: rt.config.limits.max_buffered_body_bytes,
                    max_header_bytes: rt.config.limits.max_header_bytes,
                    redirect_https_port: rt.config.redirect_https_port,
                    client_cert_names: Arc::from(Vec::new()),
                });
                let watcher = graceful.watcher();
                let gw = gateway.clone();
                tokio::spawn(async move {
                    let _conn_guard = gw.metrics().open_connection(&info.listener);
                    serve_connection(stream, rt, gw, info, watcher).await;
                });
            }
        }
    };
    drop(tcp);
    info!(listener = %name, in_flight_connections = graceful.count(), "draining");
    if tokio::time::timeout(deadline, graceful.shutdown())
        .await
        .is_err()
    {
        warn!(listener = %name, "drain deadline passed; closing remaining connections");
    }
}

async fn serve_connection(
    stream: TcpStream,
    rt: Arc<ListenerRuntime>,
    gateway: Arc<Gateway>,
    info: Arc<ConnInfo>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let service = |info: Arc<ConnInfo>| {
        service_fn(move |req: hyper::Request<Incoming>| {
            let gw = gateway.clone();
            let info = info.clone();
            async move { Ok::<_, std::convert::Infallible>(crate::handler::handle(gw, info, req).await) }
        })
    };
    let builder = &rt.builder;
    let handshake_timeout = rt.config.limits.header_read_timeout;
    let result = match &rt.tls {
        None => {
            // hyper-util reads the first bytes (to tell h1 from h2c) before any
            // hyper timer runs, so a client that never sends a byte is cut here.
            let mut first = [0u8; 1];
            if tokio::time::timeout(handshake_timeout, stream.peek(&mut first))
                .await
                .is_err()
            {
                debug!(peer = %info.peer, "no request bytes before the header read timeout");
                return;
            }
            let conn =
                builder.serve_connection_with_upgrades(TokioIo::new(stream), service(info.clone()));
            watcher.watch(conn.into_owned()).await
        }
        Some(acceptor) => {
            let tls_stream =
                match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        debug!(peer = %info.peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(peer = %info.peer, "TLS handshake timed out");
                        return;
                    }
                };
            let info = match tls_stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
            {
                Some(leaf) => Arc::new(ConnInfo {
                    client_cert_names: Arc::from(tls::client_cert_names(leaf)),
                    ..(*info).clone()
                }),
                None => info.clone(),
            };
            let conn =
                builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), service(info));
            watcher.watch(conn.into_owned()).await
        }
    };
    if let Err(e) = result {
        debug!(peer = %info.peer, error = %e, "connection ended with error");
    }
}
