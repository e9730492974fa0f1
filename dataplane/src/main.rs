//! `rustymail-dataplane`: parses arguments and runs the chosen command.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use rustymail_dataplane::config::Config;

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
}

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
    }
}
