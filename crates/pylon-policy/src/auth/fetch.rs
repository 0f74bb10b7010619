//! The HTTP(S) client for calls a policy makes itself (JWKS, token
//! introspection, and the control plane's webhooks): hyper-util's pooled client over hyper-rustls, the same
//! stack (ring, system trust roots) the proxy uses, built on first use and
//! shared by the process. Every call has a deadline and a body-size limit.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::{ClientConfig, RootCertStore};

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("TLS setup failed: {0}")]
    Tls(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Request(String),
    #[error("reading the response body failed or it exceeded {0} bytes")]
    Body(usize),
}

/// A response read whole.
pub(crate) struct Fetched {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// Send `req` and read the response (at most `max_body` bytes), all within `timeout`.
pub(crate) async fn send(
    req: Request<Full<Bytes>>,
    timeout: Duration,
    max_body: usize,
) -> Result<Fetched, FetchError> {
    let client = client()?;
    let exchange = async move {
        let resp = client
            .request(req)
            .await
            .map_err(|e| FetchError::Request(error_chain(&e)))?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, max_body)
            .collect()
            .await
            .map_err(|_| FetchError::Body(max_body))?
            .to_bytes();
        Ok(Fetched {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| FetchError::Timeout(timeout))?
}

fn client() -> Result<HttpsClient, FetchError> {
    static CLIENT: OnceLock<Result<HttpsClient, String>> = OnceLock::new();
    CLIENT
        .get_or_init(build_client)
        .clone()
        .map_err(FetchError::Tls)
}

fn build_client() -> Result<HttpsClient, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(loaded.certs);
    if roots.is_empty() {
        tracing::warn!(
            "no system CA certificate could be loaded: https JWKS/introspection calls will fail"
        );
    }
    let tls = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector))
}

/// An error and its sources on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
