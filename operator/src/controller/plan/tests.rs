//! The plan, decided without any API server: each test sets up what a
//! reconcile would observe with a [`Scene`] and checks what it would do.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;
use time::Duration as Span;

use super::{
    scene::{Scene, acme, foreign_service, issuer, secret},
    *,
};
use crate::crd::RustyMailSpec;

/// `spec.dnsNames` of the Certificate the plan applies.
fn certificate_names(plan: &Plan) -> Vec<String> {
    plan.apply
        .iter()
        .find(|c| c.kind() == Kind::Certificate)
        .map(|c| c.to_value()["spec"]["dnsNames"].clone())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_else(|| panic!("no Certificate applied: {:?}", applied(plan)))
}

fn condition_message(plan: &Plan, type_: &str) -> String {
    let status = plan.status.as_ref().unwrap_or_else(|| panic!("no status"));
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.message.clone())
        .unwrap_or_else(|| panic!("no {type_}"))
}

fn applied(plan: &Plan) -> Vec<String> {
    plan.apply.iter().map(|c| c.key().to_string()).collect()
}

fn reasons(plan: &Plan) -> Vec<&'static str> {
    plan.events.iter().map(|n| n.reason).collect()
}

fn condition(plan: &Plan, type_: &str) -> (String, String) {
    let status = plan.status.as_ref().unwrap_or_else(|| panic!("no status"));
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
        .unwrap_or_else(|| panic!("no {type_}"))
}

#[test]
fn a_new_rustymail_gets_every_child_a_certificate_and_a_rolling_out_status() {
    let plan = Scene::new().plan();
    assert_eq!(
        applied(&plan),
        [
            "ServiceAccount mail",
            "Secret mail-credentials",
            "Secret mail-tls",
            "ConfigMap mail-config",
            "Deployment mail",
            "Service mail",
            "NetworkPolicy mail",
            "PodDisruptionBudget mail",
        ]
    );
    assert!(plan.delete.is_empty());
    assert_eq!(reasons(&plan), ["CertificateIssued", "ChildrenUpdated"]);
    assert_eq!(condition(&plan, "CertificateReady").0, "True");
    assert_eq!(
        condition(&plan, "Progressing"),
        ("True".into(), "RollingOut".into())
    );
    assert!(matches!(plan.verdict, Verdict::Requeue(d) if d <= RESYNC));
}

#[test]
fn a_settled_rustymail_plans_no_write_and_no_event() {
    let settled = Scene::new().settled();
    assert_eq!(
        condition(&Scene::new().executed().rolled_out().plan(), "Ready"),
        ("True".into(), "Ready".into())
    );
    let plan = settled.plan();
    assert!(applied(&plan).is_empty(), "{:?}", applied(&plan));
    assert!(plan.delete.is_empty());
    assert!(plan.events.is_empty(), "{:?}", plan.events);
    assert!(
        plan.status.is_none(),
        "an unchanged status is not rewritten"
    );
}

#[test]
fn an_edited_child_is_reapplied_alone_and_server_additions_are_not_edits() {
    let mut scene = Scene::new().settled();
    let key = ChildKey {
        kind: Kind::Deployment,
        name: "mail".to_owned(),
    };
    if let Some(Child::Deployment(d)) = scene.children.get_mut(&key) {
        d.metadata.resource_version = Some("42".into());
        if let Some(pod) = d.spec.template.spec.as_mut() {
            pod.containers[0].image = Some("evil.example/backdoor:1".into());
            pod.containers[0].termination_message_path = Some("/dev/termination-log".into());
        }
    }
    let plan = scene.plan();
    assert_eq!(applied(&plan), ["Deployment mail"]);
    assert_eq!(
        condition(&plan, "Progressing").1,
        "RollingOut",
        "a Deployment being changed is not rolled out"
    );
}

#[test]
fn a_missing_account_secret_degrades_once_and_changes_nothing() {
    let scene = Scene::new().without_secret("support-imap");
    let plan = scene.plan();
    assert!(plan.apply.is_empty() && plan.delete.is_empty());
    assert_eq!(
        plan.verdict,
        Verdict::Degraded {
            reason: "SecretNotFound",
            message: "spec.accounts[0].credentialsSecretRef: Secret support-imap does not exist; create it or fix the reference".into(),
        }
    );
    assert_eq!(plan.events.len(), 1);
    assert_eq!(plan.events[0].severity, Severity::Warning);
    assert_eq!(condition(&plan, "Ready").1, "SecretNotFound");

    let again = scene.executed().plan();
    assert!(again.events.is_empty(), "the same problem is reported once");
    assert!(again.status.is_none());
}

