use std::sync::Arc;
use std::time::Duration;

use super::*;

const MIN: Duration = Duration::from_secs(60);

/// Local counters on a manual clock at a minute boundary, swept every minute.
fn local() -> (LocalCounters, ManualClock) {
    let clock = ManualClock::new(Duration::from_secs(1_700_000_040));
    let counters = LocalCounters::with_clock(Arc::new(clock.clone()), MIN);
    (counters, clock)
}

fn gcra(limit: u64, period: Duration, burst: u64) -> Gcra {
    Gcra::new(limit, period, burst).expect("valid")
}

fn window(limit: u64, w: Duration) -> Window {
    Window::new(limit, w).expect("valid")
}

#[test]
fn gcra_admits_the_burst_then_one_per_interval() {
    let (c, clock) = local();
    let l = gcra(5, MIN, 5);
    for left in (0..5).rev() {
        let d = c.check_gcra("k", &l, 1);
        assert!(d.allowed);
        assert_eq!((d.limit, d.remaining), (5, left));
        assert_eq!(d.retry_after, Duration::ZERO);
    }
    let d = c.check_gcra("k", &l, 1);
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    // One more every 12 s; the bucket is full again after 60 s.
    assert_eq!(d.retry_after, Duration::from_secs(12));
    assert_eq!(d.reset_after, MIN);
    // A refused request costs nothing.
    clock.advance(Duration::from_secs(12) - Duration::from_micros(1));
    assert!(!c.check_gcra("k", &l, 1).allowed);
    clock.advance(Duration::from_micros(1));
    let d = c.check_gcra("k", &l, 1);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
    assert!(!c.check_gcra("k", &l, 1).allowed);
    // Other keys are independent.
    assert!(c.check_gcra("other", &l, 1).allowed);
}

#[test]
fn gcra_burst_smaller_than_the_rate() {
    let (c, clock) = local();
    // 10 per second, at most 2 at once.
    let l = gcra(10, Duration::from_secs(1), 2);
    assert!(c.check_gcra("k", &l, 1).allowed);
    assert!(c.check_gcra("k", &l, 1).allowed);
    let d = c.check_gcra("k", &l, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Duration::from_millis(100));
    clock.advance(Duration::from_millis(100));
    assert!(c.check_gcra("k", &l, 1).allowed);
    // After a long pause only the burst is available, not the whole idle time.
    clock.advance(Duration::from_secs(10));
    let admitted = (0..10).filter(|_| c.check_gcra("k", &l, 1).allowed).count();
    assert_eq!(admitted, 2);
    // A cost above the burst is never admitted.
    clock.advance(Duration::from_secs(10));
    assert!(!c.check_gcra("k", &l, 3).allowed);
    assert!(c.check_gcra("k", &l, 2).allowed);
}

#[test]
fn window_admits_exactly_the_limit_within_one_window() {
    let (c, _clock) = local();
    let l = window(100, MIN);
    let admitted = (0..150)
        .filter(|_| c.check_window("k", &l, 1).allowed)
        .count();
    assert_eq!(admitted, 100);
    let d = c.check_window("k", &l, 1);
    assert_eq!((d.allowed, d.limit, d.remaining), (false, 100, 0));
    // The next window starts in 60 s; then 100 × (1 − e/60 s) ≤ 99 needs e ≥ 0.6 s.
    assert_eq!(d.retry_after, Duration::from_millis(60_600));
    assert_eq!(d.reset_after, Duration::from_secs(120));
}

