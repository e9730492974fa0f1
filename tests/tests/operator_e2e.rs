//! End to end: the real operator binary against the cluster double, driven
//! with the real kubectl, as a user and an SRE would see it.

use std::{path::Path, time::Duration};

use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, Secret, Service},
    events::v1::Event,
};
use kube::{Api, Client, ResourceExt, api::ListParams};
use rustymail_operator::crd::RustyMail;
use rustymail_tests::{
    cluster::{ClusterDouble, FaultRule, Options, Policy, Trigger, User, WatchFaults, thirdparty},
    operator::{Operator, eventually, kubectl, roll_out},
    workspace,
};

const NS: &str = "team-a";
const WAIT: Duration = Duration::from_secs(20);

const SETUP: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: support-imap, namespace: team-a}\nstringData: {username: alice, password: secret}\n";

const MAIL: &str = "apiVersion: rustymail.io/v1alpha1
kind: RustyMail
metadata: {name: mail, namespace: team-a}
spec:
  accounts:
    - name: support
      imap: {host: imap.example.com}
      credentialsSecretRef: {name: support-imap}
";

/// A fresh cluster double with the CRD, a namespace and an account Secret.
struct Cluster {
    double: ClusterDouble,
    client: Client,
}

impl Cluster {
    async fn start(options: Options) -> Self {
        let double = ClusterDouble::start(options).await.expect("double starts");
        let crd = std::fs::read_to_string(workspace::root().join("crds/rustymail.yaml"))
            .expect("CRD file");
        double.create_from_yaml(&crd).expect("CRD created");
        let client = double.client().await.expect("client");
        let cluster = Self { double, client };
        cluster
            .kubectl(&["apply", "--server-side", "-f", "-"], Some(SETUP))
            .await;
        cluster
    }

    fn kubeconfig(&self) -> &Path {
        self.double.kubeconfig_path()
    }

    async fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> String {
        kubectl(self.kubeconfig(), args, stdin).await
    }