#[test]
fn fixing_the_reference_recovers_with_an_event() {
    let fixed = Scene::new()
        .without_secret("support-imap")
        .executed()
        .with_secret(secret("support-imap", &["username", "password"]));
    let plan = fixed.plan();
    assert!(
        reasons(&plan).contains(&"Recovered"),
        "{:?}",
        reasons(&plan)
    );
    assert_eq!(condition(&plan, "Degraded").0, "False");
}

#[test]
fn a_missing_key_or_issuer_names_the_field() {
    let plan = Scene::new()
        .with_secret(secret("support-imap", &["username"]))
        .plan();
    assert!(
        matches!(&plan.verdict, Verdict::Degraded { reason: "SecretKeyMissing", message } if message.contains("\"password\""))
    );
    let mut scene = Scene::new().spec(|s| {
        s.tls.issuer_ref = serde_json::from_value(
            serde_json::json!({"name": "letsencrypt", "kind": "ClusterIssuer"}),
        )
        .ok();
    });
    scene.apis.cert_manager = true;
    scene.issuer = IssuerLookup::Missing;
    assert!(matches!(
        scene.plan().verdict,
        Verdict::Degraded {
            reason: "IssuerNotFound",
            ..
        }
    ));
    scene.issuer = IssuerLookup::Found(Arc::new(issuer(
        "letsencrypt",
        json!({"ca": {"secretName": "ca"}}),
        true,
    )));
    let plan = scene.plan();
    assert!(applied(&plan).contains(&"Certificate mail-tls".to_owned()));
    assert_eq!(
        condition(&plan, "CertificateReady"),
        ("False".into(), "Issuing".into())
    );
}

#[test]
fn a_paused_rustymail_keeps_its_children_and_says_so() {
    let plan = Scene::new()
        .settled()
        .spec(|s| {
            s.paused = true;
            s.replicas = 5;
        })
        .plan();
    assert!(plan.apply.is_empty() && plan.delete.is_empty());
    assert_eq!(condition(&plan, "Progressing").1, "Paused");
}

#[test]
fn a_name_taken_by_someone_else_is_a_conflict_not_a_takeover() {
    let plan = Scene::new().with_child(foreign_service()).plan();
    assert!(plan.apply.is_empty());
    assert!(
        matches!(&plan.verdict, Verdict::Degraded { reason: "NameConflict", message } if message.contains("Service mail"))
    );
}

#[test]
fn children_of_a_feature_switched_off_are_deleted() {
    let with_ingress = Scene::new()
        .spec(|s| {
            s.ingress =
                serde_json::from_value(serde_json::json!({"host": "mail.example.com"})).ok();
        })
        .settled();
    assert!(
        with_ingress
            .children
            .keys()
            .any(|k| k.kind == Kind::Ingress)
    );
    let plan = with_ingress
        .spec(|s| {
            s.ingress = None;
            s.replicas = 1;
        })
        .plan();
    let deleted: Vec<String> = plan.delete.iter().map(ToString::to_string).collect();
    assert_eq!(deleted, ["PodDisruptionBudget mail", "Ingress mail"]);
    assert!(reasons(&plan).contains(&"ChildrenUpdated"));
}

#[test]
fn a_generated_secret_the_spec_now_refers_to_is_never_deleted() {
    let settled = Scene::new().settled();
    let key = ChildKey {
        kind: Kind::Secret,
        name: "mail-credentials".to_owned(),
    };
    let Some(Child::Secret(generated)) = settled.children.get(&key).cloned() else {
        panic!("credentials generated");
    };
    let plan = settled
        .with_secret(generated)
        .spec(|s| s.auth.existing_secret = Some("mail-credentials".into()))
        .plan();
    assert!(!plan.delete.contains(&key), "{:?}", plan.delete);
    assert!(!matches!(plan.verdict, Verdict::Degraded { .. }));
}

#[test]
fn a_rotation_request_replaces_the_credentials_and_rolls_the_pods() {
    let plan = Scene::new()
        .settled()
        .annotated("rustymail.io/rotate-credentials", "2026-11-29")
        .plan();
    assert_eq!(
        applied(&plan),
        ["Secret mail-credentials", "Deployment mail"]
    );
    assert!(reasons(&plan).contains(&"CredentialsRotated"));
}

