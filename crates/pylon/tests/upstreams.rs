//! Upstream behaviour of the real `pylon` binary against testkit servers:
//! load balancing, consistent hashing across a hot reload, active and passive
//! health, retries and their budget, circuit breakers, timeouts, DNS names,
//! keep-alive reuse and the "no eligible target" case.

mod common_upstreams;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use common_upstreams::{
    Gateway, Reply, bounded, health_series, retries_of, route, single, target, upstream,
    wait_until, weighted,
};
use http::StatusCode;
use pylon_testkit::{
    DeadAddr, DelayServer, EchoServer, SlowBodyConfig, SlowBodyServer, StatusServer,
};
use serde_json::Value;
use tokio::task::JoinSet;

/// Count replies per `x-upstream` name (`?` when absent).
fn tally(replies: &[Reply]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in replies {
        *out.entry(r.upstream().unwrap_or("?").to_string())
            .or_default() += 1;
    }
    out
}

/// `n` sequential GETs of `path`, each required to answer 200.
async fn get_ok_many(gw: &Gateway, path: &str, n: usize) -> Vec<Reply> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let r = gw.get(path).await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "request {i}: {}", r.text());
        out.push(r);
    }
    out
}

/// Requests a target received on paths other than the health-check path.
fn traffic_count(server: &pylon_testkit::ServerHandle) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.uri.path() != "/healthz")
        .count()
}

// 1. Smooth weighted round robin is exact for sequential requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_round_robin_splits_exactly() {
    bounded(async {
        let a = EchoServer::start_named("a").await.unwrap();
        let b = EchoServer::start_named("b").await.unwrap();
        let gw = Gateway::start(&single(
            &[weighted(a.addr(), 3), weighted(b.addr(), 1)],
            &["load_balancing: {algorithm: round_robin}"],
        ))
        .await
        .unwrap();
        let replies = get_ok_many(&gw, "/wrr", 400).await;
        let counts = tally(&replies);
        assert_eq!(counts.get("a"), Some(&300), "{counts:?}");
        assert_eq!(counts.get("b"), Some(&100), "{counts:?}");
        // Smoothness: never more than 3 in a row on `a`, never 2 in a row on `b`.
        let seq: String = replies
            .iter()
            .map(|r| r.upstream().unwrap_or("?"))
            .collect();
        assert!(!seq.contains("aaaa") && !seq.contains("bb"), "{seq}");
        assert_eq!(a.request_count(), 300);
        assert_eq!(b.request_count(), 100);
    })
    .await;
}

// 2. Least connections steers concurrent requests away from a slow target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn least_connections_prefers_the_fast_target() {
    bounded(async {
        let slow = DelayServer::start(Duration::from_secs(3)).await.unwrap();
        let fast = EchoServer::start_named("fast").await.unwrap();
        let gw = Gateway::start(&single(
            &[target(slow.addr()), target(fast.addr())],
            &[
                "load_balancing: {algorithm: least_connections}",
                "retries: {attempts: 0}",
            ],
        ))
        .await
        .unwrap();
        let mut set = JoinSet::new();
        for i in 0..20 {
            let client = gw.client.clone();
            let url = gw.url(&format!("/lc/{i}"));
            set.spawn(async move { common_upstreams::read_reply(client.get(url)).await });
            // Staggered, but all 20 overlap the slow target's 3 s answer.
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        let mut replies = Vec::new();
        while let Some(r) = set.join_next().await {
            let r = r.unwrap().unwrap();
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            replies.push(r);
        }
        let on_fast = tally(&replies).get("fast").copied().unwrap_or(0);
        let on_slow = slow.request_count();
        eprintln!("least_connections: fast {on_fast}, slow {on_slow}");
        assert_eq!(on_fast as u64 + on_slow, 20);
        assert!(
            on_fast >= 16,
            "fast got {on_fast}, slow got {on_slow} of 20 concurrent requests"
        );
    })
    .await;
}

/// The `x-upstream` of `GET /ch` with header `x-user: key`.
async fn owner_by_header(gw: &Gateway, key: &str) -> String {
    let r = gw
        .send(gw.client.get(gw.url("/ch")).header("x-user", key))
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.upstream().expect("x-upstream").to_string()
}

