//! rustls client settings for `https://` targets: trust roots, the optional
//! "accept any certificate" verifier, ALPN per upstream protocol, and SNI.
//!
//! The `ring` provider is passed explicitly so that nothing depends on a
//! process-wide default provider being installed.

use std::sync::{Arc, OnceLock};

use pylon_config::{UpstreamProtocol, UpstreamTlsConfig};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::error::ClientError;

/// Everything the connector needs for TLS, built once per upstream.
#[derive(Clone)]
pub(crate) struct TlsSettings {
    /// ALPN as the upstream protocol asks (`h2`+`http/1.1`, `http/1.1`, or `h2`).
    pub(crate) main: Arc<ClientConfig>,
    /// ALPN `http/1.1` only: used for upgrade requests (WebSocket), which need
    /// an HTTP/1.1 connection even when the upstream would negotiate h2.
    pub(crate) http1: Arc<ClientConfig>,
    /// SNI and verification name overriding the target host.
    pub(crate) server_name: Option<ServerName<'static>>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("alpn", &self.main.alpn_protocols)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// Builds the client configs from the upstream TLS settings.
    pub(crate) fn new(
        cfg: &UpstreamTlsConfig,
        protocol: UpstreamProtocol,
    ) -> Result<Self, ClientError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let base = base_config(cfg, &provider)?;
        let mut main = base.clone();
        main.alpn_protocols = match protocol {
            UpstreamProtocol::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            UpstreamProtocol::Http1 => vec![b"http/1.1".to_vec()],
            UpstreamProtocol::Http2 => vec![b"h2".to_vec()],
        };
        let mut http1 = base;
        http1.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = match &cfg.server_name {
            Some(name) => Some(ServerName::try_from(name.clone()).map_err(|e| {
                ClientError::TlsConfig(format!("invalid tls.server_name `{name}`: {e}"))
            })?),
            None => None,
        };
        Ok(Self {
            main: Arc::new(main),
            http1: Arc::new(http1),
            server_name,
        })
    }
}

fn base_config(
    cfg: &UpstreamTlsConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<ClientConfig, ClientError> {
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::TlsConfig(e.to_string()))?;
    let config = if cfg.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert {
                provider: provider.clone(),
            }))
            .with_no_client_auth()
    } else {
        let roots = match &cfg.ca_file {
            Some(path) => Arc::new(load_ca_file(path)?),
            None => system_roots(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(config)
}

/// Reads a PEM bundle of CA certificates; at least one must be usable.
fn load_ca_file(path: &str) -> Result<RootCertStore, ClientError> {
    let bad = |e: &dyn std::fmt::Display| ClientError::TlsConfig(format!("ca_file `{path}`: {e}"));
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        let cert = cert.map_err(|e| bad(&e))?;
        roots.add(cert).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate found"));
    }
    Ok(roots)
}

/// The platform's trust roots, loaded once per process.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let loaded = rustls_native_certs::load_native_certs();
            for err in &loaded.errors {
                tracing::debug!(error = %err, "while loading system CA certificates");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(loaded.certs);
            if roots.is_empty() {
                tracing::warn!(
                    "no system CA certificate could be loaded: https upstreams will fail \
                     verification unless they set tls.ca_file"
                );
            } else {
                tracing::debug!(added, ignored, "loaded system CA certificates");
            }
            Arc::new(roots)
        })
        .clone()
}

/// Accepts any server certificate (`insecure_skip_verify`) while still checking
/// that the handshake is signed by the key in the presented certificate.
#[derive(Debug)]
struct AcceptAnyCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpn_per_protocol_and_bad_inputs() {
        let cfg = UpstreamTlsConfig {
            insecure_skip_verify: true,
            ..Default::default()
        };
        let auto = TlsSettings::new(&cfg, UpstreamProtocol::Auto).unwrap();
        assert_eq!(
            auto.main.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert_eq!(auto.http1.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let h2 = TlsSettings::new(&cfg, UpstreamProtocol::Http2).unwrap();
        assert_eq!(h2.main.alpn_protocols, vec![b"h2".to_vec()]);
        let h1 = TlsSettings::new(&cfg, UpstreamProtocol::Http1).unwrap();
        assert_eq!(h1.main.alpn_protocols, vec![b"http/1.1".to_vec()]);

        let missing = UpstreamTlsConfig {
            ca_file: Some("/nonexistent/pylon-ca.pem".into()),
            ..Default::default()
        };
        let err = TlsSettings::new(&missing, UpstreamProtocol::Auto).unwrap_err();
        assert!(matches!(err, ClientError::TlsConfig(_)), "{err}");

        let bad_name = UpstreamTlsConfig {
            server_name: Some("not a name!".into()),
            insecure_skip_verify: true,
            ..Default::default()
        };
        assert!(TlsSettings::new(&bad_name, UpstreamProtocol::Auto).is_err());
    }
}
