//! The Helm chart, rendered by the real `helm` with its defaults and with
//! each documented option set (`charts/rustymail-operator/ci/*-values.yaml`):
//! lint, the Kubernetes schemas (kubernetes-validate, strict), checkov, the
//! values schema, and what the rendered objects promise (high availability,
//! the restricted Pod Security Standard, RBAC scope, the kept CRD).

use std::process::Command;

use clap::Parser;
use rustymail_operator::{
    crd,
    rbac::{self, RbacArgs},
    run::RunArgs,
};
use rustymail_tests::{
    chart::{self, HelmOutput, NAMESPACE, RELEASE, find, objects, option_sets, template},
    schema, workspace,
};
use serde_json::Value;

const FULLNAME: &str = "rustymail-rustymail-operator";

fn rendered(values: &[&str], extra: &[&str]) -> Vec<Value> {
    let out = template(values, extra);
    assert!(out.success, "helm template failed: {}", out.stderr);
    objects(&out.stdout)
}

fn defaults() -> Vec<Value> {
    rendered(&[], &[])
}

/// Every rendering the tests check: the defaults and each option set.
fn every_rendering() -> Vec<(String, Vec<Value>)> {
    let mut all = vec![("defaults".to_owned(), defaults())];
    for set in option_sets() {
        let objects = rendered(&[&set], &[]);
        all.push((set, objects));
    }
    all
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn there_is_an_option_set_for_each_documented_feature() {
    assert_eq!(
        option_sets(),
        [
            "ci/crds-not-kept-values.yaml",
            "ci/crds-skipped-values.yaml",
            "ci/monitoring-values.yaml",
            "ci/namespaced-values.yaml",
            "ci/pinned-image-values.yaml",
            "ci/scheduling-values.yaml",
            "ci/single-replica-values.yaml",
        ]
    );
}

#[test]
fn chart_and_app_version_follow_the_workspace() {
    let text = std::fs::read_to_string(chart::chart_dir().join("Chart.yaml")).expect("Chart.yaml");
    let chart: Value = serde_saphyr::from_str(&text).expect("Chart.yaml parses");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["version"], version);
    assert_eq!(chart["appVersion"], version);
    assert!(chart["kubeVersion"].is_string(), "kubeVersion is set");
}

#[test]
fn chart_crd_is_the_generated_crd() {
    let copy = std::fs::read_to_string(chart::chart_dir().join("files/crds/rustymail.yaml"))
        .expect("the chart's CRD exists");
    assert!(
        copy == crd::crd_yaml(),
        "charts/rustymail-operator/files/crds/rustymail.yaml is stale: \
         cargo run -p rustymail-operator -- crd > charts/rustymail-operator/files/crds/rustymail.yaml"
    );
}

#[test]
fn helm_lint_passes_with_defaults_and_every_option_set() {
    let chart_dir = chart::chart_dir();
    let chart = chart_dir.to_string_lossy();
    let mut runs: Vec<Vec<String>> = vec![vec![]];
    for set in option_sets() {
        runs.push(vec![
            "--values".into(),
            chart_dir.join(set).to_string_lossy().into_owned(),
        ]);
    }
    for extra in runs {
        let mut args = vec!["lint", "--strict", &chart, "--namespace", NAMESPACE];
        args.extend(extra.iter().map(String::as_str));
        let out = chart::run_helm(&args);
        assert!(
            out.success,
            "helm lint {extra:?}:\n{}{}",
            out.stdout, out.stderr
        );
        assert!(out.stdout.contains("0 chart(s) failed"), "{}", out.stdout);
    }
}

/// Writes each object to its own file under `dir`, skipping kinds the
/// Kubernetes schemas do not know (the Prometheus Operator's).
fn write_objects(
    dir: &std::path::Path,
    prefix: &str,
    objects: &[Value],
) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        if api_version.starts_with("monitoring.coreos.com/") {
            continue;
        }
        let file = dir.join(format!("{prefix}-{i}.yaml"));
        std::fs::write(&file, serde_saphyr::to_string(object).expect("yaml")).expect("written");
        files.push(file);
    }
    files
}

