//! `operator-bench`: how fast the real operator converges a fleet of
//! RustyMails, how many API requests that takes, how quiet it is once
//! settled, and how much memory it and the API server need; on a real
//! control plane ([`real`]) or on the cluster double.

mod apiserver;
pub mod real;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use kube::{Api, api::ListParams};
use rustymail_operator::crd::RustyMail;
use serde::Serialize;

use crate::{
    bench::{status_bytes, two_decimals},
    cluster::{ClusterDouble, Options, Stats},
    operator::Operator,
    workspace,
};

/// What the benchmark measured; printed as one JSON object.
#[derive(Debug, Serialize)]
pub struct Report {
    /// RustyMails created.
    pub resources: usize,
    /// Namespaces they were spread over.
    pub namespaces: usize,
    /// Whether every one reached a reconciled status before the timeout.
    pub all_reconciled: bool,
    /// RustyMails reconciled at the end.
    pub reconciled: usize,
    /// From operator start to every RustyMail reconciled.
    pub seconds_to_all_reconciled: f64,
    /// Operator API requests until then, per RustyMail (Lease renewals excluded).
    pub api_requests_per_resource: f64,
    /// Operator writes until then, per RustyMail (Lease renewals excluded).
    pub api_writes_per_resource: f64,
    /// Writes other than Lease renewals over the quiet period after convergence.
    pub writes_during_steady_state: u64,
    /// Length of the quiet period.
    pub steady_state_seconds: u64,
    /// Lease renewals over the quiet period (leader election's heartbeat).
    pub lease_writes_during_steady_state: u64,
    /// Peak resident memory of the operator process (VmHWM).
    pub operator_peak_rss_bytes: u64,
    /// Peak resident memory of the API server seen during the run (sampled
    /// VmRSS); absent on the cluster double.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apiserver_peak_rss_bytes: Option<u64>,
    /// Reconciles allowed at once.
    pub max_concurrent_reconciles: u16,
    /// Requests by verb and resource until convergence (cluster double only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub requests_by_verb_resource: BTreeMap<String, u64>,
    /// Who counted the requests.
    pub counted_by: &'static str,
}

/// Benchmark parameters.
#[derive(Debug, Clone)]
pub struct Plan {
    /// RustyMails to create.
    pub resources: usize,
    /// Namespaces to spread them over.
    pub namespaces: usize,
    /// Quiet period measured after convergence.
    pub steady_state: Duration,
    /// Give up converging after this long.
    pub timeout: Duration,
    /// `--max-concurrent-reconciles` of the operator.
    pub concurrency: u16,
}

/// The Namespaces, account Secrets and RustyMails of the fleet, as YAML.
fn fleet_yaml(plan: &Plan) -> String {
    let mut yaml = String::new();
    for ns in 0..plan.namespaces {
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: bench-{ns}}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: imap, namespace: bench-{ns}}}\nstringData: {{username: u, password: p}}\n"
        ));
    }
    for i in 0..plan.resources {
        let ns = i % plan.namespaces;
        yaml.push_str(&format!(
            "---\napiVersion: rustymail.io/v1alpha1\nkind: RustyMail\nmetadata: {{name: mail-{i}, namespace: bench-{ns}}}\nspec:\n  accounts: [{{name: a, imap: {{host: imap.example.com}}, credentialsSecretRef: {{name: imap}}}}]\n"
        ));
    }
    yaml
}

/// Whether the operator has finished with `rm`: its status describes the
/// current generation, the certificate is ready and nothing is degraded.
fn reconciled(rm: &RustyMail) -> bool {
    let Some(status) = &rm.status else {
        return false;
    };
    let is = |t: &str, s: &str| {
        status
            .conditions
            .iter()
            .any(|c| c.type_ == t && c.status == s)
    };
    status.observed_generation.is_some()
        && status.observed_generation == rm.metadata.generation
        && is("CertificateReady", "True")
        && is("Degraded", "False")
}

/// Requests and writes in `stats`, Lease traffic apart: (requests, writes, lease writes).
fn split(stats: &Stats) -> (u64, u64, u64) {
    let mut requests = 0;
    let mut writes = 0;
    let mut lease_writes = 0;
    for (key, n) in &stats.by_verb_resource {
        let (verb, resource) = key.split_once(' ').unwrap_or((key, ""));
        let write = matches!(
            verb,
            "create" | "update" | "patch" | "delete" | "deletecollection"
        );
        if resource == "leases" {
            lease_writes += if write { n } else { &0 };
            continue;
        }
        requests += n;
        writes += if write { n } else { &0 };
    }
    (requests, writes, lease_writes)
}

/// Runs the benchmark on the cluster double: fleet, operator, convergence, quiet period.
pub async fn run_on_double(plan: Plan) -> Result<Report, String> {
    let double = ClusterDouble::start(Options {
        history_limit: 200_000,
        ..Options::default()
    })
    .await
    .map_err(|e| format!("cluster double: {e}"))?;
    let crd = std::fs::read_to_string(workspace::root().join("crds/rustymail.yaml"))
        .map_err(|e| format!("CRD: {e}"))?;
    double
        .create_from_yaml(&crd)
        .map_err(|e| format!("CRD: {e:?}"))?;
    double
        .create_from_yaml(&fleet_yaml(&plan))
        .map_err(|e| format!("fleet: {e:?}"))?;
    let client = double.client().await.map_err(|e| format!("client: {e}"))?;
    let api: Api<RustyMail> = Api::all(client);

    double.reset_stats();
    let concurrency = plan.concurrency.to_string();
    let operator = Operator::start(
        double.kubeconfig_path(),
        "bench",
        "default",
        &["--max-concurrent-reconciles", &concurrency],
    );
    let started = Instant::now();
    let mut polls = 0u64;
    let mut done = 0;
    while started.elapsed() < plan.timeout {
        tokio::time::sleep(Duration::from_millis(500)).await;
        polls += 1;
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("listing: {e}"))?;
        done = list.items.iter().filter(|rm| reconciled(rm)).count();
        if done == plan.resources {
            break;
        }
    }
    let converged = started.elapsed();
    let stats = double.stats();
    let (requests, writes, _) = split(&stats);
    let operator_requests = requests.saturating_sub(polls);

    double.reset_stats();
    tokio::time::sleep(plan.steady_state).await;
    let (_, steady_writes, lease_writes) = split(&double.stats());

    let n = plan.resources.max(1) as f64;
    Ok(Report {
        resources: plan.resources,
        namespaces: plan.namespaces,
        all_reconciled: done == plan.resources,
        reconciled: done,
        seconds_to_all_reconciled: two_decimals(converged.as_secs_f64()),
        api_requests_per_resource: two_decimals(operator_requests as f64 / n),
        api_writes_per_resource: two_decimals(writes as f64 / n),
        writes_during_steady_state: steady_writes,
        steady_state_seconds: plan.steady_state.as_secs(),
        lease_writes_during_steady_state: lease_writes,
        operator_peak_rss_bytes: status_bytes(operator.pid(), "VmHWM").unwrap_or(0),
        apiserver_peak_rss_bytes: None,
        max_concurrent_reconciles: plan.concurrency,
        requests_by_verb_resource: stats.by_verb_resource,
        counted_by: "the cluster double's request log",
    })
}
