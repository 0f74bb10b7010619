//! Command-line interface definition.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Pylon: an API gateway and AI gateway in one binary.
#[derive(Debug, Parser)]
#[command(name = "pylon", version, about)]
pub struct Cli {
    /// Log filter, e.g. `info` or `pylon_proxy=debug,info`.
    #[arg(long, global = true, env = "PYLON_LOG", default_value = "info")]
    pub log_level: String,
    /// Log line format.
    #[arg(long, global = true, env = "PYLON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway.
    Serve(ServeArgs),
    /// Check a config file; prints `ok` or every error with its path (exit 1).
    Validate {
        /// The config file (YAML or JSON).
        file: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file (YAML or JSON). Without it Pylon starts on the embedded
    /// default: proxy on 0.0.0.0:8080, admin on 127.0.0.1:9080, no routes.
    #[arg(long, short, env = "PYLON_CONFIG")]
    pub config: Option<PathBuf>,
    /// Worker threads; default one per core.
    #[arg(long, env = "PYLON_WORKERS")]
    pub workers: Option<usize>,
}
