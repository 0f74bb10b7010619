//! The arithmetic of the limiters, in microseconds. The Lua scripts of the
//! Redis backend (`lua/*.lua`) do the same steps; keep them in step.

use std::time::Duration;

use super::{Decision, Gcra, Window};

/// GCRA: `tat` is the key's theoretical arrival time (0 or a past time for a
/// fresh bucket). Returns the new `tat` when the request is admitted.
pub(crate) fn gcra(tat: u64, now: u64, limit: &Gcra, cost: u64) -> (Option<u64>, Decision) {
    let interval = limit.interval_us;
    let tolerance = interval.saturating_mul(limit.burst);
    let tat = tat.max(now);
    let new_tat = tat.saturating_add(interval.saturating_mul(cost));
    let allow_at = new_tat.saturating_sub(tolerance);
    if allow_at > now {
        let remaining = (now + tolerance).saturating_sub(tat) / interval;
        let decision = Decision {
            allowed: false,
            limit: limit.burst,
            remaining,
            reset_after: micros(tat - now),
            retry_after: micros(allow_at - now),
        };
        return (None, decision);
    }
    let decision = Decision {
        allowed: true,
        limit: limit.burst,
        remaining: (now + tolerance).saturating_sub(new_tat) / interval,
        reset_after: micros(new_tat - now),
        retry_after: Duration::ZERO,
    };
    (Some(new_tat), decision)
}

/// The two fixed windows behind a sliding window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WindowState {
    /// Start of the current fixed window.
    pub start: u64,
    pub current: u64,
    pub previous: u64,
}

impl WindowState {
    /// The state as seen at `now`: rolled into the window `now` falls in.
    fn rolled(self, now: u64, w: u64) -> Self {
        let start = now - now % w;
        if self.start == start {
            self
        } else if self.start.saturating_add(w) == start {
            Self {
                start,
                current: 0,
                previous: self.current,
            }
        } else {
            Self {
                start,
                current: 0,
                previous: 0,
            }
        }
    }

    /// Whether nothing of this state counts any more at `now`.
    pub fn expired(&self, now: u64, w: u64) -> bool {
        self.start.saturating_add(w.saturating_mul(2)) <= now
    }
}

/// Sliding window (two-window approximation). Returns the state to store
/// when the request is admitted.
pub(crate) fn window(
    state: WindowState,
    now: u64,
    limit: &Window,
    cost: u64,
) -> (Option<WindowState>, Decision) {
    let w = limit.window_us;
    let max = limit.limit;
    let mut s = state.rolled(now, w);
    let elapsed = now - s.start;
    // Rounded up: the estimate never admits more than the weighted count allows.
    let weighted =
        (u128::from(s.previous) * u128::from(w - elapsed)).div_ceil(u128::from(w)) as u64;
    let estimate = weighted.saturating_add(s.current);
    let allowed = estimate.saturating_add(cost) <= max;
    if allowed {
        s.current += cost;
        let decision = Decision {
            allowed,
            limit: max,
            remaining: max - estimate - cost,
            reset_after: micros(reset_after(&s, now, w)),
            retry_after: Duration::ZERO,
        };
        return (Some(s), decision);
    }
    let retry = if cost > max {
        w
    } else if s.current + cost > max {
        // Wait for the next window, then for the current count (by then the
        // previous one) to weigh little enough.
        let next = s.start + w - now;
        let need = u128::from(w) * u128::from(s.current + cost - max);
        next + need.div_ceil(u128::from(s.current)) as u64
    } else {
        // Within this window, once the previous window weighs little enough.
        let room = u128::from(max - s.current - cost);
        let prev = u128::from(s.previous);
        let at = (u128::from(w) * (prev - room)).div_ceil(prev) as u64;
        at.saturating_sub(elapsed).max(1)
    };
    let decision = Decision {
        allowed,
        limit: max,
        remaining: max.saturating_sub(estimate),
        reset_after: micros(reset_after(&s, now, w)),
        retry_after: micros(retry),
    };
    (None, decision)
}

/// Until the estimate is back to zero: the end of the next window while the
/// current one has requests, of this one while only the previous has.
fn reset_after(s: &WindowState, now: u64, w: u64) -> u64 {
    if s.current > 0 {
        s.start + 2 * w - now
    } else if s.previous > 0 {
        s.start + w - now
    } else {
        0
    }
}

fn micros(us: u64) -> Duration {
    Duration::from_micros(us)
}
