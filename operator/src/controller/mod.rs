//! The RustyMail controller: watches RustyMails and everything they own, and
//! reconciles each into its children while this replica holds the Lease.
//!
//! ```text
//!  RustyMail ─┐
//!  children ──┼─(owner refs / instance label)─> reconcile ─> children, status, Events
//!  Lease ─────┘ (gained: reconcile all; lost: write nothing)
//! ```
//!
//! May depend on, in this crate: `backoff`, `crd`, `error`, `kinds`, `metrics`,
//! `namespaces`, `render`.

mod apis;
mod cache;
mod census;
mod compact;
pub mod diff;
mod execute;
mod observe;
pub mod plan;
mod recent;
mod reconcile;
mod retry;
mod status;

use std::{future::Future, sync::Arc, time::Duration};

use futures::{StreamExt, TryStreamExt, future::join_all, stream};
use kube::{
    Api, Client, ResourceExt,
    runtime::{
        Controller, WatchStreamExt,
        controller::{Action, Config as ControllerConfig},
        events::{Recorder, Reporter},
        reflector::{self, ObjectRef},
        watcher,
    },
};
use tokio::sync::watch;

pub use apis::{ApiPresence, Apis};

use crate::{
    backoff::{BackoffPolicy, SharedBackoffs},
    crd::RustyMail,
    error::Error,
    metrics::Metrics,
    namespaces::NamespaceScope,
    render::FIELD_MANAGER,
};
use cache::Caches;
use plan::{Note, Severity};
use recent::Writes;

/// Reconciles running at once unless configured otherwise.
pub const DEFAULT_CONCURRENCY: u16 = 16;

/// Everything a reconcile needs, shared by all of them.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// The operator's metrics.
    pub metrics: Metrics,
    /// Publishes Events on RustyMails.
    pub recorder: Recorder,
    /// `true` while this replica leads; only the leader writes.
    pub leader: watch::Receiver<bool>,
    /// Per-RustyMail backoff after failures.
    pub backoffs: SharedBackoffs<ObjectRef<RustyMail>>,
    /// Which optional APIs exist.
    pub apis: ApiPresence,
    /// Reconciles running at once, at most.
    pub concurrency: u16,
    /// Writes the watch caches may not show yet.
    writes: Writes,
    /// RustyMails in each scope's cache, for `managed_resources`.
    census: census::Census,
}

/// One controller's share: the context and the watch caches of its namespaces.
pub struct Scope {
    ctx: Arc<Context>,
    caches: Caches,
}

impl Context {
    /// A context for `client`, publishing Events as `identity`.
    pub fn new(
        client: Client,
        metrics: Metrics,
        leader: watch::Receiver<bool>,
        identity: String,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance: Some(identity),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            apis: ApiPresence::new(client.clone()),
            backoffs: SharedBackoffs::new(BackoffPolicy::default()),
            client,
            metrics,
            leader,
            concurrency: DEFAULT_CONCURRENCY,
            writes: Writes::default(),
            census: census::Census::default(),
        }
    }
}

async fn reconcile(rm: Arc<RustyMail>, scope: Arc<Scope>) -> Result<Action, Error> {
    let ctx = &scope.ctx;
    if !*ctx.leader.borrow() {
        return Ok(Action::await_change());
    }
    let timer = ctx.metrics.reconcile();
    let result = reconcile::reconcile(rm.clone(), &scope).await;
    reconcile::record(timer, &result);
    match &result {
        Ok(_) => ctx.backoffs.success(&ObjectRef::from_obj(rm.as_ref())),
        Err(Error::Degraded { .. }) => {}
        Err(e) => {
            let note = Note {
                severity: Severity::Warning,
                reason: "ReconcileFailed",
                action: "Reconcile",
                text: format!("will retry: {e}"),
            };
            execute::publish(ctx, &rm, &note).await;
        }
    }
    ctx.metrics.set_backing_off_resources(ctx.backoffs.len());
    result
}

