//! Integration-style tests of `Upstream`: selection, health, ejection,
//! breakers, background tasks.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use pylon_config::{
    ActiveHealthCheck, CircuitBreakerConfig, DnsConfig, HashOn, HealthCheckConfig, LoadBalancing,
    PassiveHealthCheck, PoolConfig, TargetConfig, UpstreamConfig,
};
use tokio::time::advance;

use super::*;

fn cfg(addrs: &[&str]) -> UpstreamConfig {
    UpstreamConfig {
        tenant: "default".into(),
        name: "api".into(),
        targets: addrs
            .iter()
            .map(|a| TargetConfig {
                address: (*a).into(),
                weight: 1,
            })
            .collect(),
        load_balancing: LoadBalancing::RoundRobin,
        protocol: Default::default(),
        tls: Default::default(),
        pool: Default::default(),
        timeouts: Default::default(),
        health_check: Default::default(),
        circuit_breaker: None,
        retries: Default::default(),
        dns: Default::default(),
    }
}

const THREE: [&str; 3] = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"];

fn passive_cfg() -> HealthCheckConfig {
    HealthCheckConfig {
        active: None,
        passive: Some(PassiveHealthCheck {
            consecutive_failures: 2,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(60),
        }),
    }
}

fn picks(up: &Upstream, n: usize) -> Vec<usize> {
    (0..n)
        .map(|_| up.select(&HashInput::none(), &[]).map_or(99, |s| s.index()))
        .collect()
}

fn fail(up: &Upstream, idx: usize) {
    let sel = loop {
        let s = up.select(&HashInput::none(), &[]).unwrap();
        if s.index() == idx {
            break s;
        }
    };
    up.report(&sel, Outcome::failure(Duration::from_millis(1)));
}

#[test]
fn shared_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Upstream>();
    check::<Target>();
    check::<Selection>();
    check::<ProbeTarget>();
}

#[test]
fn new_rejects_bad_configs() {
    assert!(matches!(
        Upstream::new(&cfg(&[])),
        Err(UpstreamError::NoTargets { .. })
    ));
    let e = Upstream::new(&cfg(&["nope"])).unwrap_err();
    assert!(e.to_string().contains("invalid target `nope`"), "{e}");
    let mut c = cfg(&THREE);
    c.load_balancing = LoadBalancing::ConsistentHash {
        hash_on: HashOn::Header("bad name".into()),
    };
    assert!(matches!(
        Upstream::new(&c),
        Err(UpstreamError::InvalidHashKey { .. })
    ));
}

#[test]
fn targets_expose_config_and_addresses() {
    let up = Upstream::new(&cfg(&["10.0.0.1:80", "https://api.example.com"])).unwrap();
    let [a, b] = up.targets() else {
        panic!("two targets")
    };
    assert_eq!(a.key(), "10.0.0.1:80");
    assert_eq!(
        a.resolved(),
        vec!["10.0.0.1:80".parse::<SocketAddr>().unwrap()]
    );
    assert!(b.addr().tls);
    assert_eq!(b.addr().port, 443);
    assert!(b.resolved().is_empty());
    assert_eq!(a.state_label(), "healthy");
    assert_eq!(&*a.key_arc(), "10.0.0.1:80");
    let source = up.addr_source();
    assert_eq!(source.lookup("10.0.0.1", 80), a.resolved());
    assert!(source.lookup("10.0.0.1", 81).is_empty());
    assert!(source.lookup("API.example.com", 443).is_empty());
    b.set_resolved(vec!["10.2.0.1:443".parse().unwrap()]);
    assert_eq!(source.lookup("API.example.com", 443), b.resolved());
    assert_eq!(up.name(), "api");
    assert_eq!(up.config().targets.len(), 2);
}

#[test]
fn in_flight_guard_counts_and_cap() {
    let mut c = cfg(&THREE[..2]);
    c.pool = PoolConfig {
        max_requests_per_target: Some(2),
        ..Default::default()
    };
    let up = Upstream::new(&c).unwrap();
    let held: Vec<Selection> = (0..4)
        .map(|_| up.select(&HashInput::none(), &[]).unwrap())
        .collect();
    assert_eq!(up.targets()[0].in_flight(), 2);
    assert_eq!(up.targets()[1].in_flight(), 2);
    // Both at the cap: nothing is eligible, even in panic mode.
    assert!(up.select(&HashInput::none(), &[]).is_none());
    drop(held);
    assert_eq!(up.targets()[0].in_flight(), 0);
    assert_eq!(up.targets()[1].in_flight(), 0);
    assert!(up.select(&HashInput::none(), &[]).is_some());
}

