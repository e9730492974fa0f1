//! What the benchmark reads off a real API server: its request counters for
//! the operator alone, and its memory.
//!
//! The API server counts requests per API Priority and Fairness flow schema
//! (`apiserver_flowcontrol_dispatched_requests_total{flow_schema=…}`), so
//! the benchmark installs three flow schemas matching only the operator's
//! ServiceAccount: its Lease requests, its writes, and everything else.
//! Their counters are the operator's requests, counted by the server itself.

use std::{collections::BTreeMap, path::Path};

use k8s_openapi::api::flowcontrol::v1::FlowSchema;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;

/// Flow schema of the operator's Lease requests.
pub const LEASE_SCHEMA: &str = "rustymail-bench-lease";
/// Flow schema of the operator's other writes.
pub const WRITE_SCHEMA: &str = "rustymail-bench-writes";
/// Flow schema of the operator's other requests (reads, watches, discovery).
pub const READ_SCHEMA: &str = "rustymail-bench-reads";

const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// Installs the three flow schemas for the ServiceAccount `namespace/name`.
pub async fn install_flow_schemas(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<(), kube::Error> {
    let api: Api<FlowSchema> = Api::all(client.clone());
    let subject = json!([{"kind": "ServiceAccount", "serviceAccount": {"name": name, "namespace": namespace}}]);
    let resources = |verbs: &[&str], group: &str, resource: &str| json!([{"verbs": verbs, "apiGroups": [group], "resources": [resource], "clusterScope": true, "namespaces": ["*"]}]);
    let schemas = [
        (
            LEASE_SCHEMA,
            100,
            json!([{"subjects": subject, "resourceRules": resources(&["*"], "coordination.k8s.io", "leases")}]),
        ),
        (
            WRITE_SCHEMA,
            101,
            json!([{"subjects": subject, "resourceRules": resources(&WRITE_VERBS, "*", "*")}]),
        ),
        (
            READ_SCHEMA,
            102,
            json!([{"subjects": subject, "resourceRules": resources(&["*"], "*", "*"), "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]),
        ),
    ];
    for (schema, precedence, rules) in schemas {
        let object = json!({
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
            "kind": "FlowSchema",
            "metadata": {"name": schema},
            "spec": {
                "priorityLevelConfiguration": {"name": "workload-high"},
                "matchingPrecedence": precedence,
                "distinguisherMethod": {"type": "ByUser"},
                "rules": rules,
            }
        });
        api.patch(
            schema,
            &PatchParams::apply("operator-bench").force(),
            &Patch::Apply(&object),
        )
        .await?;
    }
    Ok(())
}

/// Removes the flow schemas.
pub async fn remove_flow_schemas(client: &Client) {
    let api: Api<FlowSchema> = Api::all(client.clone());
    for schema in [LEASE_SCHEMA, WRITE_SCHEMA, READ_SCHEMA] {
        let _ = api.delete(schema, &Default::default()).await;
    }
}

/// Requests dispatched per flow schema, from the API server's `/metrics`.
pub async fn dispatched(client: &Client) -> Result<BTreeMap<String, u64>, kube::Error> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    let text = client.request_text(request).await?;
    Ok(dispatched_in(&text))
}

/// Sums `apiserver_flowcontrol_dispatched_requests_total` by `flow_schema`
/// in a Prometheus text exposition.
pub fn dispatched_in(metrics: &str) -> BTreeMap<String, u64> {
    let mut sums = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("apiserver_flowcontrol_dispatched_requests_total{")
        else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let schema = labels
            .split(',')
            .find_map(|l| l.strip_prefix("flow_schema=\""))
            .and_then(|v| v.strip_suffix('"'));
        let count = value.trim().parse::<f64>().ok();
        if let (Some(schema), Some(count)) = (schema, count) {
            *sums.entry(schema.to_owned()).or_insert(0) += count as u64;
        }
    }
    sums
}

/// The pid of the `kube-apiserver` serving on `port`, from `/proc`.
pub fn apiserver_pid(port: u16) -> Option<u32> {
    let wanted = [format!("--secure-port={port}"), port.to_string()];
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline =
                std::fs::read(Path::new("/proc").join(pid.to_string()).join("cmdline")).ok()?;
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let is_apiserver = args.first().is_some_and(|a| a.ends_with("kube-apiserver"));
            let on_port = args
                .windows(2)
                .any(|w| w[0] == wanted[0] || (w[0] == "--secure-port" && w[1] == wanted[1]))
                || args.iter().any(|a| *a == wanted[0]);
            (is_apiserver && on_port).then_some(pid)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatched_requests_are_summed_per_flow_schema() {
        let text = "# HELP apiserver_flowcontrol_dispatched_requests_total x\n\
apiserver_flowcontrol_dispatched_requests_total{flow_schema=\"rustymail-bench-reads\",priority_level=\"workload-high\"} 12\n\
apiserver_flowcontrol_dispatched_requests_total{flow_schema=\"rustymail-bench-reads\",priority_level=\"other\"} 3\n\
apiserver_flowcontrol_dispatched_requests_total{flow_schema=\"exempt\",priority_level=\"exempt\"} 4e+03\n\
apiserver_request_total{verb=\"GET\"} 99\n";
        let sums = dispatched_in(text);
        assert_eq!(sums.get(READ_SCHEMA), Some(&15));
        assert_eq!(sums.get("exempt"), Some(&4000));
        assert_eq!(sums.len(), 2);
    }
}
