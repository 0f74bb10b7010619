//! `jwt` with inline keys and consumer credentials: every algorithm family,
//! the claim checks, and the attacks a verifier must refuse.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::testing::*;
use crate::{Chain, Reject};

pub(super) const RSA1: &str = include_str!("../../../testdata/jwt/rsa1.key");
pub(super) const RSA1_PUB: &str = include_str!("../../../testdata/jwt/rsa1.pub");
pub(super) const RSA2: &str = include_str!("../../../testdata/jwt/rsa2.key");
const EC256: &str = include_str!("../../../testdata/jwt/ec256.key");
const EC256_PUB: &str = include_str!("../../../testdata/jwt/ec256.pub");
const EC384: &str = include_str!("../../../testdata/jwt/ec384.key");
const EC384_PUB: &str = include_str!("../../../testdata/jwt/ec384.pub");
const ED: &str = include_str!("../../../testdata/jwt/ed25519.key");
const ED_PUB: &str = include_str!("../../../testdata/jwt/ed25519.pub");
const SECRET: &str = "a-test-hmac-secret-of-32-bytes!!";

pub(super) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(super) fn enc_key(alg: Algorithm, pem_or_secret: &str) -> EncodingKey {
    let k = pem_or_secret.as_bytes();
    let key = match alg {
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Ok(EncodingKey::from_secret(k)),
        Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(k),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(k),
        _ => EncodingKey::from_rsa_pem(k),
    };
    key.unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &str) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&h, claims, &enc_key(alg, key)).unwrap_or_else(|e| panic!("{e}"))
}

