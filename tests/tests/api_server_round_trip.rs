//! What the real API server stores is what the operator expects to find:
//! every golden child of every example, applied as the operator applies it
//! and read back, satisfies the operator's "nothing to change" test; and a
//! RustyMail written with non-canonical quantities (`cpu: "0.5"`,
//! `memory: 1G`, stored as `500m` and `1G`) sees no writes once settled.

use std::time::Duration;

use futures::future::join_all;
use kube::{
    Api,
    api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams},
};
use rustymail_operator::{controller::diff::satisfied_by, crd::RustyMail};
use rustymail_tests::{
    control_plane::{ControlPlane, TestNamespace, install_crd, kubectl_admin},
    poll::eventually,
    scenario::{Scenario, WAIT},
    workspace,
};
use serde_json::Value;

/// The first path where `observed` does not satisfy `desired`, for messages.
fn first_difference(desired: &Value, observed: &Value, path: &str) -> Option<String> {
    match (desired, observed) {
        (Value::Object(d), Value::Object(o)) => d.iter().find_map(|(k, v)| {
            let at = format!("{path}.{k}");
            match o.get(k) {
                Some(ov) if !satisfied_by(v, ov) => first_difference(v, ov, &at),
                None if !satisfied_by(v, &Value::Null) => Some(format!("{at}: missing")),
                _ => None,
            }
        }),
        (Value::Array(d), Value::Array(o)) if d.len() == o.len() => d
            .iter()
            .zip(o)
            .enumerate()
            .find_map(|(i, (d, o))| first_difference(d, o, &format!("{path}[{i}]"))),
        (d, o) if !satisfied_by(d, o) => Some(format!("{path}: wanted {d}, stored {o}")),
        _ => None,
    }
}

/// Applies the golden children of `example` in a namespace of their own,
/// owned by the example RustyMail itself; returns one line per child the
/// API server stores differently from what the operator would expect.
async fn round_trip(example: std::path::PathBuf) -> Vec<String> {
    let stem = example
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ns = TestNamespace::create(&format!("golden-{stem}")).await;
    let client = ControlPlane::get().admin().await;
    let rm_text = std::fs::read_to_string(&example).expect("example");
    let rm: Value = serde_saphyr::from_str(&rm_text).expect("example YAML");
    let original_ns = rm["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_owned();
    let mut rm = rm;
    rm["metadata"]["namespace"] = Value::from(ns.name.clone());
    kubectl_admin(
        &["apply", "--server-side", "-f", "-"],
        Some(&rm.to_string()),
    )
    .await;
    let name = rm["metadata"]["name"].as_str().unwrap_or("mail").to_owned();
    let uid = Api::<RustyMail>::namespaced(client.clone(), &ns.name)
        .get(&name)
        .await
        .expect("the example RustyMail")
        .metadata
        .uid
        .expect("uid");

    let golden = workspace::root().join(format!("tests/golden/{stem}.yaml"));
    let text = std::fs::read_to_string(&golden)
        .expect("golden file")
        .replace(
            &format!("namespace: {original_ns}"),
            &format!("namespace: {}", ns.name),
        );
    let children: Vec<Value> = serde_saphyr::from_multiple(&text).expect("golden YAML");
    let mut problems = Vec::new();
    for mut child in children {
        child["metadata"]["ownerReferences"][0]["uid"] = Value::from(uid.clone());
        let api_version = child["apiVersion"].as_str().unwrap_or_default().to_owned();
        let kind = child["kind"].as_str().unwrap_or_default().to_owned();
        let child_name = child["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, &kind));
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns.name, &resource);
        let params = PatchParams::apply("rustymail-operator").force();
        if let Err(e) = api.patch(&child_name, &params, &Patch::Apply(&child)).await {
            problems.push(format!("{stem}: {kind} {child_name} refused: {e}"));
            continue;
        }
        let stored = api.get(&child_name).await.expect("read back");
        let stored = serde_json::to_value(stored).expect("JSON");
        if let Some(diff) = first_difference(&child, &stored, "") {
            problems.push(format!("{stem}: {kind} {child_name} {diff}"));
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_golden_child_reads_back_as_nothing_to_change() {
    install_crd().await;
    let examples = workspace::examples();
    assert!(!examples.is_empty());
    let problems: Vec<String> = join_all(examples.into_iter().map(round_trip))
        .await
        .into_iter()
        .flatten()
        .collect();
    assert!(
        problems.is_empty(),
        "the API server stores these children differently from what the operator \
         expects, so it would rewrite them on every resync:\n{}",
        problems.join("\n")
    );
}

/// The operator's successful reconciles so far, from its admin endpoint.
async fn reconciles(admin: &str) -> u64 {
    let out = tokio::process::Command::new("curl")
        .args(["-s", &format!("http://{admin}/metrics")])
        .output()
        .await
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("rustymail_operator_reconciles_total{result=\"success\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<f64>().ok())
        .map_or(0, |n| n as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_canonical_quantities_cause_no_writes_once_settled() {
    let s = Scenario::new("quantities").await;
    // No faults: the proxy only counts what the operator asks of the server.
    let proxy = s.faults();
    let operator = s.operator("op-a");
    operator.wait_for_log("caches synced", WAIT).await;
    s.apply(&s.mail(
        "  resources:\n    requests: {cpu: \"0.5\", memory: 1G}\n    limits: {cpu: \"1.0\", memory: 2G}\n",
    ))
    .await;
    s.wait_condition("Ready", "True", "Ready").await;
    let line = operator
        .log()
        .into_iter()
        .find(|l| l.contains("operator starting"))
        .expect("start line");
    let start: Value = serde_json::from_str(&line).expect("JSON log");
    let admin = start["admin"].as_str().expect("admin address").to_owned();

    // Settled: no write for a while.
    let writes = || {
        proxy
            .served()
            .into_iter()
            .filter(|r| {
                matches!(
                    r.request.verb.as_str(),
                    "create" | "update" | "patch" | "delete"
                )
            })
            // Events and Lease renewals are expected; children and status are not.
            .filter(|r| !matches!(r.request.resource.as_str(), "events" | "leases"))
            .map(|r| format!("{} {}", r.request.verb, r.request.resource))
            .collect::<Vec<_>>()
    };
    let settled = eventually(WAIT, || async {
        let before = writes().len();
        tokio::time::sleep(Duration::from_secs(2)).await;
        writes().len() == before
    })
    .await;
    assert!(settled, "the operator kept writing: {:?}", writes());
    let before = writes();

    // Two more reconciles of the settled resource (a label change wakes
    // the operator without changing the spec).
    for n in 0..2 {
        let done = reconciles(&admin).await;
        s.kubectl_ns(&[
            "label",
            "rmail",
            "mail",
            &format!("touch={n}"),
            "--overwrite",
        ])
        .await;
        let reconciled = eventually(WAIT, || async { reconciles(&admin).await > done }).await;
        assert!(
            reconciled,
            "the operator did not reconcile the touched RustyMail"
        );
    }
    let after = writes();
    assert_eq!(
        after[before.len()..].to_vec(),
        Vec::<String>::new(),
        "writes after settling: the operator does not see its own quantities in what \
         the API server stored"
    );
    let deployment = s
        .kubectl_ns(&[
            "get",
            "deployment",
            "mail",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].resources.requests.cpu}",
        ])
        .await;
    assert_eq!(
        deployment, "500m",
        "the API server canonicalises the quantity"
    );
}