#[test]
fn exclude_list_is_respected() {
    let up = Upstream::new(&cfg(&THREE)).unwrap();
    for _ in 0..10 {
        let s = up.select(&HashInput::none(), &[0, 2]).unwrap();
        assert_eq!(s.index(), 1);
    }
    assert!(up.select(&HashInput::none(), &[0, 1, 2]).is_none());
}

#[tokio::test(start_paused = true)]
async fn skips_unhealthy_and_panics_when_none_is_healthy() {
    let up = Upstream::new(&cfg(&THREE)).unwrap();
    up.targets()[1].set_healthy(false);
    assert_eq!(up.targets()[1].state_label(), "unhealthy");
    assert!(picks(&up, 30).iter().all(|i| *i != 1));
    // A healthy target excluded does not trigger panic mode.
    assert!(up.select(&HashInput::none(), &[0, 2]).is_none());
    for t in up.targets() {
        t.set_healthy(false);
    }
    let mut seen = picks(&up, 30);
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, [0, 1, 2], "panic mode balances over all targets");
    // Exclusions still apply in panic mode.
    assert_eq!(up.select(&HashInput::none(), &[0, 1]).unwrap().index(), 2);
}

#[tokio::test(start_paused = true)]
async fn reported_failures_eject_and_success_resets() {
    let mut c = cfg(&THREE);
    c.health_check = passive_cfg();
    let up = Upstream::new(&c).unwrap();
    fail(&up, 0);
    // A success in between resets the streak.
    let s = up.select(&HashInput::none(), &[0, 2]).unwrap();
    up.report(&s, Outcome::success(Duration::from_millis(1)));
    let s = up.select(&HashInput::none(), &[1, 2]).unwrap();
    up.report(&s, Outcome::success(Duration::from_millis(1)));
    fail(&up, 0);
    assert!(!up.targets()[0].is_ejected());
    fail(&up, 0);
    assert!(up.targets()[0].is_ejected());
    assert_eq!(up.targets()[0].state_label(), "ejected");
    assert!(picks(&up, 20).iter().all(|i| *i != 0));
    advance(Duration::from_secs(10)).await;
    assert!(!up.targets()[0].is_ejected());
    assert!(picks(&up, 6).contains(&0));
}

#[tokio::test(start_paused = true)]
async fn last_healthy_target_is_not_ejected() {
    let mut c = cfg(&THREE[..2]);
    c.health_check = passive_cfg();
    let up = Upstream::new(&c).unwrap();
    fail(&up, 0);
    fail(&up, 0);
    assert!(up.targets()[0].is_ejected());
    for _ in 0..5 {
        fail(&up, 1);
    }
    assert!(
        !up.targets()[1].is_ejected(),
        "the last healthy target stays"
    );
    assert_eq!(picks(&up, 5), [1, 1, 1, 1, 1]);
}

#[tokio::test(start_paused = true)]
async fn report_counts_once_and_feeds_breaker() {
    let mut c = cfg(&THREE[..2]);
    c.circuit_breaker = Some(CircuitBreakerConfig {
        consecutive_failures: 2,
        error_rate: 0.0,
        open_duration: Duration::from_secs(5),
        half_open_probes: 1,
        ..Default::default()
    });
    let up = Upstream::new(&c).unwrap();
    let s = up.select(&HashInput::none(), &[1]).unwrap();
    up.report(&s, Outcome::failure(Duration::ZERO));
    // A second report of the same selection is ignored.
    up.report(&s, Outcome::failure(Duration::ZERO));
    drop(s);
    assert_eq!(up.targets()[0].breaker_state(), Some(BreakerState::Closed));
    fail(&up, 0);
    assert_eq!(up.targets()[0].breaker_state(), Some(BreakerState::Open));
    assert_eq!(up.targets()[0].state_label(), "open");
    assert!(picks(&up, 10).iter().all(|i| *i == 1));
    // Open breakers are not bypassed by panic mode.
    assert!(up.select(&HashInput::none(), &[1]).is_none());

    advance(Duration::from_secs(5)).await;
    let probe = up.select(&HashInput::none(), &[1]).unwrap();
    assert!(probe.is_probe());
    assert!(
        up.select(&HashInput::none(), &[1]).is_none(),
        "one probe at a time"
    );
    // Dropped without a report: the probe slot comes back.
    drop(probe);
    let probe = up.select(&HashInput::none(), &[1]).unwrap();
    up.report(&probe, Outcome::success(Duration::from_millis(3)));
    assert_eq!(up.targets()[0].breaker_state(), Some(BreakerState::Closed));
}

