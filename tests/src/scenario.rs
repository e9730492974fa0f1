//! One end-to-end scenario: a namespace of its own with an IMAP account
//! Secret, the operator's ServiceAccount bound to the generated RBAC, the
//! operator processes (through a fault proxy that also records every answer,
//! so a call the RBAC does not allow fails the test), and what a test asks
//! of the cluster through the real kubectl and an admin client.
//!
//! May depend on, in this crate: `control_plane`, `fault_proxy`, `operator`,
//! `poll`.

use std::{path::PathBuf, time::Duration};

use k8s_openapi::{
    NamespaceResourceScope,
    api::{apps::v1::Deployment, core::v1::Pod, events::v1::Event},
};
use kube::{Api, Client, api::ListParams};
use rustymail_operator::crd::RustyMail;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{
    control_plane::{
        ControlPlane, OperatorIdentity, TestNamespace, generated_rbac, install_crd, kubectl,
    },
    fault_proxy::FaultProxy,
    operator::Operator,
    poll::eventually,
};

/// How long a test waits for something the operator or a controller does.
pub const WAIT: Duration = Duration::from_secs(40);

/// A RustyMail `mail` with one account, in namespace `NS` (replaced).
const MAIL: &str = "apiVersion: rustymail.io/v1alpha1
kind: RustyMail
metadata: {name: mail, namespace: NS}
spec:
  accounts:
    - name: support
      imap: {host: imap.example.com}
      credentialsSecretRef: {name: support-imap}
";

/// A test's namespace, admin client and operator identity.
pub struct Scenario {
    /// The test's namespace.
    pub ns: TestNamespace,
    /// An admin client.
    pub client: Client,
    /// The operator's ServiceAccount and its kubeconfigs.
    pub identity: OperatorIdentity,
    proxy: FaultProxy,
    forbidden_expected: bool,
}

impl Scenario {
    /// A namespace `<prefix>-…` holding Secret `support-imap`, and the
    /// operator's ServiceAccount bound to the generated RBAC.
    pub async fn new(prefix: &str) -> Self {
        Self::with_rbac(prefix, generated_rbac).await
    }