// 3. Consistent hashing on a header: sticky, spread, and stable across the
// removal of one target by hot reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_on_header_survives_target_removal() {
    bounded(async {
        let a = EchoServer::start_named("a").await.unwrap();
        let b = EchoServer::start_named("b").await.unwrap();
        let c = EchoServer::start_named("c").await.unwrap();
        let settings = ["load_balancing: {algorithm: consistent_hash, hash_on: {header: x-user}}"];
        let gw = Gateway::start(&single(
            &[target(a.addr()), target(b.addr()), target(c.addr())],
            &settings,
        ))
        .await
        .unwrap();

        let keys: Vec<String> = (0..60).map(|i| format!("user-{i}")).collect();
        let mut owner = HashMap::new();
        for key in &keys {
            let first = owner_by_header(&gw, key).await;
            for _ in 0..2 {
                assert_eq!(owner_by_header(&gw, key).await, first, "key {key} moved");
            }
            owner.insert(key.clone(), first);
        }
        let mut spread: BTreeMap<&str, usize> = BTreeMap::new();
        for o in owner.values() {
            *spread.entry(o.as_str()).or_default() += 1;
        }
        assert_eq!(
            spread.len(),
            3,
            "keys not spread over all targets: {spread:?}"
        );
        assert!(spread.values().all(|n| *n >= 3), "{spread:?}");

        // Remove `c` by rewriting the config.
        gw.reload(&single(&[target(a.addr()), target(b.addr())], &settings))
            .await
            .unwrap();
        let c_before = c.request_count();
        let mut moved_from_c = 0;
        for key in &keys {
            let now = owner_by_header(&gw, key).await;
            assert_ne!(now, "c", "key {key} still goes to the removed target");
            if owner[key] == "c" {
                moved_from_c += 1;
            } else {
                assert_eq!(now, owner[key], "key {key} left its surviving target");
            }
            assert_eq!(owner_by_header(&gw, key).await, now, "key {key} not sticky");
        }
        assert_eq!(moved_from_c, spread["c"]);
        assert_eq!(c.request_count(), c_before);
    })
    .await;
}

/// The `x-upstream` of `GET /ck` with the given `Cookie` header (or none).
async fn owner_by_cookie(gw: &Gateway, cookie: Option<&str>) -> String {
    let mut req = gw.client.get(gw.url("/ck"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = gw.send(req).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.upstream().expect("x-upstream").to_string()
}

// 4a. Consistent hashing on a cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_on_cookie() {
    bounded(async {
        let a = EchoServer::start_named("a").await.unwrap();
        let b = EchoServer::start_named("b").await.unwrap();
        let c = EchoServer::start_named("c").await.unwrap();
        let gw = Gateway::start(&single(
            &[target(a.addr()), target(b.addr()), target(c.addr())],
            &["load_balancing: {algorithm: consistent_hash, hash_on: {cookie: session}}"],
        ))
        .await
        .unwrap();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..40 {
            let first = owner_by_cookie(&gw, Some(&format!("session=s{i}"))).await;
            // The same session among other cookies, in another position.
            let other = owner_by_cookie(&gw, Some(&format!("theme=dark; session=s{i}; x=1"))).await;
            assert_eq!(
                first, other,
                "session s{i} moved with other cookies around it"
            );
            // Other cookies changing do not move it.
            let again = owner_by_cookie(&gw, Some(&format!("session=s{i}; theme=light"))).await;
            assert_eq!(first, again, "session s{i} not sticky");
            *seen.entry(first).or_default() += 1;
        }
        assert!(seen.len() >= 2, "sessions not spread: {seen:?}");
        // Without the cookie: round robin over all targets.
        let mut fallback: BTreeMap<String, usize> = BTreeMap::new();
        for _ in 0..6 {
            *fallback
                .entry(owner_by_cookie(&gw, Some("theme=dark")).await)
                .or_default() += 1;
        }
        assert_eq!(
            fallback.len(),
            3,
            "no-cookie requests not balanced: {fallback:?}"
        );
    })
    .await;
}

// 4b. Consistent hashing on the client IP: every test request comes from 127.0.0.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_hash_on_client_ip() {
    bounded(async {
        let a = EchoServer::start_named("a").await.unwrap();
        let b = EchoServer::start_named("b").await.unwrap();
        let c = EchoServer::start_named("c").await.unwrap();
        let gw = Gateway::start(&single(
            &[target(a.addr()), target(b.addr()), target(c.addr())],
            &["load_balancing: {algorithm: consistent_hash, hash_on: client_ip}"],
        ))
        .await
        .unwrap();
        let mut owners = std::collections::BTreeSet::new();
        for i in 0..30 {
            // Fresh connections (new source ports) and varied paths and headers.
            let client = common_upstreams::client();
            let r = common_upstreams::read_reply(
                client
                    .get(gw.url(&format!("/ip/{i}")))
                    .header("x-user", format!("u{i}")),
            )
            .await
            .unwrap();
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            owners.insert(r.upstream().expect("x-upstream").to_string());
        }
        assert_eq!(owners.len(), 1, "one client IP went to {owners:?}");
    })
    .await;
}