#[test]
fn consistent_hash_selection_is_sticky() {
    let mut c = cfg(&THREE);
    c.load_balancing = LoadBalancing::ConsistentHash {
        hash_on: HashOn::Header("x-user".into()),
    };
    let up = Upstream::new(&c).unwrap();
    let mut headers = http::HeaderMap::new();
    let mut owners = HashMap::new();
    for user in ["ann", "bob", "cid", "dan", "eve"] {
        headers.insert("x-user", http::HeaderValue::from_static(user));
        let input = HashInput::new(&headers, None, "/");
        let first = up.select(&input, &[]).unwrap().index();
        for _ in 0..5 {
            assert_eq!(up.select(&input, &[]).unwrap().index(), first);
        }
        // The retry goes elsewhere, deterministically.
        let next = up.select(&input, &[first]).unwrap().index();
        assert_ne!(next, first);
        owners.insert(user, first);
    }
    assert!(owners.values().any(|i| *i != owners["ann"]), "{owners:?}");
}

#[tokio::test(start_paused = true)]
async fn peak_ewma_upstream_prefers_fast_target() {
    let mut c = cfg(&THREE);
    c.load_balancing = LoadBalancing::PeakEwma {
        decay: Duration::from_secs(10),
    };
    let up = Upstream::new(&c).unwrap();
    for (idx, ms) in [(0, 5), (1, 400), (2, 6)] {
        let s = up.select(&HashInput::none(), &[]).unwrap();
        let s = if s.index() == idx {
            s
        } else {
            drop(s);
            let ex: Vec<usize> = (0..3).filter(|i| *i != idx).collect();
            up.select(&HashInput::none(), &ex).unwrap()
        };
        up.report(&s, Outcome::success(Duration::from_millis(ms)));
    }
    assert!(picks(&up, 100).iter().all(|i| *i != 1));
}

#[test]
fn carry_over_only_when_unchanged() {
    let c = cfg(&THREE);
    let up = Upstream::new(&c).unwrap();
    let same = Upstream::carry_over(&up, &c.clone()).unwrap();
    assert!(Arc::ptr_eq(&up, &same));
    let mut changed = c;
    changed.targets[0].weight = 3;
    assert!(Upstream::carry_over(&up, &changed).is_none());
}

/// A probe whose answer per target key the test can change.
fn fake_probe(
    answers: Arc<Mutex<HashMap<String, Result<u16, String>>>>,
    calls: Arc<AtomicU32>,
) -> ProbeFn {
    Arc::new(move |t: ProbeTarget| {
        calls.fetch_add(1, Ordering::Relaxed);
        let answer = answers
            .lock()
            .get(t.target.key())
            .cloned()
            .unwrap_or(Ok(200));
        Box::pin(async move {
            if answer == Ok(0) {
                // Never answers: exercises the timeout.
                std::future::pending::<()>().await;
            }
            answer
        })
    })
}

fn active_cfg() -> HealthCheckConfig {
    HealthCheckConfig {
        active: Some(ActiveHealthCheck {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            ..Default::default()
        }),
        passive: None,
    }
}

/// Let spawned tasks run at the current (paused) instant.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn active_checks_flip_health_with_thresholds() {
    let mut c = cfg(&THREE[..2]);
    c.health_check = active_cfg();
    let up = Upstream::new(&c).unwrap();
    let answers = Arc::new(Mutex::new(HashMap::new()));
    answers.lock().insert("10.0.0.1:80".to_string(), Ok(503));
    answers.lock().insert("10.0.0.2:80".to_string(), Ok(0));
    let calls = Arc::new(AtomicU32::new(0));
    up.start(Some(fake_probe(answers.clone(), calls.clone())));
    // Probes at 0 s, 5 s, 10 s: the third failure marks target 1 (503)
    // unhealthy at once and target 2 (no answer) when its probe times out.
    settle().await;
    for _ in 0..2 {
        advance(Duration::from_secs(5)).await;
        settle().await;
    }
    assert!(!up.targets()[0].is_healthy());
    assert!(up.targets()[1].is_healthy());
    advance(Duration::from_secs(1)).await;
    settle().await;
    assert!(!up.targets()[1].is_healthy());
    assert_eq!(up.targets()[1].state_label(), "unhealthy");
    // Recovery needs two successes in a row (probes at 15 s and 20 s).
    answers.lock().clear();
    advance(Duration::from_secs(4)).await;
    settle().await;
    assert!(!up.targets()[0].is_healthy());
    advance(Duration::from_secs(5)).await;
    settle().await;
    assert!(up.targets()[0].is_healthy());
    assert!(up.targets()[1].is_healthy());

    // Stopping ends the task: no more probes.
    up.stop();
    settle().await;
    let before = calls.load(Ordering::Relaxed);
    advance(Duration::from_secs(30)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::Relaxed), before);
}

