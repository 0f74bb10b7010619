//! TLS client tests: a private CA (rcgen) with ALPN h2, self-signed
//! certificates with and without `insecure_skip_verify`, SNI override, and
//! upgrade requests pinned to HTTP/1.1 over TLS.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::{StatusCode, Version};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pylon_config::UpstreamProtocol;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::tests::{body_text, bounded, describe, get, upstream};
use super::*;

/// A CA (PEM) and a leaf for `localhost` signed by it.
struct Pki {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn private_ca() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        chain: vec![leaf.der().clone(), ca_cert.der().clone()],
        key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
    }
}

fn self_signed() -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()).into();
    (vec![certified.cert.der().clone()], key)
}

/// A TLS server (ALPN h2 + http/1.1, hyper auto) answering with [`describe`];
/// returns its address and its completed-handshake count.
async fn tls_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let count = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tls), service_fn(describe))
                    .await;
            });
        }
    });
    (addr, handshakes)
}

/// `localhost` → 127.0.0.1, so that certificates for `localhost` verify.
fn localhost_client(cfg: &pylon_config::UpstreamConfig) -> UpstreamClient {
    let addrs = StaticAddrs::new().with("localhost", [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    UpstreamClient::new(cfg, Arc::new(addrs)).unwrap()
}

/// Writes `pem` to a fresh temporary file, removed on drop.
struct TempPem(std::path::PathBuf);

impl TempPem {
    fn new(pem: &str) -> Self {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "pylon-client-ca-{}-{}.pem",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, pem).unwrap();
        Self(path)
    }
}

impl Drop for TempPem {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn private_ca_verifies_and_negotiates_h2() {
    bounded(async {
        let pki = private_ca();
        let (addr, handshakes) = tls_server(pki.chain, pki.key).await;
        let ca = TempPem::new(&pki.ca_pem);
        let mut cfg = upstream(UpstreamProtocol::Auto);
        cfg.tls.ca_file = Some(ca.0.to_string_lossy().into_owned());
        let client = localhost_client(&cfg);
        for _ in 0..3 {
            let mut req = get(&format!("https://localhost:{}/secure", addr.port()));
            req.headers_mut()
                .insert(http::header::HOST, "public.example".parse().unwrap());
            let resp = client.request(req).await.unwrap();
            assert_eq!(resp.version(), Version::HTTP_2);
            assert_eq!(
                body_text(resp).await,
                "HTTP/2.0 /secure host=- authority=public.example"
            );
        }
        assert_eq!(
            handshakes.load(Ordering::SeqCst),
            1,
            "one shared h2 connection"
        );

        // The same CA with http1 only: ALPN picks http/1.1.
        let mut cfg = upstream(UpstreamProtocol::Http1);
        cfg.tls.ca_file = Some(ca.0.to_string_lossy().into_owned());
        let client = localhost_client(&cfg);
        let resp = client
            .request(get(&format!("https://localhost:{}/one", addr.port())))
            .await
            .unwrap();
        assert_eq!(resp.version(), Version::HTTP_11);
        assert!(body_text(resp).await.starts_with("HTTP/1.1 /one"));

        // The IP literal is not a name in the certificate...
        let mut cfg = upstream(UpstreamProtocol::Auto);
        cfg.tls.ca_file = Some(ca.0.to_string_lossy().into_owned());
        let err = localhost_client(&cfg)
            .request(get(&format!("https://{addr}/")))
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
        // ...unless tls.server_name names the certificate.
        cfg.tls.server_name = Some("localhost".into());
        let resp = localhost_client(&cfg)
            .request(get(&format!("https://{addr}/")))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    })
    .await;
}

#[tokio::test]
async fn self_signed_needs_insecure_skip_verify() {
    bounded(async {
        let (chain, key) = self_signed();
        let (addr, _) = tls_server(chain, key).await;
        let uri = format!("https://localhost:{}/", addr.port());

        let strict = localhost_client(&upstream(UpstreamProtocol::Auto));
        let err = strict.request(get(&uri)).await.unwrap_err();
        assert!(matches!(err, ClientError::Tls { .. }), "{err:?}");
        assert!(err.is_connect() && err.nothing_sent());
        let probe = strict
            .health_probe(
                "localhost",
                addr.port(),
                true,
                "/",
                None,
                std::time::Duration::from_secs(2),
            )
            .await;
        assert!(probe.is_err());

        let mut cfg = upstream(UpstreamProtocol::Auto);
        cfg.tls.insecure_skip_verify = true;
        let lax = localhost_client(&cfg);
        let resp = lax.request(get(&uri)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.version(), Version::HTTP_2);
        let probe = lax
            .health_probe(
                "localhost",
                addr.port(),
                true,
                "/",
                None,
                std::time::Duration::from_secs(2),
            )
            .await;
        assert_eq!(probe, Ok(200));
    })
    .await;
}

#[tokio::test]
async fn upgrade_requests_use_http1_over_tls() {
    bounded(async {
        let (chain, key) = self_signed();
        let (addr, _) = tls_server(chain, key).await;
        let mut cfg = upstream(UpstreamProtocol::Auto);
        cfg.tls.insecure_skip_verify = true;
        let client = localhost_client(&cfg);
        let mut req = get(&format!("https://localhost:{}/ws", addr.port()));
        req.headers_mut()
            .insert(http::header::UPGRADE, "websocket".parse().unwrap());
        let resp = client.request(req).await.unwrap();
        assert_eq!(resp.version(), Version::HTTP_11);
        // Plain requests still negotiate h2 on their own pool entry.
        let resp = client
            .request(get(&format!("https://localhost:{}/", addr.port())))
            .await
            .unwrap();
        assert_eq!(resp.version(), Version::HTTP_2);
    })
    .await;
}
