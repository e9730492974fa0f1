//! The operator's identity in the tests: a ServiceAccount bound to exactly
//! the rules `rustymail-operator rbac` generates, and a kubeconfig holding
//! a token for it from the TokenRequest API.

use std::path::PathBuf;

use serde_json::Value;

use super::{ControlPlane, kubectl_admin};
use crate::workspace;

/// The ClusterRoles and Roles `rustymail-operator rbac` prints for an
/// operator watching only `namespace` and holding its Lease there, as JSON
/// objects (`kind`, `rules`).
pub fn generated_rbac(namespace: &str) -> Vec<Value> {
    let out = std::process::Command::new(workspace::binary("rustymail-operator"))
        .args([
            "rbac",
            "--namespaces",
            namespace,
            "--lease-namespace",
            namespace,
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run rustymail-operator rbac: {e}"));
    assert!(
        out.status.success(),
        "rustymail-operator rbac failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text)
        .unwrap_or_else(|e| panic!("rustymail-operator rbac printed no YAML objects: {e}"));
    let roles: Vec<Value> = docs
        .into_iter()
        .filter(|d| matches!(d["kind"].as_str(), Some("ClusterRole" | "Role")))
        .collect();
    assert!(
        !roles.is_empty(),
        "rustymail-operator rbac printed no ClusterRole or Role"
    );
    roles
}

/// A ServiceAccount in a test namespace bound to a set of role rules, and
/// kubeconfigs for it.
pub struct OperatorIdentity {
    namespace: String,
    /// Names of the ClusterRoles and ClusterRoleBindings made for it
    /// (cluster-scoped, so deleted when this is dropped).
    cluster_scoped: Vec<(String, String)>,
    token: String,
    dir: tempfile::TempDir,
}

impl OperatorIdentity {
    /// ServiceAccount `rustymail-operator` in `namespace`, bound to `roles`
    /// (from [`generated_rbac`], possibly edited by the test): ClusterRoles
    /// become `rustymail-operator-<namespace>-<n>` with a ClusterRoleBinding,
    /// Roles are created in `namespace` with a RoleBinding.
    pub async fn create(namespace: &str, roles: &[Value]) -> Self {
        let mut docs = vec![serde_json::json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "rustymail-operator", "namespace": namespace},
        })];
        let subject = serde_json::json!([{"kind": "ServiceAccount", "name": "rustymail-operator", "namespace": namespace}]);
        let mut cluster_scoped = Vec::new();
        for (n, role) in roles.iter().enumerate() {
            let name = format!("rustymail-operator-{namespace}-{n}");
            let rules = role["rules"].clone();
            if role["kind"] == "ClusterRole" {
                docs.push(serde_json::json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": name}, "rules": rules,
                }));
                docs.push(serde_json::json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": name}, "subjects": subject,
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                }));
                cluster_scoped.push(("clusterrole".to_owned(), name.clone()));
                cluster_scoped.push(("clusterrolebinding".to_owned(), name));
            } else {
                docs.push(serde_json::json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                    "metadata": {"name": name, "namespace": namespace}, "rules": rules,
                }));
                docs.push(serde_json::json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": name, "namespace": namespace}, "subjects": subject,
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                }));
            }
        }
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": docs});
        kubectl_admin(
            &["apply", "--server-side", "-f", "-"],
            Some(&list.to_string()),
        )
        .await;
        let token = kubectl_admin(
            &[
                "-n",
                namespace,
                "create",
                "token",
                "rustymail-operator",
                "--duration",
                "2h",
            ],
            None,
        )
        .await
        .trim()
        .to_owned();
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
        Self {
            namespace: namespace.to_owned(),
            cluster_scoped,
            token,
            dir,
        }
    }

    /// The subject as the API server names it.
    pub fn user(&self) -> String {
        format!(
            "system:serviceaccount:{}:rustymail-operator",
            self.namespace
        )
    }

    /// A kubeconfig for this identity talking to `server`, trusting
    /// `ca_pem` (the API server itself, or a fault proxy in front of it).
    pub fn kubeconfig(&self, server: &str, ca_pem: &str) -> PathBuf {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
        let name = format!("kubeconfig-{}", server.replace([':', '/', '.'], "_"));
        let path = self.dir.path().join(name);
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {{server: \"{server}\", certificate-authority-data: {ca}}}\nusers:\n- name: u\n  user: {{token: {token}}}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u, namespace: {ns}}}\ncurrent-context: c\n",
            token = self.token,
            ns = self.namespace,
        );
        std::fs::write(&path, config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// A kubeconfig straight to the API server.
    pub fn direct_kubeconfig(&self) -> PathBuf {
        let (server, ca) = ControlPlane::get().server();
        self.kubeconfig(&server, &ca)
    }
}

impl Drop for OperatorIdentity {
    fn drop(&mut self) {
        let plane = ControlPlane::get();
        for (kind, name) in &self.cluster_scoped {
            let _ = std::process::Command::new(plane.tool("kubectl"))
                .args(["delete", kind, name, "--wait=false", "--ignore-not-found"])
                .env("KUBECONFIG", &plane.kubeconfig)
                .output();
        }
    }
}
