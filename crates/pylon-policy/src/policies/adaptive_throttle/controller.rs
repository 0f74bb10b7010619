//! The AIMD admission controller, free of I/O and clocks: every call is given
//! the time (milliseconds on any monotonic scale).
//!
//! Outcomes of admitted requests are counted in a ring of buckets covering
//! the observation window. Once per interval the controller judges the
//! window: unhealthy when the error rate or the share of slow responses is
//! over its threshold (more than `1 − percentile` of responses slower than
//! the latency threshold is the same as "the percentile is over the
//! threshold", and needs no histogram). Unhealthy: the admitted fraction is
//! multiplied by `decrease` and the window is cleared, so the next judgement
//! rests on traffic at the new rate. Healthy, or too little traffic to tell:
//! the fraction grows by `increase` per interval, back to 1.
//!
//! Admission is deterministic: each request adds the admitted fraction to a
//! credit and is let through when the credit reaches one, so a fraction of
//! 0.25 admits exactly every fourth request. Fractions are kept in parts per
//! million, so that no rounding drift creeps into the credit.

/// The tuning, from config.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub window_ms: u64,
    pub interval_ms: u64,
    /// Responses slower than this count as slow (`None`: latency not judged).
    pub latency_threshold_ms: Option<u64>,
    /// Unhealthy when more than this share of responses are slow.
    pub slow_share: f64,
    /// Unhealthy when more than this share of responses are errors (`None`: not judged).
    pub error_rate: Option<f64>,
    pub min_requests: u64,
    pub decrease: f64,
    pub increase: f64,
    pub min_admit: f64,
}

/// Buckets in the observation window.
const BUCKETS: u64 = 10;

/// The whole, in parts per million.
const ALL: u64 = 1_000_000;

fn ppm(share: f64) -> u64 {
    (share * ALL as f64).round().clamp(0.0, ALL as f64) as u64
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which bucket-width slot of time this holds.
    slot: u64,
    total: u64,
    errors: u64,
    slow: u64,
}

/// What the controller currently does, for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub admit: f64,
    pub total: u64,
    pub errors: u64,
    pub slow: u64,
}

#[derive(Debug)]
pub struct Controller {
    buckets: [Bucket; BUCKETS as usize],
    width_ms: u64,
    /// The admitted share, in ppm.
    admit: u64,
    credit: u64,
    next_judgement: u64,
}

impl Controller {
    pub fn new(s: &Settings, now: u64) -> Self {
        Self {
            buckets: [Bucket::default(); BUCKETS as usize],
            width_ms: bucket_width(s),
            admit: ALL,
            credit: 0,
            next_judgement: now + s.interval_ms,
        }
    }

    /// Whether to let a request through now.
    pub fn admit(&mut self, s: &Settings, now: u64) -> bool {
        self.judge(s, now);
        if self.admit >= ALL {
            return true;
        }
        self.credit += self.admit;
        if self.credit >= ALL {
            self.credit -= ALL;
            true
        } else {
            false
        }
    }

    /// Count the outcome of an admitted request.
    pub fn record(&mut self, s: &Settings, now: u64, latency_ms: u64, error: bool) {
        self.judge(s, now);
        let slot = now / self.width_ms;
        let b = &mut self.buckets[(slot % BUCKETS) as usize];
        if b.slot != slot {
            *b = Bucket {
                slot,
                ..Bucket::default()
            };
        }
        b.total += 1;
        b.errors += u64::from(error);
        b.slow += u64::from(s.latency_threshold_ms.is_some_and(|t| latency_ms > t));
    }

    pub fn snapshot(&self, now: u64) -> Snapshot {
        let (total, errors, slow) = self.window(now);
        Snapshot {
            admit: self.admit as f64 / ALL as f64,
            total,
            errors,
            slow,
        }
    }

    /// Totals over the buckets still inside the window.
    fn window(&self, now: u64) -> (u64, u64, u64) {
        let current = now / self.width_ms;
        self.buckets
            .iter()
            .filter(|b| b.total > 0 && b.slot + BUCKETS > current && b.slot <= current)
            .fold((0, 0, 0), |(t, e, s), b| {
                (t + b.total, e + b.errors, s + b.slow)
            })
    }

    /// Once per interval: cut the admitted fraction when unhealthy, grow it
    /// (once per interval passed) otherwise.
    fn judge(&mut self, s: &Settings, now: u64) {
        let width = bucket_width(s);
        if width != self.width_ms {
            // The window was reconfigured: the old buckets do not fit it.
            self.buckets = [Bucket::default(); BUCKETS as usize];
            self.width_ms = width;
        }
        if now < self.next_judgement {
            return;
        }
        let intervals = (now - self.next_judgement) / s.interval_ms + 1;
        self.next_judgement += intervals * s.interval_ms;
        let (total, errors, slow) = self.window(now);
        let share = |n: u64| n as f64 / total as f64;
        let unhealthy = total >= s.min_requests
            && total > 0
            && (s.error_rate.is_some_and(|r| share(errors) > r)
                || (s.latency_threshold_ms.is_some() && share(slow) > s.slow_share));
        if unhealthy {
            let cut = ppm(self.admit as f64 / ALL as f64 * s.decrease);
            self.admit = cut.max(ppm(s.min_admit));
            self.buckets = [Bucket::default(); BUCKETS as usize];
        } else if self.admit < ALL {
            let step = ppm(s.increase).saturating_mul(intervals);
            self.admit = self.admit.saturating_add(step).min(ALL);
            if self.admit >= ALL {
                self.credit = 0;
            }
        }
    }
}

fn bucket_width(s: &Settings) -> u64 {
    (s.window_ms / BUCKETS).max(1)
}
