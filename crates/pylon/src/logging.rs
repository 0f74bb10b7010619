//! Process logging: `tracing` with an env-filter, as text or JSON lines on stderr.

use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

static JSON: AtomicBool = AtomicBool::new(false);

/// True when stderr carries JSON lines, so direct stderr messages must be JSON too.
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Install the global subscriber.
pub fn init(level: &str, format: LogFormat) -> Result<(), String> {
    JSON.store(matches!(format, LogFormat::Json), Ordering::Relaxed);
    let filter =
        EnvFilter::try_new(level).map_err(|e| format!("invalid log level `{level}`: {e}"))?;
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| format!("cannot install logger: {e}"))
}
