//! The chart and the one-file install on a real control plane (kube-apiserver
//! with RBAC and Pod Security admission, controller manager, scheduler,
//! kwok, cert-manager; `scripts/cluster`), with the real helm and kubectl.
//!
//! What is exercised, and what is not: kwok's fake node schedules the
//! operator's pods and marks them Running and Ready without running any
//! container, so `helm install --wait`, rollouts, the PodDisruptionBudget and
//! Pod Security admission (the namespace enforces `restricted`) are real,
//! but the operator inside those pods is not. The operator itself runs as
//! local processes with the container's arguments and environment and a
//! token of the chart's ServiceAccount (TokenRequest), so every API call it
//! makes is authorized by the chart's RBAC: a missing permission fails the
//! RustyMail's way to Ready, or leaves a `forbidden` in its log.

use std::time::Duration;

use rustymail_tests::{
    chart::{self, LocalCluster, LocalReplica, NAMESPACE, RELEASE, wait_until},
    workspace,
};
use serde_json::Value;

const FULLNAME: &str = "rustymail-rustymail-operator";
const WAIT: Duration = Duration::from_secs(120);

/// The release namespace, enforcing the restricted Pod Security Standard:
/// pods that break it are refused by admission.
fn restricted_namespace(cluster: &LocalCluster) {
    cluster.kubectl(&["create", "namespace", NAMESPACE], None);
    cluster.kubectl(
        &[
            "label",
            "namespace",
            NAMESPACE,
            "pod-security.kubernetes.io/enforce=restricted",
        ],
        None,
    );
}

fn deployment(cluster: &LocalCluster) -> Option<Value> {
    cluster.get(&["-n", NAMESPACE, "deployment", FULLNAME])
}

/// The operator Deployment's pods, as (name, ready, template hash).
fn operator_pods(cluster: &LocalCluster) -> Vec<(String, bool, String)> {
    let list = cluster
        .get(&[
            "-n",
            NAMESPACE,
            "pods",
            "-l",
            "app.kubernetes.io/component=operator",
        ])
        .unwrap_or_default();
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                .map(|p| {
                    let ready = p["status"]["conditions"].as_array().is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    });
                    (
                        p["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        ready,
                        p["metadata"]["labels"]["pod-template-hash"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the operator Deployment has `replicas` ready pods, all of one
/// template; returns that template hash.
fn wait_rolled_out(cluster: &LocalCluster, replicas: usize) -> String {
    let mut last = Vec::new();
    let done = wait_until(WAIT, || {
        last = operator_pods(cluster);
        last.len() == replicas
            && last.iter().all(|(_, ready, _)| *ready)
            && last.iter().all(|(_, _, hash)| *hash == last[0].2)
    });
    assert!(
        done,
        "operator pods never settled at {replicas} ready: {last:?}\n{}",
        cluster.logs()
    );
    last[0].2.clone()
}

/// The operator container's arguments and `RUST_LOG`, as deployed.
fn container(cluster: &LocalCluster) -> (Vec<String>, String) {
    let deployment = deployment(cluster).expect("the operator Deployment exists");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args = container["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let log_level = container["env"]
        .as_array()
        .and_then(|env| env.iter().find(|v| v["name"] == "RUST_LOG"))
        .and_then(|v| v["value"].as_str())
        .unwrap_or("info")
        .to_owned();
    (args, log_level)
}

/// Waits until `replica` reports its caches synced, when its `/readyz`
/// turns ready (what the Deployment waits for before stopping an old pod).
fn wait_ready(replica: &LocalReplica) {
    let ready = wait_until(WAIT, || replica.log().contains("caches synced: ready"));
    assert!(
        ready,
        "{} never became ready:\n{}",
        replica.identity,
        replica.log()
    );
}

fn lease_holder(cluster: &LocalCluster) -> Option<String> {
    let lease = cluster.get(&["-n", NAMESPACE, "lease", "rustymail-operator"])?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_owned)
}

/// Two operator replicas as local processes under the chart's
/// ServiceAccount; waits until one of them holds the Lease.
fn replicas(cluster: &LocalCluster) -> (LocalReplica, LocalReplica) {
    let kubeconfig = cluster.service_account_kubeconfig(NAMESPACE, FULLNAME);
    let (args, log_level) = container(cluster);
    let a = LocalReplica::start(
        cluster,
        &kubeconfig,
        &args,
        &log_level,
        NAMESPACE,
        "operator-a",
    );
    let b = LocalReplica::start(
        cluster,
        &kubeconfig,
        &args,
        &log_level,
        NAMESPACE,
        "operator-b",
    );
    let led = wait_until(WAIT, || {
        lease_holder(cluster).is_some_and(|h| h == a.identity || h == b.identity)
    });
    assert!(
        led,
        "no replica took the Lease; holder {:?}\n{}\n{}",
        lease_holder(cluster),
        a.log(),
        b.log()
    );
    (a, b)
}

/// A namespace with an IMAP account's Secret and `examples/minimal.yaml`.
fn apply_mail(cluster: &LocalCluster, namespace: &str) {
    cluster.kubectl(&["create", "namespace", namespace], None);
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: support-imap, namespace: {namespace}}}\nstringData: {{username: support@example.com, password: secret}}\n"
    );
    cluster.kubectl(&["apply", "--server-side", "-f", "-"], Some(&secret));
    let example = std::fs::read_to_string(workspace::root().join("examples/minimal.yaml"))
        .expect("examples/minimal.yaml");
    let mail = example.replace("namespace: default", &format!("namespace: {namespace}"));
    cluster.kubectl(&["apply", "--server-side", "-f", "-"], Some(&mail));
}

/// Whether RustyMail `mail` in `namespace` is Ready for its current generation.
fn mail_ready(cluster: &LocalCluster, namespace: &str) -> bool {
    let Some(mail) = cluster.get(&["-n", namespace, "rustymail", "mail"]) else {
        return false;
    };
    let generation = &mail["metadata"]["generation"];
    mail["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter().any(|c| {
            c["type"] == "Ready" && c["status"] == "True" && c["observedGeneration"] == *generation
        })
    })
}