    /// As [`Scenario::new`], the ServiceAccount bound to the roles `rbac`
    /// returns for the namespace instead.
    pub async fn with_rbac(prefix: &str, rbac: impl FnOnce(&str) -> Vec<Value>) -> Self {
        install_crd().await;
        let plane = ControlPlane::get();
        let ns = TestNamespace::create(prefix).await;
        let roles = rbac(&ns.name);
        let client = plane.admin().await;
        let identity = OperatorIdentity::create(&ns.name, &roles).await;
        let (server, ca) = plane.server();
        let proxy = FaultProxy::start(&server, &ca, 7)
            .await
            .unwrap_or_else(|e| panic!("fault proxy: {e}"));
        let scenario = Self {
            ns,
            client,
            identity,
            proxy,
            forbidden_expected: false,
        };
        scenario
            .apply(&format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: support-imap, namespace: {}}}\nstringData: {{username: alice, password: secret}}\n",
                scenario.ns.name
            ))
            .await;
        scenario
    }

    /// The test namespace's name.
    pub fn namespace(&self) -> &str {
        &self.ns.name
    }

    /// The admin kubeconfig.
    pub fn kubeconfig(&self) -> PathBuf {
        ControlPlane::get().kubeconfig.clone()
    }

    /// RustyMail `mail` with one account, in the test namespace, followed
    /// by `spec_lines` (YAML lines indented under `spec:`).
    pub fn mail(&self, spec_lines: &str) -> String {
        format!("{}{spec_lines}", MAIL.replace("NS", self.namespace()))
    }

    /// Runs the built kubectl as admin.
    pub async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> String {
        kubectl(&self.kubeconfig(), args, stdin).await
    }

    /// `kubectl apply --server-side -f -` of `yaml`.
    pub async fn apply(&self, yaml: &str) {
        self.kubectl(&["apply", "--server-side", "-f", "-"], Some(yaml))
            .await;
    }

    /// `kubectl patch KIND/NAME --type merge -p PATCH` in the test namespace.
    pub async fn patch(&self, object: &str, patch: &str) {
        let ns = self.namespace().to_owned();
        self.kubectl(
            &["-n", &ns, "patch", object, "--type", "merge", "-p", patch],
            None,
        )
        .await;
    }

    /// `kubectl -n NS ARGS…`.
    pub async fn kubectl_ns(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.namespace()];
        all.extend_from_slice(args);
        self.kubectl(&all, None).await
    }

    /// An operator `identity` as the ServiceAccount, through the scenario's
    /// fault proxy, watching only the test namespace.
    pub fn operator(&self, identity: &str) -> Operator {
        let ns = self.namespace();
        self.operator_with(identity, &["--namespaces", ns])
    }

    /// An operator `identity` as the ServiceAccount, through the fault
    /// proxy, with `extra` arguments.
    pub fn operator_with(&self, identity: &str, extra: &[&str]) -> Operator {
        let kubeconfig = self
            .identity
            .kubeconfig(&self.proxy.url(), self.proxy.ca_pem());
        Operator::start(&kubeconfig, identity, self.namespace(), extra)
    }

    /// The fault proxy between the operators and the API server.
    pub fn faults(&self) -> &FaultProxy {
        &self.proxy
    }

    /// Lets the operator's calls be refused (403) without failing the test.
    pub fn expect_forbidden(&mut self) {
        self.forbidden_expected = true;
    }

    /// An operator whose caches have synced.
    pub async fn synced_operator(&self, identity: &str) -> Operator {
        let operator = self.operator(identity);
        operator.wait_for_log("caches synced", WAIT).await;
        operator
    }

    /// An operator that has built `mail`, whose pods are Ready.
    pub async fn settled_operator(&self, identity: &str) -> Operator {
        let operator = self.synced_operator(identity).await;
        self.apply(&self.mail("")).await;
        self.wait_condition("Ready", "True", "Ready").await;
        operator
    }

    /// The namespaced API of `K` in the test namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), self.namespace())
    }

    /// Object `name` in the test namespace; `None` when absent or unreadable.
    pub async fn get<K>(&self, name: &str) -> Option<K>
    where
        K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        self.api::<K>().get_opt(name).await.ok().flatten()
    }

    /// Whether object `name` exists in the test namespace.
    pub async fn exists<K>(&self, name: &str) -> bool
    where
        K: kube::Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        self.get::<K>(name).await.is_some()
    }

    /// RustyMail `mail`.
    pub async fn rustymail(&self) -> Option<RustyMail> {
        self.get::<RustyMail>("mail").await
    }

    /// Condition `type_` of `mail`: status, reason, message.
    pub async fn condition(&self, type_: &str) -> Option<(String, String, String)> {
        self.condition_of("mail", type_).await
    }

    /// Condition `type_` of RustyMail `name`: status, reason, message.
    pub async fn condition_of(&self, name: &str, type_: &str) -> Option<(String, String, String)> {
        let c = self
            .get::<RustyMail>(name)
            .await?
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == type_)?;
        Some((c.status, c.reason, c.message))
    }

    /// Waits until condition `type_` of `mail` has `status` and `reason`.
    pub async fn wait_condition(&self, type_: &str, status: &str, reason: &str) {
        let ok = eventually(WAIT, || async {
            self.condition(type_)
                .await
                .is_some_and(|(s, r, _)| s == status && r == reason)
        })
        .await;
        assert!(
            ok,
            "{type_} never became {status}/{reason}; it is {:?}\n{}",
            self.condition(type_).await,
            ControlPlane::get().logs()
        );
    }

    /// `spec.replicas` of Deployment `mail`.
    pub async fn replicas(&self) -> Option<i32> {
        self.get::<Deployment>("mail")
            .await
            .and_then(|d| d.spec.replicas)
    }

    /// Annotation `key` of Deployment `mail`'s pod template.
    pub async fn pod_annotation(&self, key: &str) -> String {
        self.get::<Deployment>("mail")
            .await
            .and_then(|d| d.spec.template.metadata)
            .and_then(|m| m.annotations)
            .and_then(|a| a.get(key).cloned())
            .unwrap_or_default()
    }

    /// Names of the pods of `mail` (the instance label), sorted.
    pub async fn pods(&self) -> Vec<String> {
        let pods = self
            .api::<Pod>()
            .list(&ListParams::default().labels("rustymail.io/instance=mail"))
            .await
            .map(|l| l.items)
            .unwrap_or_default();
        let mut names: Vec<String> = pods.into_iter().filter_map(|p| p.metadata.name).collect();
        names.sort();
        names
    }

    /// Events in the test namespace with `reason`.
    pub async fn events(&self, reason: &str) -> Vec<Event> {
        self.api::<Event>()
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .collect()
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        if self.forbidden_expected || std::thread::panicking() {
            return;
        }
        let forbidden: Vec<String> = self
            .proxy
            .served()
            .into_iter()
            .filter(|r| r.code == 403)
            .map(|r| format!("{} {}", r.request.verb, r.request.resource))
            .collect();
        assert!(
            forbidden.is_empty(),
            "the API server refused the operator calls its generated RBAC does not allow: {forbidden:?}"
        );
    }
}
