//! The Redis backend against the real Redis at 127.0.0.1:6379 (CI starts
//! one). These tests fail, rather than skip, when it is not there. Each test
//! uses its own key prefix and deletes its keys at the end.

use std::time::{Duration, Instant};

use pylon_store::counters::{
    Actual, Allowance, CounterError, Counters, Gcra, RedisConfig, RedisCounters, Reply, Reserved,
    Window,
};

/// `PYLON_TEST_REDIS_URL` (set by scripts/test), else the local default.
fn url() -> String {
    std::env::var("PYLON_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Counters under a prefix of their own, and a guard deleting its keys.
fn counters(prefix: &str) -> RedisCounters {
    let mut cfg = RedisConfig::new(url());
    cfg.prefix = prefix.to_string();
    cfg.timeout = Duration::from_secs(2);
    RedisCounters::new(cfg).expect("valid url")
}

fn unique_prefix(test: &str) -> String {
    format!("pylon:rl:test:{test}:{}:", uuid::Uuid::new_v4().simple())
}

async fn cleanup(prefix: &str) {
    let client = redis::Client::open(url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis at 127.0.0.1:6379 must be running for these tests");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("DEL");
    }
}

async fn ttl_ms(key: &str) -> i64 {
    let client = redis::Client::open(url()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("PTTL")
}

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test took over 20 s")
}

#[tokio::test]
async fn gcra_burst_then_refusal_with_retry_after() {
    bounded(async {
        let prefix = unique_prefix("gcra");
        let c = counters(&prefix);
        let limit = Gcra::new(5, Duration::from_secs(60), 5).expect("limit");
        for left in (0..5).rev() {
            let d = c.gcra("k", &limit, 1).resolve().await.expect("redis");
            assert!(d.allowed);
            assert_eq!((d.limit, d.remaining), (5, left));
        }
        let d = c.gcra("k", &limit, 1).resolve().await.expect("redis");
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        // The five ran within a moment: the next slot is ~12 s away.
        assert!(
            d.retry_after > Duration::from_secs(11) && d.retry_after <= Duration::from_secs(12),
            "{d:?}"
        );
        assert!(d.reset_after > Duration::from_secs(59), "{d:?}");
        // The key expires when the bucket would be full again.
        let ttl = ttl_ms(&format!("{prefix}g:k")).await;
        assert!((59_000..=60_000).contains(&ttl), "ttl {ttl}");
        cleanup(&prefix).await;
    })
    .await;
}

#[tokio::test]
async fn three_nodes_share_one_sliding_window_exactly() {
    bounded(async {
        let prefix = unique_prefix("window");
        // Three "nodes": separate connections, one limit of 100 per hour.
        let nodes = [counters(&prefix), counters(&prefix), counters(&prefix)];
        let limit = Window::new(100, Duration::from_secs(3600)).expect("limit");
        let mut tasks = Vec::new();
        for node in nodes.clone() {
            tasks.push(tokio::spawn(async move {
                let mut admitted = 0;
                for _ in 0..60 {
                    let d = node
                        .sliding_window("k", &limit, 1)
                        .resolve()
                        .await
                        .expect("redis");
                    admitted += usize::from(d.allowed);
                }
                admitted
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("task");
        }
        assert_eq!(total, 100);
        let d = nodes[0]
            .sliding_window("k", &limit, 1)
            .resolve()
            .await
            .expect("redis");
        assert!(!d.allowed);
        assert_eq!((d.limit, d.remaining), (100, 0));
        assert!(d.retry_after > Duration::ZERO);
        let ttl = ttl_ms(&format!("{prefix}w:k")).await;
        assert!(ttl > 3_600_000 && ttl <= 7_200_000, "ttl {ttl}");
        cleanup(&prefix).await;
    })
    .await;
}

#[tokio::test]
async fn concurrency_leases_are_released_and_expire() {
    bounded(async {
        let prefix = unique_prefix("lease");
        let c = counters(&prefix);
        let ttl = Duration::from_secs(60);
        let a = c.acquire("k", 2, ttl).resolve().await.expect("redis");
        let b = c.acquire("k", 2, ttl).resolve().await.expect("redis");
        assert!(a.is_some() && b.is_some());
        assert!(
            c.acquire("k", 2, ttl)
                .resolve()
                .await
                .expect("redis")
                .is_none()
        );
        // Dropping a lease releases it in the background.
        drop(a);
        let deadline = Instant::now() + Duration::from_secs(5);
        let again = loop {
            if let Some(l) = c.acquire("k", 2, ttl).resolve().await.expect("redis") {
                break l;
            }
            assert!(Instant::now() < deadline, "released lease never came back");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            c.acquire("k", 2, ttl)
                .resolve()
                .await
                .expect("redis")
                .is_none()
        );
        drop((b, again));

        // A lease that is never released (its node crashed) frees its slot after the TTL.
        let short = Duration::from_millis(200);
        let lost = c.acquire("crash", 1, short).resolve().await.expect("redis");
        assert!(lost.is_some());
        std::mem::forget(lost);
        assert!(
            c.acquire("crash", 1, short)
                .resolve()
                .await
                .expect("redis")
                .is_none()
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if c.acquire("crash", 1, short)
                .resolve()
                .await
                .expect("redis")
                .is_some()
            {
                break;
            }
            assert!(Instant::now() < deadline, "the lost lease never expired");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        cleanup(&prefix).await;
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_hang() {
    bounded(async {
        // A listener that never accepts (kept open for the whole test, so
        // the port cannot be reused): Redis never answers there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut cfg = RedisConfig::new(format!("redis://127.0.0.1:{port}"));
        cfg.timeout = Duration::from_millis(300);
        let c = RedisCounters::new(cfg).expect("valid url");
        let limit = Gcra::new(1, Duration::from_secs(1), 1).expect("limit");
        let started = Instant::now();
        let reply = c.gcra("k", &limit, 1);
        assert!(matches!(reply, Reply::Pending(_)));
        let err = reply.resolve().await.expect_err("no Redis there");
        assert!(
            matches!(err, CounterError::Backend(_) | CounterError::Timeout(_)),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        // It stays an error (and bounded) on the next call too.
        assert!(c.gcra("k", &limit, 1).resolve().await.is_err());
        assert!(RedisCounters::new(RedisConfig::new("not a url")).is_err());
        drop(listener);
    })
    .await;
}

/// 100 concurrent reservations from three "nodes" against one pot: exactly as many are
/// held as fit, and settling the actual amounts leaves spent within the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservations_from_three_nodes_never_overspend() {
    let prefix = unique_prefix("reserve");
    let nodes = [counters(&prefix), counters(&prefix), counters(&prefix)];
    let lines = |amount| {
        vec![Allowance {
            key: "budget".into(),
            limit: 1_000,
            amount,
            lifetime: Duration::from_secs(60),
        }]
    };
    let mut tasks = Vec::new();
    for i in 0..100 {
        let node = nodes[i % 3].clone();
        let lines = lines(30);
        tasks.push(tokio::spawn(async move {
            let id = format!("call{i}");
            let r = node
                .reserve(&id, &lines, Duration::from_secs(30))
                .resolve()
                .await;
            if r.expect("reserve") != Reserved::Held {
                return 0;
            }
            let settle = [Actual {
                key: "budget".into(),
                amount: 29,
                lifetime: Duration::from_secs(60),
            }];
            node.settle(&id, &settle).resolve().await.expect("settle");
            1
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        admitted += bounded(t).await.expect("task");
    }
    let (spent, reserved) = nodes[0].pot_usage("budget").resolve().await.unwrap();
    // Reservations are made while others settle, so between 33 and 34 fit (34 × 29 = 986).
    assert!((33..=34).contains(&admitted), "admitted {admitted}");
    assert_eq!(reserved, 0);
    assert_eq!(spent, admitted * 29);
    assert!(spent <= 1_000);
    // An exhausted pot refuses a call of unknown cost.
    let fill = nodes[1].reserve("fill", &lines(1_000 - spent), Duration::from_secs(5));
    assert_eq!(fill.resolve().await.unwrap(), Reserved::Held);
    let zero = nodes[2].reserve("zero", &lines(0), Duration::from_secs(5));
    assert!(matches!(
        zero.resolve().await.unwrap(),
        Reserved::Refused { .. }
    ));
    cleanup(&prefix).await;
}

/// A reservation never settled (its node died) is dropped after its ttl.
#[tokio::test]
async fn an_unsettled_reservation_expires() {
    let prefix = unique_prefix("reserve-ttl");
    let c = counters(&prefix);
    let line = |amount| Allowance {
        key: "tpm".into(),
        limit: 100,
        amount,
        lifetime: Duration::from_secs(60),
    };
    let r = c.reserve("dead", &[line(100)], Duration::from_millis(200));
    assert_eq!(bounded(r.resolve()).await.unwrap(), Reserved::Held);
    let refused = c.reserve("next", &[line(1)], Duration::from_secs(5));
    assert!(matches!(
        refused.resolve().await.unwrap(),
        Reserved::Refused { reserved: 100, .. }
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = c.reserve("next", &[line(1)], Duration::from_secs(5));
    assert_eq!(again.resolve().await.unwrap(), Reserved::Held);
    assert!(ttl_ms(&format!("{prefix}p:tpm")).await > 50_000);
    cleanup(&prefix).await;
}
