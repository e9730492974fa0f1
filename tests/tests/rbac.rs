//! The operator's RBAC is really enforced: with a rule of the generated set
//! taken away, the operator's refused call is reported to the user. (Every
//! other control-plane test fails on any call the generated rules refuse.)

use k8s_openapi::api::apps::v1::Deployment;
use rustymail_tests::{
    control_plane::generated_rbac,
    poll::eventually,
    scenario::{Scenario, WAIT},
};
use serde_json::{Value, json};

/// The generated rules without Deployments; with `keep_reads`, reading
/// them stays allowed, so the operator's caches sync and it gets as far as
/// applying.
fn without_deployments(namespace: &str, keep_reads: bool) -> Vec<Value> {
    let mut roles = generated_rbac(namespace);
    let mut removed = false;
    for role in &mut roles {
        let Some(rules) = role["rules"].as_array_mut() else {
            continue;
        };
        let mut here = false;
        for rule in rules.iter_mut() {
            let Some(resources) = rule["resources"].as_array_mut() else {
                continue;
            };
            if resources.iter().any(|r| r == "deployments") {
                resources.retain(|r| r != "deployments");
                here = true;
            }
        }
        rules.retain(|r| r["resources"].as_array().is_none_or(|r| !r.is_empty()));
        removed |= here;
        if here && keep_reads {
            rules.push(json!({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]}));
        }
    }
    assert!(removed, "the generated RBAC has a rule for deployments");
    roles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_deployments_rule_the_refusal_is_reported_as_a_warning_event() {
    let mut s = Scenario::with_rbac("rbac", |ns| without_deployments(ns, true)).await;
    s.expect_forbidden();
    let operator = s.operator("op-a");
    s.apply(&s.mail("")).await;

    let reported = eventually(WAIT, || async {
        s.events("ReconcileFailed").await.iter().any(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.note
                    .as_deref()
                    .is_some_and(|n| n.contains("forbidden") || n.contains("Forbidden"))
        })
    })
    .await;
    assert!(
        reported,
        "no Warning Event reports the refusal: {:?}\n{}",
        s.events("ReconcileFailed")
            .await
            .iter()
            .map(|e| e.note.clone())
            .collect::<Vec<_>>(),
        operator.log().join("\n")
    );
    let refused: Vec<Value> = s
        .faults()
        .served()
        .into_iter()
        .filter(|r| r.code == 403)
        .map(|r| Value::from(format!("{} {}", r.request.verb, r.request.resource)))
        .collect();
    assert!(
        refused
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.ends_with("deployments"))),
        "the API server refused the Deployment calls: {refused:?}"
    );
    assert!(!s.exists::<Deployment>("mail").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_deployments_rule_the_unlisted_watch_is_reported_as_a_warning_event() {
    let mut s = Scenario::with_rbac("rbac-watch", |ns| without_deployments(ns, false)).await;
    s.expect_forbidden();
    let operator = s.operator("op-a");
    s.apply(&s.mail("")).await;
    let reported = eventually(WAIT, || async {
        s.events("ReconcileFailed").await.iter().any(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.note.as_deref().is_some_and(|n| n.contains("Deployment"))
        })
    })
    .await;
    assert!(
        reported,
        "the forbidden Deployment watch was not reported: {:?}\n{}",
        s.events("ReconcileFailed")
            .await
            .iter()
            .map(|e| e.note.clone())
            .collect::<Vec<_>>(),
        operator.log().join("\n")
    );
    assert!(
        s.faults()
            .served()
            .iter()
            .any(|r| r.code == 403 && r.request.resource == "deployments"),
        "the API server refused the Deployment list"
    );
}