fn error_policy(rm: Arc<RustyMail>, error: &Error, scope: Arc<Scope>) -> Action {
    let delay = scope.ctx.backoffs.failure(ObjectRef::from_obj(rm.as_ref()));
    // Here, not in `reconcile`: the failure is only recorded now, and the
    // gauge would otherwise lag a whole retry behind it.
    scope
        .ctx
        .metrics
        .set_backing_off_resources(scope.ctx.backoffs.len());
    match error {
        Error::Degraded { .. } => {
            tracing::info!(rustymail = %rm.name_any(), namespace = ?rm.namespace(), %error, retry_in = ?delay, "degraded")
        }
        _ => {
            tracing::warn!(rustymail = %rm.name_any(), namespace = ?rm.namespace(), %error, retry_in = ?delay, "reconcile failed")
        }
    }
    Action::requeue(delay)
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Fires once each time this replica becomes the leader.
fn leadership_gained(leader: watch::Receiver<bool>) -> impl futures::Stream<Item = ()> + Send {
    stream::unfold((leader, false), |(mut rx, mut was)| async move {
        loop {
            let now = *rx.borrow_and_update();
            let gained = now && !was;
            was = now;
            if gained {
                return Some(((), (rx, was)));
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    })
}

/// Fires each time discovery reports a change of the optional APIs, so
/// every RustyMail is reconciled with (or without) them.
fn apis_changed(served: watch::Receiver<Apis>) -> impl futures::Stream<Item = ()> + Send {
    stream::unfold(served, |mut rx| async move {
        rx.changed().await.ok()?;
        rx.borrow_and_update();
        Some(((), rx))
    })
}

/// Runs one controller over `namespace` (or all namespaces) until `shutdown`.
async fn run_scope(
    ctx: Arc<Context>,
    namespace: Option<String>,
    ready: watch::Sender<usize>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let ns = namespace.as_deref();
    // The controller's own watch, with each event also counted into the
    // gauges and, for a deleted RustyMail, its backoff forgotten.
    let (reader, writer) = reflector::store();
    let events = watcher(
        api::<RustyMail>(&client, ns),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    // Nobody reads managedFields, and the store holds every RustyMail.
    .modify(|rm| rm.metadata.managed_fields = None)
    .reflect(writer)
    .inspect_ok({
        let (ctx, reader, ns) = (ctx.clone(), reader.clone(), namespace.clone());
        move |event| census::on_event(&ctx, ns.as_deref(), reader.len(), event)
    });
    let controller = Controller::for_stream(events.applied_objects(), reader);
    let rustymails = controller.store();
    let served = ctx.apis.subscribe();
    let (controller, caches) = Caches::attach(controller, &client, ns, served.clone());
    let synced = caches.clone();
    tokio::spawn(async move {
        // The store's readiness wakes only its most recent waiter (the
        // controller's own), so poll again until it reports ready.
        loop {
            match tokio::time::timeout(Duration::from_millis(250), rustymails.wait_until_ready())
                .await
            {
                Ok(Ok(())) => break,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "the RustyMail cache will never sync");
                    return;
                }
                Err(_) => continue,
            }
        }
        while !synced.unsynced(Duration::from_secs(60)).await.is_empty() {}
        ready.send_modify(|n| *n += 1);
    });
    let scope = Arc::new(Scope {
        ctx: ctx.clone(),
        caches,
    });
    controller
        .with_config(ControllerConfig::default().concurrency(ctx.concurrency))
        .reconcile_all_on(leadership_gained(ctx.leader.clone()))
        .reconcile_all_on(apis_changed(served))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, scope)
        .for_each(|_| async {})
        .await;
}

/// Runs the controller over `scope` until `shutdown` resolves; `ready`
/// becomes `true` once every watch has listed its objects.
pub async fn run(
    ctx: Arc<Context>,
    scope: NamespaceScope,
    ready: watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Err(e) = ctx.apis.get().await {
        tracing::warn!(error = %e, "cannot discover optional APIs; assuming neither cert-manager nor Prometheus Operator until discovery answers");
    }
    let poller = ctx.clone();
    tokio::spawn(async move { poller.apis.poll().await });
    let namespaces: Vec<Option<String>> = match &scope {
        NamespaceScope::All => vec![None],
        NamespaceScope::Only(list) => list.iter().cloned().map(Some).collect(),
    };
    let wanted = namespaces.len();
    let (synced_tx, mut synced_rx) = watch::channel(0usize);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    tokio::spawn(async move {
        if synced_rx.wait_for(|n| *n >= wanted).await.is_ok() {
            tracing::info!("caches synced: ready");
            let _ = ready.send(true);
        }
    });
    let runs = namespaces.into_iter().map(|ns| {
        let mut stop = stop_rx.clone();
        let stopped = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        run_scope(ctx.clone(), ns, synced_tx.clone(), stopped)
    });
    join_all(runs).await;
}
