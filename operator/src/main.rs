//! `rustymail-operator`: parses arguments and runs the chosen command.

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use rustymail_operator::{
    preview::{Assume, preview},
    rbac::{RbacArgs, rbac_yaml},
    run::{self, RunArgs},
};

/// Kubernetes operator for RustyMail.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller: reconcile RustyMails into their children while
    /// holding the leader Lease.
    Run(RunArgs),
    /// Print the RustyMail CustomResourceDefinition as YAML.
    Crd,
    /// Print the RBAC the operator needs (a ClusterRole, or Roles per
    /// namespace with `--namespaces`, and a Role for the Lease) as YAML.
    Rbac(RbacArgs),
    /// Print every object the operator would apply for a RustyMail file, as
    /// multi-document YAML (a preview and GitOps diff tool; no cluster needed).
    Render {
        /// The RustyMail YAML file (`-` for standard input).
        #[arg(long, short = 'f')]
        file: PathBuf,
        /// Namespace for a resource that names none.
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
        /// Assume cert-manager is installed (render the Certificate).
        #[arg(long)]
        cert_manager: bool,
        /// Assume the Prometheus Operator is installed (render ServiceMonitor and PrometheusRule).
        #[arg(long)]
        monitoring: bool,
        /// Assume `tls.issuerRef` names an ACME issuer such as Let's Encrypt
        /// (the Certificate then asks for `tls.dnsNames` only).
        #[arg(long)]
        acme_issuer: bool,
    },
}

fn read_input(file: &PathBuf) -> std::io::Result<String> {
    if file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(file)
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => match run::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Crd => {
            print!("{}", rustymail_operator::crd::crd_yaml());
            ExitCode::SUCCESS
        }
        Command::Rbac(args) => match rbac_yaml(&args) {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Render {
            file,
            namespace,
            cert_manager,
            monitoring,
            acme_issuer,
        } => {
            let text = match read_input(&file) {
                Ok(text) => text,
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", file.display());
                    return ExitCode::FAILURE;
                }
            };
            let assume = Assume {
                cert_manager,
                monitoring,
                acme_issuer,
            };
            match preview(&text, &namespace, assume) {
                Ok((yaml, notes)) => {
                    for note in notes {
                        eprintln!("note: {note}");
                    }
                    print!("{yaml}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    ExitCode::FAILURE
                }
            }
        }
    }
}
