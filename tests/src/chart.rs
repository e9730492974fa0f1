//! The Helm chart (`charts/rustymail-operator`) and the one-file install
//! (`deploy/install.yaml`) for tests: the real `helm` binary, rendering with
//! values, and the rendered objects as JSON values.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::workspace;

/// Release name used by the tests and by `deploy/install.yaml`.
pub const RELEASE: &str = "rustymail";
/// Namespace used by the tests and by `deploy/install.yaml`.
pub const NAMESPACE: &str = "rustymail-system";

/// The Kubernetes version `helm template` renders for (the chart's
/// `kubeVersion` is checked against it).
pub const KUBE_VERSION: &str = "1.35.0";

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    workspace::root().join("charts/rustymail-operator")
}

/// The real `helm`: `$HELM`, else `helm` on `PATH`, else the one
/// `scripts/build-control-plane` built into the per-machine cache. Panics
/// with the command that builds it when there is none.
pub fn helm() -> PathBuf {
    if let Some(path) = std::env::var_os("HELM") {
        return PathBuf::from(path);
    }
    if let Some(path) = on_path("helm") {
        return path;
    }
    let cache = std::env::var_os("RUSTYMAIL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/rustymail")))
        .unwrap_or_default();
    let mut found: Vec<PathBuf> = std::fs::read_dir(&cache)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path().join("bin/helm"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!(
            "no helm in $HELM, on PATH or under {}/control-plane-*/bin; run scripts/build-control-plane helm",
            cache.display()
        )
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// What `helm` printed, and whether it succeeded.
#[derive(Debug)]
pub struct HelmOutput {
    /// Exit status was zero.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `helm` with `args` in the repository root.
pub fn run_helm(args: &[&str]) -> HelmOutput {
    let output = Command::new(helm())
        .args(args)
        .current_dir(workspace::root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run helm: {e}"));
    HelmOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `helm template` of the chart as release [`RELEASE`] in [`NAMESPACE`],
/// with the values files `values` (paths relative to the chart) and extra
/// arguments such as `--set`.
pub fn template(values: &[&str], extra: &[&str]) -> HelmOutput {
    let chart = chart_dir();
    let chart = chart.to_string_lossy();
    let mut args = vec![
        "template",
        RELEASE,
        &chart,
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
    ];
    let files: Vec<String> = values
        .iter()
        .map(|v| chart_dir().join(v).to_string_lossy().into_owned())
        .collect();
    for file in &files {
        args.extend(["--values", file]);
    }
    args.extend(extra);
    run_helm(&args)
}

/// The objects of a multi-document YAML stream, empty documents dropped.
pub fn objects(yaml: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple::<serde_json::Value>(yaml)
        .unwrap_or_else(|e| panic!("rendered YAML does not parse: {e}\n{yaml}"))
        .into_iter()
        .filter(|v| !v.is_null())
        .collect()
}

/// The first object of `kind` named `name`.
pub fn find<'a>(objects: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} among the rendered objects"))
}

/// The values files under the chart's `ci/`, one per documented option set,
/// sorted, as paths relative to the chart.
pub fn option_sets() -> Vec<String> {
    let mut sets: Vec<String> = std::fs::read_dir(chart_dir().join("ci"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with("-values.yaml"))
                .map(|n| format!("ci/{n}"))
                .collect()
        })
        .unwrap_or_default();
    sets.sort();
    sets
}
