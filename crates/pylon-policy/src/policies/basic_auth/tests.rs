use std::sync::Arc;
use std::time::Duration;

use argon2::PasswordHasher;
use base64::Engine as _;
use serde_json::json;

use super::index::BasicIndex;
use crate::auth::clock::{CLOCK_KEY, Clock};
use crate::chain::ChainSet;
use crate::testing::*;
use crate::{Reject, Shared};

fn argon2_hash(pw: &str) -> String {
    let params = argon2::Params::new(1024, 1, 1, None).unwrap_or_else(|e| panic!("{e}"));
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    a.hash_password_with_salt(pw.as_bytes(), b"pylon-test-salt!")
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string()
}

fn consumers() -> serde_json::Value {
    let bcrypt = bcrypt::hash("bob-pw", 4).unwrap_or_else(|e| panic!("{e}"));
    json!({
        "consumers": [
            { "name": "alice", "groups": ["pro"], "credentials": [
                { "type": "basic_auth", "id": "alice-basic", "username": "alice", "password": "alice-pw" },
                { "type": "key_auth", "key": "alice-api-key-1" }] },
            { "name": "bob", "credentials": [{ "type": "basic_auth", "username": "bob", "password_hash": bcrypt }] },
            { "name": "carol", "credentials": [{ "type": "basic_auth", "username": "carol", "password_hash": argon2_hash("carol-pw") }] },
            { "name": "guest" },
        ]
    })
}

