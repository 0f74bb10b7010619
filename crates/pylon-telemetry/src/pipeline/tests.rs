//! Tests for the access-log pipeline: JSON output, overflow accounting,
//! graceful shutdown and sink failures.

use super::*;
use std::path::Path;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn rec(i: usize) -> CallRecord {
    CallRecord {
        request_id: format!("req-{i}"),
        client_ip: "192.0.2.7".parse().unwrap(),
        listener: "main".into(),
        method: "GET".into(),
        host: "example.com".into(),
        path: format!("/items/{i}"),
        query: Some("q=1".into()),
        protocol: "HTTP/1.1".into(),
        route: Some("items".into()),
        upstream: Some("backend".into()),
        upstream_target: Some("127.0.0.1:9000".into()),
        status: 200,
        bytes_in: 10,
        bytes_out: 2048,
        duration_ms: 12.5,
        upstream_ms: Some(11.0),
        retries: 0,
        error: None,
        user_agent: Some("test-agent/1.0".into()),
        ..CallRecord::new(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123))
    }
}

fn file_cfg(path: &Path, queue_capacity: usize) -> AccessLogConfig {
    AccessLogConfig {
        enabled: true,
        output: path.to_str().unwrap().to_owned(),
        queue_capacity,
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn lines_are_json_with_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let (log, worker) = CallLog::start(&file_cfg(&path, 64), None).unwrap();
    assert!(log.is_enabled());
    log.emit(rec(1));
    log.emit(CallRecord {
        route: None,
        upstream: None,
        upstream_target: None,
        upstream_ms: None,
        status: 404,
        error: Some("no_route".into()),
        ..rec(2)
    });
    worker.shutdown().await.unwrap();

    let lines = read_lines(&path);
    assert_eq!(lines.len(), 2);
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let fields = [
        "ts",
        "request_id",
        "client_ip",
        "listener",
        "method",
        "host",
        "path",
        "query",
        "protocol",
        "route",
        "upstream",
        "upstream_target",
        "status",
        "bytes_in",
        "bytes_out",
        "duration_ms",
        "upstream_ms",
        "retries",
        "error",
        "user_agent",
    ];
    for f in fields {
        assert!(v.get(f).is_some(), "missing {f} in {v}");
    }
    assert_eq!(v["ts"], "2023-11-14T22:13:20.123Z");
    assert_eq!(v["request_id"], "req-1");
    assert_eq!(v["client_ip"], "192.0.2.7");
    assert_eq!(v["protocol"], "HTTP/1.1");
    assert_eq!(v["status"], 200);
    assert_eq!(v["bytes_out"], 2048);
    assert_eq!(v["duration_ms"], 12.5);
    assert_eq!(v["upstream_target"], "127.0.0.1:9000");

    let v: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(v["status"], 404);
    assert_eq!(v["error"], "no_route");
    assert!(v["route"].is_null());
    assert!(v["upstream_ms"].is_null());
}

#[tokio::test]
async fn lines_appear_promptly_without_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let (log, worker) = CallLog::start(&file_cfg(&path, 64), None).unwrap();
    log.emit(rec(1));
    let deadline = Instant::now() + Duration::from_secs(10);
    while read_lines(&path).is_empty() {
        assert!(Instant::now() < deadline, "line was not flushed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(read_lines(&path).len(), 1);
    worker.shutdown().await.unwrap();
}

/// A counting semaphore for blocking threads.
#[derive(Default)]
struct Gate {
    permits: Mutex<usize>,
    cv: Condvar,
}

impl Gate {
    fn acquire(&self) {
        let mut p = self.permits.lock().unwrap();
        while *p == 0 {
            p = self.cv.wait(p).unwrap();
        }
        *p -= 1;
    }

    fn release(&self, n: usize) {
        *self.permits.lock().unwrap() += n;
        self.cv.notify_all();
    }
}

/// A sink that announces each write and then waits for a gate permit.
struct GatedSink {
    gate: Arc<Gate>,
    entered: tokio::sync::mpsc::UnboundedSender<usize>,
    written: Arc<Mutex<Vec<String>>>,
}

impl Sink for GatedSink {
    fn write(&mut self, batch: &[CallRecord]) -> Result<(), TelemetryError> {
        let _ = self.entered.send(batch.len());
        self.gate.acquire();
        let mut w = self.written.lock().unwrap();
        w.extend(batch.iter().map(|r| r.request_id.clone()));
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TelemetryError> {
        Ok(())
    }
}

#[tokio::test]
async fn overflow_drops_and_counts_without_blocking() {
    let gate = Arc::new(Gate::default());
    let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel();
    let written = Arc::new(Mutex::new(Vec::new()));
    let sink = GatedSink {
        gate: gate.clone(),
        entered: entered_tx,
        written: written.clone(),
    };
    let metrics = Metrics::new();
    let (log, worker) = CallLog::with_sink(4, sink, Some(metrics.clone())).unwrap();

    // The worker takes the first record and blocks in the sink.
    log.emit(rec(0));
    let taken = tokio::time::timeout(Duration::from_secs(10), entered.recv())
        .await
        .unwrap();
    assert_eq!(taken, Some(1));
    assert_eq!(log.queue_depth(), 0);

    // Four fit in the queue, the next six are dropped, and nothing blocks.
    let started = Instant::now();
    for i in 1..=10 {
        log.emit(rec(i));
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(log.queue_depth(), 4);
    assert_eq!(log.dropped(), 6);
    let text = metrics.encode();
    assert!(
        text.contains("\npylon_access_log_dropped_total 6\n"),
        "{text}"
    );
    assert!(
        text.contains("\npylon_access_log_queue_depth 4\n"),
        "{text}"
    );

    // Clones share the same queue and counter.
    let clone = log.clone();
    clone.emit(rec(11));
    assert_eq!(log.dropped(), 7);

    gate.release(usize::MAX / 2);
    worker.shutdown().await.unwrap();
    let written = written.lock().unwrap().clone();
    let expected: Vec<String> = (0..=4).map(|i| format!("req-{i}")).collect();
    assert_eq!(written, expected);
    assert_eq!(log.queue_depth(), 0);
    assert!(
        metrics
            .encode()
            .contains("\npylon_access_log_queue_depth 0\n")
    );
}

#[tokio::test]
async fn shutdown_flushes_everything_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let (log, worker) = CallLog::start(&file_cfg(&path, 16_384), None).unwrap();
    for i in 0..10_000 {
        log.emit(rec(i));
    }
    assert_eq!(log.dropped(), 0);
    worker.shutdown().await.unwrap();

    let lines = read_lines(&path);
    assert_eq!(lines.len(), 10_000);
    for (i, line) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["request_id"], format!("req-{i}"));
    }

    // After shutdown the queue is closed: emit drops and counts.
    log.emit(rec(10_000));
    assert_eq!(log.dropped(), 1);
    assert_eq!(read_lines(&path).len(), 10_000);
}

#[tokio::test]
async fn disabled_pipeline_is_a_no_op() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    let cfg = AccessLogConfig {
        enabled: false,
        ..file_cfg(&path, 8)
    };
    let (log, worker) = CallLog::start(&cfg, Some(Metrics::new())).unwrap();
    assert!(!log.is_enabled());
    log.emit(rec(1));
    assert_eq!(log.dropped(), 0);
    assert_eq!(log.queue_depth(), 0);
    worker.shutdown().await.unwrap();
    assert!(!path.exists());

    let log = CallLog::disabled();
    log.emit(rec(2));
    assert_eq!(log.dropped(), 0);
}

