//! TLS for listeners: PEM certificates loaded at config compile time and chosen
//! per connection by SNI, with ALPN advertising h2 and/or http/1.1.

use std::collections::HashMap;
use std::sync::Arc;

use pylon_config::{ClientAuthConfig, ListenerProtocol, ListenerTlsConfig};
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::ServerError;

/// Picks a certificate by SNI: exact names first, then `*.domain` wildcards,
/// then the first certificate as default.
#[derive(Debug)]
struct SniResolver {
    exact: HashMap<String, Arc<CertifiedKey>>,
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name() else {
            return Some(self.default.clone());
        };
        let name = name.to_ascii_lowercase();
        if let Some(k) = self.exact.get(&name) {
            return Some(k.clone());
        }
        if let Some((_, parent)) = name.split_once('.')
            && let Some(k) = self.wildcard.get(parent)
        {
            return Some(k.clone());
        }
        Some(self.default.clone())
    }
}

/// Build the rustls server config of a TLS listener.
pub fn server_config(
    listener: &str,
    tls: &ListenerTlsConfig,
    protocol: ListenerProtocol,
) -> Result<Arc<ServerConfig>, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut exact = HashMap::new();
    let mut wildcard = HashMap::new();
    let mut default = None;
    for c in &tls.certificates {
        let err = |reason: String| ServerError::Tls {
            listener: listener.to_string(),
            reason,
        };
        let (certs, key, c) = match &c.pem {
            Some((cert_pem, key_pem)) => {
                let name = c.certificate.clone().unwrap_or_default();
                let certs: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                        .collect::<Result<_, _>>()
                        .map_err(|e| err(format!("bad PEM in certificate `{name}`: {e}")))?;
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                    .map_err(|e| err(format!("bad private key in certificate `{name}`: {e}")))?;
                let mut named = c.clone();
                named.cert_file = format!("certificate {name}");
                named.key_file = format!("certificate {name} (key)");
                (certs, key, std::borrow::Cow::Owned(named))
            }
            None => {
                let certs: Vec<CertificateDer<'static>> =
                    CertificateDer::pem_file_iter(&c.cert_file)
                        .map_err(|e| {
                            err(format!("cannot read certificate `{}`: {e}", c.cert_file))
                        })?
                        .collect::<Result<_, _>>()
                        .map_err(|e| err(format!("bad PEM in `{}`: {e}", c.cert_file)))?;
                let key = PrivateKeyDer::from_pem_file(&c.key_file)
                    .map_err(|e| err(format!("cannot read private key `{}`: {e}", c.key_file)))?;
                (certs, key, std::borrow::Cow::Borrowed(c))
            }
        };
        if certs.is_empty() {
            return Err(err(format!("no certificate in `{}`", c.cert_file)));
        }
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| err(format!("unusable private key `{}`: {e}", c.key_file)))?;
        let ck = Arc::new(CertifiedKey::new(certs, signing));
        ck.keys_match().map_err(|e| {
            err(format!(
                "`{}` and `{}` do not belong together: {e}",
                c.cert_file, c.key_file
            ))
        })?;
        let names = if c.server_names.is_empty() {
            names_in_cert(&ck)
        } else {
            c.server_names.clone()
        };
        for name in names {
            let name = name.to_ascii_lowercase();
            match name.strip_prefix("*.") {
                Some(parent) => wildcard
                    .entry(parent.to_string())
                    .or_insert_with(|| ck.clone()),
                None => exact.entry(name).or_insert_with(|| ck.clone()),
            };
        }
        default.get_or_insert(ck);
    }
    let default = default.ok_or_else(|| ServerError::Tls {
        listener: listener.to_string(),
        reason: "no certificates".into(),
    })?;
    let resolver = SniResolver {
        exact,
        wildcard,
        default,
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls {
            listener: listener.to_string(),
            reason: e.to_string(),
        })?;
    let builder = match &tls.client_auth {
        None => builder.with_no_client_auth(),
        Some(ca) => builder.with_client_cert_verifier(client_verifier(listener, ca, provider)?),
    };
    let mut cfg = builder.with_cert_resolver(Arc::new(resolver));
    cfg.alpn_protocols = match protocol {
        ListenerProtocol::Auto => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ListenerProtocol::Http1 => vec![b"http/1.1".to_vec()],
        ListenerProtocol::Http2 => vec![b"h2".to_vec()],
    };
    Ok(Arc::new(cfg))
}