// 5. Peak EWMA avoids a slow target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_ewma_prefers_the_fast_target() {
    bounded(async {
        let slow = DelayServer::start(Duration::from_millis(200))
            .await
            .unwrap();
        let fast = EchoServer::start_named("fast").await.unwrap();
        let gw = Gateway::start(&single(
            &[target(slow.addr()), target(fast.addr())],
            &[
                "load_balancing: {algorithm: peak_ewma, decay: 10s}",
                "retries: {attempts: 0}",
            ],
        ))
        .await
        .unwrap();
        // 100 requests, 4 at a time.
        let mut set = JoinSet::new();
        for w in 0..4 {
            let client = gw.client.clone();
            let base = gw.url("/ewma");
            set.spawn(async move {
                let mut out = Vec::new();
                for i in 0..25 {
                    let r = common_upstreams::read_reply(client.get(format!("{base}/{w}/{i}")))
                        .await
                        .unwrap();
                    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
                    out.push(r);
                }
                out
            });
        }
        let mut replies = Vec::new();
        while let Some(r) = set.join_next().await {
            replies.extend(r.unwrap());
        }
        let on_fast = tally(&replies).get("fast").copied().unwrap_or(0);
        let on_slow = slow.request_count();
        eprintln!("peak_ewma: fast {on_fast}, slow {on_slow}");
        assert_eq!(on_fast as u64 + on_slow, 100);
        assert!(
            on_fast >= 85,
            "fast got {on_fast}, slow got {on_slow} of 100"
        );
    })
    .await;
}

// 6. Active health checks take a failing target out and bring it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_health_checks_remove_and_restore_a_target() {
    bounded(async {
        let good = EchoServer::start_named("good").await.unwrap();
        let bad = StatusServer::start(503).await.unwrap();
        let gw = Gateway::start(&single(
            &[target(good.addr()), target(bad.addr())],
            &[
                "load_balancing: {algorithm: round_robin}",
                "retries: {attempts: 0}",
                "health_check: {active: {path: /healthz, interval: 200ms, timeout: 150ms, \
                 healthy_threshold: 2, unhealthy_threshold: 2}}",
            ],
        ))
        .await
        .unwrap();
        let bad_key = bad.addr().to_string();
        let unhealthy = health_series("up", &bad_key, "unhealthy");
        let healthy = health_series("up", &bad_key, "healthy");

        // Two failed probes (~400 ms) mark it unhealthy.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        wait_until(
            "the 503 target to be reported unhealthy",
            Duration::from_secs(5),
            || async { (gw.metric(&unhealthy).await.unwrap() == Some(1.0)).then_some(()) },
        )
        .await;
        let before = traffic_count(&bad);
        let replies = get_ok_many(&gw, "/traffic", 20).await;
        assert_eq!(tally(&replies).get("good"), Some(&20));
        assert_eq!(
            traffic_count(&bad),
            before,
            "unhealthy target still got traffic"
        );
        assert!(
            bad.requests().iter().any(|r| r.uri.path() == "/healthz"),
            "no probe reached /healthz"
        );

        // Recovery: healthy_threshold (2) good probes.
        bad.set_status(200);
        let started = Instant::now();
        wait_until(
            "the target to be reported healthy",
            Duration::from_secs(5),
            || async { (gw.metric(&healthy).await.unwrap() == Some(1.0)).then_some(()) },
        )
        .await;
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "recovered too fast"
        );
        assert_eq!(gw.metric(&unhealthy).await.unwrap(), Some(0.0));
        let before = traffic_count(&bad);
        for i in 0..20 {
            let r = gw.get("/traffic").await.unwrap();
            assert_eq!(r.status, StatusCode::OK, "request {i}: {}", r.text());
        }
        let back = traffic_count(&bad) - before;
        assert!((8..=12).contains(&back), "restored target got {back} of 20");
    })
    .await;
}

