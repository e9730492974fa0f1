//! cert-manager for real: the operator asks the test CA ClusterIssuer
//! (`test-ca`, set up by `scripts/cluster up`) for its certificate, the real
//! cert-manager controller issues it, the operator reports it, and a
//! renewal triggered as `cmctl renew` triggers one gives a new Secret that
//! the operator notices without rolling the pods.

use std::cell::RefCell;

use k8s_openapi::api::core::v1::Secret;
use rustymail_tests::{
    control_plane::{ControlPlane, Scenario, WAIT},
    operator::eventually,
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
