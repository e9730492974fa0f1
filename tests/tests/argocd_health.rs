//! `deploy/argocd/health.lua`, Argo CD's health check for RustyMail, run by
//! Debian's Lua 5.1 interpreter (Argo CD's dialect) over RustyMail objects
//! in each health state, including a status written for an older generation.

use std::process::Command;

use rustymail_tests::workspace;
use serde_json::{Value, json};

/// `value` as a Lua table constructor.
fn lua(value: &Value) -> String {
    match value {
        Value::Null => "nil".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(lua).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("[{k:?}] = {}", lua(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// Argo CD's verdict on `object`: (status, message).
fn health(object: &Value) -> (String, String) {
    let script = workspace::root().join("deploy/argocd/health.lua");
    let driver = format!(
        "obj = {}\nlocal hs = dofile({:?})\nio.write(hs.status, \"\\n\", hs.message or \"\")\n",
        lua(object),
        script.to_string_lossy()
    );
    let output = Command::new("lua5.1")
        .arg("-e")
        .arg(driver)
        .output()
        .unwrap_or_else(|e| panic!("lua5.1 must be installed (apt-get install lua5.1): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "health.lua failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (status, message) = stdout.split_once('\n').unwrap_or((&stdout, ""));
    (status.to_owned(), message.to_owned())
}

fn condition(kind: &str, status: bool, reason: &str, message: &str, generation: i64) -> Value {
    json!({
        "type": kind,
        "status": if status { "True" } else { "False" },
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": "2026-11-29T18:00:00Z",
    })
}

/// A RustyMail at `generation` whose status the operator wrote for `observed`.
fn rustymail(generation: i64, observed: i64, conditions: Vec<Value>) -> Value {
    json!({
        "apiVersion": "rustymail.io/v1alpha1",
        "kind": "RustyMail",
        "metadata": {"name": "mail", "namespace": "default", "generation": generation},
        "spec": {"replicas": 2, "accounts": [{"name": "support"}]},
        "status": {
            "observedGeneration": observed,
            "conditions": conditions,
            "replicas": 2,
            "readyReplicas": 2,
            "endpoint": "https://mail.default.svc:9437",
        },
    })
}

fn ready_conditions(generation: i64) -> Vec<Value> {
    vec![
        condition(
            "Ready",
            true,
            "Ready",
            "serving on https://mail.default.svc:9437 with 2 ready pods",
            generation,
        ),
        condition(
            "Available",
            true,
            "MinimumReplicasAvailable",
            "2 of 2 pods available",
            generation,
        ),
        condition(
            "CertificateReady",
            true,
            "Valid",
            "valid until 2027-02-26T03:58:46Z",
            generation,
        ),
        condition(
            "Progressing",
            false,
            "Complete",
            "the data plane runs the current spec",
            generation,
        ),
        condition(
            "Degraded",
            false,
            "AsExpected",
            "all referenced objects exist and every child is applied",
            generation,
        ),
    ]
}

#[test]
fn ready_for_the_current_generation_is_healthy() {
    let (status, message) = health(&rustymail(3, 3, ready_conditions(3)));
    assert_eq!(status, "Healthy");
    assert!(message.contains("2 ready pods"), "{message}");
}

#[test]
fn a_status_from_an_older_generation_is_progressing_even_when_ready() {
    let (status, message) = health(&rustymail(4, 3, ready_conditions(3)));
    assert_eq!(status, "Progressing");
    assert!(
        message.contains("generation 4") && message.contains("generation 3"),
        "{message}"
    );
}

#[test]
fn a_ready_condition_left_from_an_older_generation_is_not_healthy() {
    let mut conditions = ready_conditions(4);
    conditions[0] = condition("Ready", true, "Ready", "serving", 3);
    let (status, _) = health(&rustymail(4, 4, conditions));
    assert_eq!(status, "Progressing");
}

#[test]
fn no_status_yet_is_progressing() {
    let mut object = rustymail(1, 1, vec![]);
    object.as_object_mut().map(|o| o.remove("status"));
    let (status, message) = health(&object);
    assert_eq!(status, "Progressing");
    assert!(message.contains("waiting for the operator"), "{message}");
}

#[test]
fn a_rollout_in_progress_is_progressing_with_its_message() {
    let mut conditions = ready_conditions(2);
    conditions[3] = condition(
        "Progressing",
        true,
        "RollingOut",
        "rolling out: 1 of 2 pods ready",
        2,
    );
    let (status, message) = health(&rustymail(2, 2, conditions));
    assert_eq!(status, "Progressing");
    assert_eq!(message, "RollingOut: rolling out: 1 of 2 pods ready");
}

#[test]
fn pods_not_ready_yet_is_progressing() {
    let mut conditions = ready_conditions(1);
    conditions[0] = condition("Ready", false, "PodsNotReady", "0 of 2 pods ready", 1);
    let (status, message) = health(&rustymail(1, 1, conditions));
    assert_eq!(status, "Progressing");
    assert_eq!(message, "PodsNotReady: 0 of 2 pods ready");
}

#[test]
fn degraded_carries_the_conditions_message() {
    let mut conditions = ready_conditions(5);
    conditions[0] = condition(
        "Ready",
        false,
        "SecretNotFound",
        "degraded: see the Degraded condition",
        5,
    );
    conditions[3] = condition(
        "Progressing",
        false,
        "Blocked",
        "waiting for the problem reported by Degraded to be fixed",
        5,
    );
    conditions[4] = condition(
        "Degraded",
        true,
        "SecretNotFound",
        "spec.accounts[0].credentialsSecretRef: Secret support-imap does not exist",
        5,
    );
    let (status, message) = health(&rustymail(5, 5, conditions));
    assert_eq!(status, "Degraded");
    assert_eq!(
        message,
        "SecretNotFound: spec.accounts[0].credentialsSecretRef: Secret support-imap does not exist"
    );
}

#[test]
fn paused_is_suspended() {
    let mut conditions = ready_conditions(6);
    conditions[3] = condition(
        "Progressing",
        false,
        "Paused",
        "spec.paused is true: children are left as they are",
        6,
    );
    let mut object = rustymail(6, 6, conditions);
    object["spec"]["paused"] = Value::Bool(true);
    let (status, message) = health(&object);
    assert_eq!(status, "Suspended");
    assert!(message.contains("spec.paused"), "{message}");
}

#[test]
fn the_argocd_cm_snippet_carries_health_lua_word_for_word() {
    let script = std::fs::read_to_string(workspace::root().join("deploy/argocd/health.lua"))
        .expect("health.lua");
    let snippet = std::fs::read_to_string(workspace::root().join("deploy/argocd/argocd-cm.yaml"))
        .expect("argocd-cm.yaml");
    let config: Value = serde_saphyr::from_str(&snippet).expect("argocd-cm.yaml parses");
    assert_eq!(
        config["data"]["resource.customizations.health.rustymail.io_RustyMail"].as_str(),
        Some(script.as_str()),
        "deploy/argocd/argocd-cm.yaml differs from health.lua"
    );
}
