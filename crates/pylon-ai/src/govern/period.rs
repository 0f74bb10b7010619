//! Budget periods as pot names: each period of a budget is its own pot (`2026-12` for a
//! monthly budget), so a new period starts from zero without any reset job, and every
//! node derives the same name from the UTC calendar.

use std::time::Duration;

use pylon_config::BudgetPeriod;
use time::OffsetDateTime;

/// The pot suffix of the period `now` falls in, and how long the pot must be kept.
pub fn current(period: BudgetPeriod, now: OffsetDateTime) -> (String, Duration) {
    const DAY: u64 = 86_400;
    let d = now.date();
    match period {
        BudgetPeriod::Hour => (
            format!("{d}T{:02}", now.hour()),
            Duration::from_secs(3600 + DAY),
        ),
        BudgetPeriod::Day => (d.to_string(), Duration::from_secs(2 * DAY)),
        BudgetPeriod::Week => {
            let (year, week, _) = d.to_iso_week_date();
            (format!("{year}-W{week:02}"), Duration::from_secs(8 * DAY))
        }
        BudgetPeriod::Month => (
            format!("{}-{:02}", d.year(), u8::from(d.month())),
            Duration::from_secs(32 * DAY),
        ),
        BudgetPeriod::Total => ("total".into(), Duration::ZERO),
    }
}

/// The minute `now` falls in (for tokens per minute), and the time left in it.
pub fn minute(now: OffsetDateTime) -> (String, Duration) {
    let ts = now.unix_timestamp();
    let left = 60 - ts.rem_euclid(60);
    (
        format!("m{}", ts.div_euclid(60)),
        Duration::from_secs(u64::try_from(left).unwrap_or(60)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_follow_the_utc_calendar() {
        let t = time::Date::from_calendar_date(2026, time::Month::December, 31)
            .and_then(|d| d.with_hms(23, 59, 30))
            .map(|t| t.assume_utc())
            .expect("valid time");
        assert_eq!(current(BudgetPeriod::Hour, t).0, "2026-12-31T23");
        assert_eq!(current(BudgetPeriod::Day, t).0, "2026-12-31");
        assert_eq!(current(BudgetPeriod::Week, t).0, "2026-W53");
        assert_eq!(current(BudgetPeriod::Month, t).0, "2026-12");
        assert_eq!(
            current(BudgetPeriod::Total, t),
            ("total".into(), Duration::ZERO)
        );
        let (m, left) = minute(t);
        assert_eq!(left, Duration::from_secs(30));
        assert_eq!(m, format!("m{}", t.unix_timestamp() / 60));
    }
}
