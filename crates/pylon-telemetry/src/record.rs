//! [`CallRecord`]: the one record the request path produces per request.
//!
//! A record is built once the response is finished (or the request failed) and
//! handed to [`CallLog::emit`](crate::CallLog::emit) and
//! [`Metrics::observe_request`](crate::Metrics::observe_request). Construction is
//! meant to be cheap:
//!
//! - names that come from the compiled config (listener, route, upstream, target)
//!   are `Arc<str>`, so the request path clones a pointer instead of a string;
//! - values drawn from a small fixed set (method, protocol, error code) are
//!   `Cow<'static, str>`, so `"GET".into()` or `"upstream_timeout".into()` does
//!   not allocate;
//! - the timestamp is a raw [`SystemTime`]; it is formatted as RFC 3339 only when
//!   the record is serialized, on the writer side.
//!
//! New fields (consumer, tenant, AI usage and cost) are added later as `Option`s;
//! build records with struct-update syntax (`..CallRecord::new(now)`) so that
//! adding fields does not break callers.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// One request as seen by the gateway, serialized as one JSON line in the access log.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// When the request started; serialized as RFC 3339 UTC with milliseconds
    /// (`2024-05-01T12:34:56.789Z`).
    #[serde(serialize_with = "serialize_ts")]
    pub ts: SystemTime,
    /// The request id (propagated from the request-id header or generated).
    pub request_id: String,
    /// The client address as the gateway sees it.
    pub client_ip: IpAddr,
    /// Name of the listener that accepted the connection.
    pub listener: Arc<str>,
    /// HTTP method, e.g. `GET`.
    pub method: Cow<'static, str>,
    /// Host the request was addressed to (`Host` header or `:authority`).
    pub host: String,
    /// Request path, without the query string.
    pub path: String,
    /// Raw query string, without the leading `?`.
    pub query: Option<String>,
    /// Wire protocol, e.g. `HTTP/1.1` or `HTTP/2`.
    pub protocol: Cow<'static, str>,
    /// Name of the matched route, if any.
    pub route: Option<Arc<str>>,
    /// Name of the service the route belongs to, if any.
    pub service: Option<Arc<str>>,
    /// The authenticated consumer, if any.
    pub consumer: Option<Arc<str>>,
    /// The consumer's tenant, if a consumer was identified.
    pub tenant: Option<Arc<str>>,
    /// Id of the credential that authenticated the consumer (never the secret).
    pub credential: Option<Arc<str>>,
    /// Response-cache outcome: `HIT`, `MISS` or `BYPASS`, when a cache ran.
    pub cache: Option<&'static str>,
    /// Name of the upstream pool the request was sent to, if any.
    pub upstream: Option<Arc<str>>,
    /// The upstream target (`host:port`) that produced the response, if any.
    pub upstream_target: Option<Arc<str>>,
    /// Status code sent to the client.
    pub status: u16,
    /// Request body bytes received from the client.
    pub bytes_in: u64,
    /// Response body bytes sent to the client.
    pub bytes_out: u64,
    /// Total time from request start to the end of the response, in milliseconds.
    pub duration_ms: f64,
    /// Time spent on the upstream exchange, in milliseconds.
    pub upstream_ms: Option<f64>,
    /// Number of retries (attempts after the first).
    pub retries: u32,
    /// Low-cardinality error code, e.g. `upstream_connect`, `upstream_timeout`, `no_route`.
    pub error: Option<Cow<'static, str>>,
    /// The `User-Agent` header, if present.
    pub user_agent: Option<String>,
    /// What an AI call adds (model, provider, tokens, cost); only on AI routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai: Option<Box<crate::AiRecord>>,
}

impl CallRecord {
    /// A record started at `ts` with every other field empty (zero, `None`, `""`,
    /// client `0.0.0.0`). Meant as the base for struct-update syntax:
    ///
    /// ```
    /// # use pylon_telemetry::CallRecord;
    /// let rec = CallRecord {
    ///     method: "GET".into(),
    ///     path: "/users".into(),
    ///     status: 200,
    ///     ..CallRecord::new(std::time::SystemTime::now())
    /// };
    /// assert_eq!(rec.status_class(), "2xx");
    /// ```
    pub fn new(ts: SystemTime) -> Self {
        Self {
            ts,
            request_id: String::new(),
            client_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            listener: Arc::from(""),
            method: Cow::Borrowed(""),
            host: String::new(),
            path: String::new(),
            query: None,
            protocol: Cow::Borrowed(""),
            route: None,
            service: None,
            consumer: None,
            tenant: None,
            credential: None,
            cache: None,
            upstream: None,
            upstream_target: None,
            status: 0,
            bytes_in: 0,
            bytes_out: 0,
            duration_ms: 0.0,
            upstream_ms: None,
            retries: 0,
            error: None,
            user_agent: None,
            ai: None,
        }
    }