// 7. Passive health: a refusing target is retried around, then ejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_health_ejects_a_refusing_target() {
    bounded(async {
        let good = EchoServer::start_named("good").await.unwrap();
        let dead_guard = DeadAddr::new().unwrap(); // Connections are refused while it lives.
        let dead = dead_guard.addr();
        let gw = Gateway::start(&single(
            &[target(dead), target(good.addr())],
            &[
                "load_balancing: {algorithm: round_robin}",
                "retries: {attempts: 1, on_connect_error: true}",
                "health_check: {passive: {consecutive_failures: 2, base_ejection: 60s}}",
            ],
        ))
        .await
        .unwrap();
        let n = 30;
        let replies = get_ok_many(&gw, "/passive", n).await;
        assert_eq!(tally(&replies).get("good"), Some(&n));
        let records = gw.wait_access_log(n).await;
        let retries: Vec<u64> = records.iter().map(retries_of).collect();
        let total: u64 = retries.iter().sum();
        assert_eq!(total, 2, "retries per request: {retries:?}");
        // After the two failures the dead target is never tried again.
        let last_retry = retries.iter().rposition(|r| *r > 0).unwrap();
        assert!(last_retry < 4, "retries per request: {retries:?}");
        assert!(retries[last_retry + 1..].iter().all(|r| *r == 0));
        for rec in &records {
            assert_eq!(rec["status"], 200, "{rec}");
            assert_eq!(rec["upstream_target"], good.addr().to_string(), "{rec}");
        }
        let ejected = health_series("up", &dead.to_string(), "ejected");
        assert_eq!(gw.metric(&ejected).await.unwrap(), Some(1.0));
    })
    .await;
}

// 8. Retries on a status: GET is retried on the other target, POST is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_on_status_for_idempotent_methods_only() {
    bounded(async {
        let good = EchoServer::start_named("good").await.unwrap();
        let bad = StatusServer::start(503).await.unwrap();
        let gw = Gateway::start(&single(
            &[target(bad.addr()), target(good.addr())],
            &[
                "load_balancing: {algorithm: round_robin}",
                "retries: {attempts: 1, on_statuses: [503], backoff: 1ms}",
            ],
        ))
        .await
        .unwrap();
        let n = 20;
        let replies = get_ok_many(&gw, "/retry", n).await;
        assert_eq!(tally(&replies).get("good"), Some(&n));
        let bad_gets = bad.request_count();
        assert!(bad_gets >= 5, "the 503 target saw only {bad_gets} GETs");

        let mut passed_through = 0;
        for i in 0..n {
            let r = gw
                .send(gw.client.post(gw.url("/retry")).body(format!("post {i}")))
                .await
                .unwrap();
            match r.status {
                StatusCode::OK => assert_eq!(r.upstream(), Some("good")),
                StatusCode::SERVICE_UNAVAILABLE => {
                    // The upstream's own (empty) answer, not a gateway error.
                    assert!(r.body.is_empty(), "503 body: {}", r.text());
                    passed_through += 1;
                }
                other => panic!("POST {i}: unexpected {other}: {}", r.text()),
            }
        }
        assert!(
            passed_through >= 5,
            "only {passed_through} POSTs got the 503"
        );
        assert_eq!(bad.request_count() - bad_gets, passed_through as u64);

        let records = gw.wait_access_log(2 * n).await;
        let (gets, posts): (Vec<&Value>, Vec<&Value>) =
            records.iter().partition(|r| r["method"] == "GET");
        assert_eq!(gets.len(), n);
        let retried = gets.iter().filter(|r| retries_of(r) == 1).count() as u64;
        assert_eq!(retried, bad_gets, "GET retries in the access log");
        for r in gets.iter().filter(|r| retries_of(r) == 1) {
            assert_eq!(r["status"], 200, "{r}");
            assert_eq!(r["upstream_target"], good.addr().to_string(), "{r}");
        }
        assert!(
            posts.iter().all(|r| retries_of(r) == 0),
            "a POST was retried"
        );
    })
    .await;
}