#[test]
fn window_weighs_the_previous_window() {
    let (c, clock) = local();
    let l = window(100, MIN);
    for _ in 0..100 {
        assert!(c.check_window("k", &l, 1).allowed);
    }
    // Halfway into the next window the previous 100 weigh 50.
    clock.advance(MIN + MIN / 2);
    let first = c.check_window("k", &l, 1);
    assert!(first.allowed);
    assert_eq!(first.remaining, 49);
    let more = (0..100)
        .filter(|_| c.check_window("k", &l, 1).allowed)
        .count();
    assert_eq!(more, 49);
    let refused = c.check_window("k", &l, 1);
    assert!(!refused.allowed);
    // Waiting exactly retry_after admits the next one, a microsecond less does not.
    clock.advance(refused.retry_after - Duration::from_micros(1));
    assert!(!c.check_window("k", &l, 1).allowed);
    clock.advance(Duration::from_micros(1));
    assert!(c.check_window("k", &l, 1).allowed);
    // Two windows later nothing counts.
    clock.advance(2 * MIN);
    let d = c.check_window("k", &l, 1);
    assert_eq!((d.allowed, d.remaining), (true, 99));
}

#[test]
fn window_retry_after_is_exact_when_the_previous_window_blocks() {
    let (c, clock) = local();
    let l = window(10, Duration::from_secs(10));
    for _ in 0..10 {
        assert!(c.check_window("k", &l, 1).allowed);
    }
    clock.advance(Duration::from_secs(10));
    // Previous 10 weigh 10 at the start of the window: refused until 1 s in.
    let d = c.check_window("k", &l, 1);
    assert!(!d.allowed);
    assert_eq!(d.retry_after, Duration::from_secs(1));
    clock.advance(d.retry_after);
    assert!(c.check_window("k", &l, 1).allowed);
}

#[test]
fn expired_keys_are_swept() {
    let (c, clock) = local();
    let l = gcra(5, Duration::from_secs(1), 5);
    let w = window(5, Duration::from_secs(1));
    for i in 0..1000 {
        let key = format!("client-{i}");
        c.check_gcra(&key, &l, 1);
        c.check_window(&key, &w, 1);
    }
    assert_eq!(c.keys(), 2000);
    // The sweep runs on the first check after a minute.
    clock.advance(MIN);
    c.check_gcra("fresh", &l, 1);
    assert_eq!(c.keys(), 1);
}

#[test]
fn a_busy_key_survives_the_sweep() {
    let (c, clock) = local();
    let l = gcra(1, Duration::from_secs(3600), 1);
    assert!(c.check_gcra("k", &l, 1).allowed);
    clock.advance(MIN);
    assert!(!c.check_gcra("k", &l, 1).allowed);
    assert_eq!(c.keys(), 1);
}

#[test]
fn leases_hold_slots_until_dropped() {
    let (c, _clock) = local();
    let a = c.try_acquire("k", 2);
    let b = c.try_acquire("k", 2);
    assert!(a.is_some() && b.is_some());
    assert!(c.try_acquire("k", 2).is_none());
    assert!(c.try_acquire("other", 2).is_some());
    drop(a);
    let again = c.try_acquire("k", 2);
    assert!(again.is_some());
    assert!(c.try_acquire("k", 2).is_none());
    drop((b, again));
    // Nothing is kept for keys without slots.
    assert_eq!(c.keys(), 0);
    assert!(c.try_acquire("k", 0).is_none());
    assert_eq!(c.keys(), 0);
}

#[tokio::test(start_paused = true)]
async fn system_clock_follows_tokio_time() {
    let c = LocalCounters::new();
    let l = gcra(2, Duration::from_secs(1), 2);
    for _ in 0..2 {
        assert!(c.gcra("k", &l, 1).resolve().await.expect("local").allowed);
    }
    let refused = c.gcra("k", &l, 1).resolve().await.expect("local");
    assert!(!refused.allowed);
    assert_eq!(refused.retry_after, Duration::from_millis(500));
    tokio::time::advance(Duration::from_millis(500)).await;
    assert!(c.gcra("k", &l, 1).resolve().await.expect("local").allowed);
    assert!(matches!(c.gcra("k", &l, 1), Reply::Ready(Ok(_))));
}

