//! Prometheus Operator objects: a ServiceMonitor for the metrics port and a
//! PrometheusRule with the alerts an on-call engineer needs. Created only
//! when asked for and when the monitoring.coreos.com API exists.

use kube::core::DynamicObject;
use serde_json::{Value, json};

use super::meta::{Component, Owner};
use crate::{crd::RustyMailSpec, kinds::Kind};

/// The ServiceMonitor `<name>`.
pub fn service_monitor(
    owner: &Owner,
    spec: &RustyMailSpec,
    api_present: bool,
) -> Option<DynamicObject> {
    if !(spec.monitoring.service_monitor && api_present) {
        return None;
    }
    let mut object = DynamicObject::new(&owner.name, &Kind::ServiceMonitor.resource());
    object.metadata = owner.meta(owner.name.clone(), Component::Monitoring);
    object.data = json!({
        "spec": {
            "selector": {"matchLabels": owner.labels(Component::Api)},
            "namespaceSelector": {"matchNames": [owner.namespace]},
            "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s", "scheme": "http"}],
        }
    });
    Some(object)
}

fn alert(name: &str, expr: String, duration: &str, severity: &str, summary: &str) -> Value {
    json!({
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    })
}

/// The PrometheusRule `<name>`: certificate expiring, reload failures,
/// authentication-failure and rate-limit spikes, pods not ready.
pub fn prometheus_rule(
    owner: &Owner,
    spec: &RustyMailSpec,
    api_present: bool,
) -> Option<DynamicObject> {
    if !(spec.monitoring.prometheus_rule && api_present) {
        return None;
    }
    let sel = format!(
        r#"namespace="{}",service="{}""#,
        owner.namespace, owner.name
    );
    let deployment = format!(
        r#"namespace="{}",deployment="{}""#,
        owner.namespace, owner.name
    );
    let rules = vec![
        alert(
            "RustyMailCertificateExpiringSoon",
            format!(
                "min(rustymail_tls_certificate_not_after_seconds{{{sel}}}) - time() < 7 * 86400"
            ),
            "15m",
            "warning",
            "The RustyMail serving certificate expires within 7 days and has not been renewed.",
        ),
        alert(
            "RustyMailCertificateReloadFailing",
            format!("increase(rustymail_tls_certificate_reload_failures_total{{{sel}}}[15m]) > 0"),
            "0m",
            "warning",
            "A RustyMail pod rejected a rotated certificate and is still serving the old one.",
        ),
        alert(
            "RustyMailAuthFailureSpike",
            format!("sum(rate(rustymail_http_requests_total{{{sel},status=\"401\"}}[5m])) > 1"),
            "10m",
            "warning",
            "More than one failed authentication per second: credential stuffing or a misconfigured client.",
        ),
        alert(
            "RustyMailRateLimitSpike",
            format!("sum(rate(rustymail_http_requests_total{{{sel},status=\"429\"}}[5m])) > 5"),
            "10m",
            "info",
            "Clients are being rate limited at more than five requests per second.",
        ),
        alert(
            "RustyMailPodsNotReady",
            format!(
                "kube_deployment_status_replicas_available{{{deployment}}} < kube_deployment_spec_replicas{{{deployment}}}"
            ),
            "10m",
            "critical",
            "Some RustyMail pods have not been ready for 10 minutes.",
        ),
    ];
    let mut object = DynamicObject::new(&owner.name, &Kind::PrometheusRule.resource());
    object.metadata = owner.meta(owner.name.clone(), Component::Monitoring);
    object.data = json!({"spec": {"groups": [{"name": "rustymail", "rules": rules}]}});
    Some(object)
}