/// Fails the first `failures` writes, then records request ids.
struct FlakySink {
    failures: usize,
    written: Arc<Mutex<Vec<String>>>,
}

impl Sink for FlakySink {
    fn write(&mut self, batch: &[CallRecord]) -> Result<(), TelemetryError> {
        if self.failures > 0 {
            self.failures -= 1;
            return Err(TelemetryError::Io(std::io::Error::other("disk full")));
        }
        let mut w = self.written.lock().unwrap();
        w.extend(batch.iter().map(|r| r.request_id.clone()));
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TelemetryError> {
        Ok(())
    }
}

#[tokio::test]
async fn sink_failures_count_as_drops_and_the_worker_continues() {
    let written = Arc::new(Mutex::new(Vec::new()));
    let sink = FlakySink {
        failures: 1,
        written: written.clone(),
    };
    let (log, worker) = CallLog::with_sink(16, sink, None).unwrap();
    log.emit(rec(0));
    log.emit(rec(1));
    // Let the worker take (and fail) the first batch before the next record.
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.dropped() == 0 {
        assert!(Instant::now() < deadline, "first batch never failed");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(log.dropped(), 2);
    log.emit(rec(2));
    worker.shutdown().await.unwrap();
    assert_eq!(*written.lock().unwrap(), vec!["req-2".to_owned()]);
}

#[tokio::test]
async fn detached_worker_stops_when_every_handle_is_dropped() {
    let written = Arc::new(Mutex::new(Vec::new()));
    let sink = FlakySink {
        failures: 0,
        written: written.clone(),
    };
    let (log, worker) = CallLog::with_sink(16, sink, None).unwrap();
    let CallLogWorker { running } = worker;
    let (stop, task) = running.unwrap();
    drop(stop);
    log.emit(rec(0));
    let clone = log.clone();
    drop(log);
    clone.emit(rec(1));
    drop(clone);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(written.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn rejects_zero_capacity() {
    let err = CallLog::with_sink(0, FlakySink::default_sink(), None).unwrap_err();
    assert!(matches!(
        err,
        TelemetryError::InvalidCapacity { got: 0, .. }
    ));
    let dir = tempfile::tempdir().unwrap();
    let err = CallLog::start(&file_cfg(&dir.path().join("a.log"), 0), None).unwrap_err();
    assert!(err.to_string().contains("queue_capacity"), "{err}");
}

#[test]
fn requires_a_runtime() {
    let err = CallLog::with_sink(8, FlakySink::default_sink(), None).unwrap_err();
    assert!(matches!(err, TelemetryError::NoRuntime));
}

impl FlakySink {
    fn default_sink() -> Self {
        Self {
            failures: 0,
            written: Arc::default(),
        }
    }
}

#[test]
fn timestamps_use_wall_clock() {
    let now = CallRecord::new(SystemTime::now());
    let v = serde_json::to_value(&now).unwrap();
    let ts = v["ts"].as_str().unwrap();
    assert_eq!(ts.len(), "2023-11-14T22:13:20.123Z".len());
    assert!(ts.starts_with("20") && ts.ends_with('Z'));
}
