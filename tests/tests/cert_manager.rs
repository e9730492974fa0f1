//! cert-manager for real: the operator asks the test CA ClusterIssuer
//! (`test-ca`, set up by `scripts/cluster up`) for its certificate, the real
//! cert-manager controller issues it, the operator reports it, and a
//! renewal triggered as `cmctl renew` triggers one gives a new Secret that
//! the operator notices without rolling the pods. An ACME ClusterIssuer is
//! asked for the public names only (the test controller has no ACME client
//! compiled in, so that issuer never becomes Ready, which is reported), and
//! an issuer cert-manager reports not Ready is named with its reason.

use std::cell::RefCell;

use k8s_openapi::api::core::v1::Secret;
use rustymail_tests::{
    control_plane::ControlPlane,
    poll::eventually,
    scenario::{Scenario, WAIT},
};
use serde_json::{Value, json};

/// `status.certificate.notAfter` of `mail`, in whole seconds.
async fn reported_not_after(s: &Scenario) -> Option<i64> {
    let cert = s.rustymail().await?.status?.certificate?;
    cert.not_after.map(|t| t.0.as_second())
}

/// The certificate in Secret `mail-tls`: its PEM and `notAfter` in seconds.
async fn issued(s: &Scenario) -> Option<(Vec<u8>, i64)> {
    let data = s.get::<Secret>("mail-tls").await?.data?;
    let pem = data.get("tls.crt")?.0.clone();
    let info = rustymail_operator::render::tls::inspect(std::str::from_utf8(&pem).ok()?).ok()?;
    Some((pem, info.not_after.unix_timestamp()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_issuer_issues_and_a_manual_renewal_is_noticed_without_rolling_pods() {
    let s = Scenario::new("cert-manager").await;
    let operator = s.synced_operator("op-a").await;
    s.apply(&s.mail("  tls:\n    issuerRef: {name: test-ca, kind: ClusterIssuer}\n"))
        .await;
    s.wait_condition("CertificateReady", "True", "Valid").await;
    s.wait_condition("Ready", "True", "Ready").await;

    let secret = s.get::<Secret>("mail-tls").await.expect("issued Secret");
    let data = secret.data.clone().expect("Secret data");
    let ca = std::fs::read(ControlPlane::get().dir.join("pki/issuer-ca.crt")).expect("test CA");
    assert_eq!(
        data.get("ca.crt").map(|b| b.0.clone()),
        Some(ca),
        "signed by the test CA ClusterIssuer"
    );
    // The state before the renewal: the operator reports what the Secret
    // holds (cert-manager may have issued more than once while settling).
    let first = RefCell::new(None);
    let settled = eventually(WAIT, || async {
        let now = issued(&s).await;
        let reported = reported_not_after(&s).await;
        let agree = now.as_ref().is_some_and(|(_, t)| Some(*t) == reported);
        *first.borrow_mut() = now;
        agree
    })
    .await;
    assert!(
        settled,
        "the operator does not report the issued certificate"
    );
    let (first_pem, first_not_after) = first.into_inner().expect("issued certificate");
    let pods = s.pods().await;
    let config_sum = s.pod_annotation("rustymail.io/config-checksum").await;
    assert_eq!(pods.len(), 2);
    // notAfter has whole seconds: a renewal in the same second as the
    // first issuance could not be told apart by it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // What `cmctl renew` does: mark the Certificate Issuing.
    let cert = s
        .kubectl_ns(&[
            "get",
            "certificates.cert-manager.io",
            "mail-tls",
            "-o",
            "json",
        ])
        .await;
    let cert: Value = serde_json::from_str(&cert).expect("JSON");
    let mut conditions = cert["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    conditions.retain(|c| c["type"] != "Issuing");
    conditions.push(json!({
        "type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
        "message": "Certificate re-issuance manually triggered",
        "lastTransitionTime": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("time"),
    }));
    let patch = json!({"status": {"conditions": conditions}}).to_string();
    s.kubectl_ns(&[
        "patch",
        "certificates.cert-manager.io",
        "mail-tls",
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ])
    .await;

    let renewed = RefCell::new(None);
    let reissued = eventually(WAIT, || async {
        let now = issued(&s).await.filter(|(pem, _)| *pem != first_pem);
        let found = now.is_some();
        *renewed.borrow_mut() = now;
        found
    })
    .await;
    assert!(reissued, "cert-manager issued no new certificate");
    let (_, renewed_not_after) = renewed.into_inner().expect("renewed certificate");
    assert_ne!(renewed_not_after, first_not_after, "a later notAfter");
    let noticed = eventually(WAIT, || async {
        reported_not_after(&s).await == Some(renewed_not_after)
    })
    .await;
    assert!(
        noticed,
        "the operator never reported the renewed certificate (notAfter {renewed_not_after}, reported {:?}); operator log:\n{}",
        reported_not_after(&s).await,
        operator.log().join("\n")
    );
    s.wait_condition("CertificateReady", "True", "Valid").await;
    assert_eq!(
        s.pod_annotation("rustymail.io/config-checksum").await,
        config_sum
    );
    assert_eq!(
        s.pods().await,
        pods,
        "a renewed certificate is hot-reloaded, never rolled out"
    );
}

/// `spec.dnsNames` of the cert-manager Certificate `mail-tls`, once it exists.
async fn certificate_dns_names(s: &Scenario) -> Option<Vec<String>> {
    let cert = s
        .kubectl_ns(&[
            "get",
            "certificates.cert-manager.io",
            "mail-tls",
            "-o",
            "json",
            "--ignore-not-found",
        ])
        .await;
    let cert: Value = serde_json::from_str(&cert).ok()?;
    serde_json::from_value(cert["spec"]["dnsNames"].clone()).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acme_issuer_is_asked_only_for_the_public_names_and_needs_at_least_one() {
    let s = Scenario::new("acme").await;
    let _operator = s.synced_operator("op-a").await;
    // An ACME ClusterIssuer (Let's Encrypt's shape) whose server is
    // unreachable: the operator decides from its spec.acme alone.
    let issuer = format!("acme-{}", s.namespace());
    s.apply(&format!(
        "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {{name: {issuer}}}\nspec:\n  acme:\n    server: https://127.0.0.1:9/directory\n    privateKeySecretRef: {{name: {issuer}-account}}\n    solvers: [{{http01: {{ingress: {{ingressClassName: nginx}}}}}}]\n"
    ))
    .await;
    s.apply(&s.mail(&format!(
        "  tls:\n    issuerRef: {{name: {issuer}, kind: ClusterIssuer}}\n"
    )))
    .await;
    s.wait_condition("Degraded", "True", "PublicDnsNamesRequired")
        .await;
    assert!(
        certificate_dns_names(&s).await.is_none(),
        "nothing is asked of an ACME issuer without a public name"
    );

    s.patch(
        "rmail/mail",
        r#"{"spec":{"tls":{"dnsNames":["mail.example.com"]}}}"#,
    )
    .await;
    s.wait_condition("Degraded", "False", "AsExpected").await;
    let names = eventually(WAIT, || async { certificate_dns_names(&s).await.is_some() }).await;
    assert!(names, "no Certificate mail-tls");
    assert_eq!(
        certificate_dns_names(&s).await,
        Some(vec!["mail.example.com".to_owned()]),
        "an ACME server refuses cluster-internal names"
    );
    s.wait_condition("CertificateReady", "False", "IssuerNotReady")
        .await;
    s.kubectl(&["delete", "clusterissuer", &issuer, "--wait=false"], None)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_that_is_not_ready_is_reported_with_cert_managers_reason_until_it_is() {
    let s = Scenario::new("ca-not-ready").await;
    let _operator = s.synced_operator("op-a").await;
    let issuer = format!("ca-{}", s.namespace());
    s.apply(&format!(
        "apiVersion: cert-manager.io/v1\nkind: ClusterIssuer\nmetadata: {{name: {issuer}}}\nspec: {{ca: {{secretName: {issuer}}}}}\n"
    ))
    .await;
    s.apply(&s.mail(&format!(
        "  tls:\n    issuerRef: {{name: {issuer}, kind: ClusterIssuer}}\n"
    )))
    .await;
    s.wait_condition("CertificateReady", "False", "IssuerNotReady")
        .await;
    let (_, _, message) = s.condition("CertificateReady").await.unwrap_or_default();
    assert!(
        message.contains("ErrGetKeyPair") && message.contains(&issuer),
        "cert-manager's own reason and message: {message}"
    );
    // The CA key pair the issuer waits for, in cert-manager's namespace.
    let pki = ControlPlane::get().dir.join("pki");
    let read = |f: &str| std::fs::read_to_string(pki.join(f)).expect("test CA file");
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": {"name": issuer, "namespace": "cert-manager"},
        "stringData": {"tls.crt": read("issuer-ca.crt"), "tls.key": read("issuer-ca.key")},
    });
    s.apply(&secret.to_string()).await;
    s.wait_condition("CertificateReady", "True", "Valid").await;
    s.kubectl(&["delete", "clusterissuer", &issuer, "--wait=false"], None)
        .await;
    s.kubectl(
        &[
            "-n",
            "cert-manager",
            "delete",
            "secret",
            &issuer,
            "--wait=false",
        ],
        None,
    )
    .await;
}
