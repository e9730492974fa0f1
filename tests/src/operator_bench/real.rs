//! `operator-bench` on a real control plane: the operator runs as a
//! ServiceAccount bound to its generated RBAC, its requests are counted by
//! the API server's own flow-control metrics, and memory is read from
//! `/proc` for the operator and the API server.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::{
        authentication::v1::TokenRequest,
        core::v1::{Namespace, ServiceAccount},
        rbac::v1::{ClusterRoleBinding, RoleBinding},
    },
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
};
use rustymail_operator::{
    crd::RustyMail,
    rbac::{self, RbacArgs},
};
use serde_json::json;

use super::{
    Plan, Report,
    apiserver::{self, LEASE_SCHEMA, READ_SCHEMA, WRITE_SCHEMA},
    fleet_yaml, reconciled,
};
use crate::{
    bench::{status_bytes, two_decimals},
    operator::Operator,
    workspace,
};

/// Namespace of the operator's ServiceAccount.
const SYSTEM: &str = "rustymail-bench-system";
/// Namespace of the Lease (where the test harness's operators keep it).
const LEASE_NAMESPACE: &str = "default";
/// The operator's ServiceAccount.
const ACCOUNT: &str = "rustymail-operator";
const MANAGER: &str = "operator-bench";

fn err(what: &str) -> impl Fn(kube::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

async fn apply<K>(api: &Api<K>, name: &str, object: &serde_json::Value) -> Result<K, String>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(object),
    )
    .await
    .map_err(|e| format!("applying {name}: {e}"))
}

/// A client for the cluster of `kubeconfig`.
pub async fn client(kubeconfig: &Path) -> Result<Client, String> {
    let config = Kubeconfig::read_from(kubeconfig).map_err(|e| format!("kubeconfig: {e}"))?;
    let config = Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("kubeconfig: {e}"))?;
    Client::try_from(config).map_err(err("client"))
}

/// Applies the CRD and waits until it is established.
async fn install_crd(client: &Client) -> Result<(), String> {
    let text = std::fs::read_to_string(workspace::root().join("crds/rustymail.yaml"))
        .map_err(|e| format!("CRD: {e}"))?;
    let crd: serde_json::Value = serde_saphyr::from_str(&text).map_err(|e| format!("CRD: {e}"))?;
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let name = crd["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    apply(&api, &name, &crd).await?;
    for _ in 0..100 {
        let established = api
            .get(&name)
            .await
            .ok()
            .and_then(|c| c.status)
            .is_some_and(|s| {
                s.conditions
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
        if established {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err("the RustyMail CRD never became established".to_owned())
}

/// Creates the operator's ServiceAccount bound to the generated RBAC and
/// returns a kubeconfig that authenticates as it.
async fn operator_identity(client: &Client, admin: &Path, dir: &Path) -> Result<PathBuf, String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    apply(
        &namespaces,
        SYSTEM,
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYSTEM}}),
    )
    .await?;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), SYSTEM);
    apply(&accounts, ACCOUNT, &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, "namespace": SYSTEM}})).await?;

    let roles = rbac::generate(&RbacArgs {
        lease_namespace: Some(LEASE_NAMESPACE.to_owned()),
        ..RbacArgs::default()
    })
    .map_err(|e| format!("RBAC: {e}"))?;
    let subject = json!([{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": SYSTEM}]);
    let cluster_role = roles.cluster_role.name_any();
    let value = serde_json::to_value(&roles.cluster_role).map_err(|e| e.to_string())?;
    apply(&Api::all(client.clone()), &cluster_role, &value)
        .await
        .map(|_: k8s_openapi::api::rbac::v1::ClusterRole| ())?;
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    apply(&bindings, &cluster_role, &json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": cluster_role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
        "subjects": subject,
    }))
    .await?;
    for role in &roles.roles {
        let ns = role.namespace().unwrap_or_else(|| SYSTEM.to_owned());
        let name = role.name_any();
        let mut value = serde_json::to_value(role).map_err(|e| e.to_string())?;
        value["metadata"]["namespace"] = json!(ns);
        apply(&Api::namespaced(client.clone(), &ns), &name, &value)
            .await
            .map(|_: k8s_openapi::api::rbac::v1::Role| ())?;
        let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
        apply(
            &bindings,
            &name,
            &json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": name, "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": subject,
            }),
        )
        .await?;
    }

    let request: TokenRequest = serde_json::from_value(json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 86400},
    }))
    .map_err(|e| e.to_string())?;
    let token: TokenRequest = accounts
        .create_subresource("token", ACCOUNT, &PostParams::default(), &request)
        .await
        .map_err(err("requesting a ServiceAccount token"))?;
    let token = token.status.map(|s| s.token).unwrap_or_default();

    let mut config = Kubeconfig::read_from(admin).map_err(|e| format!("kubeconfig: {e}"))?;
    for user in &mut config.auth_infos {
        if let Some(auth) = user.auth_info.as_mut() {
            *auth = serde_json::from_value(json!({"token": token})).map_err(|e| e.to_string())?;
        }
    }
    let path = dir.join("operator.kubeconfig");
    let text = serde_saphyr::to_string(&config).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// Whether `rm` reports Ready (its pods are all ready).
