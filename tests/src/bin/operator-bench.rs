//! `operator-bench`: converges N RustyMails with the real operator on a
//! real control plane (the cluster of `KUBECONFIG`, or one started with
//! `scripts/cluster up`), and prints one JSON object with the figures.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use rustymail_tests::operator_bench::{
    Plan, Report,
    real::{self, LocalCluster},
};

/// Benchmark the operator against a control plane.
#[derive(Parser)]
struct Args {
    /// The cluster to run on. Default: `KUBECONFIG`'s; when unset, a local
    /// control plane started with `scripts/cluster up` for the run.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// RustyMail resources to create.
    #[arg(long, default_value_t = 1000)]
    resources: usize,
    /// Namespaces to spread them over.
    #[arg(long, default_value_t = 10)]
    namespaces: usize,
    /// Seconds of quiet measured after convergence.
    #[arg(long, default_value_t = 60)]
    steady_seconds: u64,
    /// Seconds to wait for convergence before giving up.
    #[arg(long, default_value_t = 600)]
    timeout_seconds: u64,
    /// The operator's --max-concurrent-reconciles.
    #[arg(long, default_value_t = rustymail_operator::controller::DEFAULT_CONCURRENCY)]
    concurrency: u16,
}

/// Builds the operator binary in this benchmark's own profile, so the figures
/// are always those of the current code.
fn build_operator() -> Result<(), String> {
    let mut cargo = std::process::Command::new(env!("CARGO"));
    cargo.args([
        "build",
        "--quiet",
        "-p",
        "rustymail-operator",
        "--bin",
        "rustymail-operator",
    ]);
    if !cfg!(debug_assertions) {
        cargo.arg("--release");
    }
    match cargo.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("building the operator failed: {s}")),
        Err(e) => Err(format!("cannot run cargo: {e}")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = build_operator() {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let plan = Plan {
        resources: args.resources,
        namespaces: args.namespaces.max(1),
        steady_state: Duration::from_secs(args.steady_seconds),
        timeout: Duration::from_secs(args.timeout_seconds),
        concurrency: args.concurrency,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result: Result<Report, String> = runtime.block_on(async {
        match &args.kubeconfig {
            Some(path) => real::run(plan, path).await,
            None => {
                let cluster = LocalCluster::up()?;
                real::run(plan, &cluster.kubeconfig).await
            }
        }
    });
    match result {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(json) => {
                println!("{json}");
                if report.all_reconciled {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
