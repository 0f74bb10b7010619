//! `jwt` with a JWKS served by a loopback mock: lazy fetch, caching,
//! rotation, rate-limited refresh on unknown `kid`s, failures.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};
use pylon_testkit::{CannedResponse, DeadAddr, StatusServer};
use serde_json::{Value, json};

use super::tests::{RSA1, RSA1_PUB, RSA2, assert_invalid_token, claims, consumers, refused, sign};
use crate::auth::clock::{CLOCK_KEY, Clock, ManualTime};
use crate::chain::ChainSet;
use crate::testing::*;
use crate::{Chain, Shared};

fn jwk(private_pem: &str, kid: &str, with_alg: bool) -> Jwk {
    let key = EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap_or_else(|e| panic!("{e}"));
    jwk.common.key_id = Some(kid.into());
    if !with_alg {
        jwk.common.key_algorithm = None;
    }
    jwk
}

fn jwks_response(keys: Vec<Jwk>) -> CannedResponse {
    let body = serde_json::to_string(&JwkSet { keys }).unwrap_or_else(|e| panic!("{e}"));
    CannedResponse::new(200)
        .and_then(|r| r.header("content-type", "application/json"))
        .unwrap_or_else(|e| panic!("{e}"))
        .body(body)
}

struct Setup {
    chain: Arc<Chain>,
    shared: Arc<Shared>,
    time: ManualTime,
}

fn setup(url: &str) -> Setup {
    let shared = Shared::with_metrics(pylon_telemetry::Metrics::new());
    let (clock, time) = Clock::manual();
    shared.get_or_init(CLOCK_KEY, || clock);
    let cfg = config(
        json!([{ "name": "jwt", "config": { "jwks_url": url } }]),
        consumers(),
    );
    let set = ChainSet::build(&cfg, &shared).unwrap_or_else(|e| panic!("{e:?}"));
    let chain = set.route(0).cloned().unwrap_or_else(|| panic!("route"));
    Setup {
        chain,
        shared,
        time,
    }
}

async fn accepted(chain: &Chain, token: &str) -> bool {
    let auth = format!("Bearer {token}");
    let mut req = request("GET", "/", &[("authorization", &auth)]);
    let mut c = ctx();
    run(chain, &mut req, &mut c).await.is_ok() && c.consumer_name() == Some("alice")
}

