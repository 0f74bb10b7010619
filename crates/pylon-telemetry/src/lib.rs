//! Pylon telemetry: the per-request [`CallRecord`], the bounded [`CallLog`]
//! pipeline that carries records to access-log [`Sink`]s without blocking the
//! request path, and Pylon's Prometheus [`Metrics`].
//!
//! Typical wiring at startup:
//!
//! ```no_run
//! # async fn demo(cfg: &pylon_config::AccessLogConfig) -> Result<(), pylon_telemetry::TelemetryError> {
//! use pylon_telemetry::{CallLog, CallRecord, Metrics};
//! let metrics = Metrics::new();
//! let (log, worker) = CallLog::start(cfg, Some(metrics.clone()))?;
//! // per request, once the response is done:
//! let rec = CallRecord { status: 200, ..CallRecord::new(std::time::SystemTime::now()) };
//! metrics.observe_request(&rec);
//! log.emit(rec);
//! // at exit:
//! worker.shutdown().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod ai_record;
mod error;
mod metrics;
mod pipeline;
mod record;
mod sink;

pub use ai_record::{AiRecord, AiRecordSlot, ai_record_slot, put_ai_record, take_ai_record};
pub use error::TelemetryError;
pub use metrics::{
    ConnectionGuard, Metrics, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, TARGET_STATES,
};
pub use pipeline::{CallLog, CallLogWorker, MAX_BATCH};
pub use record::{CallRecord, Rfc3339Millis, status_class};
pub use sink::{JsonLinesSink, Sink, open_output};

/// The `prometheus-client` version this crate registers metrics with, for
/// crates that add their own through [`Metrics::register`].
pub use prometheus_client;
