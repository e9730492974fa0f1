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

/// The `category` label of the alerts about an attack or the TLS that
/// protects the API, which the security guide's Alertmanager configuration
/// routes (with `severity: critical`) to its security receiver.
pub const SECURITY: &str = "security";

/// One alert of the PrometheusRule.
struct Alert {
    name: &'static str,
    expr: String,
    duration: &'static str,
    severity: &'static str,
    security: bool,
    summary: &'static str,
}

impl Alert {
    fn to_value(&self) -> Value {
        let mut labels = json!({"severity": self.severity});
        if self.security {
            labels["category"] = json!(SECURITY);
        }
        json!({
            "alert": self.name,
            "expr": self.expr,
            "for": self.duration,
            "labels": labels,
            "annotations": {"summary": self.summary},
        })
    }
}

/// The alerts for the data plane behind Service `<namespace>/<name>`. Every
/// `rustymail_` series is one the data plane exports (its failure counters
/// from the start, at 0); `kube_deployment_*` come from kube-state-metrics.
fn alerts(namespace: &str, name: &str) -> Vec<Alert> {
    let sel = format!(r#"namespace="{namespace}",service="{name}""#);
    let deployment = format!(r#"namespace="{namespace}",deployment="{name}""#);
    let reload_failures = format!("rustymail_tls_certificate_reload_failures_total{{{sel}}}");
    vec![
        Alert {
            name: "RustyMailCertificateExpiringSoon",
            expr: format!(
                "min by (namespace, service) (rustymail_tls_certificate_not_after_seconds{{{sel}}} > 0) - time() < 7 * 86400"
            ),
            duration: "15m",
            severity: "warning",
            security: true,
            summary: "The RustyMail serving certificate expires within 7 days and has not been renewed.",
        },
        // `increase()` sees a failure once its series was exported before it
        // (the data plane exports them at 0); the second branch catches a
        // series that first appears at 1 (a data plane that does not).
        Alert {
            name: "RustyMailCertificateReloadFailing",
            expr: format!(
                "increase({reload_failures}[15m]) > 0 or ({reload_failures} > 0 unless {reload_failures} offset 15m)"
            ),
            duration: "0m",
            severity: "warning",
            security: true,
            summary: "A RustyMail pod rejected a rotated certificate and is still serving the old one.",
        },
        // Requests without any credentials guess nothing and are left out.
        Alert {
            name: "RustyMailAuthFailureSpike",
            expr: format!(
                "sum by (namespace, service) (rate(rustymail_auth_failures_total{{{sel},reason!=\"missing\"}}[5m])) > 1"
            ),
            duration: "10m",
            severity: "critical",
            security: true,
            summary: "More than one request a second with a wrong API key or token for 10 minutes: credentials are being guessed.",
        },
        Alert {
            name: "RustyMailRateLimitSpike",
            expr: format!(
                "sum by (namespace, service) (rate(rustymail_rate_limited_requests_total{{{sel}}}[5m])) > 5"
            ),
            duration: "10m",
            severity: "info",
            security: true,
            summary: "Clients are being rate limited at more than five requests per second.",
        },
        Alert {
            name: "RustyMailPodsNotReady",
            expr: format!(
                "kube_deployment_status_replicas_available{{{deployment}}} < kube_deployment_spec_replicas{{{deployment}}}"
            ),
            duration: "10m",
            severity: "critical",
            security: false,
            summary: "Some RustyMail pods have not been ready for 10 minutes.",
        },
    ]
}

/// The PrometheusRule `<name>`: certificate expiring, reload failures,
/// authentication-failure and rate-limit spikes, pods not ready; the
/// security ones labelled `category: security`.
pub fn prometheus_rule(
    owner: &Owner,
    spec: &RustyMailSpec,
    api_present: bool,
) -> Option<DynamicObject> {
    if !(spec.monitoring.prometheus_rule && api_present) {
        return None;
    }
    let rules: Vec<Value> = alerts(&owner.namespace, &owner.name)
        .iter()
        .map(Alert::to_value)
        .collect();
    let mut object = DynamicObject::new(&owner.name, &Kind::PrometheusRule.resource());
    object.metadata = owner.meta(owner.name.clone(), Component::Monitoring);
    object.data = json!({"spec": {"groups": [{"name": "rustymail", "rules": rules}]}});
    Some(object)
}