#[test]
fn every_rendered_object_passes_the_kubernetes_schemas_strictly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for (name, objects) in every_rendering() {
        let prefix = name.replace(['/', '.'], "-");
        files.extend(write_objects(dir.path(), &prefix, &objects));
    }
    schema::assert_valid(&files);
    assert!(
        files.len() > 60,
        "too few objects validated: {}",
        files.len()
    );
}

/// Checkov's findings the chart accepts, each for a reason the docs give.
const CHECKOV_SKIPS: &[(&str, &str)] = &[
    (
        "CKV_K8S_43",
        "image digests: the default image is the tag of this chart's release; image.digest pins one",
    ),
    (
        "CKV_K8S_15",
        "imagePullPolicy Always: release tags are immutable, IfNotPresent spares the registry",
    ),
    (
        "CKV_K8S_38",
        "service account token: the operator talks to the API server with it",
    ),
    (
        "CKV_K8S_40",
        "UID above 10000: 1001 is the UID of the images and of the data plane pods",
    ),
];

/// A directory checkov scans: checkov skips hidden directories, such as
/// the default `.tmpXXXX` temporary ones.
fn scan_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("chart-checkov-")
        .tempdir()
        .expect("temp dir")
}

/// Runs checkov over `dir` with the accepted skips: success, and the report.
fn checkov(dir: &std::path::Path) -> (bool, String) {
    let skips: Vec<&str> = CHECKOV_SKIPS.iter().map(|(id, _)| *id).collect();
    let output = Command::new(rustymail_tests::workspace::python_tool("checkov"))
        .args([
            "--quiet",
            "--compact",
            "--framework",
            "kubernetes",
            "--skip-download",
        ])
        .arg("--skip-check")
        .arg(skips.join(","))
        .arg("--directory")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("checkov must be installed (scripts/setup installs it): {e}"));
    let report = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), report)
}