/// DNS names (including wildcards) in the leaf certificate's subjectAltName.
/// Verifies client certificates against the CA file (mutual TLS).
fn client_verifier(
    listener: &str,
    ca: &ClientAuthConfig,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, ServerError> {
    let err = |reason: String| ServerError::Tls {
        listener: listener.to_string(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&ca.ca_file)
        .map_err(|e| err(format!("cannot read client CA file `{}`: {e}", ca.ca_file)))?;
    for cert in certs {
        let cert = cert.map_err(|e| err(format!("bad PEM in `{}`: {e}", ca.ca_file)))?;
        roots
            .add(cert)
            .map_err(|e| err(format!("unusable CA certificate in `{}`: {e}", ca.ca_file)))?;
    }
    if roots.is_empty() {
        return Err(err(format!("no CA certificate in `{}`", ca.ca_file)));
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if ca.required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|e| err(format!("client certificate verifier: {e}")))
}

/// Names a verified client certificate carries: its subject common name and
/// its DNS, email and URI subject alternative names.
pub fn client_cert_names(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert.as_ref()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = parsed
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_string))
        .collect();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                x509_parser::extensions::GeneralName::DNSName(n)
                | x509_parser::extensions::GeneralName::RFC822Name(n)
                | x509_parser::extensions::GeneralName::URI(n) => names.push((*n).to_string()),
                _ => {}
            }
        }
    }
    names
}

fn names_in_cert(ck: &CertifiedKey) -> Vec<String> {
    let Some(leaf) = ck.cert.first() else {
        return Vec::new();
    };
    match webpki::EndEntityCert::try_from(leaf) {
        Ok(cert) => cert.valid_dns_names().map(str::to_string).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_cert(
        dir: &std::path::Path,
        name: &str,
        sans: &[&str],
    ) -> pylon_config::CertificateConfig {
        let ck = rcgen::generate_simple_self_signed(
            sans.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        pylon_config::CertificateConfig {
            cert_file: cert.display().to_string(),
            key_file: key.display().to_string(),
            server_names: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn certificates_load_from_pem_text() {
        let ck = rcgen::generate_simple_self_signed(vec!["pem.example.com".to_string()]).unwrap();
        let c = pylon_config::CertificateConfig {
            certificate: Some("api".into()),
            pem: Some((ck.cert.pem(), ck.signing_key.serialize_pem())),
            ..Default::default()
        };
        let tls = ListenerTlsConfig {
            certificates: vec![c.clone()],
            client_auth: None,
        };
        server_config("l", &tls, ListenerProtocol::Auto).unwrap();
        let mut bad = c;
        bad.pem = Some((ck.cert.pem(), "not a key".into()));
        let tls = ListenerTlsConfig {
            certificates: vec![bad],
            client_auth: None,
        };
        let err = server_config("l", &tls, ListenerProtocol::Auto).unwrap_err();
        assert!(err.to_string().contains("certificate `api`"), "{err}");
    }

    #[test]
    fn san_names_are_read_and_keys_checked() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_cert(dir.path(), "a", &["a.example.com", "*.b.example.com"]);
        let tls = ListenerTlsConfig {
            certificates: vec![a.clone()],
            client_auth: None,
        };
        server_config("l", &tls, ListenerProtocol::Auto).unwrap();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&a.cert_file)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&a.key_file).unwrap();
        let signing = rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(key)
            .unwrap();
        let names = names_in_cert(&CertifiedKey::new(certs, signing));
        assert_eq!(names, vec!["a.example.com", "*.b.example.com"]);
    }

    #[test]
    fn mismatched_key_and_missing_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_cert(dir.path(), "a", &["a.test"]);
        let b = write_cert(dir.path(), "b", &["b.test"]);
        let mixed = pylon_config::CertificateConfig {
            cert_file: a.cert_file.clone(),
            key_file: b.key_file.clone(),
            server_names: vec![],
            ..Default::default()
        };
        let err = server_config(
            "web",
            &ListenerTlsConfig {
                certificates: vec![mixed],
                client_auth: None,
            },
            ListenerProtocol::Auto,
        )
        .unwrap_err();
        assert!(err.to_string().contains("do not belong together"), "{err}");
        let missing = pylon_config::CertificateConfig {
            cert_file: "/nonexistent.pem".into(),
            key_file: a.key_file,
            server_names: vec![],
            ..Default::default()
        };
        let err = server_config(
            "web",
            &ListenerTlsConfig {
                certificates: vec![missing],
                client_auth: None,
            },
            ListenerProtocol::Auto,
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent.pem"), "{err}");
    }
}