// 9. The retry budget keeps retries from doubling the load on a failing upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_budget_caps_retries() {
    bounded(async {
        let bad = StatusServer::start(503).await.unwrap();
        let gw = Gateway::start(&single(
            &[target(bad.addr())],
            &["retries: {attempts: 1, on_statuses: [503], backoff: 0ms, \
               budget: {ratio: 0.1, min_per_second: 1}}"],
        ))
        .await
        .unwrap();
        let n = 200u64;
        let started = Instant::now();
        let mut set = JoinSet::new();
        for w in 0..8 {
            let client = gw.client.clone();
            let base = gw.url("/budget");
            set.spawn(async move {
                for i in 0..n / 8 {
                    let r = common_upstreams::read_reply(client.get(format!("{base}/{w}/{i}")))
                        .await
                        .unwrap();
                    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text());
                }
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        let elapsed = started.elapsed();
        let seen = bad.request_count();
        eprintln!("retry budget: upstream saw {seen} for {n} requests in {elapsed:?}");
        // ratio × requests + min_per_second × 10 s window, plus slack.
        let cap = n + n / 10 + 10 + 5;
        assert!(seen > n, "no retry happened at all ({seen})");
        assert!(
            seen <= cap || elapsed > Duration::from_secs(10),
            "upstream saw {seen} requests for {n} client requests (cap {cap}, took {elapsed:?})"
        );
        assert!(seen < n * 3 / 2, "upstream saw {seen} requests for {n}");
        let records = gw.wait_access_log(n as usize).await;
        let retries: u64 = records.iter().map(retries_of).sum();
        assert_eq!(retries, seen - n, "access-log retries vs upstream count");
    })
    .await;
}

// 10. Circuit breaker: opens after consecutive failures, probes after open_duration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circuit_breaker_opens_and_probes() {
    bounded(async {
        let good = EchoServer::start_named("good").await.unwrap();
        let bad = StatusServer::start(500).await.unwrap();
        let gw = Gateway::start(&single(
            &[target(bad.addr()), target(good.addr())],
            &[
                "load_balancing: {algorithm: round_robin}",
                "retries: {attempts: 0}",
                "circuit_breaker: {consecutive_failures: 3, error_rate: 0, open_duration: 1s, \
                 half_open_probes: 1}",
            ],
        ))
        .await
        .unwrap();
        // Until three 500s have been seen.
        let mut sent = 0;
        while bad.request_count() < 3 {
            let r = gw.get("/cb").await.unwrap();
            assert!(matches!(r.status.as_u16(), 200 | 500), "{}", r.status);
            sent += 1;
            assert!(
                sent < 20,
                "the 500 target got only {} requests",
                bad.request_count()
            );
        }
        let opened = Instant::now();
        assert_eq!(bad.request_count(), 3);
        let open = health_series("up", &bad.addr().to_string(), "open");
        assert_eq!(gw.metric(&open).await.unwrap(), Some(1.0));

        // Open: nothing reaches it for the next 600 ms.
        let mut during = 0;
        while opened.elapsed() < Duration::from_millis(600) {
            let r = gw.get("/cb").await.unwrap();
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            during += 1;
        }
        assert!(during >= 5, "only {during} requests in 600 ms");
        assert_eq!(bad.request_count(), 3, "traffic reached an open breaker");

        // After open_duration: exactly one probe, which fails and reopens it.
        let wake = opened + Duration::from_millis(1300);
        tokio::time::sleep_until(wake.into()).await;
        let probe_phase = Instant::now();
        for _ in 0..10 {
            let r = gw.get("/cb").await.unwrap();
            assert!(matches!(r.status.as_u16(), 200 | 500), "{}", r.status);
        }
        if probe_phase.elapsed() < Duration::from_millis(900) {
            assert_eq!(
                bad.request_count(),
                4,
                "expected exactly one half-open probe"
            );
        } else {
            assert!(bad.request_count() >= 4, "no half-open probe");
        }
    })
    .await;
}