fn api_keys(scene: &Scene) -> String {
    let key = ChildKey {
        kind: Kind::Secret,
        name: "mail-credentials".to_owned(),
    };
    let Some(Child::Secret(s)) = scene.children.get(&key) else {
        panic!("no credentials Secret");
    };
    let data = s.data.as_ref().expect("data");
    String::from_utf8(data["api-keys"].0.clone()).expect("utf-8")
}

#[test]
fn a_rotation_keeps_the_old_key_for_the_grace_then_removes_it_once_without_a_roll() {
    let settled = Scene::new().settled();
    let old_key = api_keys(&settled);
    let rotating = settled.annotated("rustymail.io/rotate-credentials", "r1");
    let rotated = rotating.clone().executed().rolled_out().executed();
    let keys = api_keys(&rotated);
    let until = time::OffsetDateTime::from_unix_timestamp(rotating.now.unix_timestamp() + 300)
        .expect("instant")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("formats");
    let lines: Vec<_> = keys.lines().collect();
    assert_eq!(lines.len(), 2, "{keys}");
    assert_ne!(lines[0], old_key, "the new key comes first");
    assert_eq!(lines[1], format!("{old_key} not-after={until}"));
    let status = access(&rotated.plan_status());
    assert_eq!(
        status.previous_key_accepted_until.map(|t| t.0.as_second()),
        Some(rotating.now.unix_timestamp() + 300)
    );

    let within = rotated.clone().later(Span::minutes(2));
    let quiet = within.plan();
    assert!(
        quiet.apply.is_empty() && quiet.status.is_none(),
        "{:?}",
        applied(&quiet)
    );
    let Verdict::Requeue(next) = quiet.verdict else {
        panic!("settled");
    };
    assert_eq!(
        next,
        Duration::from_secs(180),
        "looks again when the grace ends"
    );

    let after = rotated.later(Span::minutes(5));
    let removal = after.plan();
    assert_eq!(applied(&removal), ["Secret mail-credentials"], "no roll");
    let removed = after.executed();
    assert_eq!(api_keys(&removed), lines[0]);
    assert_eq!(
        access(&removed.plan_status()).previous_key_accepted_until,
        None
    );
    let again = removed.plan();
    assert!(
        again.apply.is_empty() && again.status.is_none(),
        "{:?}",
        applied(&again)
    );
}

#[test]
fn a_self_signed_certificate_is_reissued_when_due_and_the_requeue_meets_the_renewal() {
    let settled = Scene::new().settled();
    let Verdict::Requeue(next) = settled.plan().verdict else {
        panic!("settled");
    };
    assert!(next <= RESYNC);
    let plan = settled.later(Span::days(80)).plan();
    assert_eq!(applied(&plan), ["Secret mail-tls"]);
    assert!(reasons(&plan).contains(&"CertificateIssued"));
}

fn access(plan: &Plan) -> crate::crd::AccessStatus {
    plan.status
        .as_ref()
        .and_then(|s| s.access.clone())
        .unwrap_or_else(|| panic!("no status.access"))
}

#[test]
fn isolating_applies_only_the_policy_shows_in_status_and_is_announced_once() {
    let settled = Scene::new().settled();
    let before = access(&Scene::new().executed().rolled_out().plan());
    assert!(!before.isolated);
    assert_eq!(
        before.reachable_from,
        ["namespace ingress-nginx", "namespace team-a"]
    );

    let isolating = settled.spec(|s| s.access.isolate = true);
    let plan = isolating.plan();
    assert_eq!(applied(&plan), ["NetworkPolicy mail"]);
    let status = access(&plan);
    assert!(status.isolated);
    assert!(status.reachable_from.is_empty());
    assert!(reasons(&plan).contains(&"Isolated"), "{:?}", plan.events);

    let isolated = isolating.executed();
    let again = isolated.plan();
    assert!(
        !reasons(&again).contains(&"Isolated"),
        "announced once: {:?}",
        again.events
    );

    let lifted = isolated.spec(|s| s.access.isolate = false).plan();
    assert_eq!(applied(&lifted), ["NetworkPolicy mail"]);
    assert!(!access(&lifted).isolated);
    let note = lifted
        .events
        .iter()
        .find(|n| n.reason == "IsolationLifted")
        .unwrap_or_else(|| panic!("no IsolationLifted in {:?}", lifted.events));
    assert!(
        note.text.contains("namespace ingress-nginx"),
        "{}",
        note.text
    );
}

