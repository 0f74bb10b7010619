//! The local backend's hot path: one GCRA and one sliding-window check on a
//! key that exists (the steady state of a rate-limited client).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use pylon_store::counters::{Gcra, LocalCounters, Window};

fn local(c: &mut Criterion) {
    let counters = LocalCounters::new();
    let (Ok(gcra), Ok(window)) = (
        Gcra::new(1_000_000, Duration::from_secs(1), 1_000_000),
        Window::new(u64::MAX / 4, Duration::from_secs(3600)),
    ) else {
        return;
    };
    let keys: Vec<String> = (0..1024)
        .map(|i| format!("route:r|g|c:consumer-{i}"))
        .collect();
    let mut i = 0usize;
    c.bench_function("local_gcra_check", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(counters.check_gcra(&keys[i], &gcra, 1))
        })
    });
    c.bench_function("local_window_check", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            black_box(counters.check_window(&keys[i], &window, 1))
        })
    });
}

criterion_group!(benches, local);
criterion_main!(benches);