fn wait_mail_ready(cluster: &LocalCluster, namespace: &str, replicas: &[&LocalReplica]) {
    let ready = wait_until(WAIT, || mail_ready(cluster, namespace));
    let logs: Vec<String> = replicas.iter().map(|r| r.log()).collect();
    assert!(
        ready,
        "RustyMail {namespace}/mail never became Ready: {:?}\n{}\n{}",
        cluster
            .get(&["-n", namespace, "rustymail", "mail"])
            .map(|m| m["status"].clone()),
        logs.join("\n"),
        cluster.logs()
    );
}

fn assert_no_refusals(replicas: &[&LocalReplica]) {
    for replica in replicas {
        let log = replica.log();
        assert!(
            !log.contains("forbidden") && !log.contains("Forbidden"),
            "the chart's RBAC refused a call of {}:\n{log}",
            replica.identity
        );
    }
}

/// Removing the operator kept the CRD, the RustyMail in `namespace` and
/// the children the operator made for it.
fn assert_mail_kept(cluster: &LocalCluster, namespace: &str) {
    assert!(
        cluster.get(&["crd", "rustymails.rustymail.io"]).is_some(),
        "the CRD was deleted"
    );
    assert!(
        cluster
            .get(&["-n", namespace, "rustymail", "mail"])
            .is_some(),
        "the RustyMail was deleted"
    );
    assert!(
        cluster
            .get(&["-n", namespace, "deployment", "mail"])
            .is_some(),
        "the RustyMail's Deployment was deleted"
    );
}