#[test]
fn isolation_is_applied_even_while_paused_or_degraded() {
    let paused = Scene::new()
        .settled()
        .spec(|s| {
            s.paused = true;
            s.access.isolate = true;
            s.replicas = 5;
        })
        .plan();
    assert_eq!(applied(&paused), ["NetworkPolicy mail"]);
    assert!(access(&paused).isolated);
    assert_eq!(condition(&paused, "Progressing").1, "Paused");

    let degraded = Scene::new()
        .settled()
        .without_secret("support-imap")
        .spec(|s| s.access.isolate = true)
        .plan();
    assert_eq!(applied(&degraded), ["NetworkPolicy mail"]);
    assert!(matches!(
        degraded.verdict,
        Verdict::Degraded {
            reason: "SecretNotFound",
            ..
        }
    ));
    assert!(reasons(&degraded).contains(&"Isolated"));
}

#[test]
fn isolation_never_overwrites_a_policy_someone_else_owns() {
    let foreign = k8s_openapi::api::networking::v1::NetworkPolicy {
        metadata: ObjectMeta {
            name: Some("mail".into()),
            namespace: Some("team-a".into()),
            ..ObjectMeta::default()
        },
        ..Default::default()
    };
    let plan = Scene::new()
        .with_child(Child::NetworkPolicy(foreign))
        .spec(|s| s.access.isolate = true)
        .plan();
    assert!(applied(&plan).is_empty(), "{:?}", applied(&plan));
    assert!(!access(&plan).isolated, "not claimed while not in force");
    assert!(matches!(
        plan.verdict,
        Verdict::Degraded {
            reason: "NameConflict",
            ..
        }
    ));
}

#[test]
fn blocking_cidrs_rewrites_the_config_rolls_the_pods_and_is_counted_and_announced() {
    let blocking = Scene::new().settled().spec(|s| {
        s.access.blocked_cidrs = vec!["203.0.113.0/24".into(), "198.51.100.7/32".into()];
    });
    let plan = blocking.plan();
    assert_eq!(applied(&plan), ["ConfigMap mail-config", "Deployment mail"]);
    assert_eq!(access(&plan).blocked_cidrs, 2);
    let note = plan
        .events
        .iter()
        .find(|n| n.reason == "BlockedCIDRsChanged")
        .unwrap_or_else(|| panic!("no BlockedCIDRsChanged in {:?}", plan.events));
    assert!(
        note.text.contains("203.0.113.0/24, 198.51.100.7/32"),
        "{}",
        note.text
    );
    let again = blocking.executed().rolled_out().plan();
    assert!(
        !reasons(&again).contains(&"BlockedCIDRsChanged"),
        "{:?}",
        again.events
    );
}

#[test]
fn a_rotation_shows_its_value_and_time_in_status_and_later_reconciles_keep_the_time() {
    let settled = Scene::new().settled();
    assert_eq!(access(&settled.plan_status()).credentials_rotation, None);
    let rotating = settled.annotated("rustymail.io/rotate-credentials", "incident-42");
    let plan = rotating.plan();
    let status = access(&plan);
    assert_eq!(status.credentials_rotation.as_deref(), Some("incident-42"));
    let at = status.credentials_rotated_at.expect("rotation time");
    assert_eq!(at.0.as_second(), rotating.now.unix_timestamp());

    let later = rotating
        .executed()
        .rolled_out()
        .executed()
        .later(Span::hours(3));
    let kept = access(&later.plan_status());
    assert_eq!(kept.credentials_rotation.as_deref(), Some("incident-42"));
    assert_eq!(kept.credentials_rotated_at.map(|t| t.0), Some(at.0));
}

