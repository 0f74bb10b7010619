//! The `pylon` command: runs the gateway and its helper commands.
#![forbid(unsafe_code)]

mod catalog;
mod cli;
mod control;
mod logging;
mod openapi;
mod serve;
mod store_cli;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, ConfigCommand, OpenapiCommand, SecretsCommand};

/// mimalloc: markedly cheaper than glibc malloc for the many small, short-lived
/// allocations of request handling (see bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The master key decrypts secrets in every config this process loads.
    match pylon_config::envelope::MasterKey::from_env() {
        Ok(key) => pylon_config::envelope::install(key),
        Err(e) => {
            eprintln!("pylon: master key: {e}");
            return ExitCode::from(2);
        }
    }
    match cli.command {
        Command::Config(cmd) => run_async(async move {
            match cmd {
                ConfigCommand::Export { output } => {
                    store_cli::export(output.as_deref()).await.map(|()| true)
                }
                ConfigCommand::Import {
                    file,
                    dry_run,
                    message,
                } => store_cli::import(&file, dry_run, &message).await,
            }
        }),
        Command::Secrets(SecretsCommand::GenerateKey) => {
            match pylon_config::envelope::MasterKey::generate_base64() {
                Ok(k) => {
                    println!("{k}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("pylon: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Secrets(SecretsCommand::RotateMasterKey { new_key_file }) => {
            run_async(async move { store_cli::rotate(&new_key_file).await.map(|()| true) })
        }
        Command::Validate { file } => validate(&file),
        Command::Catalog(args) => catalog::run(&args),
        Command::Openapi(OpenapiCommand::Import {
            spec,
            upstream,
            target,
            service,
            output,
        }) => {
            let opts = openapi::ImportOptions {
                service,
                upstream,
                target,
            };
            match openapi_import(&spec, &opts, output.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pylon: {}: {e:#}", spec.display());
                    ExitCode::from(1)
                }
            }
        }
        Command::Serve(args) => {
            if let Err(e) = logging::init(&cli.log_level, cli.log_format) {
                eprintln!("pylon: {e}");
                return ExitCode::from(2);
            }
            match serve::run(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    // One clear line per problem; details were logged already.
                    eprintln!("pylon: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

/// Runs a store command on a small runtime: exit 0 (true), 1 (false or an error).
fn run_async(fut: impl std::future::Future<Output = anyhow::Result<bool>>) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pylon: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(fut) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("pylon: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn openapi_import(
    spec: &std::path::Path,
    opts: &openapi::ImportOptions,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(spec)?;
    let doc: serde_json::Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(&text)?
    } else {
        serde_saphyr::from_str(&text).map_err(|e| anyhow::anyhow!("not valid YAML: {e}"))?
    };
    let config = openapi::import(&doc, opts)?;
    let yaml = serde_saphyr::to_string(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
    match output {
        Some(path) => std::fs::write(path, yaml)?,
        None => print!("{yaml}"),
    }
    Ok(())
}

fn validate(file: &std::path::Path) -> ExitCode {
    match pylon_config::load_file_with(file, &pylon_ai::check_all) {
        Ok(_) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{} error(s)", e.issues.len());
            ExitCode::from(1)
        }
    }
}
