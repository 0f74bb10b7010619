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
    /// OpenAPI tools.
    #[command(subcommand)]
    Openapi(OpenapiCommand),
    /// The config in the store (`<data dir>/pylon.db`, or `PYLON_STORE_URL`) as a file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Encrypted secrets.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Print the model catalog Pylon prices calls with: id, provider kind,
    /// context window, output limit and prices (USD per million tokens).
    Catalog(CatalogArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write the store's active config version as a declarative YAML file (secrets stay
    /// encrypted envelopes; a node with the same master key can load the file).
    Export {
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Validate FILE, print its diff against the store's active version, and (without
    /// --dry-run) publish it as a new version.
    Import {
        /// The config file (YAML or JSON).
        file: PathBuf,
        /// Only print the diff; store nothing.
        #[arg(long)]
        dry_run: bool,
        /// Why; kept with the version.
        #[arg(long, short, default_value = "pylon config import")]
        message: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-encrypt every secret in the store (draft and all versions) from the current
    /// master key (PYLON_MASTER_KEY / PYLON_MASTER_KEY_FILE) to the key in FILE.
    RotateMasterKey {
        /// File holding the new key (base64 of 32 bytes).
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Print a new random master key (base64 of 32 bytes).
    GenerateKey,
}

#[derive(Debug, clap::Args)]
pub struct CatalogArgs {
    /// Only models of this provider kind (`openai`, `anthropic`, `bedrock`, ...).
    #[arg(long)]
    pub provider: Option<String>,
    /// Print a JSON array of entries instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Apply the `ai.catalog` overrides of this config file.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum OpenapiCommand {
    /// Turn an OpenAPI 3 document into Pylon config: a service, one route per
    /// operation, request validation from the schemas. Prints YAML (or writes
    /// it to --output); the result passes `pylon validate` once the upstream exists.
    Import {
        /// The OpenAPI document (YAML or JSON).
        spec: PathBuf,
        /// Upstream the routes proxy to.
        #[arg(long)]
        upstream: String,
        /// Also define the upstream with this target (`host:port` or URL).
        #[arg(long)]
        target: Option<String>,
        /// Service name (default: from the document's title).
        #[arg(long)]
        service: Option<String>,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
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