fn basic(user: &str, pw: &str) -> String {
    let raw = format!("{user}:{pw}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn challenge(r: &Reject) -> Vec<String> {
    r.headers
        .iter()
        .filter(|(k, _)| k == "www-authenticate")
        .map(|(_, v)| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

async fn refused(chain: &crate::Chain, auth: &str) -> Reject {
    let mut req = request("GET", "/", &[("authorization", auth)]);
    match run(chain, &mut req, &mut ctx()).await {
        Err(e) => e,
        Ok(_) => panic!("accepted {auth:?}"),
    }
}

#[tokio::test]
async fn clear_password_identifies_the_consumer_and_can_be_hidden() {
    let chain = chain(
        json!([{ "name": "basic-auth", "config": { "hide_credentials": true } }]),
        consumers(),
    );
    let mut req = request(
        "GET",
        "/",
        &[("authorization", &basic("alice", "alice-pw"))],
    );
    let mut c = ctx();
    assert!(run(&chain, &mut req, &mut c).await.is_ok());
    assert_eq!(c.consumer_name(), Some("alice"));
    assert_eq!(c.credential.as_deref(), Some("alice-basic"));
    assert_eq!(req.parts.headers["x-consumer-name"], "alice");
    assert!(req.parts.headers.get("authorization").is_none());
}

#[tokio::test]
async fn wrong_unknown_and_malformed_credentials_get_the_same_401() {
    let chain = chain(json!([{ "name": "basic-auth" }]), consumers());
    let wrong = refused(&chain, &basic("alice", "nope")).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.code, "unauthorized");
    assert_eq!(
        challenge(&wrong),
        vec!["Basic realm=\"pylon\", charset=\"UTF-8\"".to_string()]
    );
    for bad in [
        basic("mallory", "alice-pw"),
        basic("bob", "alice-pw"),
        basic("carol", "wrong"),
        "Basic !!!not-base64".to_string(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("no-colon")
        ),
        "basic".to_string(),
        "Basic ".to_string(),
    ] {
        let r = refused(&chain, &bad).await;
        assert_eq!(
            (r.status, r.code, &r.message, challenge(&r)),
            (wrong.status, wrong.code, &wrong.message, challenge(&wrong)),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn argon2_and_bcrypt_hashes_are_checked_once_then_cached_until_expiry() {
    let shared = Shared::new();
    let (clock, time) = Clock::manual();
    shared.get_or_init(CLOCK_KEY, || clock);
    let cfg = config(
        json!([{ "name": "basic-auth", "config": { "cache_ttl": "10s" } }]),
        consumers(),
    );
    let set = ChainSet::build(&cfg, &shared).unwrap_or_else(|e| panic!("{e:?}"));
    let chain = set.route(0).cloned().unwrap_or_else(|| panic!("route"));
    let index: Arc<BasicIndex> = set.consumers.index(BasicIndex::build);
    let checks = || index.slow_checks.load(std::sync::atomic::Ordering::Relaxed);

    for (user, pw) in [("carol", "carol-pw"), ("bob", "bob-pw")] {
        let before = checks();
        for _ in 0..3 {
            let mut req = request("GET", "/", &[("authorization", &basic(user, pw))]);
            let mut c = ctx();
            assert!(run(&chain, &mut req, &mut c).await.is_ok(), "{user}");
            assert_eq!(c.consumer_name(), Some(user));
        }
        assert_eq!(
            checks() - before,
            1,
            "{user}: one slow check, then the cache"
        );
    }
    // A wrong password is never cached: each attempt is checked.
    let before = checks();
    for _ in 0..2 {
        refused(&chain, &basic("carol", "carol-pw-wrong")).await;
    }
    assert_eq!(checks() - before, 2);
    // Past the TTL the hash is checked again.
    time.advance(Duration::from_secs(11));
    let before = checks();
    let mut req = request(
        "GET",
        "/",
        &[("authorization", &basic("carol", "carol-pw"))],
    );
    assert!(run(&chain, &mut req, &mut ctx()).await.is_ok());
    assert_eq!(checks() - before, 1);
}

#[tokio::test]
async fn other_schemes_fall_through_to_the_next_policy_and_the_401_gate() {
    let chain = chain(
        json!([{ "name": "basic-auth" }, { "name": "key-auth" }]),
        consumers(),
    );
    // No credential at all: one 401 with both challenges.
    let mut req = request("GET", "/", &[]);
    let err = run(&chain, &mut req, &mut ctx())
        .await
        .err()
        .unwrap_or_else(|| panic!("accepted"));
    assert_eq!(err.status, 401);
    let ch = challenge(&err).join(" | ");
    assert!(
        ch.contains("Basic realm=") && ch.contains("Key realm="),
        "{ch}"
    );
    // A Bearer header is not basic-auth's: key-auth still gets its chance.
    let mut req = request(
        "GET",
        "/",
        &[
            ("authorization", "Bearer x"),
            ("x-api-key", "alice-api-key-1"),
        ],
    );
    let mut c = ctx();
    assert!(run(&chain, &mut req, &mut c).await.is_ok());
    assert_eq!(c.consumer_name(), Some("alice"));

    let anon = crate::testing::chain(
        json!([{ "name": "basic-auth", "config": { "anonymous": "guest" } }]),
        consumers(),
    );
    let mut req = request("GET", "/", &[]);
    let mut c = ctx();
    assert!(run(&anon, &mut req, &mut c).await.is_ok());
    assert_eq!(c.consumer_name(), Some("guest"));
    assert!(
        run(
            &anon,
            &mut request("GET", "/", &[("authorization", &basic("alice", "x"))]),
            &mut ctx()
        )
        .await
        .is_err()
    );
}

#[test]
fn clear_passwords_are_not_kept_in_the_index() {
    let cfg = config(json!([{ "name": "basic-auth" }]), consumers());
    let set = ChainSet::build(&cfg, &Shared::new()).unwrap_or_else(|e| panic!("{e:?}"));
    let index: Arc<BasicIndex> = set.consumers.index(BasicIndex::build);
    let alice = index.user("alice").unwrap_or_else(|| panic!("alice"));
    match &alice.secret {
        super::index::Secret::Salted(d) => {
            assert!(!d.windows(8).any(|w| w == b"alice-pw"));
            assert_ne!(
                d[..],
                <sha2::Sha256 as sha2::Digest>::digest(b"alice-pw")[..]
            );
        }
        _ => panic!("a clear password is kept salted-hashed"),
    }
    assert!(alice.secret.verify(b"alice-pw"));
    assert!(!alice.secret.verify(b"alice-pX"));
}

#[test]
fn bad_config_names_the_problem() {
    let errs = config_errors(
        json!([{ "name": "basic-auth", "config": { "realm": "a\"b" } }]),
        json!({}),
    );
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("routes[0].policies[0].config.realm:"),
        "{errs:?}"
    );
    let errs = config_errors(
        json!([{ "name": "basic-auth" }]),
        json!({ "consumers": [{ "name": "x", "credentials": [{ "type": "basic_auth", "username": "x", "password_hash": "$argon2id$garbage" }] }] }),
    );
    assert!(
        errs.iter().any(
            |e| e.starts_with("routes[0].policies[0].config: consumer `x`") && e.contains("argon2")
        ),
        "{errs:?}"
    );
}
