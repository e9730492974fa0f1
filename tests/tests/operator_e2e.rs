//! End to end: the real operator binary, as a ServiceAccount bound to its
//! generated RBAC, against the local control plane (`scripts/cluster up`),
//! driven with the real kubectl, as a user and an SRE would see it. Real
//! Deployments, ReplicaSets and Pods (Ready on kwok's fake node), real
//! garbage collection. Each test has a namespace of its own.

use std::time::Duration;

use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{ConfigMap, Secret, Service},
};
use kube::{Api, ResourceExt};
use rustymail_tests::{
    fault_proxy::{FaultRule, Trigger, WatchFaults},
    poll::eventually,
    scenario::{Scenario, WAIT},
};

/// Whether every pod of `mail` reports the Ready condition.
async fn pods_ready(s: &Scenario, count: usize) -> bool {
    let pods = s
        .api::<k8s_openapi::api::core::v1::Pod>()
        .list(&kube::api::ListParams::default().labels("rustymail.io/instance=mail"))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    pods.len() == count
        && pods.iter().all(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_builds_every_child_and_status_follows_the_real_rollout() {
    let s = Scenario::new("children").await;
    let _operator = s.synced_operator("op-a").await;
    s.apply(&s.mail("")).await;

    let all_there = eventually(WAIT, || async {
        s.exists::<Deployment>("mail").await
            && s.exists::<Service>("mail").await
            && s.exists::<ConfigMap>("mail-config").await
            && s.exists::<Secret>("mail-credentials").await
            && s.exists::<Secret>("mail-tls").await
    })
    .await;
    assert!(all_there, "children missing");
    for kind in [
        "serviceaccount/mail",
        "networkpolicy/mail",
        "poddisruptionbudget/mail",
    ] {
        s.kubectl_ns(&["get", kind]).await;
    }
    s.wait_condition("Degraded", "False", "AsExpected").await;
    s.wait_condition("CertificateReady", "True", "Valid").await;
    // The Deployment controller, the scheduler and the fake node's kubelet
    // (kwok) make two pods Ready; the operator reports what they report.
    s.wait_condition("Ready", "True", "Ready").await;
    s.wait_condition("Available", "True", "MinimumReplicasAvailable")
        .await;
    s.wait_condition("Progressing", "False", "Complete").await;
    assert!(
        pods_ready(&s, 2).await,
        "two Ready pods behind a Ready RustyMail"
    );

    let rm = s.rustymail().await.expect("exists");
    let status = rm.status.expect("status");
    assert_eq!(status.observed_generation, rm.metadata.generation);
    assert_eq!(status.ready_replicas, Some(2));
    assert_eq!(
        status.endpoint,
        Some(format!("https://mail.{}.svc:9437", s.namespace()))
    );
    assert!(status.certificate.and_then(|c| c.not_after).is_some());
    let table = s.kubectl_ns(&["get", "rmail", "mail"]).await;
    assert!(
        table.contains("True"),
        "kubectl get rmail shows readiness:\n{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_edits_change_children_and_roll_pods_only_for_config_or_credentials() {
    let s = Scenario::new("edits").await;
    let _operator = s.settled_operator("op-a").await;
    let config_sum = s.pod_annotation("rustymail.io/config-checksum").await;
    let creds_sum = s.pod_annotation("rustymail.io/credentials-checksum").await;
    let first_pods = s.pods().await;
    assert_eq!(first_pods.len(), 2, "{first_pods:?}");

    s.patch("rmail/mail", r#"{"spec":{"replicas":3}}"#).await;
    assert!(
        eventually(WAIT, || async { s.pods().await.len() == 3 }).await,
        "the Deployment scaled to three pods"
    );
    let pods = s.pods().await;
    assert!(
        first_pods.iter().all(|p| pods.contains(p)),
        "scaling must not roll pods: {first_pods:?} -> {pods:?}"
    );
    assert_eq!(
        s.pod_annotation("rustymail.io/config-checksum").await,
        config_sum
    );
    assert_eq!(
        s.pod_annotation("rustymail.io/credentials-checksum").await,
        creds_sum
    );

    s.patch(
        "rmail/mail",
        r#"{"spec":{"rateLimits":{"perIp":"5/second"}}}"#,
    )
    .await;
    let reconfigured = eventually(WAIT, || async {
        s.get::<ConfigMap>("mail-config")
            .await
            .and_then(|c| c.data)
            .and_then(|d| d.get("config.yaml").cloned())
            .is_some_and(|c| c.contains("perIp: 5/second"))
    })
    .await;
    assert!(reconfigured, "config not updated");
    assert!(
        eventually(WAIT, || async {
            s.pod_annotation("rustymail.io/config-checksum").await != config_sum
        })
        .await
    );
    assert_eq!(
        s.pod_annotation("rustymail.io/credentials-checksum").await,
        creds_sum
    );
    let rolled = eventually(WAIT, || async {
        let now = s.pods().await;
        now.len() == 3 && now.iter().all(|p| !pods.contains(p))
    })
    .await;
    assert!(
        rolled,
        "a config change rolls every pod: {:?}",
        s.pods().await
    );

    let old_key = s
        .get::<Secret>("mail-credentials")
        .await
        .and_then(|s| s.data)
        .expect("credentials")["api-keys"]
        .clone();
    s.kubectl_ns(&[
        "annotate",
        "rmail",
        "mail",
        "rustymail.io/rotate-credentials=2026-11-28",
    ])
    .await;
    let rotated = eventually(WAIT, || async {
        s.get::<Secret>("mail-credentials")
            .await
            .and_then(|s| s.data)
            .is_some_and(|d| d["api-keys"] != old_key)
    })
    .await;
    assert!(rotated, "credentials not rotated");
    assert!(
        eventually(WAIT, || async {
            s.pod_annotation("rustymail.io/credentials-checksum").await != creds_sum
        })
        .await
    );
    assert!(
        eventually(WAIT, || async {
            !s.events("CredentialsRotated").await.is_empty()
        })
        .await,
        "rotation is announced with an Event"
    );

    let before = s
        .get::<Secret>("mail-credentials")
        .await
        .and_then(|s| s.data);
    s.patch("rmail/mail", r#"{"spec":{"replicas":2}}"#).await;
    assert!(eventually(WAIT, || async { s.replicas().await == Some(2) }).await);
    assert_eq!(
        s.get::<Secret>("mail-credentials")
            .await
            .and_then(|s| s.data),
        before,
        "credentials are never regenerated without a new rotation value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_or_edited_children_are_restored() {
    let s = Scenario::new("drift").await;
    let _operator = s.settled_operator("op-a").await;

    let old_uid = s.get::<Service>("mail").await.expect("service").uid();
    s.kubectl_ns(&["delete", "service", "mail"]).await;
    let recreated = eventually(WAIT, || async {
        s.get::<Service>("mail")
            .await
            .is_some_and(|svc| svc.uid() != old_uid)
    })
    .await;
    assert!(recreated, "deleted Service not recreated");

    s.patch("deployment/mail", r#"{"spec":{"template":{"spec":{"containers":[{"name":"dataplane","image":"evil.example/backdoor:1"}]}}}}"#).await;
    let reverted = eventually(WAIT, || async {
        s.get::<Deployment>("mail")
            .await
            .and_then(|d| d.spec.template.spec)
            .and_then(|p| p.containers[0].image.clone())
            .is_some_and(|i| !i.contains("evil"))
    })
    .await;
    assert!(reverted, "edited Deployment not reverted");

    s.patch(
        "configmap/mail-config",
        r#"{"data":{"config.yaml":"tls: {requireHttps: false}"}}"#,
    )
    .await;
    let restored = eventually(WAIT, || async {
        s.get::<ConfigMap>("mail-config")
            .await
            .and_then(|c| c.data)
            .is_some_and(|d| d["config.yaml"].contains("requireHttps: true"))
    })
    .await;
    assert!(restored, "edited ConfigMap not restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_rustymail_lets_the_garbage_collector_take_every_child() {
    let s = Scenario::new("gc").await;
    let operator = s.settled_operator("op-a").await;
    assert!(
        eventually(WAIT, || async {
            operator
                .metric("rustymail_operator_managed_resources")
                .await
                == 1.0
        })
        .await,
        "managed_resources counts the RustyMail:\n{}",
        operator.metrics().await
    );
    s.kubectl_ns(&["delete", "rustymail", "mail"]).await;
    let gone = eventually(WAIT, || async {
        !s.exists::<Deployment>("mail").await
            && !s.exists::<Service>("mail").await
            && !s.exists::<ConfigMap>("mail-config").await
            && !s.exists::<Secret>("mail-credentials").await
            && !s.exists::<Secret>("mail-tls").await
            && s.pods().await.is_empty()
    })
    .await;
    assert!(gone, "children or pods outlived their RustyMail");
    assert!(
        s.exists::<Secret>("support-imap").await,
        "the user's own Secret is never touched"
    );
    assert_eq!(
        operator
            .metric("rustymail_operator_managed_resources")
            .await,
        0.0,
        "managed_resources follows the deletion"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_references_degrade_with_an_event_and_change_nothing() {
    let s = Scenario::new("degraded").await;
    let operator = s.settled_operator("op-a").await;
    let deployment_rv = s
        .get::<Deployment>("mail")
        .await
        .expect("d")
        .resource_version();
    let config_rv = s
        .get::<ConfigMap>("mail-config")
        .await
        .expect("cm")
        .resource_version();

    let broken = r#"{"spec":{"accounts":[
        {"name":"support","imap":{"host":"imap.example.com"},"credentialsSecretRef":{"name":"support-imap"}},
        {"name":"sales","imap":{"host":"imap.example.com"},"credentialsSecretRef":{"name":"sales-imap"}}]}}"#;
    s.patch("rmail/mail", broken).await;
    s.wait_condition("Degraded", "True", "SecretNotFound").await;
    let (_, _, message) = s.condition("Degraded").await.expect("condition");
    assert!(
        message.contains("spec.accounts[1].credentialsSecretRef") && message.contains("sales-imap"),
        "{message}"
    );
    s.wait_condition("Ready", "False", "SecretNotFound").await;
    assert!(
        eventually(WAIT, || async {
            !s.events("SecretNotFound").await.is_empty()
        })
        .await,
        "no Warning Event"
    );
    let warning = s.events("SecretNotFound").await.remove(0);
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    // A spec the user must fix is a status, not an operator failure: the
    // operator's error counter (what its alerts read) does not move.
    assert!(
        eventually(WAIT, || async {
            operator
                .metric("rustymail_operator_reconciles_total{result=\"degraded\"}")
                .await
                >= 1.0
        })
        .await,
        "the degraded reconcile is counted:\n{}",
        operator.metrics().await
    );
    // The gauge is set as the retry is scheduled, just after the count.
    assert!(
        eventually(WAIT, || async {
            rustymail_tests::operator::sum_of(
                &operator.metrics().await,
                "rustymail_operator_backing_off_resources",
            ) == 1.0
        })
        .await,
        "the degraded RustyMail is retried with backoff:\n{}",
        operator.metrics().await
    );
    let metrics = operator.metrics().await;
    assert_eq!(
        rustymail_tests::operator::sum_of(&metrics, "rustymail_operator_reconcile_errors_total"),
        0.0,
        "a Degraded spec counted as an operator error:\n{metrics}"
    );

    // The operator decided (Event and condition above); its children stay
    // exactly as they were.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        s.get::<Deployment>("mail")
            .await
            .expect("kept")
            .resource_version(),
        deployment_rv,
        "Deployment changed while degraded"
    );
    assert_eq!(
        s.get::<ConfigMap>("mail-config")
            .await
            .expect("kept")
            .resource_version(),
        config_rv,
        "config changed while degraded"
    );
    assert!(
        s.exists::<Secret>("mail-tls").await && s.exists::<Service>("mail").await,
        "nothing is deleted"
    );

    s.apply(&format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: sales-imap, namespace: {}}}\nstringData: {{username: bob, password: pw}}\n", s.namespace())).await;
    s.wait_condition("Degraded", "False", "AsExpected").await;
    let mounted = eventually(WAIT, || async {
        s.get::<Deployment>("mail")
            .await
            .and_then(|d| d.spec.template.spec)
            .and_then(|p| p.volumes)
            .is_some_and(|v| v.iter().any(|v| v.name == "account-sales"))
    })
    .await;
    assert!(mounted, "the fixed spec is applied once the Secret exists");
}

/// How long an API installed after the operator started may take to be
/// noticed: one discovery poll (30 s), then the new watch and a reconcile.
const DISCOVERY_WAIT: Duration = Duration::from_secs(90);

/// `kubectl get KIND NAME` in the test namespace: `kind/name`, or nothing.
async fn named(s: &Scenario, kind: &str, name: &str) -> String {
    s.kubectl_ns(&["get", kind, name, "-o", "name", "--ignore-not-found"])
        .await
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_degraded_rustymail_forgets_its_backoff_at_once() {
    let s = Scenario::new("forget").await;
    let operator = s.synced_operator("op-a").await;
    s.apply(&s.mail("").replace("support-imap", "nobody-imap"))
        .await;
    s.wait_condition("Degraded", "True", "SecretNotFound").await;
    let backing_off = || async {
        operator
            .metric("rustymail_operator_backing_off_resources")
            .await
    };
    assert!(
        eventually(WAIT, || async { backing_off().await == 1.0 }).await,
        "the degraded RustyMail backs off:\n{}",
        operator.metrics().await
    );
    s.kubectl_ns(&["delete", "rustymail", "mail"]).await;
    // Long before its next retry or the sweep of stale entries (minutes).
    assert!(
        eventually(Duration::from_secs(10), || async {
            backing_off().await == 0.0
        })
        .await,
        "the deleted RustyMail's backoff is kept:\n{}",
        operator.metrics().await
    );
    assert_eq!(
        operator
            .metric("rustymail_operator_managed_resources")
            .await,
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cert_manager_installed_after_the_operator_started_is_used_without_a_restart() {
    let s = Scenario::new("no-cm").await;
    // The operator's discovery does not see cert-manager, as on a cluster
    // without it.
    let proxy = s.faults();
    proxy.hide_api_groups(&["cert-manager.io"]);
    let operator = s.operator("op-a");
    operator.wait_for_log("caches synced", WAIT).await;
    s.apply(&s.mail("  tls:\n    issuerRef: {name: test-ca, kind: ClusterIssuer}\n"))
        .await;
    s.wait_condition("CertificateReady", "False", "CertManagerNotInstalled")
        .await;
    assert!(s.exists::<Deployment>("mail").await && s.exists::<Service>("mail").await);
    assert!(
        !s.exists::<Secret>("mail-tls").await,
        "no self-signed certificate when an issuer is asked for"
    );

    // cert-manager "installed": discovery now lists it.
    proxy.hide_api_groups(&[]);
    let issued = eventually(DISCOVERY_WAIT, || async {
        s.condition("CertificateReady")
            .await
            .is_some_and(|(st, r, _)| st == "True" && r == "Valid")
    })
    .await;
    assert!(
        issued,
        "cert-manager was not used without a restart: CertificateReady is {:?}; operator log:\n{}",
        s.condition("CertificateReady").await,
        operator.log().join("\n")
    );
    // The Certificate is watched now: a deleted one is put back at once,
    // not at the next resync.
    s.kubectl_ns(&["delete", "certificates.cert-manager.io", "mail-tls"])
        .await;
    let restored = eventually(WAIT, || async {
        named(&s, "certificates.cert-manager.io", "mail-tls").await
            == "certificate.cert-manager.io/mail-tls"
    })
    .await;
    assert!(
        restored,
        "the deleted Certificate was not restored; operator log:\n{}",
        operator.log().join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_without_the_prometheus_operator_is_reported_then_applied_once_installed() {
    let s = Scenario::new("no-prom").await;
    let proxy = s.faults();
    proxy.hide_api_groups(&["monitoring.coreos.com"]);
    let operator = s.operator("op-a");
    operator.wait_for_log("caches synced", WAIT).await;
    s.apply(&s.mail("  monitoring: {serviceMonitor: true, prometheusRule: true}\n"))
        .await;
    s.wait_condition("MonitoringReady", "False", "PrometheusOperatorNotInstalled")
        .await;
    let warned = eventually(WAIT, || async {
        s.events("PrometheusOperatorNotInstalled")
            .await
            .iter()
            .any(|e| e.type_.as_deref() == Some("Warning"))
    })
    .await;
    assert!(warned, "no Warning Event says monitoring is missing");
    s.wait_condition("Ready", "True", "Ready").await;
    assert!(
        named(&s, "servicemonitors.monitoring.coreos.com", "mail")
            .await
            .is_empty()
    );

    // The Prometheus Operator's CRDs "installed": discovery now lists them.
    proxy.hide_api_groups(&[]);
    let applied = eventually(DISCOVERY_WAIT, || async {
        s.condition("MonitoringReady")
            .await
            .is_some_and(|(st, r, _)| st == "True" && r == "Applied")
    })
    .await;
    assert!(
        applied,
        "monitoring was not applied without a restart: MonitoringReady is {:?}; operator log:\n{}",
        s.condition("MonitoringReady").await,
        operator.log().join("\n")
    );
    assert_eq!(
        named(&s, "servicemonitors.monitoring.coreos.com", "mail").await,
        "servicemonitor.monitoring.coreos.com/mail"
    );
    assert_eq!(
        named(&s, "prometheusrules.monitoring.coreos.com", "mail").await,
        "prometheusrule.monitoring.coreos.com/mail"
    );
    // The ServiceMonitor is watched now: a deleted one is put back at once.
    s.kubectl_ns(&["delete", "servicemonitors.monitoring.coreos.com", "mail"])
        .await;
    let restored = eventually(WAIT, || async {
        !named(&s, "servicemonitors.monitoring.coreos.com", "mail")
            .await
            .is_empty()
    })
    .await;
    assert!(restored, "the deleted ServiceMonitor was not restored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_issuer_degrades_until_it_exists_then_cert_manager_issues() {
    let s = Scenario::new("issuer").await;
    let _operator = s.synced_operator("op-a").await;
    let issuer = format!("selfsigned-{}", s.namespace());
    s.apply(&s.mail(&format!(
        "  tls:\n    issuerRef: {{name: {issuer}, kind: ClusterIssuer}}\n"
    )))
    .await;
    s.wait_condition("Degraded", "True", "IssuerNotFound").await;

    s.apply(&format!(
        "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {{name: {issuer}}}\nspec: {{selfSigned: {{}}}}\n"
    ))
    .await;
    s.wait_condition("Degraded", "False", "AsExpected").await;
    let cert = s
        .kubectl_ns(&[
            "get",
            "certificates.cert-manager.io",
            "mail-tls",
            "-o",
            "json",
        ])
        .await;
    let cert: serde_json::Value = serde_json::from_str(&cert).expect("json");
    assert_eq!(cert["spec"]["privateKey"]["rotationPolicy"], "Always");
    assert_eq!(cert["spec"]["issuerRef"]["kind"], "ClusterIssuer");
    // The real cert-manager controller issues it.
    s.wait_condition("CertificateReady", "True", "Valid").await;
    let status = s
        .rustymail()
        .await
        .and_then(|rm| rm.status)
        .and_then(|st| st.certificate)
        .expect("certificate status");
    assert_eq!(status.secret_name, "mail-tls");
    assert!(status.not_after.is_some() && status.renewal_time.is_some());
    s.kubectl(&["delete", "clusterissuer", &issuer, "--wait=false"], None)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_resources_keep_their_children_as_they_are() {
    let s = Scenario::new("paused").await;
    let _operator = s.settled_operator("op-a").await;
    s.patch("rmail/mail", r#"{"spec":{"paused":true,"replicas":5}}"#)
        .await;
    s.wait_condition("Progressing", "False", "Paused").await;
    s.kubectl_ns(&["delete", "service", "mail"]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        !s.exists::<Service>("mail").await,
        "a paused RustyMail's children are not recreated"
    );
    assert_eq!(s.replicas().await, Some(2));

    s.patch("rmail/mail", r#"{"spec":{"paused":false}}"#).await;
    assert!(
        eventually(WAIT, || async { s.exists::<Service>("mail").await }).await,
        "unpausing resumes"
    );
    assert!(eventually(WAIT, || async { s.pods().await.len() == 5 }).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_despite_conflicts_throttling_server_errors_latency_and_dropped_watches() {
    let s = Scenario::new("faults").await;
    let proxy = s.faults();
    let operator_writes = ["rustymail-operator"];
    for rule in [
        FaultRule::fail(500)
            .verbs(&["get", "list"])
            .when(Trigger::Fraction(0.1)),
        FaultRule::fail(503)
            .verbs(&["list"])
            .when(Trigger::EveryNth(5)),
        FaultRule::fail(429)
            .verbs(&["get"])
            .when(Trigger::EveryNth(7)),
        FaultRule::fail(500)
            .verbs(&["patch"])
            .field_managers(&operator_writes)
            .when(Trigger::Fraction(0.1)),
        FaultRule::fail(409)
            .verbs(&["patch"])
            .field_managers(&operator_writes)
            .when(Trigger::EveryNth(4)),
        FaultRule::delay(Duration::from_millis(20)),
    ] {
        proxy.add(rule);
    }
    proxy.set_watch_faults(WatchFaults {
        drop_after: Some(Duration::from_secs(2)),
        drop_after_events: Some(5),
    });
    let operator = s.operator("op-a");
    operator.wait_for_log("caches synced", WAIT).await;
    s.apply(&s.mail("")).await;
    let converged = eventually(Duration::from_secs(90), || async {
        s.condition("Ready")
            .await
            .is_some_and(|(status, _, _)| status == "True")
            && s.exists::<Service>("mail").await
            && s.exists::<ConfigMap>("mail-config").await
    })
    .await;
    assert!(
        converged,
        "did not converge under faults:\n{}",
        operator.log().join("\n")
    );
    let served = proxy.served();
    for code in [409, 500] {
        assert!(
            served.iter().any(|r| r.injected && r.code == code),
            "no {code} was injected"
        );
    }
    assert!(
        served.iter().filter(|r| r.request.verb == "watch").count() > 10,
        "watches were dropped and restarted"
    );
    proxy.clear();
    s.kubectl_ns(&["delete", "configmap", "mail-config"]).await;
    assert!(
        eventually(WAIT, || async {
            s.exists::<ConfigMap>("mail-config").await
        })
        .await,
        "still watching after the drops"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_a_standby_takes_over_when_it_dies() {
    let s = Scenario::new("leader").await;
    let mut first = s.settled_operator("op-a").await;
    let second = s.synced_operator("op-b").await;

    s.patch("rmail/mail", r#"{"spec":{"replicas":3}}"#).await;
    assert!(eventually(WAIT, || async { s.replicas().await == Some(3) }).await);
    assert!(
        eventually(WAIT, || async { first.lines_with("children updated") >= 2 }).await,
        "the leader applies:\n{}",
        first.log().join("\n")
    );
    assert_eq!(
        second.lines_with("children updated"),
        0,
        "the standby never writes"
    );

    first.kill();
    s.patch("rmail/mail", r#"{"spec":{"replicas":4}}"#).await;
    let took_over = eventually(Duration::from_secs(15), || async {
        s.replicas().await == Some(4)
    })
    .await;
    assert!(
        took_over,
        "the standby did not take over within the lease duration"
    );
    assert!(
        eventually(Duration::from_secs(5), || async {
            second.lines_with("children updated") >= 1
        })
        .await,
        "the new leader applies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_lease_for_an_immediate_takeover() {
    let s = Scenario::new("sigterm").await;
    let mut first = s.settled_operator("op-a").await;
    let second = s.synced_operator("op-b").await;
    let status = first.terminate();
    assert!(
        status.success(),
        "clean exit on SIGTERM: {status:?}\n{}",
        first.log().join("\n")
    );
    let holder = s
        .kubectl_ns(&[
            "get",
            "lease",
            "rustymail-operator",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ])
        .await;
    assert_ne!(holder, "op-a", "the lease is released on SIGTERM");
    assert!(
        eventually(Duration::from_secs(3), || async {
            second.lines_with("leading") > 0
        })
        .await,
        "op-b leads at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_of_features_switched_off_are_deleted() {
    let s = Scenario::new("prune").await;
    let _operator = s.settled_operator("op-a").await;
    s.kubectl_ns(&["get", "networkpolicy", "mail"]).await;
    s.kubectl_ns(&["get", "poddisruptionbudget", "mail"]).await;
    let off = r#"{"spec":{"replicas":1,"networkPolicy":{"enabled":false},"ingress":{"host":"mail.example.com"}}}"#;
    s.patch("rmail/mail", off).await;
    let pruned = eventually(WAIT, || async {
        let np = s
            .kubectl_ns(&["get", "networkpolicies", "-o", "name"])
            .await;
        let pdb = s
            .kubectl_ns(&["get", "poddisruptionbudgets", "-o", "name"])
            .await;
        let ing = s.kubectl_ns(&["get", "ingresses", "-o", "name"]).await;
        np.trim().is_empty()
            && pdb.trim().is_empty()
            && ing.trim() == "ingress.networking.k8s.io/mail"
    })
    .await;
    assert!(
        pruned,
        "NetworkPolicy and PodDisruptionBudget should be gone and the Ingress created"
    );
    assert!(
        eventually(WAIT, || async {
            !s.events("ChildrenUpdated").await.is_empty()
        })
        .await,
        "the changes are announced with an Event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_list_limits_what_the_operator_touches_and_admin_endpoints_answer() {
    let s = Scenario::new("scope").await;
    let other = rustymail_tests::control_plane::TestNamespace::create("scope-other").await;
    s.apply(&format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: support-imap, namespace: {}}}\nstringData: {{username: a, password: b}}\n", other.name)).await;
    let operator = s.operator("op-a");
    operator.wait_for_log("caches synced", WAIT).await;
    s.apply(&s.mail("")).await;
    s.apply(&s.mail("").replace(
        &format!("namespace: {}", s.namespace()),
        &format!("namespace: {}", other.name),
    ))
    .await;
    s.wait_condition("CertificateReady", "True", "Valid").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let outside = Api::<Deployment>::namespaced(s.client.clone(), &other.name)
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
    let s = Scenario::new("errors").await;
    let proxy = s.faults();
    proxy.add(
        FaultRule::fail(500)
            .verbs(&["patch"])
            .resources(&["deployments"])
            .field_managers(&["rustymail-operator"]),
    );
    let operator = s.operator("op-a");
    operator.wait_for_log("caches synced", WAIT).await;
    s.apply(&s.mail("")).await;
    let expected = format!("applying Deployment {}/mail", s.namespace());
    let reported = eventually(WAIT, || async {
        s.events("ReconcileFailed").await.iter().any(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.note.as_deref().is_some_and(|n| n.contains(&expected))
        })
    })
    .await;
    assert!(
        reported,
        "no Warning Event names the failing call: {:?}\n{}",
        s.events("ReconcileFailed")
            .await
            .iter()
            .map(|e| e.note.clone())
            .collect::<Vec<_>>(),
        operator.log().join("\n")
    );
    assert!(!s.exists::<Deployment>("mail").await);
    proxy.clear();
    assert!(
        eventually(Duration::from_secs(40), || async {
            s.exists::<Deployment>("mail").await
        })
        .await,
        "retried with backoff until the API recovered"
    );
}

/// The `mcp` section of the data plane's config, as the data plane reads
/// the ConfigMap the operator wrote.
async fn read_mcp(s: &Scenario) -> Option<rustymail_dataplane::config::Mcp> {
    let text = s
        .get::<ConfigMap>("mail-config")
        .await
        .and_then(|c| c.data)
        .and_then(|d| d.get("config.yaml").cloned())?;
    rustymail_dataplane::config::Config::parse(&text)
        .ok()
        .map(|c| c.mcp)
}

/// The `mcp` section once `done` holds for it.
async fn mcp_config(
    s: &Scenario,
    done: impl Fn(&rustymail_dataplane::config::Mcp) -> bool,
) -> Option<rustymail_dataplane::config::Mcp> {
    let ok = eventually(WAIT, || async {
        read_mcp(s).await.as_ref().is_some_and(&done)
    })
    .await;
    if ok { read_mcp(s).await } else { None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_mcp_renders_the_hosts_origins_ingress_paths_and_network_policy_a_user_sees() {
    use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};

    let s = Scenario::new("mcp").await;
    let _operator = s.synced_operator("op-a").await;
    s.apply(
        &s.mail("  tls: {dnsNames: [mail.example.org]}\n  ingress: {host: mail-api.example.com}\n"),
    )
    .await;
    let ns = s.namespace().to_owned();

    // Without spec.mcp: on, the names clients use allowed, no origin.
    let mcp = mcp_config(&s, |m| {
        m.allowed_hosts.iter().any(|h| h == "mail-api.example.com")
    })
    .await
    .expect("the data plane's config names the Ingress host");
    assert!(mcp.enabled);
    for host in [
        "mail".to_owned(),
        format!("mail.{ns}"),
        format!("mail.{ns}.svc"),
        format!("mail.{ns}.svc.cluster.local"),
        "mail.example.org".to_owned(),
        "mail-api.example.com".to_owned(),
    ] {
        assert!(
            mcp.allowed_hosts.contains(&host),
            "{host}: {:?}",
            mcp.allowed_hosts
        );
    }
    assert!(
        !mcp.allowed_hosts.iter().any(|h| h == "localhost"),
        "{:?}",
        mcp.allowed_hosts
    );
    assert!(mcp.allowed_origins.is_empty());
    assert_eq!(
        mcp.resource.as_deref(),
        Some("https://mail-api.example.com/mcp")
    );
    assert!(mcp.authorization_servers.is_empty());

    // The Ingress carries /mcp and the metadata to the Service's API port.
    let children = eventually(WAIT, || async {
        s.exists::<Ingress>("mail").await && s.exists::<NetworkPolicy>("mail").await
    })
    .await;
    assert!(children, "the Ingress and the NetworkPolicy");
    let ingress = s.get::<Ingress>("mail").await.expect("Ingress mail");
    let rule = &ingress
        .spec
        .as_ref()
        .and_then(|sp| sp.rules.clone())
        .expect("rules")[0];
    assert_eq!(rule.host.as_deref(), Some("mail-api.example.com"));
    let paths = &rule.http.as_ref().expect("http").paths;
    for wanted in ["/mcp", "/.well-known/oauth-protected-resource"] {
        let carried = paths.iter().any(|p| {
            let prefix = p.path.as_deref().unwrap_or("/");
            let backend = p.backend.service.as_ref();
            p.path_type == "Prefix"
                && (prefix == "/" || wanted == prefix || wanted.starts_with(&format!("{prefix}/")))
                && backend.is_some_and(|b| {
                    b.name == "mail"
                        && b.port.as_ref().and_then(|p| p.name.as_deref()) == Some("https")
                })
        });
        assert!(carried, "{wanted} is not routed to mail:https: {paths:?}");
    }
    let service = s.get::<Service>("mail").await.expect("Service mail");
    let https = service
        .spec
        .and_then(|sp| sp.ports)
        .into_iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("https"))
        .expect("port https");
    assert_eq!(https.port, 9437);

    // The NetworkPolicy admits clients to the API port, where MCP is, and
    // nothing more for it.
    let policy = || async {
        s.get::<NetworkPolicy>("mail")
            .await
            .and_then(|p| p.spec)
            .and_then(|sp| sp.ingress)
    };
    let before = policy().await.expect("NetworkPolicy mail");
    let ports: Vec<String> = before
        .iter()
        .flat_map(|r| r.ports.clone().unwrap_or_default())
        .filter_map(|p| p.port.map(|p| format!("{p:?}")))
        .collect();
    assert!(ports.iter().any(|p| p.contains("9437")), "{ports:?}");

    // With spec.mcp: origins and extra hosts rendered; the policy unchanged.
    s.patch(
        "rmail/mail",
        r#"{"spec":{"mcp":{"allowedOrigins":["https://app.example.com:443"],"extraAllowedHosts":["agents.example.net"],"resource":"https://mail.example.org/mcp"}}}"#,
    )
    .await;
    let mcp = mcp_config(&s, |m| !m.allowed_origins.is_empty())
        .await
        .expect("the origins reach the data plane's config");
    assert_eq!(mcp.allowed_origins, ["https://app.example.com:443"]);
    assert!(mcp.allowed_hosts.iter().any(|h| h == "agents.example.net"));
    assert!(
        mcp.allowed_hosts
            .iter()
            .any(|h| h == "mail-api.example.com")
    );
    assert_eq!(
        mcp.resource.as_deref(),
        Some("https://mail.example.org/mcp")
    );
    assert_eq!(policy().await.as_ref(), Some(&before));

    // Switched off: the data plane answers /mcp with 404.
    s.patch("rmail/mail", r#"{"spec":{"mcp":{"enabled":false}}}"#)
        .await;
    assert!(
        mcp_config(&s, |m| !m.enabled).await.is_some(),
        "spec.mcp.enabled: false reaches the data plane's config"
    );
    assert_eq!(policy().await.as_ref(), Some(&before));
}
