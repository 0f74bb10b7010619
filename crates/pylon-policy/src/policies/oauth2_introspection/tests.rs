//! `oauth2-introspection` against a loopback mock authorization server.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use pylon_testkit::{CannedResponse, DeadAddr, DelayServer, StatusServer};
use serde_json::{Value, json};

use crate::auth::clock::{CLOCK_KEY, Clock, ManualTime};
use crate::chain::ChainSet;
use crate::testing::*;
use crate::{Chain, PolicyCtx, Reject, Shared};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn answer(v: Value) -> CannedResponse {
    CannedResponse::new(200)
        .and_then(|r| r.header("content-type", "application/json"))
        .unwrap_or_else(|e| panic!("{e}"))
        .body(v.to_string())
}

async fn server(v: Value) -> StatusServer {
    StatusServer::start_with(answer(v))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

struct Setup {
    chain: Arc<Chain>,
    shared: Arc<Shared>,
    time: ManualTime,
}

fn setup(url: &str, more: Value) -> Setup {
    let shared = Shared::with_metrics(pylon_telemetry::Metrics::new());
    let (clock, time) = Clock::manual();
    shared.get_or_init(CLOCK_KEY, || clock);
    let mut config = json!({
        "introspection_url": url,
        "client_id": "pylon gw",
        "client_secret": "s3cret:x",
        "token_type_hint": "access_token",
    });
    if let (Some(c), Value::Object(more)) = (config.as_object_mut(), more) {
        c.extend(more);
    }
    let extra = json!({
        "consumers": [
            { "name": "orders-app", "custom_id": "app-1", "groups": ["partners"] },
            { "name": "dave" },
        ]
    });
    let cfg = config_of(
        json!([{ "name": "oauth2-introspection", "config": config }]),
        extra,
    );
    let set = ChainSet::build(&cfg, &shared).unwrap_or_else(|e| panic!("{e:?}"));
    let chain = set.route(0).cloned().unwrap_or_else(|| panic!("route"));
    Setup {
        chain,
        shared,
        time,
    }
}

fn config_of(policies: Value, extra: Value) -> pylon_config::Config {
    crate::testing::config(policies, extra)
}

async fn call(chain: &Chain, token: &str) -> (Result<(), Reject>, PolicyCtx) {
    let auth = format!("Bearer {token}");
    let mut req = request("GET", "/", &[("authorization", &auth)]);
    let mut c = ctx();
    let res = run(chain, &mut req, &mut c).await.map(|_| ());
    (res, c)
}

fn backend_errors(shared: &Shared) -> u64 {
    shared
        .metrics()
        .encode()
        .lines()
        .find(|l| {
            l.starts_with("pylon_policy_backend_errors_total{")
                && l.contains("policy=\"oauth2-introspection\"")
                && l.contains("backend=\"introspection\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn assert_invalid_token(r: &Result<(), Reject>) {
    let Err(e) = r else { panic!("accepted") };
    assert_eq!((e.status.as_u16(), e.code), (401, "unauthorized"));
    let ch: Vec<_> = e
        .headers
        .iter()
        .filter(|(k, _)| k == "www-authenticate")
        .collect();
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].1, "Bearer realm=\"pylon\", error=\"invalid_token\"");
}

#[tokio::test]
async fn active_token_names_the_consumer_and_is_cached() {
    let srv = server(
        json!({ "active": true, "client_id": "app-1", "scope": "orders:read", "exp": now() + 600 }),
    )
    .await;
    let s = setup(&srv.url_for("/introspect"), json!({}));
    let (res, c) = call(&s.chain, "opaque-token-1").await;
    assert!(res.is_ok(), "{:?}", res.err());
    assert_eq!(c.consumer_name(), Some("orders-app"));
    assert_eq!(c.credential.as_deref(), Some("app-1"));
    assert_eq!(
        c.claims.as_ref().map(|v| v["scope"].clone()),
        Some(json!("orders:read"))
    );

    // What the authorization server saw: RFC 7662 form POST with client Basic auth.
    let seen = srv.last_request().unwrap_or_else(|| panic!("no call"));
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path(), "/introspect");
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = form_urlencoded::parse(&seen.body).into_owned().collect();
    assert_eq!(
        form,
        vec![
            ("token".to_string(), "opaque-token-1".to_string()),
            ("token_type_hint".to_string(), "access_token".to_string())
        ]
    );
    let basic = seen.header("authorization").unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.trim_start_matches("Basic "))
        .unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&decoded), "pylon+gw:s3cret%3Ax");

    // The same token again: answered from the cache.
    assert!(call(&s.chain, "opaque-token-1").await.0.is_ok());
    assert_eq!(srv.request_count(), 1);
    // Another token is another call.
    assert!(call(&s.chain, "opaque-token-2").await.0.is_ok());
    assert_eq!(srv.request_count(), 2);
}