fn ready(rm: &RustyMail) -> bool {
    rm.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    })
}

/// Creates the fleet with server-side apply, as the admin.
async fn create_fleet(client: &Client, plan: &Plan) -> Result<(), String> {
    for doc in fleet_yaml(plan)
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
    {
        let value: serde_json::Value =
            serde_saphyr::from_str(doc).map_err(|e| format!("fleet: {e}"))?;
        let object: kube::core::DynamicObject =
            serde_json::from_value(value.clone()).map_err(|e| format!("fleet: {e}"))?;
        let types = object.types.clone().unwrap_or_default();
        let (group, version) = types
            .api_version
            .split_once('/')
            .unwrap_or(("", &types.api_version));
        let resource = kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
            group,
            version,
            &types.kind,
        ));
        let api: Api<kube::core::DynamicObject> = match object.namespace() {
            Some(ns) => Api::namespaced_with(client.clone(), &ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        apply(&api, &object.name_any(), &value).await?;
    }
    Ok(())
}

/// Operator requests per flow schema now.
async fn counters(client: &Client) -> Result<[u64; 3], String> {
    let all = apiserver::dispatched(client)
        .await
        .map_err(err("reading the API server's metrics"))?;
    let get = |s: &str| all.get(s).copied().unwrap_or(0);
    Ok([get(LEASE_SCHEMA), get(WRITE_SCHEMA), get(READ_SCHEMA)])
}

/// A running local control plane started by `scripts/cluster up`; stopped on drop.
pub struct LocalCluster {
    dir: tempfile::TempDir,
    /// Its admin kubeconfig.
    pub kubeconfig: PathBuf,
}