    /// The status class label: `1xx` to `5xx`, or `other` outside 100..=599.
    pub fn status_class(&self) -> &'static str {
        status_class(self.status)
    }
}

/// Maps a status code to its class label: `1xx` to `5xx`, or `other` outside 100..=599.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

fn serialize_ts<S: Serializer>(ts: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&Rfc3339Millis(*ts))
}

/// Displays a [`SystemTime`] as RFC 3339 UTC with milliseconds,
/// e.g. `2023-11-14T22:13:20.123Z`. Times before the Unix epoch display as the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339Millis(pub SystemTime);

impl fmt::Display for Rfc3339Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self.0.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let millis = since.subsec_millis();
        let (year, month, day) = civil_from_days(secs / 86_400);
        let sod = secs % 86_400;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// Works in 400-year eras counted from 0000-03-01 so that the leap day is the
/// last day of each computed year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Days from 0000-03-01 to 1970-01-01.
    const EPOCH_SHIFT: u64 = 719_468;
    const DAYS_PER_ERA: u64 = 146_097;
    let z = days + EPOCH_SHIFT;
    let era = z / DAYS_PER_ERA;
    let day_of_era = z % DAYS_PER_ERA;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Month counted from March = 0.
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, millis: u64) -> String {
        Rfc3339Millis(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
            .to_string()
    }

    #[test]
    fn formats_rfc3339_millis() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(1_700_000_000, 123), "2023-11-14T22:13:20.123Z");
        // Leap day, and the day after.
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(951_868_799, 999), "2000-02-29T23:59:59.999Z");
        assert_eq!(at(951_868_800, 0), "2000-03-01T00:00:00.000Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
        assert_eq!(at(1_709_251_199, 0), "2024-02-29T23:59:59.000Z");
        assert_eq!(at(1_735_689_599, 0), "2024-12-31T23:59:59.000Z");
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(
            Rfc3339Millis(before).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn every_day_round_trips_through_month_lengths() {
        // Walk day by day from 1970 to 2400 and check the calendar advances by one.
        let (mut y, mut m, mut d) = (1970u64, 1u64, 1u64);
        for days in 0..(430 * 366) {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(101), "1xx");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(308), "3xx");
        assert_eq!(status_class(499), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(0), "other");
        assert_eq!(status_class(600), "other");
    }

    #[test]
    fn serializes_all_fields() {
        let rec = CallRecord {
            request_id: "r-1".into(),
            client_ip: "10.1.2.3".parse().unwrap(),
            listener: "main".into(),
            method: "POST".into(),
            host: "api.example.com".into(),
            path: "/v1/items".into(),
            query: Some("a=1".into()),
            protocol: "HTTP/1.1".into(),
            route: Some("items".into()),
            upstream: Some("backend".into()),
            upstream_target: Some("10.0.0.1:8080".into()),
            status: 201,
            bytes_in: 12,
            bytes_out: 34,
            duration_ms: 1.5,
            upstream_ms: Some(1.25),
            retries: 1,
            error: None,
            user_agent: Some("curl/8".into()),
            consumer: Some("alice".into()),
            cache: Some("HIT"),
            ..CallRecord::new(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123))
        };
        let v: serde_json::Value = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["ts"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["client_ip"], "10.1.2.3");
        assert_eq!(v["method"], "POST");
        assert_eq!(v["route"], "items");
        assert_eq!(v["upstream_target"], "10.0.0.1:8080");
        assert_eq!(v["status"], 201);
        assert_eq!(v["duration_ms"], 1.5);
        assert_eq!(v["upstream_ms"], 1.25);
        assert_eq!(v["retries"], 1);
        assert!(v["error"].is_null());
        assert_eq!(v["consumer"], "alice");
        assert_eq!(v["cache"], "HIT");
        assert!(v["tenant"].is_null());
        assert_eq!(v.as_object().unwrap().len(), 25);
    }
}