/// How many checks passed, from checkov's summary line.
fn passed_checks(report: &str) -> usize {
    report
        .split("Passed checks: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn checkov_finds_nothing_beyond_the_explained_skips() {
    let dir = scan_dir();
    for (name, objects) in every_rendering() {
        let prefix = name.replace(['/', '.'], "-");
        write_objects(dir.path(), &prefix, &objects);
    }
    let (success, report) = checkov(dir.path());
    assert!(success, "checkov findings:\n{report}");
    assert!(
        passed_checks(&report) > 500,
        "checkov checked too little:\n{report}"
    );
}

#[test]
fn checkov_reports_a_pod_that_breaks_the_rules() {
    let dir = scan_dir();
    let mut objects = defaults();
    for object in &mut objects {
        if object["kind"] == "Deployment" {
            object["spec"]["template"]["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] =
                Value::Bool(true);
        }
    }
    write_objects(dir.path(), "bad", &objects);
    let (success, report) = checkov(dir.path());
    assert!(
        !success,
        "checkov must flag privilege escalation:\n{report}"
    );
    assert!(report.contains("CKV_K8S_20"), "{report}");
}

fn rejected(out: &HelmOutput, needle: &str) {
    assert!(!out.success, "the values must be rejected");
    assert!(
        out.stderr
            .contains("values don't meet the specifications of the schema")
            && out.stderr.contains(needle),
        "the error names {needle}: {}",
        out.stderr
    );
}

#[test]
fn a_misspelt_value_is_rejected_by_the_schema() {
    rejected(&template(&[], &["--set", "replicas=3"]), "replicas");
    rejected(
        &template(&[], &["--set", "leaderElection.leaseDurations=30s"]),
        "leaseDurations",
    );
    rejected(
        &template(&[], &["--set", "metrics.serviceMonitor.enable=true"]),
        "enable",
    );
}

#[test]
fn a_value_of_the_wrong_type_is_rejected_by_the_schema() {
    rejected(
        &template(&[], &["--set-string", "replicaCount=two"]),
        "replicaCount",
    );
    rejected(&template(&[], &["--set", "crds.install=maybe"]), "install");
    rejected(
        &template(&[], &["--set", "leaderElection.leaseDuration=15"]),
        "leaseDuration",
    );
    rejected(
        &template(&[], &["--set", "image.pullPolicy=Sometimes"]),
        "pullPolicy",
    );
    rejected(
        &template(&[], &["--set", "watchNamespaces[0]=Team_A"]),
        "watchNamespaces",
    );
}

fn operator_deployment(objects: &[Value], name: &str) -> Value {
    find(objects, "Deployment", name).clone()
}

#[test]
fn defaults_run_two_replicas_spread_across_nodes_with_a_disruption_budget() {
    let objects = defaults();
    let deployment = operator_deployment(&objects, FULLNAME);
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    let spread = &pod["topologySpreadConstraints"][0];
    assert_eq!(spread["topologyKey"], "kubernetes.io/hostname");
    let anti =
        &pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(
        anti["podAffinityTerm"]["topologyKey"],
        "kubernetes.io/hostname"
    );
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    assert_eq!(spread["labelSelector"]["matchLabels"], *selector);
    let pdb = find(&objects, "PodDisruptionBudget", FULLNAME);
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(pdb["spec"]["selector"]["matchLabels"], *selector);
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        0
    );

    let single = rendered(&["ci/single-replica-values.yaml"], &[]);
    assert!(
        !single.iter().any(|o| o["kind"] == "PodDisruptionBudget"),
        "one replica cannot have a budget that allows a drain"
    );
}

#[test]
fn the_operator_pod_meets_the_restricted_pod_security_standard() {
    for (name, objects) in every_rendering() {
        let deployment = objects
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .unwrap_or_else(|| panic!("{name}: no Deployment"));
        let pod = &deployment["spec"]["template"]["spec"];
        let sc = &pod["securityContext"];
        assert_eq!(sc["runAsNonRoot"], true, "{name}");
        assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{name}");
        for container in pod["containers"].as_array().expect("containers") {
            let c = &container["securityContext"];
            assert_eq!(c["allowPrivilegeEscalation"], false, "{name}");
            assert_eq!(c["readOnlyRootFilesystem"], true, "{name}");
            assert_eq!(c["runAsUser"], 1001, "{name}");
            assert_eq!(c["runAsGroup"], 1001, "{name}");
            assert_eq!(strings(&c["capabilities"]["drop"]), ["ALL"], "{name}");
            for kind in ["requests", "limits"] {
                let r = &container["resources"][kind];
                assert!(
                    r["cpu"].is_string() && r["memory"].is_string(),
                    "{name} {kind}"
                );
            }
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                assert_eq!(
                    container[probe]["httpGet"]["port"], "admin",
                    "{name} {probe}"
                );
            }
            assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
            assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
        }
    }
}

/// The `run` arguments of the rendered operator container, parsed by the
/// operator's own flag definitions.
#[derive(Parser)]
struct Run {
    #[command(flatten)]
    args: RunArgs,
}