impl LocalCluster {
    /// Starts one in a private state directory.
    pub fn up() -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new(workspace::root().join("scripts/cluster"))
            .arg("up")
            .env("RUSTYMAIL_CLUSTER_DIR", dir.path())
            .output()
            .map_err(|e| format!("scripts/cluster up: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/cluster up failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let kubeconfig = String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("export KUBECONFIG="))
            .map(|p| PathBuf::from(p.trim_matches(['\'', '"'])))
            .ok_or("scripts/cluster up printed no KUBECONFIG")?;
        Ok(Self { dir, kubeconfig })
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = Command::new(workspace::root().join("scripts/cluster"))
            .arg("down")
            .env("RUSTYMAIL_CLUSTER_DIR", self.dir.path())
            .status();
    }
}

/// Runs the benchmark against the cluster of `kubeconfig`.
pub async fn run(plan: Plan, kubeconfig: &Path) -> Result<Report, String> {
    let client = client(kubeconfig).await?;
    let port = client_port(kubeconfig)?;
    let apiserver = apiserver::apiserver_pid(port);
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    install_crd(&client).await?;
    let operator_config = operator_identity(&client, kubeconfig, work.path()).await?;
    apiserver::install_flow_schemas(&client, SYSTEM, ACCOUNT)
        .await
        .map_err(err("installing flow schemas"))?;
    create_fleet(&client, &plan).await?;
    let rustymails: Api<RustyMail> = Api::all(client.clone());

    let mut apiserver_peak = apiserver
        .and_then(|p| status_bytes(p, "VmRSS"))
        .unwrap_or(0);
    let before = counters(&client).await?;
    let concurrency = plan.concurrency.to_string();
    let operator = Operator::start(
        &operator_config,
        "bench",
        LEASE_NAMESPACE,
        &["--max-concurrent-reconciles", &concurrency],
    );
    let started = Instant::now();
    let mut done = 0;
    while started.elapsed() < plan.timeout {
        tokio::time::sleep(Duration::from_secs(1)).await;
        apiserver_peak = apiserver_peak.max(
            apiserver
                .and_then(|p| status_bytes(p, "VmRSS"))
                .unwrap_or(0),
        );
        let list = rustymails
            .list(&ListParams::default())
            .await
            .map_err(err("listing RustyMails"))?;
        done = list.items.iter().filter(|rm| reconciled(rm)).count();
        if done == plan.resources {
            break;
        }
    }
    let converged = started.elapsed();
    let at_convergence = counters(&client).await?;
    // Pods become Ready after the operator's part is done, and each rollout
    // step is a real status change; the quiet period starts once all are Ready.
    while started.elapsed() < plan.timeout {
        let list = rustymails
            .list(&ListParams::default())
            .await
            .map_err(err("listing RustyMails"))?;
        if list.items.iter().all(ready) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let quiet_from = counters(&client).await?;
    tokio::time::sleep(plan.steady_state).await;
    apiserver_peak = apiserver_peak.max(
        apiserver
            .and_then(|p| status_bytes(p, "VmRSS"))
            .unwrap_or(0),
    );
    let after = counters(&client).await?;
    let operator_peak = status_bytes(operator.pid(), "VmHWM").unwrap_or(0);
    let operator_anon = status_bytes(operator.pid(), "RssAnon").unwrap_or(0);
    let operator_file = status_bytes(operator.pid(), "RssFile").unwrap_or(0);
    drop(operator);

    let delta = |a: [u64; 3], b: [u64; 3], i: usize| b[i].saturating_sub(a[i]);
    let requests = delta(before, at_convergence, 1) + delta(before, at_convergence, 2);
    let writes = delta(before, at_convergence, 1);
    let n = plan.resources.max(1) as f64;
    let report = Report {
        resources: plan.resources,
        namespaces: plan.namespaces,
        all_reconciled: done == plan.resources,
        reconciled: done,
        seconds_to_all_reconciled: two_decimals(converged.as_secs_f64()),
        api_requests_per_resource: two_decimals(requests as f64 / n),
        api_writes_per_resource: two_decimals(writes as f64 / n),
        writes_during_steady_state: delta(quiet_from, after, 1),
        steady_state_seconds: plan.steady_state.as_secs(),
        lease_writes_during_steady_state: delta(quiet_from, after, 0),
        operator_peak_rss_bytes: operator_peak,
        operator_rss_anon_bytes: operator_anon,
        operator_rss_file_bytes: operator_file,
        operator_build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        apiserver_peak_rss_bytes: Some(apiserver_peak),
        max_concurrent_reconciles: plan.concurrency,
        counted_by: "kube-apiserver flow-control metrics (apiserver_flowcontrol_dispatched_requests_total) of flow schemas matching only the operator's ServiceAccount",
    };
    cleanup(&client, &plan).await;
    Ok(report)
}

/// Deletes what the benchmark created, except the CRD.
async fn cleanup(client: &Client, plan: &Plan) {
    apiserver::remove_flow_schemas(client).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in (0..plan.namespaces)
        .map(|i| format!("bench-{i}"))
        .chain([SYSTEM.to_owned()])
    {
        let _ = namespaces.delete(&ns, &DeleteParams::background()).await;
    }
    let _ = Api::<ClusterRoleBinding>::all(client.clone())
        .delete(ACCOUNT, &DeleteParams::default())
        .await;
    let _ = Api::<k8s_openapi::api::rbac::v1::ClusterRole>::all(client.clone())
        .delete(ACCOUNT, &DeleteParams::default())
        .await;
}

/// The API server's port, from the kubeconfig's current cluster.
fn client_port(kubeconfig: &Path) -> Result<u16, String> {
    let config = Kubeconfig::read_from(kubeconfig).map_err(|e| format!("kubeconfig: {e}"))?;
    let server = config
        .clusters
        .first()
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or("the kubeconfig names no server")?;
    let uri: http::Uri = server
        .parse()
        .map_err(|e| format!("server {server}: {e}"))?;
    Ok(uri.port_u16().unwrap_or(443))
}
