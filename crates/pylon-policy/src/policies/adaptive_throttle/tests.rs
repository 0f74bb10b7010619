use std::time::Duration;

use serde_json::json;

use super::controller::{Controller, Settings};
use crate::shared::Shared;
use crate::testing::*;
use crate::{Chain, Reject};

fn settings() -> Settings {
    Settings {
        window_ms: 10_000,
        interval_ms: 1_000,
        latency_threshold_ms: Some(500),
        slow_share: 0.1,
        error_rate: Some(0.2),
        min_requests: 20,
        decrease: 0.5,
        increase: 0.1,
        min_admit: 0.05,
    }
}

/// Feed `n` responses at `at` ms, `errors` of them 5xx and `slow` of them slow.
fn feed(c: &mut Controller, s: &Settings, at: u64, n: u64, errors: u64, slow: u64) {
    for i in 0..n {
        let latency = if i < slow { 900 } else { 20 };
        c.record(s, at, latency, i < errors);
    }
}

fn admitted_of(c: &mut Controller, s: &Settings, at: u64, n: usize) -> usize {
    (0..n).filter(|_| c.admit(s, at)).count()
}

#[test]
fn healthy_traffic_is_all_admitted() {
    let s = settings();
    let mut c = Controller::new(&s, 0);
    for second in 0..30 {
        let at = second * 1000;
        assert_eq!(admitted_of(&mut c, &s, at, 50), 50);
        feed(&mut c, &s, at + 500, 50, 5, 4);
    }
    assert_eq!(c.snapshot(30_000).admit, 1.0);
}

#[test]
fn errors_halve_the_admitted_share_down_to_the_floor() {
    let s = settings();
    let mut c = Controller::new(&s, 0);
    feed(&mut c, &s, 100, 30, 15, 0);
    // Judged at the first interval: 50% errors > 20%.
    assert_eq!(admitted_of(&mut c, &s, 1000, 100), 50);
    assert_eq!(c.snapshot(1000).admit, 0.5);
    // The window was cleared: the next judgement needs new evidence.
    assert_eq!(c.snapshot(1000).total, 0);
    let mut expected = 0.5;
    for second in 1..10 {
        feed(&mut c, &s, second * 1000 + 500, 30, 30, 0);
        c.admit(&s, (second + 1) * 1000);
        expected = f64::max(expected * 0.5, 0.05);
        assert_eq!(c.snapshot((second + 1) * 1000).admit, expected);
    }
    assert_eq!(expected, 0.05);
    // At the floor one request in twenty still goes through, to probe.
    assert_eq!(admitted_of(&mut c, &s, 10_500, 100), 5);
}

#[test]
fn recovery_is_additive_and_counts_idle_intervals() {
    let s = settings();
    let mut c = Controller::new(&s, 0);
    feed(&mut c, &s, 100, 40, 40, 0);
    c.admit(&s, 1000);
    feed(&mut c, &s, 1100, 40, 40, 0);
    c.admit(&s, 2000);
    assert_eq!(c.snapshot(2000).admit, 0.25);
    // Healthy responses: +0.1 per interval.
    feed(&mut c, &s, 2100, 40, 0, 0);
    c.admit(&s, 3000);
    assert!((c.snapshot(3000).admit - 0.35).abs() < 1e-9);
    feed(&mut c, &s, 3100, 40, 0, 0);
    c.admit(&s, 4000);
    assert!((c.snapshot(4000).admit - 0.45).abs() < 1e-9);
    // Three idle intervals later: three steps at once.
    c.admit(&s, 7000);
    assert!((c.snapshot(7000).admit - 0.75).abs() < 1e-9);
    // Long idle: back to admitting everything.
    assert_eq!(admitted_of(&mut c, &s, 60_000, 20), 20);
    assert_eq!(c.snapshot(60_000).admit, 1.0);
}

#[test]
fn slow_responses_over_the_percentile_count_as_unhealthy() {
    let s = settings();
    let mut c = Controller::new(&s, 0);
    // p90 under 500 ms: 5 of 100 slow.
    feed(&mut c, &s, 100, 100, 0, 5);
    c.admit(&s, 1000);
    assert_eq!(c.snapshot(1000).admit, 1.0);
    // p90 over 500 ms: 15 of 100 slow (with the 5 before: 20 of 200 = 10%, not over).
    feed(&mut c, &s, 1100, 100, 0, 15);
    c.admit(&s, 2000);
    assert_eq!(c.snapshot(2000).admit, 1.0);
    feed(&mut c, &s, 2100, 100, 0, 30);
    c.admit(&s, 3000);
    assert_eq!(c.snapshot(3000).admit, 0.5);
}