fn parsed_args(deployment: &Value) -> (Run, Vec<String>) {
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args = strings(&container["args"]);
    assert_eq!(args.first().map(String::as_str), Some("run"));
    let env: Vec<String> = container["env"]
        .as_array()
        .map(|e| {
            e.iter()
                .filter_map(|v| v["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let run = Run::try_parse_from(
        std::iter::once("rustymail-operator run").chain(args[1..].iter().map(String::as_str)),
    )
    .unwrap_or_else(|e| panic!("the operator refuses the chart's arguments {args:?}: {e}"));
    (run, env)
}

#[test]
fn the_chart_passes_flags_the_operator_accepts() {
    let objects = defaults();
    let (run, env) = parsed_args(&operator_deployment(&objects, FULLNAME));
    assert_eq!(run.args.admin.addr.port(), 8080);
    assert_eq!(run.args.lease.name, "rustymail-operator");
    assert_eq!(run.args.max_concurrent_reconciles, 16);
    assert!(
        run.args.namespaces.namespaces.is_empty(),
        "all namespaces by default"
    );
    for var in ["POD_NAMESPACE", "POD_NAME", "RUST_LOG"] {
        assert!(env.iter().any(|e| e == var), "{var} is set");
    }
    let service = find(&objects, "Service", &format!("{FULLNAME}-metrics"));
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "admin");

    let tuned = rendered(&["ci/scheduling-values.yaml"], &[]);
    let (run, _) = parsed_args(&operator_deployment(&tuned, "mail-operator"));
    assert_eq!(run.args.admin.addr.port(), 9443);
    assert_eq!(run.args.lease.name, "rustymail-operator-leader");
    assert_eq!(run.args.lease.lease_duration.as_secs(), 30);
    assert_eq!(run.args.lease.renew_deadline.as_secs(), 20);
    assert_eq!(run.args.lease.retry_period.as_secs(), 4);
    assert_eq!(run.args.max_concurrent_reconciles, 64);
    let container =
        &operator_deployment(&tuned, "mail-operator")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["ports"][0]["containerPort"], 9443);
}

/// The roles `rustymail-operator rbac` generates for `namespaces`, as JSON:
/// (ClusterRole rules, the per-namespace Role's rules, the Lease Role's rules).
fn generated(namespaces: &[&str]) -> (Value, Value, Value) {
    let args = RbacArgs {
        namespaces: namespaces.iter().map(|n| (*n).to_owned()).collect(),
        ..RbacArgs::default()
    };
    let rbac = rbac::generate(&args).unwrap_or_else(|e| panic!("rbac: {e}"));
    let json = |v| serde_json::to_value(v).expect("JSON");
    let per_namespace = rbac
        .roles
        .iter()
        .find(|r| r.metadata.namespace.is_some())
        .map(|r| json(&r.rules))
        .unwrap_or(Value::Null);
    let lease = rbac
        .roles
        .iter()
        .find(|r| r.metadata.namespace.is_none())
        .map(|r| json(&r.rules))
        .unwrap_or(Value::Null);
    (json(&rbac.cluster_role.rules), per_namespace, lease)
}

#[test]
fn chart_rbac_files_are_the_generated_rbac() {
    for (file, namespaces) in [
        ("files/rbac/all-namespaces.yaml", vec![]),
        (
            "files/rbac/listed-namespaces.yaml",
            vec!["watched".to_owned()],
        ),
    ] {
        let args = RbacArgs {
            namespaces: namespaces.clone(),
            ..RbacArgs::default()
        };
        let generated = rbac::rbac_yaml(&args).unwrap_or_else(|e| panic!("rbac: {e}"));
        let copy =
            std::fs::read_to_string(chart::chart_dir().join(file)).expect("the chart's RBAC");
        let flags = namespaces
            .iter()
            .map(|n| format!(" --namespaces {n}"))
            .collect::<String>();
        assert!(
            copy == generated,
            "charts/rustymail-operator/{file} is stale: \
             cargo run -p rustymail-operator -- rbac{flags} > charts/rustymail-operator/{file}"
        );
    }
}

#[test]
fn by_default_one_cluster_role_grants_exactly_the_generated_rules_and_a_role_the_lease() {
    let objects = defaults();
    let (cluster_rules, _, lease_rules) = generated(&[]);
    let cluster_role = find(&objects, "ClusterRole", FULLNAME);
    assert_eq!(cluster_role["rules"], cluster_rules);
    let binding = find(&objects, "ClusterRoleBinding", FULLNAME);
    assert_eq!(binding["roleRef"]["name"], FULLNAME);
    assert_eq!(binding["subjects"][0]["name"], FULLNAME);
    assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
    let lease = find(&objects, "Role", &format!("{FULLNAME}-leader-election"));
    assert_eq!(lease["metadata"]["namespace"], NAMESPACE);
    assert_eq!(lease["rules"], lease_rules);
    assert!(
        !objects
            .iter()
            .any(|o| o["kind"] == "Role" && o["metadata"]["namespace"] != NAMESPACE)
    );

    // The Lease rule names the Lease the replicas are told to use.
    let renamed = rendered(&["ci/scheduling-values.yaml"], &[]);
    let lease = find(&renamed, "Role", "mail-operator-leader-election");
    assert_eq!(
        lease["rules"][0]["resourceNames"],
        serde_json::json!(["rustymail-operator-leader"])
    );
}

#[test]
fn namespaced_mode_grants_the_generated_roles_only_in_the_watched_namespaces() {
    let objects = rendered(&["ci/namespaced-values.yaml"], &[]);
    let (cluster_rules, namespace_rules, _) = generated(&["team-a", "team-b"]);
    let (run, _) = parsed_args(&operator_deployment(&objects, FULLNAME));
    assert_eq!(run.args.namespaces.namespaces, ["team-a", "team-b"]);
    for ns in ["team-a", "team-b"] {
        let role = objects
            .iter()
            .find(|o| o["kind"] == "Role" && o["metadata"]["namespace"] == ns)
            .unwrap_or_else(|| panic!("no Role in {ns}"));
        assert_eq!(role["rules"], namespace_rules, "{ns}");
        let binding = objects
            .iter()
            .find(|o| o["kind"] == "RoleBinding" && o["metadata"]["namespace"] == ns)
            .unwrap_or_else(|| panic!("no RoleBinding in {ns}"));
        assert_eq!(binding["subjects"][0]["namespace"], NAMESPACE);
    }
    // Only what a Role cannot grant stays in the ClusterRole.
    assert_eq!(
        find(&objects, "ClusterRole", FULLNAME)["rules"],
        cluster_rules
    );
    assert!(
        !cluster_rules.to_string().contains("deployments"),
        "namespaced mode grants no cluster-wide access to children"
    );
}

#[test]
fn the_crd_is_installed_and_kept_on_uninstall_unless_switched_off() {
    let objects = defaults();
    let crd = find(
        &objects,
        "CustomResourceDefinition",
        "rustymails.rustymail.io",
    );
    assert_eq!(
        crd["metadata"]["annotations"]["helm.sh/resource-policy"],
        "keep"
    );
    assert_eq!(
        crd["metadata"]["labels"]["app.kubernetes.io/instance"],
        RELEASE
    );
    let generated: Value = serde_saphyr::from_str(&crd::crd_yaml()).expect("CRD parses");
    assert_eq!(
        crd["spec"], generated["spec"],
        "the chart installs the generated CRD"
    );

    let not_kept = rendered(&["ci/crds-not-kept-values.yaml"], &[]);
    let crd = find(
        &not_kept,
        "CustomResourceDefinition",
        "rustymails.rustymail.io",
    );
    assert!(crd["metadata"]["annotations"]["helm.sh/resource-policy"].is_null());

    let skipped = rendered(&["ci/crds-skipped-values.yaml"], &[]);
    assert!(
        !skipped
            .iter()
            .any(|o| o["kind"] == "CustomResourceDefinition")
    );
}

#[test]
fn default_images_move_with_the_chart_version() {
    let version = env!("CARGO_PKG_VERSION");
    let objects = defaults();
    let deployment = operator_deployment(&objects, FULLNAME);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        format!("ghcr.io/rustymail/rustymail-operator:v{version}")
    );
    assert_eq!(
        crd::DEFAULT_IMAGE,
        format!("ghcr.io/rustymail/rustymail-dataplane:v{version}")
    );
    let pinned = rendered(&["ci/pinned-image-values.yaml"], &[]);
    let image = operator_deployment(&pinned, FULLNAME)["spec"]["template"]["spec"]["containers"][0]
        ["image"]
        .clone();
    assert!(
        image.as_str().is_some_and(
            |i| i.starts_with("registry.example.com/platform/rustymail-operator@sha256:")
        ),
        "{image}"
    );
}

#[test]
fn the_service_monitor_scrapes_the_metrics_service() {
    let objects = rendered(&["ci/monitoring-values.yaml"], &[]);
    let monitor = find(&objects, "ServiceMonitor", FULLNAME);
    let service = find(&objects, "Service", &format!("{FULLNAME}-metrics"));
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("selector")
    {
        assert_eq!(service["metadata"]["labels"][key], *value, "{key}");
    }
    assert!(!defaults().iter().any(|o| o["kind"] == "ServiceMonitor"));
}

#[test]
fn deploy_install_yaml_is_the_chart_rendered_with_defaults() {
    let output = Command::new(workspace::root().join("scripts/render-install"))
        .arg("--check")
        .env("HELM", chart::helm())
        .output()
        .expect("scripts/render-install runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(workspace::root().join("deploy/install.yaml"))
        .expect("install.yaml");
    let objects = objects(&text);
    let namespace = find(&objects, "Namespace", NAMESPACE);
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    assert_eq!(objects[1..].len(), defaults().len());
}