#[tokio::test]
async fn cache_lasts_cache_ttl_at_most_and_never_past_exp() {
    // No exp: cache_ttl (60 s) bounds the entry.
    let srv = server(json!({ "active": true, "sub": "dave" })).await;
    let s = setup(&srv.url_for("/i"), json!({}));
    assert!(call(&s.chain, "t").await.0.is_ok());
    s.time.advance(Duration::from_secs(59));
    assert!(call(&s.chain, "t").await.0.is_ok());
    assert_eq!(srv.request_count(), 1);
    s.time.advance(Duration::from_secs(2));
    assert!(call(&s.chain, "t").await.0.is_ok());
    assert_eq!(srv.request_count(), 2);

    // exp in 10 s: the entry ends then, although cache_ttl is longer.
    let exp = (Clock::default().now_secs() + 10) as i64;
    let srv = server(json!({ "active": true, "sub": "dave", "exp": exp })).await;
    let s = setup(&srv.url_for("/i"), json!({}));
    assert!(call(&s.chain, "t").await.0.is_ok());
    s.time.advance(Duration::from_secs(5));
    assert!(call(&s.chain, "t").await.0.is_ok());
    assert_eq!(srv.request_count(), 1);
    s.time.advance(Duration::from_secs(6));
    // Asked again; the server's (stale) answer is now past its exp: refused.
    assert_invalid_token(&call(&s.chain, "t").await.0);
    assert_eq!(srv.request_count(), 2);
}

#[tokio::test]
async fn inactive_and_expired_tokens_are_401_and_briefly_cached() {
    let srv = server(json!({ "active": false })).await;
    let s = setup(&srv.url_for("/i"), json!({}));
    assert_invalid_token(&call(&s.chain, "revoked").await.0);
    assert_invalid_token(&call(&s.chain, "revoked").await.0);
    assert_eq!(srv.request_count(), 1, "negative answer cached");
    s.time.advance(Duration::from_secs(6));
    assert_invalid_token(&call(&s.chain, "revoked").await.0);
    assert_eq!(srv.request_count(), 2, "negative cache is short (5 s)");

    let srv = server(json!({ "active": true, "sub": "dave", "exp": now() - 5 })).await;
    let s = setup(&srv.url_for("/i"), json!({}));
    assert_invalid_token(&call(&s.chain, "old").await.0);
    let srv = server(json!({ "active": "yes", "sub": "dave" })).await;
    let s = setup(&srv.url_for("/i"), json!({}));
    let (res, _) = call(&s.chain, "odd").await;
    assert_eq!(
        res.err().map(|e| e.status.as_u16()),
        Some(503),
        "no boolean `active`"
    );
}

#[tokio::test]
async fn consumer_mapping_and_require_consumer() {
    let srv = server(json!({ "active": true, "client_id": "unknown-app", "sub": "dave" })).await;
    // client_id names nobody, sub does.
    let s = setup(&srv.url_for("/i"), json!({}));
    let (res, c) = call(&s.chain, "t").await;
    assert!(res.is_ok());
    assert_eq!(c.consumer_name(), Some("dave"));
    // Only client_id considered: a transient consumer named after it.
    let s = setup(&srv.url_for("/i"), json!({ "consumer_claim": "client_id" }));
    let (res, c) = call(&s.chain, "t").await;
    assert!(res.is_ok());
    let consumer = c.consumer.unwrap_or_else(|| panic!("consumer"));
    assert_eq!((&*consumer.name, consumer.groups.len()), ("unknown-app", 0));
    // ... or refused when a configured consumer is required.
    let s = setup(
        &srv.url_for("/i"),
        json!({ "consumer_claim": "client_id", "require_consumer": true }),
    );
    assert_invalid_token(&call(&s.chain, "t").await.0);
}

#[tokio::test]
async fn unavailable_endpoint_is_503_with_a_backend_error_metric() {
    let check = |r: Result<(), Reject>| {
        let e = r.err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(
            (e.status.as_u16(), e.code),
            (503, "auth_backend_unavailable")
        );
        assert!(
            !e.message.contains("127.0.0.1"),
            "no details: {}",
            e.message
        );
    };
    let dead = DeadAddr::new().unwrap_or_else(|e| panic!("{e}"));
    let s = setup(&format!("http://{}/i", dead.addr()), json!({}));
    check(call(&s.chain, "t").await.0);
    assert_eq!(backend_errors(&s.shared), 1);
    // An error status is the server's failure, not the client's.
    let srv = StatusServer::start(500)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = setup(&srv.url_for("/i"), json!({}));
    check(call(&s.chain, "t").await.0);
    check(call(&s.chain, "t").await.0);
    assert_eq!(srv.request_count(), 2, "failures are not cached");
    assert_eq!(backend_errors(&s.shared), 2);
    // A server slower than the timeout.
    let slow = DelayServer::start(Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = setup(&slow.url_for("/i"), json!({ "timeout": "200ms" }));
    check(call(&s.chain, "t").await.0);
    assert_eq!(backend_errors(&s.shared), 1);
}

#[test]
fn bad_config_names_the_field() {
    let errs = |config: Value| {
        config_errors(
            json!([{ "name": "oauth2-introspection", "config": config }]),
            json!({}),
        )
    };
    assert_eq!(
        errs(json!({})),
        vec!["routes[0].policies[0].config.introspection_url: is required"]
    );
    assert_eq!(
        errs(json!({ "introspection_url": "http://a/i", "client_secret": "x" })),
        vec!["routes[0].policies[0].config.client_id: is required with `client_secret`"]
    );
    let e = errs(json!({ "introspection_url": "/relative" }));
    assert!(
        e[0].starts_with("routes[0].policies[0].config.introspection_url:"),
        "{e:?}"
    );
    let e = errs(json!({ "introspection_url": "http://a/i", "timeout": "0s" }));
    assert_eq!(
        e,
        vec!["routes[0].policies[0].config.timeout: must be more than 0s"]
    );
}
