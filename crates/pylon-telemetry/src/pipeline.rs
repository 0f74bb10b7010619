//! [`CallLog`]: the bounded pipeline between the request path and the sinks.
//!
//! ```text
//! request path ──emit()──▶ bounded mpsc (queue_capacity) ──▶ worker task ──▶ Sink (blocking pool)
//!                 │ full: drop + count
//! ```
//!
//! - [`CallLog::emit`] never blocks and never awaits: it `try_send`s into a
//!   bounded channel. When the queue is full (or the pipeline has shut down) the
//!   record is dropped and counted in [`CallLog::dropped`] and in
//!   `pylon_access_log_dropped_total`.
//! - The worker is a tokio task that takes up to [`MAX_BATCH`] records at a time
//!   and hands each batch to the [`Sink`] on tokio's blocking thread pool, so a
//!   slow disk never stalls a runtime worker thread. A batch of fewer than 64
//!   records waits 10 ms for more first, so steady traffic is written in large
//!   chunks with few thread hand-offs. Whenever the queue is momentarily empty
//!   after a batch, the sink is flushed, so a line appears within about 10 ms.
//! - [`CallLogWorker::shutdown`] closes the queue, waits until every record
//!   already queued has been written, flushes, and returns.
//!
//! Metrics are not updated here: the request path calls
//! [`Metrics::observe_request`](crate::Metrics::observe_request) itself, so they
//! count even when the access log is disabled.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pylon_config::AccessLogConfig;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::TelemetryError;
use crate::metrics::Metrics;
use crate::record::CallRecord;
use crate::sink::{Sink, open_output};

/// Most records handed to the sink in one call.
pub const MAX_BATCH: usize = 512;

/// Batches smaller than this wait [`LINGER`] for more records before being written.
const LINGER_BELOW: usize = 64;

/// How long a small batch waits: the most a log line is delayed by batching.
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

/// Drop accounting shared by every [`CallLog`] clone and the worker. It holds no
/// sender, so the worker keeping it alive does not keep the channel open.
#[derive(Debug)]
struct Stats {
    dropped: AtomicU64,
    metrics: Option<Metrics>,
}

impl Stats {
    fn add_dropped(&self, n: u64, why: &'static str) {
        let before = self.dropped.fetch_add(n, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            m.access_log_dropped(n);
        }
        // Log the first drop and then ever more rarely (1, 2, 4, 8, ... crossings),
        // so a sustained overload cannot flood the log from the request path.
        let after = before.saturating_add(n);
        if before == 0 || (before.leading_zeros() != after.leading_zeros()) {
            tracing::warn!(
                dropped_total = after,
                reason = why,
                "access log records dropped"
            );
        }
    }
}

#[derive(Debug)]
struct Shared {
    tx: mpsc::Sender<CallRecord>,
    stats: Arc<Stats>,
}

/// Handle to the access-log pipeline used on the request path. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CallLog {
    shared: Option<Arc<Shared>>,
}

impl CallLog {
    /// A pipeline that discards every record (for `access_log.enabled = false`).
    pub fn disabled() -> Self {
        Self { shared: None }
    }

    /// Starts the pipeline described by `cfg`: opens the output (`stdout`,
    /// `stderr` or a file appended to) and spawns the worker on the current tokio
    /// runtime. With `cfg.enabled == false` it returns [`CallLog::disabled`] and a
    /// worker whose shutdown returns at once.
    ///
    /// With `metrics`, drops are also counted in `pylon_access_log_dropped_total`
    /// and `pylon_access_log_queue_depth` reports the queue at scrape time.
    pub fn start(
        cfg: &AccessLogConfig,
        metrics: Option<Metrics>,
    ) -> Result<(CallLog, CallLogWorker), TelemetryError> {
        if !cfg.enabled {
            return Ok((CallLog::disabled(), CallLogWorker::idle()));
        }
        check_capacity(cfg.queue_capacity)?;
        let sink = open_output(&cfg.output)?;
        Self::with_sink(cfg.queue_capacity, sink, metrics)
    }

    /// Starts a pipeline with a queue of `queue_capacity` records in front of
    /// `sink`, spawning the worker on the current tokio runtime.
    pub fn with_sink(
        queue_capacity: usize,
        sink: impl Sink,
        metrics: Option<Metrics>,
    ) -> Result<(CallLog, CallLogWorker), TelemetryError> {
        check_capacity(queue_capacity)?;
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| TelemetryError::NoRuntime)?;
        let (tx, rx) = mpsc::channel(queue_capacity);
        let stats = Arc::new(Stats {
            dropped: AtomicU64::new(0),
            metrics,
        });
        if let Some(m) = &stats.metrics {
            let weak = tx.downgrade();
            m.set_queue_depth_probe(move || weak.upgrade().map_or(0, |tx| depth(&tx)));
        }
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = handle.spawn(run_worker(rx, sink, stop_rx, stats.clone()));
        let log = CallLog {
            shared: Some(Arc::new(Shared { tx, stats })),
        };
        let worker = CallLogWorker {
            running: Some((stop_tx, task)),
        };
        Ok((log, worker))
    }

    /// Queues `rec` for the sinks without blocking. If the queue is full or the
    /// pipeline has shut down, the record is dropped and counted. A no-op when
    /// the pipeline is disabled.
    pub fn emit(&self, rec: CallRecord) {
        let Some(shared) = &self.shared else { return };
        match shared.tx.try_send(rec) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => shared.stats.add_dropped(1, "queue_full"),
            Err(TrySendError::Closed(_)) => shared.stats.add_dropped(1, "closed"),
        }
    }

    /// Records dropped so far (queue full, pipeline shut down, or sink failure).
    pub fn dropped(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |s| s.stats.dropped.load(Ordering::Relaxed))
    }

    /// Records currently waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.shared.as_ref().map_or(0, |s| depth(&s.tx))
    }

    /// Whether records are written anywhere (false for [`CallLog::disabled`]).
    pub fn is_enabled(&self) -> bool {
        self.shared.is_some()
    }
}

