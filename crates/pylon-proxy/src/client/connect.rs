//! Opening transport connections to a target: address lookup, TCP connect with
//! a per-attempt timeout over every address, then TLS with ALPN for `https`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::addr::AddrSource;
use super::error::ClientError;
use super::tls::TlsSettings;

/// The target a request goes to, taken from the request URI authority.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Target {
    pub(crate) tls: bool,
    /// Lower-case host name or IP literal, without IPv6 brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Target {
    pub(crate) fn from_uri(uri: &Uri) -> Result<Self, ClientError> {
        let invalid = |reason| ClientError::InvalidUri {
            uri: uri.to_string(),
            reason,
        };
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(_) => return Err(invalid("scheme must be http or https")),
            None => return Err(invalid("absolute URI (scheme and authority) required")),
        };
        let host = uri.host().ok_or_else(|| invalid("missing host"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(invalid("missing host"));
        }
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Self {
            tls,
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// `host:port`, with brackets around IPv6 literals.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}

/// An open transport to a target, plain TCP or TLS over TCP.
///
/// Implements hyper's IO traits and hyper-util's [`Connection`] (reporting
/// `negotiated_h2` when ALPN chose h2).
#[derive(Debug)]
pub struct UpstreamIo {
    inner: TokioIo<Stream>,
    h2: bool,
}

impl UpstreamIo {
    /// Whether TLS ALPN selected `h2`.
    pub fn alpn_h2(&self) -> bool {
        self.h2
    }
}

#[derive(Debug)]
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl Read for UpstreamIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl Write for UpstreamIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}

impl Connection for UpstreamIo {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

/// Opens connections for one upstream: its address source, connect timeout
/// and TLS settings.
#[derive(Clone)]
pub struct UpstreamConnector {
    addrs: Arc<dyn AddrSource>,
    connect_timeout: Duration,
    tls: TlsSettings,
}

impl std::fmt::Debug for UpstreamConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConnector")
            .field("connect_timeout", &self.connect_timeout)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl UpstreamConnector {
    pub(crate) fn new(
        addrs: Arc<dyn AddrSource>,
        connect_timeout: Duration,
        tls: TlsSettings,
    ) -> Self {
        Self {
            addrs,
            connect_timeout,
            tls,
        }
    }

    /// Connects to the target named by `uri` (`http://host:port` or
    /// `https://host:port`; the path is ignored).
    pub async fn connect(&self, uri: &Uri) -> Result<UpstreamIo, ClientError> {
        let target = Target::from_uri(uri)?;
        self.connect_target(&target, false).await
    }

    /// Connects to `target`; with `http1_only`, TLS offers only `http/1.1`.
    pub(crate) async fn connect_target(
        &self,
        target: &Target,
        http1_only: bool,
    ) -> Result<UpstreamIo, ClientError> {
        let tcp = self.connect_tcp(target).await?;
        if !target.tls {
            return Ok(UpstreamIo {
                inner: TokioIo::new(Stream::Plain(tcp)),
                h2: false,
            });
        }
        let tls_error = |source| ClientError::Tls {
            target: target.authority(),
            source,
        };
        let server_name = match &self.tls.server_name {
            Some(name) => name.clone(),
            None => ServerName::try_from(target.host.clone()).map_err(|e| {
                tls_error(io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
            })?,
        };
        let config = if http1_only {
            self.tls.http1.clone()
        } else {
            self.tls.main.clone()
        };
        let handshake = TlsConnector::from(config).connect(server_name, tcp);
        let stream = match tokio::time::timeout(self.connect_timeout, handshake).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(tls_error(e)),
            Err(_) => {
                return Err(tls_error(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no handshake within {:?}", self.connect_timeout),
                )));
            }
        };
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(UpstreamIo {
            inner: TokioIo::new(Stream::Tls(Box::new(stream))),
            h2,
        })
    }

    /// Resolves the target and tries each address in turn, each attempt
    /// bounded by the connect timeout.
    async fn connect_tcp(&self, target: &Target) -> Result<TcpStream, ClientError> {
        let addrs = self.resolve(target).await?;
        let mut last_err = None;
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    tune_socket(&stream);
                    return Ok(stream);
                }
                Ok(Err(e)) => {
                    tracing::debug!(%addr, error = %e, "upstream connect failed");
                    last_err = Some(ClientError::Connect {
                        target: format!("{} ({addr})", target.authority()),
                        source: e,
                    });
                }
                Err(_) => {
                    tracing::debug!(%addr, "upstream connect timed out");
                    last_err = Some(ClientError::ConnectTimeout {
                        target: format!("{} ({addr})", target.authority()),
                        timeout: self.connect_timeout,
                    });
                }
            }
        }
        Err(last_err.unwrap_or_else(|| ClientError::Dns {
            host: target.host.clone(),
            reason: "no address".into(),
        }))
    }

    async fn resolve(&self, target: &Target) -> Result<Vec<SocketAddr>, ClientError> {
        let addrs = self.addrs.lookup(&target.host, target.port);
        if !addrs.is_empty() {
            return Ok(addrs);
        }
        let dns_error = |reason: String| ClientError::Dns {
            host: target.host.clone(),
            reason,
        };
        let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
        let found: Vec<SocketAddr> = tokio::time::timeout(self.connect_timeout, lookup)
            .await
            .map_err(|_| dns_error(format!("timed out after {:?}", self.connect_timeout)))?
            .map_err(|e| dns_error(e.to_string()))?
            .collect();
        if found.is_empty() {
            return Err(dns_error("no address".into()));
        }
        Ok(found)
    }
}

/// TCP_NODELAY, plus keepalive probes so that dead idle connections in the
/// pool are noticed.
fn tune_socket(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on upstream socket");
    }
    let keepalive = socket2::TcpKeepalive::new().with_time(Duration::from_secs(60));
    if let Err(e) = socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "cannot set TCP keepalive on upstream socket");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_from_uri() {
        let t = Target::from_uri(&"http://Example.COM/x".parse().unwrap()).unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (false, "example.com", 80));
        let t = Target::from_uri(&"https://[::1]:8443".parse().unwrap()).unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (true, "::1", 8443));
        assert_eq!(t.authority(), "[::1]:8443");
        assert!(Target::from_uri(&"/relative".parse().unwrap()).is_err());
        assert!(Target::from_uri(&"ftp://h:1".parse().unwrap()).is_err());
    }
}