#[test]
fn lifting_isolation_while_paused_restores_access_at_once() {
    let isolated_paused = Scene::new()
        .settled()
        .spec(|s| s.access.isolate = true)
        .executed()
        .spec(|s| s.paused = true)
        .executed();
    let lifted = isolated_paused
        .clone()
        .spec(|s| s.access.isolate = false)
        .plan();
    assert_eq!(applied(&lifted), ["NetworkPolicy mail"]);
    assert!(!access(&lifted).isolated);
    assert!(reasons(&lifted).contains(&"IsolationLifted"));

    let forced = Scene::new()
        .settled()
        .spec(|s| {
            s.network_policy.enabled = false;
            s.access.isolate = true;
        })
        .executed()
        .spec(|s| s.paused = true)
        .executed();
    assert!(
        forced
            .children
            .keys()
            .any(|k| k.kind == Kind::NetworkPolicy),
        "isolation forces the policy"
    );
    let lifted = forced.spec(|s| s.access.isolate = false).plan();
    let deleted: Vec<String> = lifted.delete.iter().map(ToString::to_string).collect();
    assert_eq!(deleted, ["NetworkPolicy mail"]);
    assert!(applied(&lifted).is_empty());

    let unrelated = isolated_paused.spec(|s| s.replicas = 4).plan();
    assert!(
        applied(&unrelated).is_empty(),
        "paused still holds everything else"
    );
}

#[test]
fn the_guides_own_secret_satisfies_existing_secret_and_an_accounts_password() {
    let guide = secret(
        "rustymail-secrets",
        &["imap-password", "jwt-secret", "api-key"],
    );
    let plan = Scene::new()
        .with_secret(guide)
        .spec(|s| {
            s.auth.existing_secret = Some("rustymail-secrets".into());
            s.accounts[0].username = Some("support@example.com".into());
            s.accounts[0].credentials_secret_ref.name = "rustymail-secrets".into();
            s.accounts[0].credentials_secret_ref.password_key = "imap-password".into();
        })
        .plan();
    assert!(
        !matches!(plan.verdict, Verdict::Degraded { .. }),
        "{:?}",
        plan.verdict
    );
}

#[test]
fn an_existing_secret_without_any_api_key_names_both_spellings() {
    let plan = Scene::new()
        .with_secret(secret("mine", &["jwt-secret"]))
        .spec(|s| s.auth.existing_secret = Some("mine".into()))
        .plan();
    assert!(
        matches!(&plan.verdict, Verdict::Degraded { reason: "SecretKeyMissing", message }
            if message.contains("\"api-keys\"") && message.contains("\"api-key\"")),
        "{:?}",
        plan.verdict
    );
}

#[test]
fn an_acme_issuer_is_asked_only_for_the_public_dns_names() {
    let public = |s: &mut RustyMailSpec| s.tls.dns_names = vec!["mail.example.com".into()];
    let acme = Scene::new()
        .with_cluster_issuer("letsencrypt", acme(), true)
        .spec(public);
    assert_eq!(certificate_names(&acme.plan()), ["mail.example.com"]);

    let ca = Scene::new()
        .with_cluster_issuer("test-ca", json!({"ca": {"secretName": "ca"}}), true)
        .spec(public);
    let names = certificate_names(&ca.plan());
    assert!(
        names.contains(&"mail.team-a.svc".to_owned()) && names.contains(&"mail.example.com".into()),
        "a CA issuer signs the cluster names too: {names:?}"
    );
}

#[test]
fn an_acme_issuer_without_public_names_is_a_spec_error() {
    let plan = Scene::new()
        .with_cluster_issuer("letsencrypt", acme(), true)
        .plan();
    assert!(plan.apply.is_empty(), "{:?}", applied(&plan));
    assert!(
        matches!(&plan.verdict, Verdict::Degraded { reason: "PublicDnsNamesRequired", message } if message.starts_with("spec.tls.dnsNames:")),
        "{:?}",
        plan.verdict
    );
    assert_eq!(reasons(&plan), ["PublicDnsNamesRequired"]);
}

#[test]
fn a_missing_issuer_is_reported_in_certificate_ready() {
    let mut scene = Scene::new().with_cluster_issuer("letsencrypt", acme(), true);
    scene.issuer = IssuerLookup::Missing;
    let plan = scene.plan();
    assert_eq!(
        condition(&plan, "CertificateReady"),
        ("False".into(), "IssuerNotFound".into())
    );
    assert!(
        condition_message(&plan, "CertificateReady")
            .contains("ClusterIssuer letsencrypt does not exist")
    );
}

