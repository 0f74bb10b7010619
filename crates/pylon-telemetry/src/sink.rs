//! Sinks: where the access-log worker writes batches of [`CallRecord`]s.
//!
//! A [`Sink`] is a plain synchronous trait. The worker always calls it from
//! tokio's blocking thread pool (never from a runtime worker thread), one call
//! at a time, so an implementation may block on I/O, a database or a network
//! client. New destinations (the store, OTLP, webhooks) implement this trait.
//!
//! [`JsonLinesSink`] writes one JSON object per line to stdout, stderr or a file
//! opened in append mode, through a `BufWriter`.

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::error::TelemetryError;
use crate::record::CallRecord;

/// A destination for call records.
///
/// The worker calls [`Sink::write`] with each batch it takes from the queue and
/// [`Sink::flush`] whenever the queue is momentarily empty and at shutdown, so an
/// implementation may buffer between flushes. Both are called on a blocking
/// thread and may block.
pub trait Sink: Send + 'static {
    /// Writes (or buffers) a batch of records, oldest first. On error the worker
    /// counts the whole batch as dropped and keeps going with the next batch.
    fn write(&mut self, batch: &[CallRecord]) -> Result<(), TelemetryError>;

    /// Makes everything written so far durable or visible (e.g. flushes buffers).
    fn flush(&mut self) -> Result<(), TelemetryError>;
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write(&mut self, batch: &[CallRecord]) -> Result<(), TelemetryError> {
        (**self).write(batch)
    }

    fn flush(&mut self) -> Result<(), TelemetryError> {
        (**self).flush()
    }
}

/// Size of the `BufWriter` in front of the output.
const BUF_SIZE: usize = 64 * 1024;

/// Writes each record as one line of JSON.
pub struct JsonLinesSink<W: Write + Send + 'static> {
    out: BufWriter<W>,
}

impl<W: Write + Send + 'static> std::fmt::Debug for JsonLinesSink<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonLinesSink").finish_non_exhaustive()
    }
}

impl<W: Write + Send + 'static> JsonLinesSink<W> {
    /// Writes JSON lines to `writer`, buffered.
    pub fn new(writer: W) -> Self {
        Self {
            out: BufWriter::with_capacity(BUF_SIZE, writer),
        }
    }
}

impl JsonLinesSink<io::Stdout> {
    /// JSON lines on standard output.
    pub fn stdout() -> Self {
        Self::new(io::stdout())
    }
}

impl JsonLinesSink<io::Stderr> {
    /// JSON lines on standard error.
    pub fn stderr() -> Self {
        Self::new(io::stderr())
    }
}

impl JsonLinesSink<std::fs::File> {
    /// JSON lines appended to the file at `path`, created if missing.
    pub fn append_file(path: impl AsRef<Path>) -> Result<Self, TelemetryError> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| TelemetryError::OpenSink {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self::new(file))
    }
}

impl<W: Write + Send + 'static> Sink for JsonLinesSink<W> {
    fn write(&mut self, batch: &[CallRecord]) -> Result<(), TelemetryError> {
        for rec in batch {
            // serde_json escapes control characters, so a record is always one line.
            serde_json::to_writer(&mut self.out, rec)?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TelemetryError> {
        self.out.flush()?;
        Ok(())
    }
}

/// Opens the sink named by an `access_log.output` value: `stdout`, `stderr`, or
/// otherwise a file path opened for appending (write `./stdout` for a file
/// literally called `stdout`).
pub fn open_output(output: &str) -> Result<Box<dyn Sink>, TelemetryError> {
    Ok(match output {
        "stdout" => Box::new(JsonLinesSink::stdout()),
        "stderr" => Box::new(JsonLinesSink::stderr()),
        path => Box::new(JsonLinesSink::append_file(path)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    #[test]
    fn writes_one_line_per_record_even_with_newlines_in_values() {
        let mut sink = JsonLinesSink::new(Vec::new());
        let rec = CallRecord {
            path: "/a\nb".into(),
            user_agent: Some("evil\r\n{\"x\":1}".into()),
            ..CallRecord::new(SystemTime::now())
        };
        sink.write(&[rec.clone(), rec]).unwrap();
        sink.flush().unwrap();
        let out = String::from_utf8(sink.out.into_inner().unwrap()).unwrap();
        let lines: Vec<_> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        for line in lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["path"], "/a\nb");
        }
    }

    #[test]
    fn open_output_reports_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/access.log");
        let Err(err) = open_output(path.to_str().unwrap()) else {
            panic!("opened a file in a missing directory");
        };
        assert!(matches!(err, TelemetryError::OpenSink { .. }), "{err}");
        assert!(err.to_string().contains("access.log"));
    }

    #[test]
    fn append_file_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        std::fs::write(&path, "existing\n").unwrap();
        let mut sink = JsonLinesSink::append_file(&path).unwrap();
        sink.write(&[CallRecord::new(SystemTime::now())]).unwrap();
        sink.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("existing\n{"));
        assert_eq!(text.lines().count(), 2);
    }
}
