//! `rustymail-dataplane`: parses arguments and runs the chosen command.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use rustymail_dataplane::{
    config::{
        self, Config, ConfigError,
        env::{EnvFile, ProcessEnv, Warning},
    },
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
        /// A file of the guide's environment variables (`NAME=value` lines),
        /// read as if sourced before the program started.
        #[arg(long)]
        env_file: Option<PathBuf>,
    },
    /// Serve the API over HTTPS until SIGTERM.
    Serve {
        /// The YAML config file.
        #[arg(long, short = 'c')]
        config: PathBuf,
        /// Serve an ephemeral self-signed certificate (for local runs only).
        #[arg(long)]
        self_signed: bool,
        /// A file of the guide's environment variables (`NAME=value` lines,
        /// what a Vault agent template writes), read as if sourced before
        /// the program started: its values win over the environment's.
        #[arg(long)]
        env_file: Option<PathBuf>,
    },
}

/// mimalloc: a request allocates a few dozen small blocks (hyper, axum, TLS
/// records), and glibc's allocator spent an eighth of the data plane's
/// user-space instructions on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::CheckConfig { config, env_file } => {
            match read(&config, env_file.as_deref()).and_then(|(c, warnings)| {
                c.check()?;
                Ok(warnings)
            }) {
                Ok(warnings) => {
                    for w in warnings {
                        eprintln!("warning: {}: {}", w.var, w.message);
                    }
                    println!("{}: valid", config.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&config, &e),
            }
        }
        Command::Serve {
            config,
            self_signed,
            env_file,
        } => serve(config, self_signed, env_file),
    }
}

/// The config at `path` with the guide's variables applied: from
/// `env_file` over the process environment, or the environment alone.
fn read(
    path: &std::path::Path,
    env_file: Option<&std::path::Path>,
) -> Result<(Config, Vec<Warning>), ConfigError> {
    match env_file {
        Some(file) => config::read_reporting(path, &EnvFile::read(file)?),
        None => config::read_reporting(path, &ProcessEnv),
    }
}

fn serve(path: PathBuf, self_signed: bool, env_file: Option<PathBuf>) -> ExitCode {
    let (mut config, warnings) = match read(&path, env_file.as_deref()) {
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
    for w in warnings {
        tracing::warn!(variable = w.var, "{}", w.message);
    }
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
