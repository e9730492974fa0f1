//! `cluster-double`: runs the Kubernetes API test double on loopback,
//! writes a kubeconfig for it, and serves until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rustymail_tests::cluster::{
    ClusterDouble, FaultRule, Options, Policy, User, WatchFaults, thirdparty,
};

/// A Kubernetes API server test double for kube-rs and kubectl.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Where to write the admin kubeconfig.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Where to write a kubeconfig of the restricted (RBAC-checked) user.
    #[arg(long)]
    restricted_kubeconfig: Option<PathBuf>,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// YAML with ClusterRoles and Roles whose rules bind the restricted user.
    #[arg(long)]
    rbac: Option<PathBuf>,
    /// YAML objects (e.g. CRDs) to create at start.
    #[arg(long)]
    load: Vec<PathBuf>,
    /// Serve cert-manager's Certificate, Issuer and ClusterIssuer kinds.
    #[arg(long)]
    cert_manager: bool,
    /// Serve the Prometheus operator's ServiceMonitor and PrometheusRule kinds.
    #[arg(long)]
    prometheus_operator: bool,
    /// A fault, e.g. `verb=patch,resource=deployments,status=409,fraction=0.1`
    /// (keys: verb, resource, manager, status, latency-ms, nth, every, first,
    /// fraction).
    #[arg(long)]
    fault: Vec<FaultRule>,
    /// Seed of the fault generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Drop every watch after this many seconds.
    #[arg(long)]
    watch_drop_after_secs: Option<u64>,
    /// Drop every watch after this many events.
    #[arg(long)]
    watch_drop_after_events: Option<u64>,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 5)]
    bookmark_interval_secs: u64,
    /// Changes kept for watches before older versions answer 410 Gone.
    #[arg(long, default_value_t = 10_000)]
    history_limit: usize,
}

async fn run(cli: Cli) -> Result<(), String> {
    let rbac = match &cli.rbac {
        Some(path) => {
            let yaml =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(Policy::from_yaml(&yaml).map_err(|e| format!("{}: {e}", path.display()))?)
        }
        None => None,
    };
    let options = Options {
        port: cli.port,
        kubeconfig: Some(cli.kubeconfig.clone()),
        history_limit: cli.history_limit,
        bookmark_interval: Duration::from_secs(cli.bookmark_interval_secs.max(1)),
        seed: cli.seed,
        faults: cli.fault,
        watch_faults: WatchFaults {
            drop_after: cli.watch_drop_after_secs.map(Duration::from_secs),
            drop_after_events: cli.watch_drop_after_events,
        },
        rbac,
        ..Options::default()
    };
    let double = ClusterDouble::start(options)
        .await
        .map_err(|e| format!("cannot start: {e}"))?;
    if let Some(path) = &cli.restricted_kubeconfig {
        double
            .write_kubeconfig(path, User::Restricted)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let mut builtin = Vec::new();
    if cli.cert_manager {
        builtin.push(("cert-manager CRDs", thirdparty::cert_manager()));
    }
    if cli.prometheus_operator {
        builtin.push((
            "Prometheus operator CRDs",
            thirdparty::prometheus_operator(),
        ));
    }
    for (what, yaml) in builtin {
        double
            .create_from_yaml(&yaml)
            .map_err(|e| format!("{what}: {}", e.message))?;
    }
    for path in &cli.load {
        let yaml = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        double
            .create_from_yaml(&yaml)
            .map_err(|e| format!("{}: {}", path.display(), e.message))?;
    }
    eprintln!(
        "cluster-double serving {} (kubeconfig {})",
        double.url(),
        cli.kubeconfig.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster-double: {e}");
            ExitCode::FAILURE
        }
    }
}