#[test]
fn helm_install_upgrade_and_uninstall_on_a_real_control_plane() {
    let cluster = LocalCluster::up();
    restricted_namespace(&cluster);
    let chart = chart::chart_dir();
    let install = cluster.run(
        "helm",
        &[
            "install",
            RELEASE,
            &chart.to_string_lossy(),
            "--namespace",
            NAMESPACE,
            "--wait",
            "--timeout",
            "3m",
        ],
        None,
    );
    assert!(
        install.success,
        "helm install: {}\n{}",
        install.stderr,
        cluster.logs()
    );
    let notes = install.stdout.split("NOTES:").nth(1).unwrap_or_default();
    for needle in [
        "kind: RustyMail",
        "--for=condition=Ready",
        "mail-credentials",
        "api-keys",
    ] {
        assert!(notes.contains(needle), "NOTES lack {needle:?}:\n{notes}");
    }

    // --wait returned: two replicas admitted under `restricted` and Ready.
    let first = wait_rolled_out(&cluster, 2);
    let pdb = wait_until(WAIT, || {
        cluster
            .get(&["-n", NAMESPACE, "pdb", FULLNAME])
            .is_some_and(|p| p["status"]["disruptionsAllowed"] == 1)
    });
    assert!(
        pdb,
        "the PodDisruptionBudget does not allow exactly one disruption"
    );

    // The operator under the chart's ServiceAccount: one leader, and a
    // RustyMail applied after the install becomes Ready.
    let (mut a, mut b) = replicas(&cluster);
    apply_mail(&cluster, "mail-helm");
    wait_mail_ready(&cluster, "mail-helm", &[&a, &b]);

    // helm upgrade with changed values rolls the operator's pods.
    let upgrade = cluster.run(
        "helm",
        &[
            "upgrade",
            RELEASE,
            &chart.to_string_lossy(),
            "--namespace",
            NAMESPACE,
            "--reuse-values",
            "--set",
            "logLevel=debug",
            "--set",
            "resources.requests.cpu=100m",
            "--wait",
            "--timeout",
            "3m",
        ],
        None,
    );
    assert!(upgrade.success, "helm upgrade: {}", upgrade.stderr);
    let second = wait_rolled_out(&cluster, 2);
    assert_ne!(first, second, "the upgrade did not roll the pods");
    let deployment = deployment(&cluster).expect("Deployment");
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(
        env.as_array().is_some_and(|e| e
            .iter()
            .any(|v| v["name"] == "RUST_LOG" && v["value"] == "debug")),
        "{env}"
    );

    // The upgrade's rollout, with the Lease: as the Deployment rolls (one
    // surge, none unavailable), a replica of the new template starts and
    // becomes ready, then an old one is stopped with SIGTERM; twice. The
    // Lease is always held by a running replica, and ends with a new one.
    let kubeconfig = cluster.service_account_kubeconfig(NAMESPACE, FULLNAME);
    let (args, log_level) = container(&cluster);
    assert_eq!(log_level, "debug", "the new template's log level");
    let mut running = vec![a.identity.clone(), b.identity.clone()];
    let mut new = Vec::new();
    for (old, identity) in [(&mut a, "operator-c"), (&mut b, "operator-d")] {
        let replica = LocalReplica::start(
            &cluster,
            &kubeconfig,
            &args,
            &log_level,
            NAMESPACE,
            identity,
        );
        wait_ready(&replica);
        running.push(replica.identity.clone());
        new.push(replica);
        assert!(old.terminate().success(), "{}", old.log());
        running.retain(|r| *r != old.identity);
        let held = wait_until(Duration::from_secs(10), || {
            lease_holder(&cluster).is_some_and(|h| running.contains(&h))
        });
        assert!(
            held,
            "the Lease was not handed to a running replica ({running:?}): {:?}",
            lease_holder(&cluster)
        );
    }
    assert!(
        lease_holder(&cluster).is_some_and(|h| h == new[0].identity || h == new[1].identity),
        "a replica of the new template leads"
    );
    cluster.kubectl(
        &[
            "-n",
            "mail-helm",
            "patch",
            "rustymail",
            "mail",
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"replicas":3}}"#,
        ],
        None,
    );
    wait_mail_ready(&cluster, "mail-helm", &[&new[0], &new[1]]);
    let scaled = cluster
        .get(&["-n", "mail-helm", "deployment", "mail"])
        .expect("Deployment mail");
    assert_eq!(scaled["spec"]["replicas"], 3);
    assert_no_refusals(&[&a, &b, &new[0], &new[1]]);
    drop((a, b, new));

    // helm uninstall removes the operator and keeps the CRD and RustyMails.
    let uninstall = cluster.run(
        "helm",
        &["uninstall", RELEASE, "--namespace", NAMESPACE, "--wait"],
        None,
    );
    assert!(uninstall.success, "helm uninstall: {}", uninstall.stderr);
    assert!(
        uninstall.stdout.contains("rustymails.rustymail.io")
            || uninstall.stderr.contains("rustymails.rustymail.io"),
        "helm names the kept CRD: {}{}",
        uninstall.stdout,
        uninstall.stderr
    );
    for object in [
        vec!["-n", NAMESPACE, "deployment", FULLNAME],
        vec!["-n", NAMESPACE, "serviceaccount", FULLNAME],
        vec!["clusterrole", FULLNAME],
        vec!["clusterrolebinding", FULLNAME],
    ] {
        let gone = wait_until(WAIT, || cluster.get(&object).is_none());
        assert!(gone, "{object:?} survived helm uninstall");
    }
    assert_mail_kept(&cluster, "mail-helm");
}

#[test]
fn kubectl_apply_of_the_one_file_install_on_a_real_control_plane() {
    let cluster = LocalCluster::up();
    let install = workspace::root().join("deploy/install.yaml");
    let install = install.to_string_lossy();
    cluster.kubectl(&["apply", "--server-side", "-f", &install], None);
    let namespace = cluster
        .get(&["namespace", NAMESPACE])
        .expect("the file creates its namespace");
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    cluster.kubectl(
        &[
            "-n",
            NAMESPACE,
            "rollout",
            "status",
            &format!("deployment/{FULLNAME}"),
            "--timeout=120s",
        ],
        None,
    );
    wait_rolled_out(&cluster, 2);

    let (a, b) = replicas(&cluster);
    apply_mail(&cluster, "mail-kubectl");
    wait_mail_ready(&cluster, "mail-kubectl", &[&a, &b]);
    assert_no_refusals(&[&a, &b]);
    drop((a, b));

    // docs/uninstalling.md: everything but the CRD, by the release's label.
    cluster.kubectl(
        &[
            "delete",
            "-n",
            NAMESPACE,
            "deployment,serviceaccount,service,pdb,networkpolicy,role,rolebinding",
            "-l",
            "app.kubernetes.io/instance=rustymail",
            "--wait",
        ],
        None,
    );
    cluster.kubectl(
        &[
            "delete",
            "clusterrole,clusterrolebinding",
            "-l",
            "app.kubernetes.io/instance=rustymail",
            "--wait",
        ],
        None,
    );
    let gone = wait_until(WAIT, || deployment(&cluster).is_none());
    assert!(gone, "the operator Deployment survived");
    assert_mail_kept(&cluster, "mail-kubectl");
}

