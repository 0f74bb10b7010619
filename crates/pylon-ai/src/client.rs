//! The HTTP(S) client for provider calls: hyper-util's pooled client over
//! hyper-rustls (HTTP/1.1 and HTTP/2 by ALPN, system roots or a CA file),
//! one per distinct TLS setting, shared across reloads. [`execute`] carries
//! out an [`Outbound`] call, over HTTP or in process (the mock provider).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use pylon_config::UpstreamTlsConfig;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::error::{AiError, ErrorClass};
use crate::providers::{HttpRequest, LocalAnswer, Outbound};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type ProviderBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// A provider's answer head and its (streaming) body.
pub struct ProviderResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: ProviderBody,
}

/// A pooled client to providers.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl HttpClient {
    pub fn new(tls: &UpstreamTlsConfig, connect_timeout: Duration) -> Result<Self, String> {
        if tls.insecure_skip_verify || tls.server_name.is_some() {
            return Err(
                "AI providers support `tls.ca_file` only (not insecure_skip_verify or server_name)"
                    .into(),
            );
        }
        let mut roots = RootCertStore::empty();
        match &tls.ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("cannot read tls.ca_file `{path}`: {e}"))?;
                for c in certs {
                    let c = c.map_err(|e| format!("bad certificate in `{path}`: {e}"))?;
                    roots
                        .add(c)
                        .map_err(|e| format!("bad certificate in `{path}`: {e}"))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                for c in native.certs {
                    let _ = roots.add(c);
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // ALPN (h2, http/1.1) is set by the connector builder below.
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(https);
        Ok(Self { inner })
    }

    /// Send `req`; waits at most `first_byte` for the response head.
    pub async fn send(
        &self,
        req: HttpRequest,
        first_byte: Duration,
    ) -> Result<ProviderResponse, AiError> {
        let mut builder = Request::builder().method(req.method).uri(&req.url);
        if let Some(h) = builder.headers_mut() {
            *h = req.headers;
        }
        let request = builder
            .body(Full::new(req.body))
            .map_err(|e| AiError::internal(format!("bad provider URL `{}`: {e}", req.url)))?;
        let resp = match tokio::time::timeout(first_byte, self.inner.request(request)).await {
            Err(_) => {
                return Err(AiError::new(
                    ErrorClass::Timeout,
                    format!("the provider did not answer within {first_byte:?}"),
                ));
            }
            Ok(Err(e)) => {
                let class = if e.is_connect() {
                    ErrorClass::Connection
                } else {
                    ErrorClass::Server
                };
                return Err(AiError::new(
                    class,
                    format!("provider call failed: {}", chain(&e)),
                ));
            }
            Ok(Ok(r)) => r,
        };
        let (parts, body) = resp.into_parts();
        Ok(ProviderResponse {
            status: parts.status,
            headers: parts.headers,
            body: body.map_err(|e| Box::new(e) as BoxError).boxed(),
        })
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Carry out a call: over HTTP, or in process for local answers.
pub async fn execute(
    client: &HttpClient,
    outbound: Outbound,
    first_byte: Duration,
) -> Result<ProviderResponse, AiError> {
    match outbound {
        Outbound::Http(req) => client.send(req, first_byte).await,
        Outbound::Local(answer) => Ok(local(answer).await),
    }
}

async fn local(a: LocalAnswer) -> ProviderResponse {
    if !a.latency.is_zero() {
        tokio::time::sleep(a.latency).await;
    }
    let delay = a.chunk_delay;
    let chunks = futures_util::stream::unfold(
        (a.chunks.into_iter(), true),
        move |(mut it, first)| async move {
            let next = it.next()?;
            if !first && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some((Ok::<_, BoxError>(http_body::Frame::data(next)), (it, false)))
        },
    );
    ProviderResponse {
        status: a.status,
        headers: a.headers,
        body: StreamBody::new(chunks).boxed(),
    }
}

/// Read a whole (bounded) body within `timeout`.
pub async fn read_body(
    mut body: ProviderBody,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, AiError> {
    let collect = async move {
        let mut buf = bytes::BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                AiError::new(
                    ErrorClass::Connection,
                    format!("reading the provider's answer failed: {e}"),
                )
            })?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(AiError::bad_response(format!(
                        "the provider's answer exceeds {limit} bytes"
                    )));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => Err(AiError::new(
            ErrorClass::Timeout,
            format!("the provider's answer did not arrive within {timeout:?}"),
        )),
        Ok(r) => r,
    }
}