#[tokio::test(start_paused = true)]
async fn health_task_ends_when_upstream_is_dropped() {
    let mut c = cfg(&THREE[..1]);
    c.health_check = active_cfg();
    let up = Upstream::new(&c).unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    up.start(Some(fake_probe(Arc::default(), calls.clone())));
    // Starting twice spawns nothing more.
    up.start(Some(fake_probe(Arc::default(), calls.clone())));
    settle().await;
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    let target = up.targets()[0].clone();
    drop(up);
    advance(Duration::from_secs(30)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert!(target.is_healthy());
}

/// A lookup answering from a script: each call pops the next answer (the
/// last one repeats).
fn scripted_lookup(script: Vec<Result<Resolved, String>>, calls: Arc<AtomicU32>) -> LookupFn {
    let script = Arc::new(Mutex::new(script));
    Arc::new(move |_host: String| {
        calls.fetch_add(1, Ordering::Relaxed);
        let mut s = script.lock();
        let answer = if s.len() > 1 {
            s.remove(0)
        } else {
            s[0].clone()
        };
        Box::pin(async move { answer })
    })
}

fn ips(last: &[u8]) -> Vec<IpAddr> {
    last.iter()
        .map(|b| IpAddr::V4(Ipv4Addr::new(10, 1, 0, *b)))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn dns_refreshes_on_clamped_ttl_and_keeps_last_good() {
    let mut c = cfg(&["backend.internal:8080", "10.0.0.9:80"]);
    c.dns = DnsConfig {
        min_ttl: Duration::from_secs(5),
        max_ttl: Duration::from_secs(60),
    };
    let up = Upstream::new(&c).unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let lookup = scripted_lookup(
        vec![
            // TTL 1 s is raised to min_ttl 5 s.
            Ok(Resolved {
                ips: ips(&[2, 1]),
                ttl: Some(Duration::from_secs(1)),
            }),
            // TTL 3600 s is cut to max_ttl 60 s.
            Ok(Resolved {
                ips: ips(&[3]),
                ttl: Some(Duration::from_secs(3600)),
            }),
            Err("SERVFAIL".into()),
            Ok(Resolved {
                ips: ips(&[4]),
                ttl: None,
            }),
        ],
        calls.clone(),
    );
    up.start_with_lookup(None, lookup);
    settle().await;
    let t = up.targets()[0].clone();
    let sa = |b: u8| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 1, 0, b)), 8080);
    assert_eq!(t.resolved(), vec![sa(1), sa(2)]);
    assert_eq!(
        calls.load(Ordering::Relaxed),
        1,
        "IP literals need no lookup"
    );
    advance(Duration::from_secs(5)).await;
    settle().await;
    assert_eq!(t.resolved(), vec![sa(3)]);
    advance(Duration::from_secs(59)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    advance(Duration::from_secs(1)).await;
    settle().await;
    // The refresh failed: last good addresses stay; retry after min_ttl.
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert_eq!(t.resolved(), vec![sa(3)]);
    advance(Duration::from_secs(5)).await;
    settle().await;
    assert_eq!(t.resolved(), vec![sa(4)]);
    // No TTL: DEFAULT_TTL (30 s) within the bounds.
    advance(Duration::from_secs(29)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::Relaxed), 4);
    advance(Duration::from_secs(1)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::Relaxed), 5);
    up.stop();
    settle().await;
    advance(Duration::from_secs(300)).await;
    settle().await;
    assert_eq!(calls.load(Ordering::Relaxed), 5);
}

#[test]
fn ttl_clamp() {
    let d = DnsConfig {
        min_ttl: Duration::from_secs(2),
        max_ttl: Duration::from_secs(10),
    };
    assert_eq!(clamp_ttl(Some(Duration::ZERO), &d), Duration::from_secs(2));
    assert_eq!(
        clamp_ttl(Some(Duration::from_secs(7)), &d),
        Duration::from_secs(7)
    );
    assert_eq!(clamp_ttl(None, &d), Duration::from_secs(10));
}

#[tokio::test]
async fn system_lookup_resolves_localhost() {
    let lookup = system_lookup();
    let r = tokio::time::timeout(Duration::from_secs(20), lookup("localhost".into()))
        .await
        .expect("lookup finished")
        .expect("localhost resolves");
    assert!(r.ips.iter().all(|ip| ip.is_loopback()), "{r:?}");
}