#[test]
fn namespaced_mode_reconciles_the_listed_namespace_with_roles_alone() {
    let cluster = LocalCluster::up();
    restricted_namespace(&cluster);
    cluster.kubectl(&["create", "namespace", "team-a"], None);
    let chart = chart::chart_dir();
    let install = cluster.run(
        "helm",
        &[
            "install",
            RELEASE,
            &chart.to_string_lossy(),
            "--namespace",
            NAMESPACE,
            "--set",
            "watchNamespaces={team-a}",
            "--wait",
            "--timeout",
            "3m",
        ],
        None,
    );
    assert!(
        install.success,
        "helm install: {}\n{}",
        install.stderr,
        cluster.logs()
    );
    let role = cluster
        .get(&["-n", "team-a", "role", FULLNAME])
        .expect("a Role in team-a");
    assert!(role["rules"].to_string().contains("deployments"));
    let cluster_role = cluster
        .get(&["clusterrole", FULLNAME])
        .expect("the ClusterRole");
    assert!(
        !cluster_role["rules"].to_string().contains("deployments"),
        "no cluster-wide access to children: {}",
        cluster_role["rules"]
    );

    let (a, b) = replicas(&cluster);
    // A RustyMail in an unlisted namespace is left alone; the listed one
    // becomes Ready through the Role alone.
    apply_mail(&cluster, "team-b");
    let mail = std::fs::read_to_string(workspace::root().join("examples/minimal.yaml"))
        .expect("examples/minimal.yaml");
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: support-imap, namespace: team-a}\nstringData: {username: support@example.com, password: secret}\n";
    cluster.kubectl(&["apply", "--server-side", "-f", "-"], Some(secret));
    cluster.kubectl(
        &["apply", "--server-side", "-f", "-"],
        Some(&mail.replace("namespace: default", "namespace: team-a")),
    );
    wait_mail_ready(&cluster, "team-a", &[&a, &b]);
    assert!(
        !mail_ready(&cluster, "team-b"),
        "an unwatched namespace was reconciled"
    );
    assert!(
        cluster
            .get(&["-n", "team-b", "deployment", "mail"])
            .is_none(),
        "children appeared in an unwatched namespace"
    );
    assert_no_refusals(&[&a, &b]);
}

#[test]
fn every_option_set_is_accepted_by_the_real_api_server() {
    // Server-side dry runs validate each object against the API server's
    // schemas, including the ServiceMonitor against the Prometheus
    // Operator's CRD, which kubernetes-validate does not know.
    let cluster = LocalCluster::up();
    restricted_namespace(&cluster);
    for namespace in ["team-a", "team-b"] {
        cluster.kubectl(&["create", "namespace", namespace], None);
    }
    let mut sets: Vec<Vec<&str>> = vec![vec![]];
    let option_sets = chart::option_sets();
    sets.extend(option_sets.iter().map(|s| vec![s.as_str()]));
    for values in sets {
        let out = chart::template(&values, &[]);
        assert!(out.success, "helm template {values:?}: {}", out.stderr);
        let applied = cluster.run(
            "kubectl",
            &["apply", "--server-side", "--dry-run=server", "-f", "-"],
            Some(&out.stdout),
        );
        assert!(
            applied.success,
            "the API server refused the rendering of {values:?}: {}",
            applied.stderr
        );
        if values.first().is_some_and(|v| v.contains("monitoring")) {
            assert!(
                applied
                    .stdout
                    .contains("servicemonitor.monitoring.coreos.com/"),
                "{}",
                applied.stdout
            );
        }
    }

    // A misspelt value fails helm install before anything is created.
    let chart = chart::chart_dir();
    let typo = cluster.run(
        "helm",
        &[
            "install",
            RELEASE,
            &chart.to_string_lossy(),
            "--namespace",
            NAMESPACE,
            "--set",
            "replicas=3",
        ],
        None,
    );
    assert!(!typo.success, "helm install accepted a misspelt value");
    assert!(typo.stderr.contains("replicas"), "{}", typo.stderr);
    assert!(
        deployment(&cluster).is_none(),
        "a refused install created the operator"
    );
}