/// Claims valid for ten minutes, for subject `sub`.
pub(super) fn claims(sub: &str) -> Value {
    json!({ "sub": sub, "iss": "https://idp.test", "aud": "orders", "iat": now(), "exp": now() + 600 })
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

pub(super) fn consumers() -> Value {
    json!({
        "consumers": [
            { "name": "alice", "custom_id": "alice-id", "groups": ["pro"] },
            { "name": "bob", "credentials": [
                { "type": "jwt", "id": "bob-jwt", "key": "bob-issuer", "algorithm": "HS256", "secret": "bob-secret-bob-secret-bob-secret" }] },
            { "name": "guest" },
        ]
    })
}

fn all_keys() -> Value {
    json!([
        { "kid": "hs", "algorithm": "HS256", "secret": SECRET },
        { "kid": "rs", "algorithm": "RS256", "public_key": RSA1_PUB },
        { "kid": "ps", "algorithm": "PS384", "public_key": RSA1_PUB },
        { "kid": "es256", "algorithm": "ES256", "public_key": EC256_PUB },
        { "kid": "es384", "algorithm": "ES384", "public_key": EC384_PUB },
        { "algorithm": "EdDSA", "public_key": ED_PUB },
    ])
}

fn jwt_chain(extra_config: Value) -> std::sync::Arc<Chain> {
    let mut config = json!({ "keys": all_keys() });
    if let (Some(c), Value::Object(more)) = (config.as_object_mut(), extra_config) {
        c.extend(more);
    }
    chain(json!([{ "name": "jwt", "config": config }]), consumers())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub(super) async fn refused(chain: &Chain, token: &str) -> Reject {
    let mut req = request("GET", "/", &[("authorization", &bearer(token))]);
    match run(chain, &mut req, &mut ctx()).await {
        Err(e) => e,
        Ok(_) => panic!("accepted a bad token"),
    }
}

pub(super) fn challenge(r: &Reject) -> String {
    r.headers
        .iter()
        .filter(|(k, _)| k == "www-authenticate")
        .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect::<Vec<_>>()
        .join(" | ")
}

pub(super) fn assert_invalid_token(r: &Reject, what: &str) {
    assert_eq!((r.status.as_u16(), r.code), (401, "unauthorized"), "{what}");
    assert_eq!(
        challenge(r),
        "Bearer realm=\"pylon\", error=\"invalid_token\"",
        "{what}"
    );
}

#[tokio::test]
async fn every_algorithm_family_verifies_and_sets_consumer_and_claims() {
    let chain = jwt_chain(json!({}));
    let cases = [
        (Algorithm::HS256, Some("hs"), SECRET),
        (Algorithm::RS256, Some("rs"), RSA1),
        (Algorithm::PS384, Some("ps"), RSA1),
        (Algorithm::ES256, Some("es256"), EC256),
        (Algorithm::ES384, Some("es384"), EC384),
        (Algorithm::EdDSA, None, ED),
    ];
    for (alg, kid, key) in cases {
        let token = sign(alg, kid, &claims("alice-id"), key);
        let mut req = request("GET", "/", &[("authorization", &bearer(&token))]);
        let mut c = ctx();
        let res = run(&chain, &mut req, &mut c).await;
        assert!(res.is_ok(), "{alg:?}: {:?}", res.err());
        assert_eq!(c.consumer_name(), Some("alice"), "{alg:?}");
        assert_eq!(c.credential.as_deref(), kid, "{alg:?}");
        let sub = c
            .claims
            .as_ref()
            .and_then(|v| v["sub"].as_str().map(str::to_string));
        assert_eq!(sub.as_deref(), Some("alice-id"));
        assert_eq!(req.parts.headers["x-consumer-name"], "alice");
        assert!(
            req.parts.headers.contains_key("authorization"),
            "not hidden by default"
        );
    }
}

#[tokio::test]
async fn a_consumer_credential_is_chosen_by_the_key_claim() {
    let chain = jwt_chain(json!({}));
    let claims = json!({ "iss": "bob-issuer", "sub": "whoever", "exp": now() + 60 });
    let token = sign(
        Algorithm::HS256,
        None,
        &claims,
        "bob-secret-bob-secret-bob-secret",
    );
    let mut req = request("GET", "/", &[("authorization", &bearer(&token))]);
    let mut c = ctx();
    assert!(run(&chain, &mut req, &mut c).await.is_ok());
    assert_eq!(c.consumer_name(), Some("bob"));
    assert_eq!(c.credential.as_deref(), Some("bob-jwt"));
    // The credential decides alone: a token naming bob's issuer but signed
    // with another valid key is refused.
    let token = sign(Algorithm::HS256, Some("hs"), &claims, SECRET);
    assert_invalid_token(&refused(&chain, &token).await, "bob's issuer, other key");
    // And the credential's algorithm is the only one accepted.
    let token = sign(
        Algorithm::HS384,
        None,
        &claims,
        "bob-secret-bob-secret-bob-secret",
    );
    assert_invalid_token(
        &refused(&chain, &token).await,
        "HS384 for an HS256 credential",
    );
}

#[tokio::test]
async fn time_issuer_audience_and_required_claims_are_checked() {
    let chain = jwt_chain(json!({
        "issuers": ["https://idp.test"],
        "audiences": ["orders", "billing"],
        "required_claims": ["iat"],
    }));
    let ok = claims("alice-id");
    let with = |k: &str, v: Value| {
        let mut c = ok.clone();
        c[k] = v;
        sign(Algorithm::RS256, Some("rs"), &c, RSA1)
    };
    let without = |k: &str| {
        let mut c = ok.clone();
        c.as_object_mut().map(|o| o.remove(k));
        sign(Algorithm::RS256, Some("rs"), &c, RSA1)
    };
    let good = [
        with("aud", json!(["x", "billing"])),
        with("exp", json!(now() - 30)), // within the 60 s leeway
        with("nbf", json!(now() + 30)),
    ];
    for t in good {
        let mut req = request("GET", "/", &[("authorization", &bearer(&t))]);
        assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    }
    let bad = [
        ("expired", with("exp", json!(now() - 120))),
        ("not yet valid", with("nbf", json!(now() + 120))),
        ("wrong audience", with("aud", json!("shipping"))),
        ("wrong audience list", with("aud", json!(["a", "b"]))),
        ("wrong issuer", with("iss", json!("https://evil.test"))),
        ("no issuer", without("iss")),
        ("no exp", without("exp")),
        ("exp as a string", with("exp", json!("99999999999"))),
        ("nbf as a string", with("nbf", json!("99999999999"))),
        ("missing required claim", without("iat")),
    ];
    for (what, t) in bad {
        assert_invalid_token(&refused(&chain, &t).await, what);
    }
    // Leeway 0: thirty seconds past exp is too late.
    let strict = jwt_chain(json!({ "leeway": "0s" }));
    assert_invalid_token(
        &refused(&strict, &with("exp", json!(now() - 30))).await,
        "leeway 0",
    );
    // exp not required: a token without it passes.
    let lax = jwt_chain(json!({ "require_exp": false }));
    let mut req = request("GET", "/", &[("authorization", &bearer(&without("exp")))]);
    assert!(run(&lax, &mut req, &mut ctx()).await.is_ok());
}

#[tokio::test]
async fn forged_tampered_and_malformed_tokens_are_refused() {
    let chain = jwt_chain(json!({}));
    let c = claims("alice-id");
    // alg: none, unsigned.
    let none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&c)
    );
    assert_invalid_token(&refused(&chain, &none).await, "alg none");
    let none_kid = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "kid": "rs" })),
        b64(&c)
    );
    assert_invalid_token(&refused(&chain, &none_kid).await, "alg none with kid");
    // Algorithm confusion: HS256 with the RSA public key PEM as the HMAC secret.
    for kid in [Some("rs"), Some("ps"), None] {
        let forged = sign(Algorithm::HS256, kid, &c, RSA1_PUB);
        assert_invalid_token(
            &refused(&chain, &forged).await,
            "HS256 with the RSA public key",
        );
    }
    // The token header cannot pick another algorithm for a key: RS512 for the RS256 key.
    let other_alg = sign(Algorithm::RS512, Some("rs"), &c, RSA1);
    assert_invalid_token(&refused(&chain, &other_alg).await, "RS512 on an RS256 key");
    // Tampered payload and signature.
    let good = sign(Algorithm::RS256, Some("rs"), &c, RSA1);
    let parts: Vec<&str> = good.split('.').collect();
    let mut evil = c.clone();
    evil["sub"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], b64(&evil), parts[2]);
    assert_invalid_token(&refused(&chain, &tampered).await, "tampered payload");
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[10] = if sig[10] == 'A' { 'B' } else { 'A' };
    let sig: String = sig.into_iter().collect();
    let bad_sig = format!("{}.{}.{sig}", parts[0], parts[1]);
    assert_invalid_token(&refused(&chain, &bad_sig).await, "tampered signature");
    // Signed by a key nobody configured.
    let stranger = sign(Algorithm::RS256, Some("rs"), &c, RSA2);
    assert_invalid_token(&refused(&chain, &stranger).await, "unknown signer");
    let unknown_kid = sign(Algorithm::RS256, Some("nope"), &c, RSA1);
    assert_invalid_token(&refused(&chain, &unknown_kid).await, "unknown kid, no JWKS");
    for junk in [
        "abc",
        "a.b.c",
        "..",
        "e30.e30.e30",
        &format!("{}.x", parts[0]),
    ] {
        assert_invalid_token(&refused(&chain, junk).await, junk);
    }
}