// 11a. Read timeout: 504 upstream_timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_timeout_gives_504() {
    bounded(async {
        let slow = DelayServer::start(Duration::from_secs(3)).await.unwrap();
        let gw = Gateway::start(&single(
            &[target(slow.addr())],
            &["retries: {attempts: 0}", "timeouts: {read: 300ms}"],
        ))
        .await
        .unwrap();
        let started = Instant::now();
        let r = gw.get("/slow").await.unwrap();
        let took = started.elapsed();
        assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT, "{}", r.text());
        assert_eq!(
            r.error_code().as_deref(),
            Some("upstream_timeout"),
            "{}",
            r.text()
        );
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_millis(2500),
            "took {took:?}"
        );
        let records = gw.wait_access_log(1).await;
        assert_eq!(records[0]["status"], 504);
        assert_eq!(records[0]["error"], "upstream_timeout");
    })
    .await;
}

// 11b. Idle timeout on the response body: the body is cut, Pylon keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_cuts_a_stalled_body() {
    bounded(async {
        let stalled = SlowBodyServer::start_with(SlowBodyConfig {
            chunks: 3,
            interval: Duration::from_secs(2),
            ..SlowBodyConfig::default()
        })
        .await
        .unwrap();
        let echo = EchoServer::start_named("echo").await.unwrap();
        let yaml = format!(
            "upstreams:\n{}{}routes:\n{}{}",
            upstream(
                "stalled",
                &[target(stalled.addr())],
                &["retries: {attempts: 0}", "timeouts: {idle: 300ms}"],
            ),
            upstream("echo", &[target(echo.addr())], &[]),
            route("stalled", "/stalled", "stalled", ""),
            route("echo", "/echo", "echo", ""),
        );
        let gw = Gateway::start(&yaml).await.unwrap();

        let started = Instant::now();
        let resp = gw.client.get(gw.url("/stalled")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.bytes().await;
        let took = started.elapsed();
        match body {
            Err(_) => {}
            Ok(b) => panic!(
                "body completed after {took:?} despite a 2 s stall: {:?}",
                String::from_utf8_lossy(&b)
            ),
        }
        assert!(
            took < Duration::from_millis(1800),
            "cut only after {took:?}"
        );

        let r = gw.get("/echo").await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.upstream(), Some("echo"));
        // The cut request is logged, with an error.
        let records = gw.wait_access_log(2).await;
        let cut = records
            .iter()
            .find(|r| r["path"] == "/stalled")
            .expect("no access-log record for the cut response");
        assert!(
            !cut["error"].is_null(),
            "cut response logged without error: {cut}"
        );
    })
    .await;
}

// 12. A target given by DNS name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_name_target_is_resolved() {
    bounded(async {
        let echo = EchoServer::start_named("named").await.unwrap();
        let gw = Gateway::start(&single(
            &[target(format!("localhost:{}", echo.addr().port()))],
            &["retries: {attempts: 0}"],
        ))
        .await
        .unwrap();
        let replies = get_ok_many(&gw, "/dns", 5).await;
        assert_eq!(tally(&replies).get("named"), Some(&5));
        let host = echo.last_request().unwrap();
        assert_eq!(
            host.header("host"),
            Some(format!("localhost:{}", echo.addr().port()).as_str())
        );
    })
    .await;
}

// 13. Keep-alive: sequential requests reuse upstream connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_reused() {
    bounded(async {
        let echo = EchoServer::start_named("echo").await.unwrap();
        let gw = Gateway::start(&single(&[target(echo.addr())], &[]))
            .await
            .unwrap();
        let replies = get_ok_many(&gw, "/keepalive", 50).await;
        assert_eq!(replies.len(), 50);
        // One connection for the start-up reachability probe, one for the
        // requests. A connection goes back to the pool in a task that runs
        // when its response body has ended, so on a loaded machine the next
        // request can now and then arrive first and open one more; 50
        // requests on at most 5 connections still shows reuse.
        assert!(
            echo.connections() <= 5,
            "50 sequential requests used {} upstream connections",
            echo.connections()
        );
        assert_eq!(echo.request_count(), 50);
    })
    .await;
}

