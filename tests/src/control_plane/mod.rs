//! The local Kubernetes control plane the end-to-end tests run against
//! (`scripts/cluster up`; `scripts/test` starts it once for every test).
//!
//! ```text
//!  test ─ admin client, kubectl ─────────────────────┐
//!  operator (ServiceAccount, generated RBAC) ─ proxy ─┴─> kube-apiserver ─ etcd
//!                                                       controller manager, scheduler,
//!                                                       kwok (fake node), cert-manager
//! ```
//!
//! Each test works in a namespace of its own ([`TestNamespace`]), so tests
//! run in parallel against one control plane.
//!
//! May depend on, in this crate: `poll`, `workspace`.

mod identity;
mod namespace;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::OnceLock,
};

use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};

pub use identity::{OperatorIdentity, generated_rbac};
pub use namespace::TestNamespace;

use crate::workspace;

/// Where `scripts/cluster up` keeps the running control plane.
#[derive(Clone, Debug)]
pub struct ControlPlane {
    /// The state directory (`$RUSTYMAIL_CLUSTER_DIR`): PKI, logs, kubeconfig.
    pub dir: PathBuf,
    /// The admin kubeconfig (`$KUBECONFIG`).
    pub kubeconfig: PathBuf,
    /// The directory of the built components (kubectl, helm, ...).
    pub bin: PathBuf,
}

impl ControlPlane {
    /// The control plane `scripts/cluster up` started, from its environment
    /// (`RUSTYMAIL_CLUSTER_DIR`, `KUBECONFIG`, and `PATH` for the components).
    /// Panics with what to run when there is none.
    pub fn get() -> &'static ControlPlane {
        static PLANE: OnceLock<ControlPlane> = OnceLock::new();
        PLANE.get_or_init(|| match Self::from_env() {
            Ok(plane) => plane,
            Err(why) => panic!(
                "no local control plane: {why}. Run the tests with scripts/test, or first \
                 `eval \"$(scripts/cluster up)\"`"
            ),
        })
    }

    fn from_env() -> Result<Self, String> {
        let dir = std::env::var_os("RUSTYMAIL_CLUSTER_DIR")
            .map(PathBuf::from)
            .ok_or("RUSTYMAIL_CLUSTER_DIR is not set")?;
        let kubeconfig = std::env::var_os("KUBECONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("kubeconfig"));
        if !kubeconfig.is_file() {
            return Err(format!("{} does not exist", kubeconfig.display()));
        }
        let bin = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .find(|d| d.join("kube-apiserver").is_file())
            .ok_or("no directory on PATH holds the built kube-apiserver and kubectl")?;
        Ok(Self {
            dir,
            kubeconfig,
            bin,
        })
    }

    /// The built tool `name` (`kubectl`, `helm`), never a system-wide one.
    pub fn tool(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    /// Where each component's log is, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "component logs: {}/logs/{{kube-apiserver,kube-controller-manager,kube-scheduler,kwok,cert-manager,etcd}}.log",
            self.dir.display()
        )
    }

    /// The admin client (group system:masters).
    pub async fn admin(&self) -> Client {
        client_from(&self.kubeconfig)
            .await
            .unwrap_or_else(|e| panic!("admin client: {e}; {}", self.logs()))
    }

    /// The API server's URL and CA certificate (PEM), from the admin kubeconfig.
    pub fn server(&self) -> (String, String) {
        let read = || -> Result<(String, String), String> {
            let kc = Kubeconfig::read_from(&self.kubeconfig).map_err(|e| e.to_string())?;
            let cluster = kc
                .clusters
                .first()
                .and_then(|c| c.cluster.clone())
                .ok_or("no cluster in the kubeconfig")?;
            let server = cluster.server.ok_or("no server in the kubeconfig")?;
            let ca = std::fs::read_to_string(self.dir.join("pki/ca.crt"))
                .map_err(|e| format!("pki/ca.crt: {e}"))?;
            Ok((server, ca))
        };
        read().unwrap_or_else(|e| panic!("{}: {e}", self.kubeconfig.display()))
    }
}

/// A client from a kubeconfig file.
pub async fn client_from(kubeconfig: &Path) -> Result<Client, String> {
    let kc = Kubeconfig::read_from(kubeconfig).map_err(|e| e.to_string())?;
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    Client::try_from(config).map_err(|e| e.to_string())
}

/// The RustyMail CRD, applied once per test process and Established.
pub async fn install_crd() {
    static DONE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    DONE.get_or_init(|| async {
        let crd = workspace::root().join("crds/rustymail.yaml");
        let crd = crd.to_string_lossy();
        kubectl_admin(
            &["apply", "--server-side", "--force-conflicts", "-f", &crd],
            None,
        )
        .await;
        // Polled rather than `kubectl wait`: right after the apply the CRD
        // may have no status conditions yet, and both `kubectl wait` and a
        // jsonpath filter on them then fail at once.
        let established = crate::poll::eventually(std::time::Duration::from_secs(30), || async {
            let crd =
                kubectl_admin(&["get", "crd/rustymails.rustymail.io", "-o", "json"], None).await;
            serde_json::from_str::<serde_json::Value>(&crd)
                .ok()
                .and_then(|crd| crd["status"]["conditions"].as_array().cloned())
                .is_some_and(|conditions| {
                    conditions
                        .iter()
                        .any(|c| c["type"] == "Established" && c["status"] == "True")
                })
        })
        .await;
        assert!(
            established,
            "the RustyMail CRD was not Established within 30 s\n{}",
            ControlPlane::get().logs()
        );
    })
    .await;
}

/// Runs the kubectl built with the control plane with `kubeconfig`; returns
/// stdout, panics on failure (pointing to the component logs).
pub async fn kubectl(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> String {
    use tokio::io::AsyncWriteExt;
    let plane = ControlPlane::get();
    let mut child = tokio::process::Command::new(plane.tool("kubectl"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", plane.tool("kubectl").display()));
    if let Some(mut pipe) = child.stdin.take() {
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes())
                .await
                .unwrap_or_else(|e| panic!("kubectl stdin: {e}"));
        }
        drop(pipe);
    }
    let out = child
        .wait_with_output()
        .await
        .unwrap_or_else(|e| panic!("kubectl: {e}"));
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        plane.logs()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the built kubectl as admin; returns stdout, panics (naming the
/// component logs) on failure.
pub async fn kubectl_admin(args: &[&str], stdin: Option<&str>) -> String {
    let plane = ControlPlane::get();
    kubectl(&plane.kubeconfig, args, stdin).await
}
