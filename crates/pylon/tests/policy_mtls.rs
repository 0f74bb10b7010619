//! Mutual TLS through the real binary: a listener verifying client
//! certificates against a CA, and `mtls-auth` mapping the certificate to a
//! consumer that the upstream then sees.

mod common_http;

use std::sync::Arc;

use bytes::Bytes;
use common_http::*;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use pylon_testkit::{EchoServer, free_port};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde_json::{Value, json};
use tokio::net::TcpStream;

struct Pki {
    ca_pem: String,
    server_der: CertificateDer<'static>,
    server_pem: String,
    server_key_pem: String,
    client: (CertificateDer<'static>, Vec<u8>),
    stranger: (CertificateDer<'static>, Vec<u8>),
}

fn pki() -> anyhow::Result<Pki> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let leaf = |cn: &str| -> anyhow::Result<(CertificateDer<'static>, Vec<u8>)> {
        let mut p = CertificateParams::new(vec![format!("{cn}.internal")])?;
        p.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &ca)?;
        Ok((cert.der().clone(), key.serialize_der()))
    };
    let server_key = KeyPair::generate()?;
    let server =
        CertificateParams::new(vec!["pylon.test".to_string()])?.self_signed(&server_key)?;
    // The stranger's certificate comes from another CA.
    let mut other_params = CertificateParams::new(Vec::<String>::new())?;
    other_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other = CertifiedIssuer::self_signed(other_params, KeyPair::generate()?)?;
    let stranger_key = KeyPair::generate()?;
    let stranger = CertificateParams::new(vec!["billing.internal".to_string()])?
        .signed_by(&stranger_key, &other)?;
    Ok(Pki {
        ca_pem: ca.pem(),
        server_der: server.der().clone(),
        server_pem: server.pem(),
        server_key_pem: server_key.serialize_pem(),
        client: leaf("billing")?,
        stranger: (stranger.der().clone(), stranger_key.serialize_der()),
    })
}

/// GET `path` over TLS, optionally presenting a client certificate; `Err` when
/// the handshake or the request fails.
async fn get(
    port: u16,
    pki: &Pki,
    client: Option<&(CertificateDer<'static>, Vec<u8>)>,
    path: &str,
) -> anyhow::Result<(u16, Value)> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.server_der.clone())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut cfg = match client {
        Some((cert, key)) => builder.with_client_auth_cert(
            vec![cert.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.clone())),
        )?,
        None => builder.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let tls = connector
        .connect(ServerName::try_from("pylon.test")?, tcp)
        .await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", "pylon.test")
        .body(Full::new(Bytes::new()))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

#[tokio::test]
async fn client_certificates_identify_consumers() {
    bounded(60, async {
        let pki = pki().expect("pki");
        let dir = tempfile::tempdir().expect("dir");
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write");
            p.display().to_string()
        };
        let (ca, cert, key) = (
            write("ca.pem", &pki.ca_pem),
            write("server.pem", &pki.server_pem),
            write("server.key", &pki.server_key_pem),
        );
        let echo = EchoServer::start().await.expect("echo");
        let addr = echo.addr();
        let tls_port = free_port().expect("port");
        let (_p, _ports) = start_pylon(|p| {
            let mut cfg = base_config(p);
            cfg["listeners"] = json!([{ "name": "mtls", "bind": format!("127.0.0.1:{tls_port}"), "tls": {
                "certificates": [{ "cert_file": cert, "key_file": key }],
                "client_auth": { "ca_file": ca, "required": false },
            } }]);
            cfg["upstreams"] = json!([upstream("echo", addr)]);
            cfg["consumers"] = json!([{ "name": "billing", "credentials": [{ "type": "mtls", "subject": "billing" }] }]);
            cfg["routes"] = json!([{ "name": "r", "match": { "paths": [{ "prefix": "/" }] }, "upstream": "echo",
                "policies": [{ "name": "mtls-auth" }] }]);
            cfg
        })
        .await;

        let (status, body) = get(tls_port, &pki, Some(&pki.client), "/pay").await.expect("with cert");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["headers"]["x-consumer-name"][0], "billing");

        // No certificate: the handshake succeeds (optional), the policy refuses.
        let (status, body) = get(tls_port, &pki, None, "/pay").await.expect("without cert");
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], "unauthorized");

        // A certificate from another CA never gets past the handshake.
        assert!(get(tls_port, &pki, Some(&pki.stranger), "/pay").await.is_err());
        assert_eq!(echo.request_count(), 1);
    })
    .await;
}