#[test]
fn concurrent_checks_admit_exactly_the_limit() {
    let (c, _clock) = local();
    let c = Arc::new(c);
    let l = window(1000, MIN);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || {
                (0..500)
                    .filter(|_| c.check_window("k", &l, 1).allowed)
                    .count()
            })
        })
        .collect();
    let admitted: usize = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    assert_eq!(admitted, 1000);
}

#[test]
fn invalid_limits_are_refused() {
    assert!(Gcra::new(0, MIN, 1).is_err());
    assert!(Gcra::new(1, MIN, 0).is_err());
    assert!(Gcra::new(2_000_000, Duration::from_secs(1), 1).is_err());
    assert!(Window::new(0, MIN).is_err());
    assert!(Window::new(1, Duration::from_micros(10)).is_err());
}

fn pot(key: &str, limit: u64, amount: u64) -> Allowance {
    Allowance {
        key: key.into(),
        limit,
        amount,
        lifetime: MIN,
    }
}

fn actual(key: &str, amount: u64) -> Actual {
    Actual {
        key: key.into(),
        amount,
        lifetime: MIN,
    }
}

#[tokio::test]
async fn reservations_bound_what_concurrent_calls_can_spend() {
    let (c, _clock) = local();
    // 100 reservations of 30 against 1000: 33 fit, the rest are refused.
    let mut held = Vec::new();
    for i in 0..100 {
        let r = c.reserve(&format!("r{i}"), &[pot("b", 1000, 30)], MIN);
        if r.resolve().await.unwrap() == Reserved::Held {
            held.push(i);
        }
    }
    assert_eq!(held.len(), 33);
    assert_eq!(c.pot_usage("b").resolve().await.unwrap(), (0, 990));
    // Each call really spent 20: settling frees the difference.
    for i in &held {
        let s = c.settle(&format!("r{i}"), &[actual("b", 20)]);
        s.resolve().await.unwrap();
    }
    assert_eq!(c.pot_usage("b").resolve().await.unwrap(), (660, 0));
    let r = c.reserve("late", &[pot("b", 1000, 341)], MIN);
    assert!(matches!(
        r.resolve().await.unwrap(),
        Reserved::Refused {
            index: 0,
            spent: 660,
            reserved: 0
        }
    ));
}

#[tokio::test]
async fn a_reservation_takes_every_pot_or_none() {
    let (c, _clock) = local();
    let lines = [pot("key", 100, 10), pot("team", 15, 10)];
    assert_eq!(
        c.reserve("a", &lines, MIN).resolve().await.unwrap(),
        Reserved::Held
    );
    let refused = c.reserve("b", &lines, MIN).resolve().await.unwrap();
    assert!(matches!(refused, Reserved::Refused { index: 1, .. }));
    // The refused call reserved nothing from the first pot either.
    assert_eq!(c.pot_usage("key").resolve().await.unwrap(), (0, 10));
    let s = c
        .settle("a", &[actual("key", 4), actual("team", 4)])
        .resolve()
        .await
        .unwrap();
    assert_eq!(
        s,
        vec![
            Settled {
                before: 0,
                after: 4
            };
            2
        ]
    );
}

#[tokio::test]
async fn an_exhausted_pot_refuses_even_calls_of_unknown_cost() {
    let (c, clock) = local();
    c.reserve("a", &[pot("b", 10, 10)], MIN)
        .resolve()
        .await
        .unwrap();
    c.settle("a", &[actual("b", 12)]).resolve().await.unwrap();
    let r = c
        .reserve("z", &[pot("b", 10, 0)], MIN)
        .resolve()
        .await
        .unwrap();
    assert!(matches!(r, Reserved::Refused { spent: 12, .. }));
    // The pot is forgotten once its lifetime passed.
    clock.advance(MIN + Duration::from_secs(1));
    assert_eq!(
        c.reserve("y", &[pot("b", 10, 5)], MIN)
            .resolve()
            .await
            .unwrap(),
        Reserved::Held
    );
}
