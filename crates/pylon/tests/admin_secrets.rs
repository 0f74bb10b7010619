//! Secrets through the real binary: with `PYLON_MASTER_KEY` set, secrets written through
//! the API are stored as AES-256-GCM envelopes (the clear text is nowhere in the database
//! files), read back as fingerprints, decrypted by the node when it activates the config
//! (a JWT HMAC secret, a TLS private key), exported encrypted, imported with a diff, and
//! re-encrypted by `pylon secrets rotate-master-key`.

mod common_admin;
mod common_http;

use std::process::Command;

use base64::Engine as _;
use common_admin::{Node, TOKEN};
use common_http::{Ports, bounded, eventually, pylon_bin};
use reqwest::Method;
use serde_json::json;

const SECRET: &str = "hs-very-secret-value-1";

fn key(byte: u8) -> String {
    base64::engine::general_purpose::STANDARD.encode([byte; 32])
}

fn jwt(secret: &str) -> String {
    let claims = json!({"iss": "issuer-1", "sub": "alice", "exp": 4_000_000_000u64});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("token")
}

async fn status_with_jwt(node: &Node, token: &str) -> u16 {
    reqwest::Client::new()
        .get(node.ports.url("/jwt"))
        .bearer_auth(token)
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// `GET /jwt` over TLS to `127.0.0.1:port`, trusting only `root` for `api.example.test`;
/// the response's first line.
async fn tls_get(
    port: u16,
    root: rustls_pki_types::CertificateDer<'static>,
    token: &str,
) -> Option<String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root).ok()?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let name = rustls_pki_types::ServerName::try_from("api.example.test").ok()?;
    let mut tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(name, tcp)
        .await
        .ok()?;
    let req = format!(
        "GET /jwt HTTP/1.1\r\nhost: api.example.test\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
    );
    tls.write_all(req.as_bytes()).await.ok()?;
    let mut buf = Vec::new();
    let _ = tls.read_to_end(&mut buf).await;
    String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .map(str::to_owned)
}