#[tokio::test]
async fn unknown_subjects_are_transient_consumers_unless_required() {
    let chain = jwt_chain(json!({}));
    let token = sign(Algorithm::RS256, Some("rs"), &claims("stranger-42"), RSA1);
    let mut req = request("GET", "/", &[("authorization", &bearer(&token))]);
    let mut c = ctx();
    assert!(run(&chain, &mut req, &mut c).await.is_ok());
    let consumer = c.consumer.clone().unwrap_or_else(|| panic!("consumer"));
    assert_eq!(&*consumer.name, "stranger-42");
    assert_eq!(&*consumer.tenant, "default");
    assert!(consumer.groups.is_empty());
    assert_eq!(req.parts.headers["x-consumer-name"], "stranger-42");

    let strict = jwt_chain(json!({ "require_consumer": true }));
    assert_invalid_token(&refused(&strict, &token).await, "require_consumer");
    // The consumer can be named by another claim.
    let by_email = jwt_chain(json!({ "require_consumer": true, "consumer_claim": "email" }));
    let mut cl = claims("stranger-42");
    cl["email"] = json!("alice");
    let token = sign(Algorithm::RS256, Some("rs"), &cl, RSA1);
    let mut req = request("GET", "/", &[("authorization", &bearer(&token))]);
    let mut c = ctx();
    assert!(run(&by_email, &mut req, &mut c).await.is_ok());
    assert_eq!(c.consumer_name(), Some("alice"));
}

