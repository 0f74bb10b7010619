//! Tests for [`Metrics`]: encoded series and values after observations.

use super::*;
use std::time::SystemTime;

fn rec(route: Option<&str>, status: u16, duration_ms: f64) -> CallRecord {
    CallRecord {
        route: route.map(Arc::from),
        status,
        duration_ms,
        ..CallRecord::new(SystemTime::now())
    }
}

fn has_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "missing line {line:?} in:\n{text}"
    );
}

#[test]
fn request_counters_and_histograms() {
    let m = Metrics::new();
    m.observe_request(&rec(Some("users"), 200, 3.0));
    m.observe_request(&rec(Some("users"), 204, 30.0));
    m.observe_request(&rec(Some("users"), 502, 1500.0));
    m.observe_request(&rec(None, 404, 0.2));
    m.observe_request(&rec(Some(""), 404, 0.2));
    let text = m.encode();
    has_line(
        &text,
        r#"pylon_http_requests_total{route="users",status_class="2xx"} 2"#,
    );
    has_line(
        &text,
        r#"pylon_http_requests_total{route="users",status_class="5xx"} 1"#,
    );
    has_line(
        &text,
        r#"pylon_http_requests_total{route="none",status_class="4xx"} 2"#,
    );
    has_line(
        &text,
        r#"pylon_http_request_duration_seconds_count{route="users"} 3"#,
    );
    has_line(
        &text,
        r#"pylon_http_request_duration_seconds_bucket{le="0.005",route="users"} 1"#,
    );
    has_line(
        &text,
        r#"pylon_http_request_duration_seconds_bucket{le="0.05",route="users"} 2"#,
    );
    has_line(
        &text,
        r#"pylon_http_request_duration_seconds_bucket{le="+Inf",route="users"} 3"#,
    );
    has_line(
        &text,
        r#"pylon_http_request_duration_seconds_bucket{le="0.0005",route="none"} 2"#,
    );
    has_line(
        &text,
        r#"pylon_http_request_duration_seconds_bucket{le="60.0",route="users"} 3"#,
    );
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn upstream_duration_and_retries() {
    let m = Metrics::new();
    let r = CallRecord {
        upstream: Some("backend".into()),
        upstream_ms: Some(20.0),
        retries: 2,
        ..rec(Some("api"), 200, 25.0)
    };
    m.observe_request(&r);
    m.observe_request(&CallRecord {
        retries: 0,
        upstream_ms: None,
        ..r.clone()
    });
    let text = m.encode();
    has_line(
        &text,
        r#"pylon_upstream_request_duration_seconds_count{upstream="backend"} 1"#,
    );
    has_line(
        &text,
        r#"pylon_upstream_request_duration_seconds_sum{upstream="backend"} 0.02"#,
    );
    has_line(
        &text,
        r#"pylon_upstream_retries_total{upstream="backend"} 2"#,
    );
}

#[test]
fn target_state_gauge_switches() {
    let m = Metrics::new();
    m.set_target_state("backend", "10.0.0.1:80", "healthy");
    let text = m.encode();
    let line = |state: &str, v: u8| {
        format!(
            r#"pylon_upstream_target_health{{upstream="backend",target="10.0.0.1:80",state="{state}"}} {v}"#
        )
    };
    has_line(&text, &line("healthy", 1));
    has_line(&text, &line("unhealthy", 0));
    has_line(&text, &line("ejected", 0));
    has_line(&text, &line("open", 0));

    m.set_target_state("backend", "10.0.0.1:80", "ejected");
    let text = m.encode();
    has_line(&text, &line("healthy", 0));
    has_line(&text, &line("ejected", 1));

    m.set_target_state("backend", "10.0.0.1:80", "bogus");
    let text = m.encode();
    assert!(!text.contains("bogus"));
    has_line(&text, &line("ejected", 0));

    m.remove_target("backend", "10.0.0.1:80");
    assert!(!m.encode().contains("10.0.0.1:80"));
}

#[test]
fn connections_reloads_and_access_log() {
    let m = Metrics::new();
    m.connection_opened("main");
    m.connection_opened("main");
    m.connection_closed("main");
    let guard = m.open_connection("tls");
    has_line(&m.encode(), r#"pylon_open_connections{listener="main"} 1"#);
    has_line(&m.encode(), r#"pylon_open_connections{listener="tls"} 1"#);
    drop(guard);
    has_line(&m.encode(), r#"pylon_open_connections{listener="tls"} 0"#);

    let text = m.encode();
    has_line(&text, r#"pylon_config_reloads_total{result="success"} 0"#);
    has_line(&text, "pylon_config_version 0");
    m.config_loaded();
    m.config_reload(true);
    m.config_reload(false);
    let text = m.encode();
    has_line(&text, r#"pylon_config_reloads_total{result="success"} 1"#);
    has_line(&text, r#"pylon_config_reloads_total{result="failure"} 1"#);
    has_line(&text, "pylon_config_version 2");
    m.set_config_version(42);
    has_line(&m.encode(), "pylon_config_version 42");

    m.access_log_dropped(3);
    m.set_queue_depth_probe(|| 7);
    let text = m.encode();
    has_line(&text, "pylon_access_log_dropped_total 3");
    has_line(&text, "pylon_access_log_queue_depth 7");
}

#[test]
fn prometheus_text_and_extra_metrics() {
    let m = Metrics::new();
    let extra = Counter::<u64>::default();
    m.register("pylon_ai_tokens", "Tokens", extra.clone());
    extra.inc_by(5);
    m.observe_request(&rec(Some("r"), 200, 1.0));
    let text = m.encode_prometheus();
    has_line(&text, "pylon_ai_tokens_total 5");
    has_line(&text, "# TYPE pylon_http_requests_total counter");
    has_line(
        &text,
        r#"pylon_http_requests_total{route="r",status_class="2xx"} 1"#,
    );
    assert!(!text.contains("# EOF"));
}
