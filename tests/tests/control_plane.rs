//! The local control plane itself: the built kubectl and Helm accept the
//! API server's version (Helm's semver check of a chart's `kubeVersion`
//! refuses an unstamped `v0.0.0-master`).

use rustymail_tests::control_plane::{ControlPlane, TestNamespace, kubectl_admin};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_and_helm_accept_the_api_server_version() {
    let plane = ControlPlane::get();
    let version = kubectl_admin(&["version", "-o", "json"], None).await;
    let version: serde_json::Value = serde_json::from_str(&version).expect("JSON");
    let server = version["serverVersion"]["gitVersion"]
        .as_str()
        .unwrap_or_default();
    assert!(
        server.starts_with("v1.35."),
        "the API server reports {server:?}"
    );
    assert_eq!(version["clientVersion"]["gitVersion"], server);

    let ns = TestNamespace::create("helm").await;
    let chart = tempfile::tempdir().expect("temporary directory");
    std::fs::create_dir(chart.path().join("templates")).expect("templates");
    std::fs::write(
        chart.path().join("Chart.yaml"),
        "apiVersion: v2\nname: probe\nversion: 0.1.0\nkubeVersion: \">= 1.30.0-0\"\n",
    )
    .expect("Chart.yaml");
    std::fs::write(
        chart.path().join("templates/configmap.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: probe}\ndata: {a: b}\n",
    )
    .expect("template");
    let out = tokio::process::Command::new(plane.tool("helm"))
        .args(["install", "probe"])
        .arg(chart.path())
        .args(["--namespace", &ns.name, "--dry-run=server"])
        .env("KUBECONFIG", &plane.kubeconfig)
        .output()
        .await
        .expect("helm runs");
    assert!(
        out.status.success(),
        "helm install --dry-run=server failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind: ConfigMap"));
}
