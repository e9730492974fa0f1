//! cert-manager for real: the operator asks the test CA ClusterIssuer
//! (`test-ca`, set up by `scripts/cluster up`) for its certificate, the real
//! cert-manager controller issues it, the operator reports it, and a
//! renewal triggered as `cmctl renew` triggers one gives a new Secret that
//! the operator notices without rolling the pods.

use k8s_openapi::api::core::v1::Secret;
use rustymail_tests::{
    control_plane::{ControlPlane, Scenario, WAIT},
    operator::eventually,
};
use serde_json::{Value, json};

/// `status.certificate.notAfter` of `mail`.
async fn not_after(s: &Scenario) -> Option<String> {
    let cert = s.rustymail().await?.status?.certificate?;
    cert.not_after.map(|t| format!("{t:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_issuer_issues_and_a_manual_renewal_is_noticed_without_rolling_pods() {
    let s = Scenario::new("cert-manager").await;
    let _operator = s.synced_operator("op-a").await;
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
    let first = not_after(&s).await.expect("status.certificate.notAfter");
    let pods = s.pods().await;
    let config_sum = s.pod_annotation("rustymail.io/config-checksum").await;
    assert_eq!(pods.len(), 2);

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

    let renewed = eventually(WAIT, || async {
        s.get::<Secret>("mail-tls")
            .await
            .and_then(|s| s.data)
            .is_some_and(|d| d.get("tls.crt") != data.get("tls.crt"))
    })
    .await;
    assert!(renewed, "cert-manager issued no new certificate");
    let noticed = eventually(WAIT, || async {
        not_after(&s).await.is_some_and(|n| n != first)
    })
    .await;
    assert!(
        noticed,
        "the operator never reported the renewed certificate"
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