/// Bytes of the node's SQLite files (database and WAL).
fn db_bytes(node: &Node) -> Vec<u8> {
    let mut all = Vec::new();
    for f in ["pylon.db", "pylon.db-wal"] {
        all.extend(std::fs::read(node.dir().join("data").join(f)).unwrap_or_default());
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn cli(node: &Node, key_env: (&str, &str), args: &[&str]) -> (bool, String, String) {
    let out = Command::new(pylon_bin())
        .args(args)
        .env_remove("PYLON_STORE_URL")
        .env_remove("PYLON_MASTER_KEY")
        .env_remove("PYLON_MASTER_KEY_FILE")
        .env("PYLON_DATA_DIR", node.dir().join("data"))
        .env(key_env.0, key_env.1)
        .output()
        .expect("run pylon");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn secrets_are_encrypted_write_only_decrypted_on_activation_and_rotated() {
    bounded(180, async {
        let k1 = key(1);
        let mut node = Node::start_with(Some(TOKEN), &[("PYLON_MASTER_KEY", &k1)]).await;
        let n = &node;
        n.expect(201, Method::POST, "/api/v1/consumers", TOKEN, None, Some(&json!({"name": "alice"}))).await;
        let (_, cred) = n
            .expect(201, Method::POST, "/api/v1/consumers/alice/credentials", TOKEN, None,
                Some(&json!({"id": "alice-jwt", "type": "jwt", "key": "issuer-1", "secret": SECRET})))
            .await;
        let fp = cred["item"]["secret"]["$fingerprint"].as_str().expect("a fingerprint").to_owned();
        assert!(fp.starts_with("hmac-sha256:"), "{cred}");
        assert!(!cred.to_string().contains(SECRET));

        // A TLS certificate uploaded as PEM; its key is a secret too.
        let ck = rcgen::generate_simple_self_signed(vec!["api.example.test".to_owned()]).expect("cert");
        let key_pem = ck.signing_key.serialize_pem();
        let (_, cert) = n
            .expect(201, Method::POST, "/api/v1/certificates", TOKEN, None,
                Some(&json!({"name": "api", "cert_pem": ck.cert.pem(), "key_pem": key_pem})))
            .await;
        assert_eq!(cert["related"]["dns_names"], json!(["api.example.test"]), "{cert}");
        assert!(cert["item"]["key_pem"]["$fingerprint"].is_string(), "{cert}");
        let tls_port = Ports::fresh().expect("port").proxy;
        let (h, mut draft) = n.expect(200, Method::GET, "/api/v1/config/draft", TOKEN, None, None).await;
        let version = h.get("etag").and_then(|v| v.to_str().ok()).expect("etag").to_owned();
        assert!(!draft.to_string().contains("$encrypted"), "reads never show ciphertext");
        let doc = &mut draft["document"];
        doc["listeners"].as_array_mut().expect("listeners").push(json!({"name": "tls",
            "bind": format!("127.0.0.1:{tls_port}"), "tls": {"certificates": [{"certificate": "api"}]}}));
        doc["routes"] = json!([{"name": "jwt", "match": {"paths": [{"exact": "/jwt"}]}, "respond": {"body": "ok"},
            "policies": [{"name": "jwt"}]}]);
        // The whole masked document goes back: fingerprints keep the stored secrets.
        n.expect(200, Method::PUT, "/api/v1/config/draft", TOKEN, Some(&version), Some(doc)).await;
        n.publish("secrets").await;

        // At rest: envelopes only, in the store and in the database files.
        let store = pylon_store::Store::open(&n.db_url()).await.expect("store");
        let stored = store.config().get_draft().await.expect("draft").document;
        let secret = &stored["consumers"][0]["credentials"][0]["secret"];
        assert!(secret["$encrypted"].as_str().is_some_and(|e| e.starts_with("v1:")), "{secret}");
        store.close().await;
        let bytes = db_bytes(n);
        assert!(!bytes.is_empty());
        assert!(!contains(&bytes, SECRET), "the clear JWT secret is in the database files");
        assert!(!contains(&bytes, "PRIVATE KEY-----\n"), "a clear private key is in the database files");

        // The node decrypted both at activation.
        assert_eq!(status_with_jwt(n, &jwt(SECRET)).await, 200);
        assert_eq!(status_with_jwt(n, &jwt("another-secret")).await, 401);
        let der = ck.cert.der().clone();
        let token = jwt(SECRET);
        let served = eventually(std::time::Duration::from_secs(10), || {
            let (der, token) = (der.clone(), token.clone());
            async move { tls_get(tls_port, der, &token).await.is_some_and(|head| head.starts_with("HTTP/1.1 200")) }
        })
        .await;
        assert!(served, "the TLS listener serves with the stored certificate");

        // Export: encrypted, and loadable again; import: a diff, then a new version.
        let out = node.dir().join("export.yaml");
        let (ok, _, err) = cli(n, ("PYLON_MASTER_KEY", &k1), &["config", "export", "--output", out.to_str().expect("path")]);
        assert!(ok, "{err}");
        let text = std::fs::read_to_string(&out).expect("export");
        assert!(text.contains("$encrypted") && !text.contains(SECRET) && !text.contains("PRIVATE KEY"), "{text}");
        let changed = text.replace("body: ok", "body: changed");
        assert_ne!(changed, text);
        std::fs::write(&out, &changed).expect("write");
        let (ok, stdout, err) = cli(n, ("PYLON_MASTER_KEY", &k1), &["config", "import", out.to_str().expect("path"), "--dry-run"]);
        assert!(ok, "{err}");
        assert!(stdout.contains("~ /routes/0/respond/body: \"ok\" → \"changed\""), "{stdout}");
        assert!(stdout.contains("1 change(s); dry run"), "{stdout}");
        let (ok, stdout, err) = cli(n, ("PYLON_MASTER_KEY", &k1), &["config", "import", out.to_str().expect("path"), "-m", "from file"]);
        assert!(ok, "{err}");
        assert!(stdout.contains("published as version 2"), "{stdout}");
        let (_, versions) = n.expect(200, Method::GET, "/api/v1/config/versions", TOKEN, None, None).await;
        assert_eq!((versions["total"].as_u64(), versions["items"][0]["message"].as_str()), (Some(2), Some("from file")));
        // A file with an error is refused with its path, and nothing is stored.
        std::fs::write(&out, changed.replace("body: changed", "bodyy: changed")).expect("write");
        let (ok, _, err) = cli(n, ("PYLON_MASTER_KEY", &k1), &["config", "import", out.to_str().expect("path")]);
        assert!(!ok && err.contains("routes[0]"), "{err}");

        // Rotation: every stored document re-encrypted; the node restarts on the new key.
        let k2_file = node.dir().join("k2.key");
        std::fs::write(&k2_file, key(2)).expect("key file");
        let (ok, stdout, err) = cli(&node, ("PYLON_MASTER_KEY", &k1), &["secrets", "rotate-master-key", "--new-key-file", k2_file.to_str().expect("path")]);
        assert!(ok, "{err}");
        assert!(stdout.contains("re-encrypted"), "{stdout}");
        node.restart_with(&[("PYLON_MASTER_KEY_FILE", k2_file.to_str().expect("path"))]).await;
        assert_eq!(status_with_jwt(&node, &jwt(SECRET)).await, 200, "served after rotation");
        let (_, c) = node.expect(200, Method::GET, "/api/v1/consumers/alice/credentials/alice-jwt", TOKEN, None, None).await;
        assert_ne!(c["item"]["secret"]["$fingerprint"].as_str(), Some(fp.as_str()), "fingerprints follow the key");
        let (ok, _, err) = cli(&node, ("PYLON_MASTER_KEY", &k1), &["secrets", "rotate-master-key", "--new-key-file", k2_file.to_str().expect("path")]);
        assert!(!ok && err.contains("another master key"), "the old key no longer opens anything: {err}");
    })
    .await;
}

#[tokio::test]
async fn without_a_master_key_secrets_need_env_references() {
    bounded(60, async {
        let node = Node::start_with(
            Some(TOKEN),
            &[("PYLON_TEST_METRICS_TOKEN", "metrics-token-0123456789")],
        )
        .await;
        let (h, mut draft) = node
            .expect(200, Method::GET, "/api/v1/config/draft", TOKEN, None, None)
            .await;
        let version = h
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("etag")
            .to_owned();
        draft["document"]["server"]["metrics_token"] = json!("clear-metrics-token");
        let (_, b) = node
            .expect(
                422,
                Method::PUT,
                "/api/v1/config/draft",
                TOKEN,
                Some(&version),
                Some(&draft["document"]),
            )
            .await;
        assert_eq!(
            b["error"]["details"][0]["path"], "server.metrics_token",
            "{b}"
        );
        draft["document"]["server"]["metrics_token"] = json!("${PYLON_TEST_METRICS_TOKEN}");
        node.expect(
            200,
            Method::PUT,
            "/api/v1/config/draft",
            TOKEN,
            Some(&version),
            Some(&draft["document"]),
        )
        .await;
        node.publish("metrics token").await;
        // /metrics needs the token now; /healthz and /readyz stay open.
        let get = |path: &'static str, token: Option<&'static str>| {
            let url = node.ports.admin_url(path);
            async move {
                let mut r = reqwest::Client::new().get(url);
                if let Some(t) = token {
                    r = r.bearer_auth(t);
                }
                r.send().await.map_or(0, |r| r.status().as_u16())
            }
        };
        assert_eq!(get("/metrics", None).await, 401);
        assert_eq!(get("/metrics", Some("wrong")).await, 401);
        assert_eq!(get("/metrics", Some("metrics-token-0123456789")).await, 200);
        assert_eq!(get("/healthz", None).await, 200);
        assert_eq!(get("/readyz", None).await, 200);
        let (_, d) = node
            .expect(200, Method::GET, "/api/v1/config/draft", TOKEN, None, None)
            .await;
        assert_eq!(
            d["document"]["server"]["metrics_token"], "${PYLON_TEST_METRICS_TOKEN}",
            "references stay as written"
        );
    })
    .await;
}