// 14. No eligible target: JSON errors, never a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_eligible_target_gives_json_errors() {
    bounded(async {
        let dead1_guard = DeadAddr::new().unwrap(); // Connections are refused while it lives.
        let dead1 = dead1_guard.addr();
        let dead2_guard = DeadAddr::new().unwrap(); // Connections are refused while it lives.
        let dead2 = dead2_guard.addr();
        let gw = Gateway::start(&single(
            &[target(dead1), target(dead2)],
            &["health_check: {passive: {consecutive_failures: 1, base_ejection: 60s}}"],
        ))
        .await
        .unwrap();
        let check = |r: &Reply| {
            let code = r.error_code();
            match r.status {
                StatusCode::BAD_GATEWAY => {
                    assert_eq!(code.as_deref(), Some("upstream_connect"), "{}", r.text())
                }
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert_eq!(code.as_deref(), Some("no_healthy_upstream"), "{}", r.text())
                }
                other => panic!("unexpected {other}: {}", r.text()),
            }
            assert!(
                r.headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json")
            );
        };
        for _ in 0..10 {
            check(&gw.get("/none").await.unwrap());
        }
        // Concurrently, and with a body that cannot be retried (POST).
        let mut set = JoinSet::new();
        for i in 0..20 {
            let client = gw.client.clone();
            let url = gw.url("/none");
            set.spawn(async move {
                let req = if i % 2 == 0 {
                    client.get(url)
                } else {
                    client.post(url).body("x")
                };
                common_upstreams::read_reply(req).await
            });
        }
        while let Some(r) = set.join_next().await {
            check(&r.unwrap().unwrap());
        }
        let records = gw.wait_access_log(30).await;
        assert!(
            records
                .iter()
                .all(|r| r["status"] == 502 || r["status"] == 503)
        );
    })
    .await;
}

// 15. A reload that leaves an upstream unchanged keeps its connections and
// its passive-health ejections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_unchanged_upstream_state() {
    bounded(async {
        let good = EchoServer::start_named("good").await.unwrap();
        let dead_guard = DeadAddr::new().unwrap(); // Connections are refused while it lives.
        let dead = dead_guard.addr();
        let ups = upstream(
            "up",
            &[target(dead), target(good.addr())],
            &[
                "load_balancing: {algorithm: round_robin}",
                "health_check: {passive: {consecutive_failures: 1, base_ejection: 60s}}",
            ],
        );
        let before = format!("upstreams:\n{ups}routes:\n{}", route("all", "/", "up", ""));
        let gw = Gateway::start(&before).await.unwrap();
        get_ok_many(&gw, "/state", 10).await;
        let records = gw.wait_access_log(10).await;
        assert_eq!(records.iter().map(retries_of).sum::<u64>(), 1);
        let conns = good.connections();

        // Same upstream, one more (static) route.
        let after = format!(
            "upstreams:\n{ups}routes:\n{}  - {{name: ping, match: {{paths: [{{exact: /ping}}]}}, \
             respond: {{status: 200, body: pong}}}}\n",
            route("all", "/", "up", "")
        );
        gw.reload(&after).await.unwrap();
        let r = gw.get("/ping").await.unwrap();
        assert_eq!(r.text(), "pong");
        let replies = get_ok_many(&gw, "/state", 20).await;
        assert_eq!(tally(&replies).get("good"), Some(&20));
        let records = gw.wait_access_log(31).await;
        let after_reload: Vec<u64> = records[11..].iter().map(retries_of).collect();
        assert!(
            after_reload.iter().all(|r| *r == 0),
            "the ejected target was tried again after the reload: {after_reload:?}"
        );
        assert_eq!(
            good.connections(),
            conns,
            "the reload dropped the upstream's keep-alive connections"
        );
    })
    .await;
}

// 16. A target removed by reload disappears from the health metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_target_leaves_the_health_metrics() {
    bounded(async {
        let a = EchoServer::start_named("a").await.unwrap();
        let b = EchoServer::start_named("b").await.unwrap();
        let gw = Gateway::start(&single(&[target(a.addr()), target(b.addr())], &[]))
            .await
            .unwrap();
        let b_healthy = health_series("up", &b.addr().to_string(), "healthy");
        assert_eq!(gw.metric(&b_healthy).await.unwrap(), Some(1.0));
        gw.reload(&single(&[target(a.addr())], &[])).await.unwrap();
        get_ok_many(&gw, "/m", 3).await;
        let text = gw.metrics().await.unwrap();
        let a_healthy = health_series("up", &a.addr().to_string(), "healthy");
        assert_eq!(common_upstreams::metric_value(&text, &a_healthy), Some(1.0));
        let stale: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("pylon_upstream_target_health")
                    && l.contains(&format!("target=\"{}\"", b.addr()))
            })
            .collect();
        assert!(
            stale.is_empty(),
            "series of the removed target are still exported:\n{}",
            stale.join("\n")
        );
    })
    .await;
}