fn depth(tx: &mpsc::Sender<CallRecord>) -> usize {
    tx.max_capacity().saturating_sub(tx.capacity())
}

fn check_capacity(got: usize) -> Result<(), TelemetryError> {
    let max = tokio::sync::Semaphore::MAX_PERMITS;
    if got == 0 || got > max {
        return Err(TelemetryError::InvalidCapacity { got, max });
    }
    Ok(())
}

/// Owner of the worker task; call [`CallLogWorker::shutdown`] to drain the
/// queue at exit. Dropping it without shutting down detaches the worker, which
/// then stops once every [`CallLog`] clone is dropped.
#[derive(Debug)]
#[must_use = "call shutdown() at exit so queued records are written"]
pub struct CallLogWorker {
    running: Option<(oneshot::Sender<()>, WorkerTask)>,
}

/// The spawned worker task and its final result.
type WorkerTask = JoinHandle<Result<(), TelemetryError>>;

impl CallLogWorker {
    fn idle() -> Self {
        Self { running: None }
    }

    /// Closes the queue (later [`CallLog::emit`] calls drop and count), waits
    /// until every record already queued has been written, flushes the sink, and
    /// returns. Errors only if the worker panicked; sink write failures are
    /// logged and counted as drops instead.
    pub async fn shutdown(mut self) -> Result<(), TelemetryError> {
        let Some((stop, task)) = self.running.take() else {
            return Ok(());
        };
        // The worker may already have stopped (all senders dropped); that is fine.
        let _ = stop.send(());
        match task.await {
            Ok(result) => result,
            Err(e) => Err(TelemetryError::Worker(e.to_string())),
        }
    }
}

/// The sink plus the state of its error reporting, moved to and from the
/// blocking pool for each batch.
struct Writer<S> {
    sink: S,
    failing: bool,
    stats: Arc<Stats>,
}

impl<S: Sink> Writer<S> {
    fn write(&mut self, batch: &[CallRecord], flush: bool) {
        let mut result = self.sink.write(batch);
        if result.is_err() {
            self.stats.add_dropped(batch.len() as u64, "sink_error");
        }
        if flush {
            result = result.and(self.sink.flush());
        }
        self.note(result);
    }

    fn flush(&mut self) {
        let result = self.sink.flush();
        self.note(result);
    }

    /// Logs the first error of a streak and the recovery, not every failure.
    fn note(&mut self, result: Result<(), TelemetryError>) {
        match result {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!("access log sink recovered");
            }
            Ok(()) => {}
            Err(error) if !self.failing => {
                self.failing = true;
                tracing::error!(%error, "access log sink failed; dropping records until it recovers");
            }
            Err(_) => {}
        }
    }
}

/// Runs `f` with the writer on the blocking pool and gives the writer back.
async fn blocking<S: Sink, T: Send + 'static>(
    mut writer: Writer<S>,
    arg: T,
    f: impl FnOnce(&mut Writer<S>, &mut T) + Send + 'static,
) -> Result<(Writer<S>, T), TelemetryError> {
    let mut arg = arg;
    tokio::task::spawn_blocking(move || {
        f(&mut writer, &mut arg);
        (writer, arg)
    })
    .await
    .map_err(|e| TelemetryError::Worker(e.to_string()))
}

async fn run_worker<S: Sink>(
    mut rx: mpsc::Receiver<CallRecord>,
    sink: S,
    stop: oneshot::Receiver<()>,
    stats: Arc<Stats>,
) -> Result<(), TelemetryError> {
    let mut stop = Some(stop);
    let mut writer = Writer {
        sink,
        failing: false,
        stats,
    };
    let mut batch: Vec<CallRecord> = Vec::with_capacity(MAX_BATCH);
    loop {
        let n = match stop.as_mut() {
            Some(signal) => tokio::select! {
                biased;
                res = signal => {
                    stop = None;
                    // Err: the worker handle was dropped; keep running detached.
                    if res.is_ok() {
                        rx.close();
                    }
                    continue;
                }
                n = rx.recv_many(&mut batch, MAX_BATCH) => n,
            },
            None => rx.recv_many(&mut batch, MAX_BATCH).await,
        };
        if n == 0 {
            // Closed and drained.
            break;
        }
        // A small batch under steady traffic: linger a moment so the next
        // hand-off to the blocking pool carries many records, not one (each
        // hand-off wakes a thread). Not while stopping.
        if n < LINGER_BELOW && stop.is_some() {
            tokio::time::sleep(LINGER).await;
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(rec) => batch.push(rec),
                    Err(_) => break,
                }
            }
        }
        // We took everything there was: flush after this batch so lines appear.
        let flush = rx.is_empty();
        (writer, batch) = blocking(writer, batch, move |w, batch| {
            w.write(batch, flush);
            batch.clear();
        })
        .await?;
    }
    blocking(writer, (), |w, _| w.flush()).await?;
    Ok(())
}

#[cfg(test)]
mod tests;