#[test]
fn an_external_issuer_is_referenced_by_its_group_and_gets_every_name() {
    let mut scene = Scene::new().spec(|s| {
        s.tls.issuer_ref = serde_json::from_value(json!({
            "name": "step", "kind": "StepClusterIssuer", "group": "certmanager.step.sm"
        }))
        .ok();
    });
    scene.apis.cert_manager = true;
    let plan = scene.plan();
    let cert = plan
        .apply
        .iter()
        .find(|c| c.kind() == Kind::Certificate)
        .map(Child::to_value)
        .unwrap_or_else(|| panic!("no Certificate: {:?}", applied(&plan)));
    assert_eq!(
        cert["spec"]["issuerRef"],
        json!({"name": "step", "kind": "StepClusterIssuer", "group": "certmanager.step.sm"})
    );
    assert!(certificate_names(&plan).contains(&"mail.team-a.svc".to_owned()));
    assert!(!matches!(plan.verdict, Verdict::Degraded { .. }));
}

#[test]
fn a_failed_issuance_reports_cert_managers_reason_instead_of_waiting() {
    let failed = Scene::new()
        .with_cluster_issuer("letsencrypt", acme(), true)
        .spec(|s| s.tls.dns_names = vec!["mail.example.com".into()])
        .with_certificate_conditions(json!([
            {"type": "Ready", "status": "False", "reason": "DoesNotExist",
             "message": "Issuing certificate as Secret does not exist"},
            {"type": "Issuing", "status": "False", "reason": "Failed",
             "message": "The certificate request has failed to complete and will be retried: Failed to wait for order resource \"mail-tls-1\" to become ready: order is in \"errored\" state"}
        ]));
    let plan = failed.plan();
    assert_eq!(
        condition(&plan, "CertificateReady"),
        ("False".into(), "IssuanceFailed".into())
    );
    let message = condition_message(&plan, "CertificateReady");
    assert!(
        message.contains("Failed: The certificate request has failed")
            && message.contains("errored"),
        "{message}"
    );

    let waiting = Scene::new()
        .with_cluster_issuer("letsencrypt", acme(), true)
        .spec(|s| s.tls.dns_names = vec!["mail.example.com".into()])
        .with_certificate_conditions(json!([
            {"type": "Ready", "status": "False", "reason": "DoesNotExist",
             "message": "Issuing certificate as Secret does not exist"}
        ]));
    assert!(
        condition_message(&waiting.plan(), "CertificateReady")
            .contains("DoesNotExist: Issuing certificate as Secret does not exist")
    );
}

#[test]
fn an_issuer_that_is_not_ready_is_named_with_its_reason() {
    let plan = Scene::new()
        .with_cluster_issuer("letsencrypt", acme(), false)
        .spec(|s| s.tls.dns_names = vec!["mail.example.com".into()])
        .plan();
    assert_eq!(
        condition(&plan, "CertificateReady"),
        ("False".into(), "IssuerNotReady".into())
    );
    let message = condition_message(&plan, "CertificateReady");
    assert!(
        message.contains("ClusterIssuer letsencrypt is not ready: ErrRegisterACMEAccount"),
        "{message}"
    );
}

#[test]
fn monitoring_without_the_prometheus_operator_is_reported_once_then_applied_when_installed() {
    let asked = Scene::new().spec(|s| {
        s.monitoring.service_monitor = true;
        s.monitoring.prometheus_rule = true;
    });
    let plan = asked.plan();
    assert_eq!(
        condition(&plan, "MonitoringReady"),
        ("False".into(), "PrometheusOperatorNotInstalled".into())
    );
    let warning = plan
        .events
        .iter()
        .find(|n| n.reason == "PrometheusOperatorNotInstalled")
        .unwrap_or_else(|| panic!("no Warning Event: {:?}", reasons(&plan)));
    assert_eq!(warning.severity, Severity::Warning);
    assert!(
        !applied(&plan)
            .iter()
            .any(|c| c.starts_with("ServiceMonitor"))
    );

    let mut reported = asked.settled();
    let again = reported.plan();
    assert!(
        !reasons(&again).contains(&"PrometheusOperatorNotInstalled"),
        "reported once: {:?}",
        reasons(&again)
    );

    reported.apis.monitoring = true;
    let installed = reported.plan();
    assert_eq!(
        condition(&installed, "MonitoringReady"),
        ("True".into(), "Applied".into())
    );
    assert_eq!(
        applied(&installed),
        ["ServiceMonitor mail", "PrometheusRule mail"]
    );
}

#[test]
fn monitoring_not_asked_for_is_ready_without_the_prometheus_operator() {
    let plan = Scene::new().plan();
    assert_eq!(
        condition(&plan, "MonitoringReady"),
        ("True".into(), "NotRequested".into())
    );
    assert!(!reasons(&plan).contains(&"PrometheusOperatorNotInstalled"));
}
