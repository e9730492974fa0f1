//! `rustymail-operator run`: wires the client, leader election, the admin
//! server and the controller together, and shuts them down in order on
//! SIGTERM: stop reconciling, release the Lease, stop the admin server.
//!
//! May depend on, in this crate: `admin`, `controller`, `lease`, `metrics`,
//! `namespaces`, `telemetry`.

use std::sync::Arc;

use tokio::{signal::unix::SignalKind, sync::watch};

use crate::{
    admin::{AdminArgs, AdminServer, AdminState},
    controller::{self, Context},
    lease::{KubeLeaseStore, LeaderElector, LeaseArgs},
    metrics::{self, Metrics},
    namespaces::NamespaceArgs,
    telemetry,
};

/// Why the operator could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad arguments.
    #[error("invalid arguments: {0}")]
    Arguments(String),
    /// Logging could not be set up.
    #[error(transparent)]
    Telemetry(#[from] telemetry::TelemetryError),
    /// No usable kubeconfig or in-cluster configuration.
    #[error("cannot configure the Kubernetes client (set KUBECONFIG or run in a pod): {0}")]
    Client(#[source] kube::Error),
    /// The async runtime could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The admin server failed.
    #[error(transparent)]
    Admin(#[from] crate::admin::AdminError),
    /// The Lease could not be released.
    #[error("leader election: {0}")]
    Lease(#[from] crate::lease::LeaseError),
}

/// Waits for SIGTERM or SIGINT.
async fn termination() {
    let term = tokio::signal::unix::signal(SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Arguments of `rustymail-operator run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Which namespaces to watch.
    #[command(flatten)]
    pub namespaces: NamespaceArgs,
    /// Leader election.
    #[command(flatten)]
    pub lease: LeaseArgs,
    /// The admin server.
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Reconciles running at once, at most. Default 16; higher converges a
    /// large fleet faster at the cost of memory and API load.
    #[arg(long, env = "MAX_CONCURRENT_RECONCILES", default_value_t = controller::DEFAULT_CONCURRENCY)]
    pub max_concurrent_reconciles: u16,
}

/// Runs the operator until SIGTERM or SIGINT.
pub fn run(args: RunArgs) -> Result<(), RunError> {
    let RunArgs {
        namespaces,
        lease,
        admin,
        max_concurrent_reconciles,
    } = args;
    let scope = namespaces
        .scope()
        .map_err(|e| RunError::Arguments(e.to_string()))?;
    telemetry::init()?;
    let runtime = tokio::runtime::Runtime::new().map_err(RunError::Runtime)?;
    runtime.block_on(async move {
        let client = kube::Client::try_default()
            .await
            .map_err(RunError::Client)?;
        let lease_config = lease
            .config(client.default_namespace())
            .map_err(|e| RunError::Arguments(e.to_string()))?;
        let identity = lease_config.identity.clone();
        let store =
            KubeLeaseStore::new(client.clone(), &lease_config.namespace, &lease_config.name);
        let leadership = LeaderElector::new(store, lease_config)
            .map_err(|e| RunError::Arguments(e.to_string()))?
            .spawn();

        let mut registry = metrics::registry();
        let metrics = Metrics::register(&mut registry);
        let mut leading = leadership.subscribe();
        let gauge = metrics.clone();
        tokio::spawn(async move {
            loop {
                gauge.set_leader(*leading.borrow_and_update());
                if leading.changed().await.is_err() {
                    gauge.set_leader(false);
                    return;
                }
            }
        });

        let (ready_tx, ready_rx) = watch::channel(false);
        let admin = AdminServer::bind(
            admin.addr,
            AdminState {
                registry: Arc::new(registry),
                ready: ready_rx,
            },
        )
        .await?;
        let admin_addr = admin.local_addr()?;
        tracing::info!(admin = %admin_addr, %identity, ?scope, "operator starting");
        let (stop_admin, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin_task = tokio::spawn(admin.run(async move {
            let _ = admin_stopped.await;
        }));

        let mut ctx = Context::new(client, metrics, leadership.subscribe(), identity);
        ctx.concurrency = max_concurrent_reconciles.max(1);
        let ctx = Arc::new(ctx);
        controller::run(ctx, scope, ready_tx, termination()).await;
        tracing::info!("controller stopped; releasing the Lease");
        let released = leadership.shutdown().await;
        let _ = stop_admin.send(());
        let _ = admin_task.await;
        released?;
        Ok(())
    })
}