#[tokio::test]
async fn token_sources_hiding_missing_token_and_anonymous() {
    let chain = jwt_chain(json!({
        "header_names": ["authorization"],
        "query_params": ["jwt"],
        "cookie_names": ["session"],
        "hide_credentials": true,
    }));
    let token = sign(Algorithm::ES256, Some("es256"), &claims("alice-id"), EC256);
    let mut req = request("GET", &format!("/p?jwt={token}&a=1"), &[]);
    let mut c = ctx();
    assert!(run(&chain, &mut req, &mut c).await.is_ok());
    assert_eq!(req.parts.uri.to_string(), "/p?a=1");
    let mut req = request("GET", "/", &[("cookie", &format!("session={token}; x=1"))]);
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    assert_eq!(req.parts.headers["cookie"], "x=1");
    let mut req = request("GET", "/", &[("authorization", &bearer(&token))]);
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    assert!(req.parts.headers.get("authorization").is_none());

    // No token: the chain's 401 with the plain challenge (no error attribute).
    let mut req = request("GET", "/", &[("authorization", "Basic YTpi")]);
    let err = run(&chain, &mut req, &mut ctx())
        .await
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(challenge(&err), "Bearer realm=\"pylon\"");

    let anon = jwt_chain(json!({ "anonymous": "guest" }));
    let mut req = request("GET", "/", &[]);
    let mut c = ctx();
    assert!(run(&anon, &mut req, &mut c).await.is_ok());
    assert_eq!(c.consumer_name(), Some("guest"));
    assert_invalid_token(
        &refused(&anon, "garbage").await,
        "anonymous does not excuse a bad token",
    );
}

#[test]
fn bad_config_names_the_field() {
    let errs =
        |config: Value| config_errors(json!([{ "name": "jwt", "config": config }]), json!({}));
    let one = |config: Value| {
        let e = errs(config);
        assert_eq!(e.len(), 1, "{e:?}");
        e[0].clone()
    };
    assert!(one(json!({})).starts_with("routes[0].policies[0].config: no verification key"));
    let e = one(json!({ "keys": [{ "algorithm": "HS999", "secret": "x" }] }));
    assert!(
        e.starts_with("routes[0].policies[0].config.keys[0]: unsupported JWT algorithm"),
        "{e}"
    );
    let e = one(json!({ "keys": [{ "algorithm": "RS256", "public_key": "not a pem" }] }));
    assert!(
        e.starts_with("routes[0].policies[0].config.keys[0]: public_key is not a usable RS256"),
        "{e}"
    );
    let e = one(json!({ "keys": [{ "algorithm": "RS256", "secret": "s" }] }));
    assert!(
        e.starts_with("routes[0].policies[0].config.keys[0]: RS256 needs `public_key`"),
        "{e}"
    );
    let e = one(json!({ "keys": [{ "algorithm": "HS256", "public_key": RSA1_PUB }] }));
    assert!(
        e.starts_with("routes[0].policies[0].config.keys[0]: HS256 needs a non-empty `secret`"),
        "{e}"
    );
    let e = one(json!({ "jwks_url": "ftp://x/jwks" }));
    assert!(
        e.starts_with("routes[0].policies[0].config.jwks_url:"),
        "{e}"
    );
    let e = one(json!({ "jwks_url": "http://127.0.0.1:1/jwks", "jwks_ttl": "soon" }));
    assert!(
        e.starts_with("routes[0].policies[0].config.jwks_ttl:"),
        "{e}"
    );
    let e =
        one(json!({ "jwks_url": "http://127.0.0.1:1/jwks", "jwks_min_refresh_interval": "0s" }));
    assert_eq!(
        e,
        "routes[0].policies[0].config.jwks_min_refresh_interval: must be at least 1s"
    );
    let e = one(json!({ "jwks_url": "http://127.0.0.1:1/jwks", "realm": "" }));
    assert!(e.starts_with("routes[0].policies[0].config.realm:"), "{e}");
}
