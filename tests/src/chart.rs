//! The Helm chart (`charts/rustymail-operator`) and the one-file install
//! (`deploy/install.yaml`) for tests: the real `helm` binary, rendering with
//! values, and the rendered objects as JSON values.
//!
//! May depend on, in this crate: `workspace`.

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
    let cache = workspace::cache();
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

/// A local control plane of its own (`scripts/cluster up` with a private
/// state directory), stopped when dropped: etcd, kube-apiserver with RBAC,
/// controller manager, scheduler, a kwok node that makes scheduled pods
/// Ready without running them, cert-manager. Its directory (PKI, logs) is
/// removed with it, unless a test failed: then the logs stay for reading.
pub struct LocalCluster {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl LocalCluster {
    /// Starts one; panics with the script's output when it cannot.
    pub fn up() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rustymail-chart-cluster-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir: {e}"));
        let out = Command::new(workspace::root().join("scripts/cluster"))
            .arg("up")
            .env("RUSTYMAIL_CLUSTER_DIR", dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run scripts/cluster: {e}"));
        let path = dir.path().to_path_buf();
        let cluster = Self { dir, path };
        assert!(
            out.status.success(),
            "scripts/cluster up failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cluster
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Where the components' logs are, for failure messages.
    pub fn logs(&self) -> String {
        format!("component logs: {}/logs", self.dir.path().display())
    }

    /// Runs the built `kubectl` (or `helm`) as the cluster admin.
    pub fn run(&self, tool: &str, args: &[&str], stdin: Option<&str>) -> HelmOutput {
        use std::io::Write;
        let bin = if tool == "helm" {
            helm()
        } else {
            helm().with_file_name(tool)
        };
        let mut child = Command::new(bin)
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .current_dir(workspace::root())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
        if let (Some(text), Some(mut input)) = (stdin, child.stdin.take()) {
            input
                .write_all(text.as_bytes())
                .unwrap_or_else(|e| panic!("{tool} stdin: {e}"));
        }
        drop(child.stdin.take());
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        HelmOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// `kubectl` that must succeed; its standard output.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run("kubectl", args, stdin);
        assert!(
            out.success,
            "kubectl {args:?} failed: {}\n{}",
            out.stderr,
            self.logs()
        );
        out.stdout
    }

    /// `kubectl get -o json` of one object, `None` when it does not exist.
    pub fn get(&self, args: &[&str]) -> Option<serde_json::Value> {
        let mut all = vec!["get", "-o", "json"];
        all.extend(args);
        let out = self.run("kubectl", &all, None);
        if !out.success {
            assert!(
                out.stderr.contains("NotFound") || out.stderr.contains("not found"),
                "kubectl {all:?}: {}",
                out.stderr
            );
            return None;
        }
        serde_json::from_str(&out.stdout).ok()
    }

    /// A kubeconfig that authenticates as ServiceAccount `name` in
    /// `namespace`, with a token from the TokenRequest API: what a pod of
    /// that ServiceAccount gets.
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        let token = self.kubectl(
            &["-n", namespace, "create", "token", name, "--duration", "1h"],
            None,
        );
        let server = self.kubectl(
            &[
                "config",
                "view",
                "-o",
                "jsonpath={.clusters[0].cluster.server}",
            ],
            None,
        );
        let path = self
            .dir
            .path()
            .join(format!("{namespace}-{name}.kubeconfig"));
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: local\n  cluster: {{server: \"{server}\", certificate-authority: \"{}\"}}\nusers:\n- name: {name}\n  user: {{token: \"{}\"}}\ncontexts:\n- name: local\n  context: {{cluster: local, user: {name}, namespace: {namespace}}}\ncurrent-context: local\n",
            self.dir.path().join("pki/ca.crt").display(),
            token.trim()
        );
        std::fs::write(&path, config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// A file for a process's log in the state directory.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.dir.path().join("logs").join(name)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = Command::new(workspace::root().join("scripts/cluster"))
            .arg("down")
            .env("RUSTYMAIL_CLUSTER_DIR", &self.path)
            .output();
        if std::thread::panicking() {
            self.dir.disable_cleanup(true);
            eprintln!("control-plane logs kept in {}/logs", self.path.display());
        }
    }
}

/// One replica of the operator as the chart's Deployment runs it, but as a
/// local process: the container's arguments (admin server moved to a free
/// loopback port), its pod's environment, and a kubeconfig of the chart's
/// ServiceAccount. Stopped (SIGKILL) when dropped.
pub struct LocalReplica {
    child: std::process::Child,
    log: PathBuf,
    /// The pod name it runs as (`POD_NAME`, its Lease identity).
    pub identity: String,
}

impl LocalReplica {
    /// Starts `rustymail-operator` with `args` (the container's, `run`
    /// first) and `RUST_LOG` `log_level` as `identity` in `namespace`.
    pub fn start(
        cluster: &LocalCluster,
        kubeconfig: &Path,
        args: &[String],
        log_level: &str,
        namespace: &str,
        identity: &str,
    ) -> Self {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                if a.starts_with("--admin-addr") {
                    "--admin-addr=127.0.0.1:0".to_owned()
                } else {
                    a.clone()
                }
            })
            .collect();
        let log = cluster.log_file(&format!("operator-{identity}.log"));
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = file
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = Command::new(workspace::binary("rustymail-operator"))
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAMESPACE", namespace)
            .env("POD_NAME", identity)
            .env("RUST_LOG", log_level)
            .stdout(file)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the operator: {e}"));
        Self {
            child,
            log,
            identity: identity.to_owned(),
        }
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (as the kubelet does) and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap_or_else(|e| panic!("wait: {e}"))
    }
}

impl Drop for LocalReplica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 200 ms until it holds or `timeout` passes.
pub fn wait_until(timeout: std::time::Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
