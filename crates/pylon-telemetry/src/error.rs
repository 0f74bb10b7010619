//! [`TelemetryError`]: everything that can go wrong in this crate.

use std::path::PathBuf;

/// Errors from the call-record pipeline, its sinks and the metrics registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The access-log file could not be opened for appending.
    #[error("access log: cannot open {path} for appending: {source}")]
    OpenSink {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// `queue_capacity` is zero or larger than the channel supports.
    #[error("access log: queue_capacity must be between 1 and {max}, got {got}")]
    InvalidCapacity { got: usize, max: usize },
    /// The pipeline was started outside a tokio runtime.
    #[error("access log: must be started inside a tokio runtime")]
    NoRuntime,
    /// Writing to a sink failed.
    #[error("access log: write failed: {0}")]
    Io(#[from] std::io::Error),
    /// A record could not be serialized.
    #[error("access log: cannot serialize record: {0}")]
    Serialize(#[from] serde_json::Error),
    /// A sink reported an error of its own.
    #[error("access log sink: {0}")]
    Sink(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The writer task or a sink call panicked or was cancelled.
    #[error("access log worker stopped abnormally: {0}")]
    Worker(String),
}