/// `pylon_policy_backend_errors_total` for the jwt policy.
fn jwks_errors(shared: &Shared) -> u64 {
    shared
        .metrics()
        .encode()
        .lines()
        .find(|l| {
            l.starts_with("pylon_policy_backend_errors_total{")
                && l.contains("policy=\"jwt\"")
                && l.contains("backend=\"jwks\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn jwks_is_fetched_lazily_cached_and_followed_through_rotation() {
    let server = StatusServer::start_with(jwks_response(vec![jwk(RSA1, "k1", true)]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = setup(&server.url_for("/jwks"));
    assert_eq!(
        server.request_count(),
        0,
        "nothing is fetched at build time"
    );

    let t1 = sign(Algorithm::RS256, Some("k1"), &claims("alice-id"), RSA1);
    assert!(accepted(&s.chain, &t1).await);
    assert!(accepted(&s.chain, &t1).await);
    assert_eq!(server.request_count(), 1, "fetched once, then cached");

    // The issuer rotates to k2. Within the refresh interval an unknown kid
    // does not trigger a fetch.
    server.set_response(jwks_response(vec![jwk(RSA2, "k2", true)]));
    let t2 = sign(Algorithm::RS256, Some("k2"), &claims("alice-id"), RSA2);
    assert_invalid_token(
        &refused(&s.chain, &t2).await,
        "k2 before a refresh is allowed",
    );
    assert_eq!(server.request_count(), 1);
    // Past it, the unknown kid triggers one refresh and is accepted.
    s.time.advance(Duration::from_secs(31));
    assert!(accepted(&s.chain, &t2).await);
    assert_eq!(server.request_count(), 2);
    assert!(accepted(&s.chain, &t2).await);
    // The old key is gone from the new set; refresh is rate-limited again.
    assert_invalid_token(&refused(&s.chain, &t1).await, "k1 after rotation");
    assert_eq!(server.request_count(), 2);
    assert_eq!(jwks_errors(&s.shared), 0);
}

#[tokio::test]
async fn unknown_kid_refreshes_at_most_once_per_interval_then_fails() {
    let server = StatusServer::start_with(jwks_response(vec![jwk(RSA1, "k1", true)]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = setup(&server.url_for("/jwks"));
    let good = sign(Algorithm::RS256, Some("k1"), &claims("alice-id"), RSA1);
    assert!(accepted(&s.chain, &good).await);
    s.time.advance(Duration::from_secs(31));
    for i in 0..5 {
        let made_up = sign(
            Algorithm::RS256,
            Some(&format!("kid-{i}")),
            &claims("alice-id"),
            RSA1,
        );
        assert_invalid_token(&refused(&s.chain, &made_up).await, "made-up kid");
    }
    assert_eq!(
        server.request_count(),
        2,
        "one refresh for five unknown kids"
    );
    assert!(accepted(&s.chain, &good).await, "known keys keep working");
}

#[tokio::test]
async fn old_keys_stay_in_use_while_the_jwks_endpoint_fails() {
    let server = StatusServer::start_with(jwks_response(vec![jwk(RSA1, "k1", true)]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = setup(&server.url_for("/jwks"));
    let mut long = claims("alice-id");
    long["exp"] = json!(super::tests::now() + 3600);
    let t1 = sign(Algorithm::RS256, Some("k1"), &long, RSA1);
    assert!(accepted(&s.chain, &t1).await);
    server.set_status(500);
    s.time.advance(Duration::from_secs(11 * 60));
    assert!(
        accepted(&s.chain, &t1).await,
        "expired set, failed refresh: old keys kept"
    );
    assert_eq!(server.request_count(), 2);
    assert_eq!(jwks_errors(&s.shared), 1);
    // Garbage instead of a JWKS is a failure too, and does not wipe the keys.
    server.set_response(
        CannedResponse::new(200)
            .unwrap_or_else(|e| panic!("{e}"))
            .body("{\"keys\": \"no\"}"),
    );
    s.time.advance(Duration::from_secs(31));
    assert!(accepted(&s.chain, &t1).await);
    assert_eq!(jwks_errors(&s.shared), 2);
}

#[tokio::test]
async fn unreachable_jwks_is_a_401_and_a_backend_error() {
    let dead = DeadAddr::new().unwrap_or_else(|e| panic!("{e}"));
    let s = setup(&format!("http://{}/jwks", dead.addr()));
    let t = sign(Algorithm::RS256, Some("k1"), &claims("alice-id"), RSA1);
    let err = refused(&s.chain, &t).await;
    assert_eq!((err.status.as_u16(), err.code), (401, "unauthorized"));
    assert_eq!(jwks_errors(&s.shared), 1);
    // Retries are rate-limited too.
    refused(&s.chain, &t).await;
    assert_eq!(jwks_errors(&s.shared), 1);
    s.time.advance(Duration::from_secs(31));
    refused(&s.chain, &t).await;
    assert_eq!(jwks_errors(&s.shared), 2);
}

#[tokio::test]
async fn jwks_keys_without_alg_accept_only_their_key_type() {
    let server = StatusServer::start_with(jwks_response(vec![jwk(RSA1, "k1", false)]))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = setup(&server.url_for("/jwks"));
    for alg in [Algorithm::RS256, Algorithm::RS512, Algorithm::PS256] {
        let t = sign(alg, Some("k1"), &claims("alice-id"), RSA1);
        assert!(accepted(&s.chain, &t).await, "{alg:?}");
    }
    // HS256 keyed with the public key PEM (or its JWK JSON) is refused.
    let c: Value = claims("alice-id");
    for secret in [
        RSA1_PUB.to_string(),
        serde_json::to_string(&jwk(RSA1, "k1", false)).unwrap_or_default(),
    ] {
        let forged = sign(Algorithm::HS256, Some("k1"), &c, &secret);
        assert_invalid_token(
            &refused(&s.chain, &forged).await,
            "HS256 confusion via JWKS",
        );
    }
}