#[test]
fn too_few_or_too_old_samples_are_not_judged() {
    let s = settings();
    let mut c = Controller::new(&s, 0);
    feed(&mut c, &s, 100, 19, 19, 19);
    c.admit(&s, 1000);
    assert_eq!(c.snapshot(1000).admit, 1.0);
    // Errors that left the 10 s window no longer count.
    let mut c = Controller::new(&s, 0);
    feed(&mut c, &s, 100, 40, 40, 0);
    c.admit(&s, 11_500);
    assert_eq!(c.snapshot(11_500).admit, 1.0);
}

// --- the policy in a chain, on tokio's paused clock ---

fn policy(config: serde_json::Value) -> serde_json::Value {
    json!([{ "name": "adaptive-throttle", "config": config }])
}

/// A request through `chain` answered with `status`; `Err` when shed.
async fn call(chain: &Chain, status: u16) -> Result<(), Reject> {
    let mut req = request("GET", "/", &[]);
    let mut ctx = ctx();
    run(chain, &mut req, &mut ctx).await?;
    let mut resp = response(status, &[], None);
    chain.on_response(&mut resp, &mut ctx)
}

async fn admitted(chain: &Chain, n: usize, status: u16) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        match call(chain, status).await {
            Ok(()) => ok += 1,
            Err(r) => {
                assert_eq!((r.status.as_u16(), r.code), (503, "overloaded"));
                assert!(
                    r.headers
                        .iter()
                        .any(|(k, v)| k == "retry-after" && v == "2")
                );
            }
        }
    }
    ok
}

#[tokio::test(start_paused = true)]
async fn the_policy_sheds_while_the_upstream_fails_and_recovers_after() {
    let shared = Shared::new();
    let cfg = || {
        config(
            policy(
                json!({ "min_requests": 10, "error_rate_threshold": 0.5, "retry_after": "1500ms" }),
            ),
            json!({}),
        )
    };
    let chain = chain_with(&cfg(), &shared);
    // A failing upstream: every response is a 502.
    assert_eq!(admitted(&chain, 20, 502).await, 20);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(admitted(&chain, 20, 502).await, 10);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(admitted(&chain, 20, 502).await, 5);
    // A reload keeps what was learnt.
    let reloaded = chain_with(&cfg(), &shared);
    tokio::time::advance(Duration::from_secs(1)).await;
    // Only 5 were admitted last interval (< 10): not judged, so +0.1.
    assert_eq!(admitted(&reloaded, 20, 200).await, 7);
    // Healthy from now on: back to everything within a few seconds.
    for _ in 0..7 {
        tokio::time::advance(Duration::from_secs(1)).await;
        admitted(&reloaded, 20, 200).await;
    }
    assert_eq!(admitted(&reloaded, 20, 200).await, 20);
}

#[tokio::test(start_paused = true)]
async fn client_errors_and_fast_answers_do_not_trigger_shedding() {
    let chain = chain(
        policy(
            json!({ "min_requests": 1, "latency_threshold": "1s", "interval": "10ms", "window": "10ms" }),
        ),
        json!({}),
    );
    for _ in 0..5 {
        assert_eq!(admitted(&chain, 20, 404).await, 20);
        tokio::time::advance(Duration::from_millis(15)).await;
    }
}

#[test]
fn bad_configs_name_the_field() {
    let errs = |c: serde_json::Value| config_errors(policy(c), json!({}));
    let at = "routes[0].policies[0].config";
    assert_eq!(
        errs(json!({ "error_rate_threshold": null })),
        vec![format!(
            "{at}.latency_threshold: set `latency_threshold` or `error_rate_threshold` (or both)"
        )]
    );
    assert_eq!(
        errs(json!({ "decrease": 1.0 })),
        vec![format!("{at}.decrease: must be between 0 and 1")]
    );
    assert_eq!(
        errs(json!({ "min_admit": 0.0 })),
        vec![format!("{at}.min_admit: must be in (0, 1]")]
    );
    assert_eq!(
        errs(json!({ "window": "1s", "interval": "2s" })),
        vec![format!("{at}.window: must be at least `interval`")]
    );
    assert_eq!(
        errs(json!({ "latency_percentile": 1.0 })),
        vec![format!(
            "{at}.latency_percentile: must be between 0 and 1 (e.g. 0.9)"
        )]
    );
    assert!(
        errs(json!({ "latency_threshold": "soon" }))[0]
            .starts_with(&format!("{at}.latency_threshold:"))
    );
}
