//! `operator-bench`: how fast the real operator converges a fleet of
//! RustyMails, how many API requests that takes, how quiet it is once
//! settled, and how much memory it and the API server need, on a real
//! control plane ([`real`]).
//!
//! May depend on, in this crate: `bench`, `operator`, `workspace`.

mod apiserver;
pub mod real;

use std::time::Duration;

use rustymail_operator::crd::RustyMail;
use serde::Serialize;

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
    /// The operator's resident memory at the end of the quiet period that is
    /// its own data (RssAnon: heap, stacks), as opposed to its mapped code.
    pub operator_rss_anon_bytes: u64,
    /// The operator's resident memory at the end of the quiet period that is
    /// mapped files (RssFile: mostly the binary's code, larger in a debug build).
    pub operator_rss_file_bytes: u64,
    /// The cargo profile the operator binary was built in (`debug` or
    /// `release`), the same as the benchmark's own.
    pub operator_build: &'static str,
    /// Peak resident memory of the API server seen during the run (sampled
    /// VmRSS); absent when its process could not be found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apiserver_peak_rss_bytes: Option<u64>,
    /// Reconciles allowed at once.
    pub max_concurrent_reconciles: u16,
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
