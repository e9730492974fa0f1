//! End to end: what users write as they would write it, against the real
//! API server and the real operator binary. The security guide's own Secret
//! works as written; numbers written unquoted are admitted and rendered
//! canonically; names that would break the children are refused at
//! admission with a readable message, and the longest admitted names
//! reconcile to Ready.

use k8s_openapi::api::{apps::v1::Deployment, core::v1::ConfigMap};
use rustymail_tests::{
    control_plane::ControlPlane,
    poll::eventually,
    scenario::{Scenario, WAIT},
};

/// The Secret the security guide creates, exactly as its
/// `kubectl create secret generic rustymail-secrets --from-literal=…` does.
async fn create_the_guides_secret(s: &Scenario) {
    s.kubectl_ns(&[
        "create",
        "secret",
        "generic",
        "rustymail-secrets",
        "--from-literal=imap-password=guide-imap-password",
        "--from-literal=jwt-secret=guide-jwt-secret-of-at-least-32-bytes",
        "--from-literal=api-key=guide-api-key",
    ])
    .await;
}

/// Waits until RustyMail `name` is Ready and not Degraded.
async fn wait_ready(s: &Scenario, name: &str) {
    let ready = eventually(WAIT, || async {
        s.condition_of(name, "Ready")
            .await
            .is_some_and(|c| c.0 == "True")
            && s.condition_of(name, "Degraded")
                .await
                .is_some_and(|c| c.0 == "False")
    })
    .await;
    assert!(
        ready,
        "{name} never became Ready: Ready {:?}, Degraded {:?}\n{}",
        s.condition_of(name, "Ready").await,
        s.condition_of(name, "Degraded").await,
        ControlPlane::get().logs()
    );
}

/// `kubectl apply` of `yaml` that the API server must refuse; returns its message.
async fn refused_apply(s: &Scenario, yaml: &str) -> String {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(ControlPlane::get().tool("kubectl"))
        .args(["apply", "-f", "-"])
        .env("KUBECONFIG", s.kubeconfig())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl runs");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(yaml.as_bytes()).await.expect("stdin");
    }
    let out = child.wait_with_output().await.expect("kubectl");
    assert!(
        !out.status.success(),
        "the API server admitted what it should refuse:\n{yaml}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A RustyMail `name` with one account `account` in the test namespace.
fn rustymail(s: &Scenario, name: &str, account: &str, extra: &str) -> String {
    format!(
        "apiVersion: rustymail.io/v1alpha1\nkind: RustyMail\nmetadata: {{name: {name}, namespace: {}}}\nspec:\n  replicas: 1\n  accounts:\n    - name: {account}\n      imap: {{host: imap.example.com}}\n      credentialsSecretRef: {{name: support-imap}}\n{extra}",
        s.namespace()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guides_own_secret_works_as_written() {
    let s = Scenario::new("guide-secret").await;
    create_the_guides_secret(&s).await;
    let _operator = s.synced_operator("op-a").await;
    s.apply(&format!(
        "apiVersion: rustymail.io/v1alpha1
kind: RustyMail
metadata: {{name: mail, namespace: {}}}
spec:
  accounts:
    - name: support
      imap: {{host: imap.example.com}}
      username: support@example.com
      credentialsSecretRef: {{name: rustymail-secrets, passwordKey: imap-password}}
  auth:
    existingSecret: rustymail-secrets
",
        s.namespace()
    ))
    .await;
    wait_ready(&s, "mail").await;
    let config = s
        .get::<ConfigMap>("mail-config")
        .await
        .and_then(|c| c.data)
        .and_then(|d| d.get("config.yaml").cloned())
        .expect("the config file");
    let config = rustymail_dataplane::config::Config::parse(&config).expect("parses");
    assert_eq!(
        config.auth.api_keys.file.as_deref(),
        Some(std::path::Path::new(
            "/var/run/rustymail/credentials/api-key"
        )),
        "the data plane reads the guide's single key"
    );
    assert_eq!(
        config.accounts[0].username.as_deref(),
        Some("support@example.com")
    );
    let volumes = s
        .get::<Deployment>("mail")
        .await
        .and_then(|d| d.spec.template.spec.and_then(|p| p.volumes))
        .unwrap_or_default();
    let credentials = volumes.iter().find(|v| v.name == "credentials");
    assert_eq!(
        credentials
            .and_then(|v| v.secret.as_ref())
            .and_then(|s| s.secret_name.as_deref()),
        Some("rustymail-secrets")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unquoted_numbers_are_admitted_and_rendered_canonically() {
    let s = Scenario::new("numbers").await;
    let _operator = s.synced_operator("op-a").await;
    s.apply(&s.mail(
        "  tls: {minVersion: 1.3, duration: 7776000, renewBefore: 2592000}
  limits: {maxBodySize: 10485760, maxHeaderSize: 8192}
  auth: {jwt: {expiry: 3600, refreshExpiry: 604800}}
",
    ))
    .await;
    s.wait_condition("Ready", "True", "Ready").await;
    let text = s
        .get::<ConfigMap>("mail-config")
        .await
        .and_then(|c| c.data)
        .and_then(|d| d.get("config.yaml").cloned())
        .expect("the config file");
    for canonical in [
        "maxBodySize: 10Mi",
        "maxHeaderSize: 8Ki",
        "expiry: 1h",
        "refreshExpiry: 168h",
    ] {
        assert!(text.contains(canonical), "{canonical} not in\n{text}");
    }
    let config = rustymail_dataplane::config::Config::parse(&text).expect("parses");
    assert_eq!(
        config.tls.min_version,
        rustymail_dataplane::config::tls::TlsVersion::Tls13
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_would_break_children_are_refused_and_the_longest_admitted_reconcile() {
    let s = Scenario::new("names").await;
    for (name, account) in [
        ("mail.v2".to_owned(), "a".to_owned()),
        ("1mail".to_owned(), "a".to_owned()),
        ("m".repeat(64), "a".to_owned()),
    ] {
        let message = refused_apply(&s, &rustymail(&s, &name, &account, "")).await;
        assert!(
            message.contains("metadata.name must be a DNS-1035 label"),
            "{name}: {message}"
        );
    }
    let message = refused_apply(&s, &rustymail(&s, "mail", &"a".repeat(64), "")).await;
    assert!(
        message.contains("spec.accounts[0].name"),
        "a 64-character account name: {message}"
    );

    let _operator = s.synced_operator("op-a").await;
    let longest = format!("m{}", "x".repeat(62));
    let account = "a".repeat(63);
    s.apply(&rustymail(
        &s,
        &longest,
        &account,
        "  auth: {jwt: {expiry: 3600}}\n",
    ))
    .await;
    wait_ready(&s, &longest).await;
}