    fn operator(&self, identity: &str) -> Operator {
        Operator::start(self.kubeconfig(), identity, &[])
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), NS)
    }

    /// `kubectl patch KIND/NAME --type merge -p PATCH` in the test namespace.
    async fn patch(&self, object: &str, patch: &str) {
        self.kubectl(
            &["-n", NS, "patch", object, "--type", "merge", "-p", patch],
            None,
        )
        .await;
    }

    /// `spec.replicas` of the Deployment.
    async fn replicas(&self) -> Option<i32> {
        self.get::<Deployment>("mail")
            .await
            .and_then(|d| d.spec.replicas)
    }

    async fn rustymail(&self) -> Option<RustyMail> {
        self.get::<RustyMail>("mail").await
    }

    async fn condition(&self, type_: &str) -> Option<(String, String, String)> {
        let rm = self.rustymail().await?;
        let c = rm
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == type_)?;
        Some((c.status, c.reason, c.message))
    }

    async fn wait_condition(&self, type_: &str, status: &str, reason: &str) {
        let ok = eventually(WAIT, || async {
            self.condition(type_)
                .await
                .is_some_and(|(s, r, _)| s == status && r == reason)
        })
        .await;
        assert!(
            ok,
            "{type_} never became {status}/{reason}; it is {:?}",
            self.condition(type_).await
        );
    }

    /// The object `name` in the test namespace, `None` when absent or unreadable.
    async fn get<K>(&self, name: &str) -> Option<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        self.api::<K>().get_opt(name).await.ok().flatten()
    }

    async fn exists<K>(&self, name: &str) -> bool
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        self.get::<K>(name).await.is_some()
    }

    async fn pod_annotation(&self, key: &str) -> String {
        let d = self.get::<Deployment>("mail").await.expect("deployment");
        d.spec
            .template
            .metadata
            .and_then(|m| m.annotations)
            .and_then(|a| a.get(key).cloned())
            .unwrap_or_default()
    }

    async fn events(&self, reason: &str) -> Vec<Event> {
        let list = self
            .api::<Event>()
            .list(&ListParams::default())
            .await
            .expect("events");
        list.items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .collect()
    }

    /// An operator process named `identity` whose caches have synced.
    async fn synced_operator(&self, identity: &str) -> Operator {
        let operator = self.operator(identity);
        operator.wait_for_log("caches synced", WAIT).await;
        operator
    }

    /// An operator that has built MAIL, rolled out and Ready.
    async fn settled_operator(&self, identity: &str) -> Operator {
        let operator = self.synced_operator(identity).await;
        self.kubectl(&["apply", "--server-side", "-f", "-"], Some(MAIL))
            .await;
        self.wait_condition("CertificateReady", "True", "Valid")
            .await;
        roll_out(&self.client, NS, "mail")
            .await
            .expect("rollout reported");
        self.wait_condition("Ready", "True", "Ready").await;
        operator
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_builds_every_child_and_status_follows_the_rollout() {
    let cluster = Cluster::start(Options::default()).await;
    let _operator = cluster.synced_operator("op-a").await;
    cluster
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(MAIL))
        .await;

    let all_there = eventually(WAIT, || async {
        cluster.exists::<Deployment>("mail").await
            && cluster.exists::<Service>("mail").await
            && cluster.exists::<ConfigMap>("mail-config").await
            && cluster.exists::<Secret>("mail-credentials").await
            && cluster.exists::<Secret>("mail-tls").await
    })
    .await;
    assert!(all_there, "children missing");
    for kind in [
        "serviceaccount/mail",
        "networkpolicy/mail",
        "poddisruptionbudget/mail",
    ] {
        cluster.kubectl(&["-n", NS, "get", kind], None).await;
    }
    cluster
        .wait_condition("Ready", "False", "PodsNotReady")
        .await;
    cluster
        .wait_condition("Progressing", "True", "RollingOut")
        .await;
    cluster
        .wait_condition("Degraded", "False", "AsExpected")
        .await;
    cluster
        .wait_condition("CertificateReady", "True", "Valid")
        .await;

    roll_out(&cluster.client, NS, "mail")
        .await
        .expect("rollout reported");
    cluster.wait_condition("Ready", "True", "Ready").await;
    cluster
        .wait_condition("Available", "True", "MinimumReplicasAvailable")
        .await;
    cluster
        .wait_condition("Progressing", "False", "Complete")
        .await;

    let rm = cluster.rustymail().await.expect("exists");
    let status = rm.status.expect("status");
    assert_eq!(status.observed_generation, rm.metadata.generation);
    assert_eq!(status.ready_replicas, Some(2));
    assert_eq!(
        status.endpoint.as_deref(),
        Some("https://mail.team-a.svc:9437")
    );
    assert!(status.certificate.and_then(|c| c.not_after).is_some());
    let table = cluster
        .kubectl(&["-n", NS, "get", "rmail", "mail"], None)
        .await;
    assert!(
        table.contains("True"),
        "kubectl get rmail shows readiness:\n{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_edits_change_children_and_roll_pods_only_for_config_or_credentials() {
    let cluster = Cluster::start(Options::default()).await;
    let _operator = cluster.settled_operator("op-a").await;
    let config_sum = cluster.pod_annotation("rustymail.io/config-checksum").await;
    let creds_sum = cluster
        .pod_annotation("rustymail.io/credentials-checksum")
        .await;

    cluster
        .patch("rmail/mail", r#"{"spec":{"replicas":3}}"#)
        .await;
    let scaled = eventually(WAIT, || async { cluster.replicas().await == Some(3) }).await;
    assert!(scaled, "replicas not applied");
    assert_eq!(
        cluster.pod_annotation("rustymail.io/config-checksum").await,
        config_sum,
        "scaling must not roll pods"
    );
    assert_eq!(
        cluster
            .pod_annotation("rustymail.io/credentials-checksum")
            .await,
        creds_sum
    );

    cluster
        .patch(
            "rmail/mail",
            r#"{"spec":{"rateLimits":{"perIp":"5/second"}}}"#,
        )
        .await;
    let reconfigured = eventually(WAIT, || async {
        let cm = cluster.get::<ConfigMap>("mail-config").await;
        cm.and_then(|c| c.data)
            .and_then(|d| d.get("config.yaml").cloned())
            .is_some_and(|c| c.contains("perIp: 5/second"))
    })
    .await;
    assert!(reconfigured, "config not updated");
    assert!(
        eventually(WAIT, || async {
            cluster.pod_annotation("rustymail.io/config-checksum").await != config_sum
        })
        .await
    );
    assert_eq!(
        cluster
            .pod_annotation("rustymail.io/credentials-checksum")
            .await,
        creds_sum
    );

    let old_key = cluster
        .get::<Secret>("mail-credentials")
        .await
        .expect("secret")
        .data
        .expect("data")["api-keys"]
        .clone();
    cluster
        .kubectl(
            &[
                "-n",
                NS,
                "annotate",
                "rmail",
                "mail",
                "rustymail.io/rotate-credentials=2026-11-28",
            ],
            None,
        )
        .await;
    let rotated = eventually(WAIT, || async {
        let s = cluster.get::<Secret>("mail-credentials").await;
        s.and_then(|s| s.data)
            .is_some_and(|d| d["api-keys"] != old_key)
    })
    .await;
    assert!(rotated, "credentials not rotated");
    assert!(
        eventually(WAIT, || async {
            cluster
                .pod_annotation("rustymail.io/credentials-checksum")
                .await
                != creds_sum
        })
        .await
    );
    assert!(
        !cluster.events("CredentialsRotated").await.is_empty(),
        "rotation is announced with an Event"
    );

    let before = cluster
        .get::<Secret>("mail-credentials")
        .await
        .expect("secret")
        .data;
    cluster
        .patch("rmail/mail", r#"{"spec":{"replicas":2}}"#)
        .await;
    assert!(eventually(WAIT, || async { cluster.replicas().await == Some(2) }).await);
    assert_eq!(
        cluster
            .get::<Secret>("mail-credentials")
            .await
            .expect("secret")
            .data,
        before,
        "credentials are never regenerated without a new rotation value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_or_edited_children_are_restored() {
    let cluster = Cluster::start(Options::default()).await;
    let _operator = cluster.settled_operator("op-a").await;

    let old_uid = cluster.get::<Service>("mail").await.expect("service").uid();
    cluster
        .kubectl(&["-n", NS, "delete", "service", "mail"], None)
        .await;
    let recreated = eventually(WAIT, || async {
        cluster
            .get::<Service>("mail")
            .await
            .is_some_and(|s| s.uid() != old_uid)
    })
    .await;
    assert!(recreated, "deleted Service not recreated");

    cluster.patch("deployment/mail", r#"{"spec":{"template":{"spec":{"containers":[{"name":"dataplane","image":"evil.example/backdoor:1"}]}}}}"#).await;
    let reverted = eventually(WAIT, || async {
        let d = cluster.get::<Deployment>("mail").await;
        d.and_then(|d| d.spec.template.spec)
            .and_then(|p| p.containers[0].image.clone())
            .is_some_and(|i| !i.contains("evil"))
    })
    .await;
    assert!(reverted, "edited Deployment not reverted");

    cluster
        .patch(
            "configmap/mail-config",
            r#"{"data":{"config.yaml":"tls: {requireHttps: false}"}}"#,
        )
        .await;
    let restored = eventually(WAIT, || async {
        let cm = cluster.get::<ConfigMap>("mail-config").await;
        cm.and_then(|c| c.data)
            .is_some_and(|d| d["config.yaml"].contains("requireHttps: true"))
    })
    .await;
    assert!(restored, "edited ConfigMap not restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_rustymail_collects_every_child() {
    let cluster = Cluster::start(Options::default()).await;
    let _operator = cluster.settled_operator("op-a").await;
    cluster
        .kubectl(&["-n", NS, "delete", "rustymail", "mail"], None)
        .await;
    let gone = eventually(WAIT, || async {
        !cluster.exists::<Deployment>("mail").await
            && !cluster.exists::<Service>("mail").await
            && !cluster.exists::<ConfigMap>("mail-config").await
            && !cluster.exists::<Secret>("mail-credentials").await
            && !cluster.exists::<Secret>("mail-tls").await
    })
    .await;
    assert!(gone, "children outlived their RustyMail");
    assert!(
        cluster.exists::<Secret>("support-imap").await,
        "the user's own Secret is never touched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_references_degrade_with_an_event_and_change_nothing() {
    let cluster = Cluster::start(Options::default()).await;
    let _operator = cluster.settled_operator("op-a").await;
    let deployment_rv = cluster
        .get::<Deployment>("mail")
        .await
        .expect("deployment")
        .resource_version();
    let config_rv = cluster
        .get::<ConfigMap>("mail-config")
        .await
        .expect("cm")
        .resource_version();

    let broken = r#"{"spec":{"accounts":[
        {"name":"support","imap":{"host":"imap.example.com"},"credentialsSecretRef":{"name":"support-imap"}},
        {"name":"sales","imap":{"host":"imap.example.com"},"credentialsSecretRef":{"name":"sales-imap"}}]}}"#;
    cluster.patch("rmail/mail", broken).await;
    cluster
        .wait_condition("Degraded", "True", "SecretNotFound")
        .await;
    let (_, _, message) = cluster.condition("Degraded").await.expect("condition");
    assert!(
        message.contains("spec.accounts[1].credentialsSecretRef") && message.contains("sales-imap"),
        "{message}"
    );
    cluster
        .wait_condition("Ready", "False", "SecretNotFound")
        .await;
    assert!(
        eventually(WAIT, || async {
            !cluster.events("SecretNotFound").await.is_empty()
        })
        .await,
        "no Warning Event"
    );
    let warning = cluster.events("SecretNotFound").await.remove(0);
    assert_eq!(warning.type_.as_deref(), Some("Warning"));

    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        cluster
            .get::<Deployment>("mail")
            .await
            .expect("kept")
            .resource_version(),
        deployment_rv,
        "Deployment changed while degraded"
    );
    assert_eq!(
        cluster
            .get::<ConfigMap>("mail-config")
            .await
            .expect("kept")
            .resource_version(),
        config_rv,
        "config changed while degraded"
    );
    assert!(
        cluster.exists::<Secret>("mail-tls").await && cluster.exists::<Service>("mail").await,
        "nothing is deleted"
    );

    let sales = "apiVersion: v1\nkind: Secret\nmetadata: {name: sales-imap, namespace: team-a}\nstringData: {username: bob, password: pw}\n";
    cluster
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(sales))
        .await;
    cluster
        .wait_condition("Degraded", "False", "AsExpected")
        .await;
    let mounted = eventually(WAIT, || async {
        let d = cluster.get::<Deployment>("mail").await;
        d.and_then(|d| d.spec.template.spec)
            .and_then(|p| p.volumes)
            .is_some_and(|v| v.iter().any(|v| v.name == "account-sales"))
    })
    .await;
    assert!(mounted, "the fixed spec is applied once the Secret exists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issuer_without_cert_manager_is_reported_and_the_rest_still_applies() {
    let cluster = Cluster::start(Options::default()).await;
    let _operator = cluster.synced_operator("op-a").await;
    let with_issuer =
        format!("{MAIL}  tls:\n    issuerRef: {{name: letsencrypt, kind: ClusterIssuer}}\n");
    cluster
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(&with_issuer))
        .await;
    cluster
        .wait_condition("CertificateReady", "False", "CertManagerNotInstalled")
        .await;
    assert!(cluster.exists::<Deployment>("mail").await && cluster.exists::<Service>("mail").await);
    assert!(
        !cluster.exists::<Secret>("mail-tls").await,
        "no self-signed certificate when an issuer is asked for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_manager_certificates_are_requested_and_their_secret_tracked() {
    let cluster = Cluster::start(Options::default()).await;
    cluster
        .double
        .create_from_yaml(&thirdparty::cert_manager())
        .expect("cert-manager CRDs");
    let _operator = cluster.synced_operator("op-a").await;
    let with_issuer =
        format!("{MAIL}  tls:\n    issuerRef: {{name: letsencrypt, kind: ClusterIssuer}}\n");
    cluster
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(&with_issuer))
        .await;
    cluster
        .wait_condition("Degraded", "True", "IssuerNotFound")
        .await;

    cluster.kubectl(&["apply", "--server-side", "-f", "-"], Some("apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {name: letsencrypt}\nspec: {selfSigned: {}}\n")).await;
    cluster
        .wait_condition("Degraded", "False", "AsExpected")
        .await;
    cluster
        .wait_condition("CertificateReady", "False", "Issuing")
        .await;
    let cert = cluster
        .kubectl(
            &[
                "-n",
                NS,
                "get",
                "certificates.cert-manager.io",
                "mail-tls",
                "-o",
                "json",
            ],
            None,
        )
        .await;
    let cert: serde_json::Value = serde_json::from_str(&cert).expect("json");
    assert_eq!(cert["spec"]["privateKey"]["rotationPolicy"], "Always");
    assert_eq!(cert["spec"]["issuerRef"]["kind"], "ClusterIssuer");

    // Fulfil it as cert-manager would: a TLS Secret with the template's labels.
    let issued =
        rcgen::generate_simple_self_signed(vec!["mail.team-a.svc".to_owned()]).expect("cert");
    let labels = serde_json::to_string(&cert["spec"]["secretTemplate"]["labels"]).expect("labels");
    let secret = format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"type\":\"kubernetes.io/tls\",\"metadata\":{{\"name\":\"mail-tls\",\"namespace\":\"team-a\",\"labels\":{labels}}},\"stringData\":{{\"tls.crt\":{},\"tls.key\":{}}}}}",
        serde_json::to_string(&issued.cert.pem()).expect("pem"),
        serde_json::to_string(&issued.signing_key.serialize_pem()).expect("pem"),
    );
    cluster
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(&secret))
        .await;
    cluster
        .wait_condition("CertificateReady", "True", "Valid")
        .await;
    let rm = cluster.rustymail().await.expect("exists");
    let cert_status = rm
        .status
        .and_then(|s| s.certificate)
        .expect("certificate status");
    assert_eq!(cert_status.secret_name, "mail-tls");
    assert!(cert_status.not_after.is_some() && cert_status.renewal_time.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_resources_keep_their_children_as_they_are() {
    let cluster = Cluster::start(Options::default()).await;
    let _operator = cluster.settled_operator("op-a").await;
    cluster
        .patch("rmail/mail", r#"{"spec":{"paused":true,"replicas":5}}"#)
        .await;
    cluster
        .wait_condition("Progressing", "False", "Paused")
        .await;
    cluster
        .kubectl(&["-n", NS, "delete", "service", "mail"], None)
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !cluster.exists::<Service>("mail").await,
        "a paused RustyMail's children are not recreated"
    );
    assert_eq!(
        cluster
            .get::<Deployment>("mail")
            .await
            .expect("d")
            .spec
            .replicas,
        Some(2)
    );

    cluster
        .patch("rmail/mail", r#"{"spec":{"paused":false}}"#)
        .await;
    assert!(
        eventually(WAIT, || async { cluster.exists::<Service>("mail").await }).await,
        "unpausing resumes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_despite_conflicts_server_errors_and_dropped_watches() {
    let cluster = Cluster::start(Options {
        seed: 7,
        ..Options::default()
    })
    .await;
    // The operator's writes and everyone's reads fail now and then; kubectl's
    // own writes (field manager kubectl) go through.
    let operator_writes = ["rustymail-operator"];
    let faults = [
        FaultRule::fail(500)
            .verbs(&["get"])
            .when(Trigger::Fraction(0.1)),
        FaultRule::fail(500)
            .verbs(&["patch"])
            .field_managers(&operator_writes)
            .when(Trigger::Fraction(0.1)),
        FaultRule::fail(409)
            .verbs(&["patch"])
            .field_managers(&operator_writes)
            .when(Trigger::EveryNth(4)),
    ];
    faults.into_iter().for_each(|f| cluster.double.add_fault(f));
    cluster.double.set_watch_faults(WatchFaults {
        drop_after: Some(Duration::from_secs(2)),
        drop_after_events: Some(5),
    });
    let operator = cluster.operator("op-a");
    operator
        .wait_for_log("caches synced", Duration::from_secs(40))
        .await;
    cluster
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(MAIL))
        .await;
    let converged = eventually(Duration::from_secs(60), || async {
        cluster
            .condition("CertificateReady")
            .await
            .is_some_and(|(s, _, _)| s == "True")
            && cluster.exists::<Deployment>("mail").await
            && cluster.exists::<Service>("mail").await
            && cluster.exists::<ConfigMap>("mail-config").await
    })
    .await;
    assert!(
        converged,
        "did not converge under faults:\n{}",
        operator.log().join("\n")
    );
    let injected = cluster
        .double
        .stats()
        .log
        .iter()
        .filter(|r| r.code == 500 || r.code == 409)
        .count();
    assert!(injected > 0, "the faults were not exercised");
    cluster.double.clear_faults();
    cluster
        .kubectl(&["-n", NS, "delete", "configmap", "mail-config"], None)
        .await;
    assert!(
        eventually(WAIT, || async {
            cluster.exists::<ConfigMap>("mail-config").await
        })
        .await,
        "still watching after the drops"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_a_standby_takes_over_when_it_dies() {
    let cluster = Cluster::start(Options::default()).await;
    let mut first = cluster.settled_operator("op-a").await;
    let second = cluster.synced_operator("op-b").await;

    cluster
        .patch("rmail/mail", r#"{"spec":{"replicas":3}}"#)
        .await;
    assert!(eventually(WAIT, || async { cluster.replicas().await == Some(3) }).await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        first.lines_with("children updated") >= 2,
        "the leader applies:\n{}",
        first.log().join("\n")
    );
    assert_eq!(
        second.lines_with("children updated"),
        0,
        "the standby never writes"
    );

    first.kill();
    cluster
        .patch("rmail/mail", r#"{"spec":{"replicas":4}}"#)
        .await;
    let took_over = eventually(Duration::from_secs(10), || async {
        cluster.replicas().await == Some(4)
    })
    .await;
    assert!(
        took_over,
        "the standby did not take over within the lease duration"
    );
    assert!(
        eventually(Duration::from_secs(2), || async {
            second.lines_with("children updated") >= 1
        })
        .await,
        "the new leader applies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_lease_for_an_immediate_takeover() {
    let cluster = Cluster::start(Options::default()).await;
    let mut first = cluster.settled_operator("op-a").await;
    let second = cluster.synced_operator("op-b").await;
    let status = first.terminate();
    assert!(
        status.success(),
        "clean exit on SIGTERM: {status:?}\n{}",
        first.log().join("\n")
    );
    let lease = cluster
        .kubectl(
            &[
                "-n",
                "default",
                "get",
                "lease",
                "rustymail-operator",
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ],
            None,
        )
        .await;
    assert_ne!(lease, "op-a", "the lease is released on SIGTERM");
    assert!(
        eventually(Duration::from_secs(2), || async {
            second.lines_with("leading") > 0
        })
        .await,
        "op-b leads at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_of_features_switched_off_are_deleted() {
    let cluster = Cluster::start(Options::default()).await;
    let _operator = cluster.settled_operator("op-a").await;
    cluster
        .kubectl(&["-n", NS, "get", "networkpolicy", "mail"], None)
        .await;
    cluster
        .kubectl(&["-n", NS, "get", "poddisruptionbudget", "mail"], None)
        .await;
    let off = r#"{"spec":{"replicas":1,"networkPolicy":{"enabled":false},"ingress":{"host":"mail.example.com"}}}"#;
    cluster.patch("rmail/mail", off).await;
    let pruned = eventually(WAIT, || async {
        let np = cluster
            .kubectl(&["-n", NS, "get", "networkpolicies", "-o", "name"], None)
            .await;
        let pdb = cluster
            .kubectl(
                &["-n", NS, "get", "poddisruptionbudgets", "-o", "name"],
                None,
            )
            .await;
        let ing = cluster
            .kubectl(&["-n", NS, "get", "ingresses", "-o", "name"], None)
            .await;
        np.trim().is_empty()
            && pdb.trim().is_empty()
            && ing.trim() == "ingress.networking.k8s.io/mail"
    })
    .await;
    assert!(
        pruned,
        "NetworkPolicy and PodDisruptionBudget should be gone and the Ingress created"
    );
    assert!(!cluster.events("ChildrenUpdated").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_list_limits_what_the_operator_touches_and_admin_endpoints_answer() {
    let cluster = Cluster::start(Options::default()).await;
    let other = "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: support-imap, namespace: team-b}\nstringData: {username: a, password: b}\n";
    cluster
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(other))
        .await;
    let operator = Operator::start(cluster.kubeconfig(), "op-a", &["--namespaces", "team-a"]);
    operator.wait_for_log("caches synced", WAIT).await;
    cluster
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(MAIL))
        .await;
    cluster
        .kubectl(
            &["apply", "--server-side", "-f", "-"],
            Some(&MAIL.replace("team-a", "team-b")),
        )
        .await;
    cluster
        .wait_condition("CertificateReady", "True", "Valid")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outside = Api::<Deployment>::namespaced(cluster.client.clone(), "team-b")
        .get_opt("mail")
        .await
        .expect("get");
    assert!(
        outside.is_none(),
        "a namespace outside --namespaces is left alone"
    );

    let line = operator
        .log()
        .into_iter()
        .find(|l| l.contains("operator starting"))
        .expect("start line");
    let start: serde_json::Value = serde_json::from_str(&line).expect("JSON log");
    let admin = start["admin"].as_str().expect("admin address").to_owned();
    let get = |path: &str| {
        let url = format!("http://{admin}{path}");
        async move {
            let out = tokio::process::Command::new("curl")
                .args(["-s", "-w", "\n%{http_code}", &url])
                .output()
                .await
                .expect("curl");
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    };
    assert!(get("/healthz").await.ends_with("200"));
    assert!(
        get("/readyz").await.ends_with("200"),
        "ready once caches synced"
    );
    let metrics = get("/metrics").await;
    assert!(
        metrics.contains("rustymail_operator_reconciles_total{result=\"success\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("rustymail_operator_leader 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_api_errors_are_reported_as_warning_events_and_retried() {
    let cluster = Cluster::start(Options::default()).await;
    cluster.double.add_fault(
        FaultRule::fail(500)
            .verbs(&["patch"])
            .resources(&["deployments"])
            .field_managers(&["rustymail-operator"]),
    );
    let operator = cluster.synced_operator("op-a").await;
    cluster
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(MAIL))
        .await;
    let reported = eventually(WAIT, || async {
        let events = cluster.events("ReconcileFailed").await;
        events.iter().any(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.contains("applying Deployment team-a/mail"))
        })
    })
    .await;
    assert!(
        reported,
        "no Warning Event names the failing call: {:?}\n{}",
        cluster
            .events("ReconcileFailed")
            .await
            .iter()
            .map(|e| e.note.clone())
            .collect::<Vec<_>>(),
        operator.log().join("\n")
    );
    assert!(!cluster.exists::<Deployment>("mail").await);
    cluster.double.clear_faults();
    assert!(
        eventually(Duration::from_secs(30), || async {
            cluster.exists::<Deployment>("mail").await
        })
        .await,
        "retried with backoff until the API recovered"
    );
}

/// The committed RBAC (`deploy/rbac.yaml`), with `edit` applied to its text.
fn generated_rbac(edit: impl FnOnce(String) -> String) -> Policy {
    let yaml = std::fs::read_to_string(workspace::root().join("deploy/rbac.yaml"))
        .expect("deploy/rbac.yaml");
    Policy::from_yaml(&edit(yaml)).expect("RBAC parses")
}

/// An operator authenticated as the RBAC-restricted user.
fn restricted_operator(cluster: &Cluster, dir: &tempfile::TempDir) -> Operator {
    let kubeconfig = dir.path().join("restricted");
    cluster
        .double
        .write_kubeconfig(&kubeconfig, User::Restricted)
        .expect("kubeconfig written");
    Operator::start(&kubeconfig, "op-restricted", &[])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_rbac_is_all_the_operator_needs() {
    let cluster = Cluster::start(Options {
        rbac: Some(generated_rbac(|y| y)),
        ..Options::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let operator = restricted_operator(&cluster, &dir);
    operator.wait_for_log("caches synced", WAIT).await;
    cluster
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(MAIL))
        .await;
    cluster
        .wait_condition("CertificateReady", "True", "Valid")
        .await;
    roll_out(&cluster.client, NS, "mail")
        .await
        .expect("rollout reported");
    cluster.wait_condition("Ready", "True", "Ready").await;
    assert!(
        cluster.events("ReconcileFailed").await.is_empty(),
        "{}",
        operator.log().join("\n")
    );
    assert!(
        !operator.log().iter().any(|l| l.contains("403")),
        "a call outside the generated rules: {}",
        operator.log().join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_missing_from_the_rbac_is_reported_as_a_warning_event() {
    let without_deployments =
        |yaml: String| yaml.replacen("  - deployments\n", "  - replicasets\n", 1);
    let cluster = Cluster::start(Options {
        rbac: Some(generated_rbac(without_deployments)),
        ..Options::default()
    })
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let _operator = restricted_operator(&cluster, &dir);
    cluster
        .kubectl(&["apply", "--server-side", "-f", "-"], Some(MAIL))
        .await;
    let reported = eventually(WAIT, || async {
        cluster.events("ReconcileFailed").await.iter().any(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.note.as_deref().is_some_and(|n| n.contains("Deployment"))
        })
    })
    .await;
    assert!(
        reported,
        "the forbidden Deployment watch or apply was not reported"
    );
}
