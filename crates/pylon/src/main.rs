//! The `pylon` command: runs the gateway and its helper commands.
#![forbid(unsafe_code)]

mod cli;
mod logging;
mod serve;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

/// mimalloc: markedly cheaper than glibc malloc for the many small, short-lived
/// allocations of request handling (see bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { file } => validate(&file),
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

fn validate(file: &std::path::Path) -> ExitCode {
    match pylon_config::load_file_with(file, &pylon_policy::check) {
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
