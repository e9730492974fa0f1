//! `rustymail-dataplane`: parses arguments and runs the chosen command.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use rustymail_dataplane::{
    config::{Config, env::ProcessEnv},
    logging,
    server::serve_until_terminated,
};

/// RustyMail data plane: an HTTPS REST API over IMAP mailboxes.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a config file; exits non-zero naming the offending key.
    CheckConfig {
        /// The YAML config file.
        #[arg(long, short = 'c')]
        config: PathBuf,
    },
    /// Serve the API over HTTPS until SIGTERM.
    Serve {
        /// The YAML config file.
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// Serve an ephemeral self-signed certificate (for local runs only).
        #[arg(long)]
        self_signed: bool,
    },
}

/// mimalloc: a request allocates a few dozen small blocks (hyper, axum, TLS
/// records), and glibc's allocator spent an eighth of the data plane's
/// user-space instructions on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::CheckConfig { config } => match Config::load(&config) {
            Ok(_) => {
                println!("{}: valid", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {}: {e}", config.display());
                ExitCode::FAILURE
            }
        },
        Command::Serve {
            config,
            self_signed,
        } => serve(config, self_signed),
    }
}

fn serve(path: PathBuf, self_signed: bool) -> ExitCode {
    let mut config = match Config::read(&path, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => return fail(&path, &e),
    };
    if self_signed {
        config.tls.use_self_signed();
    }
    if let Err(e) = config.check() {
        return fail(&path, &e);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => return fail(&path, &e),
    };
    logging::init();
    match runtime.block_on(serve_until_terminated(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            fail(&path, &e)
        }
    }
}

fn fail(path: &std::path::Path, e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {}: {e}", path.display());
    ExitCode::FAILURE
}
