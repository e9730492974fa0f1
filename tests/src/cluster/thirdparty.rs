//! Minimal CustomResourceDefinitions of the third-party APIs the operator
//! uses when they exist: cert-manager (`Certificate`, `Issuer`,
//! `ClusterIssuer`) and the Prometheus operator (`ServiceMonitor`,
//! `PrometheusRule`). Names, scopes and subresources are the real ones;
//! the schemas keep every field (`x-kubernetes-preserve-unknown-fields`),
//! so these prove discovery and ownership, not the third-party validation.

fn crd(group: &str, kind: &str, plural: &str, short: &str, scope: &str, status: bool) -> String {
    let subresources = if status {
        "\n    subresources: {status: {}}"
    } else {
        ""
    };
    format!(
        "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: {plural}.{group}}}
spec:
  group: {group}
  scope: {scope}
  names: {{plural: {plural}, singular: {singular}, kind: {kind}, listKind: {kind}List, shortNames: [{short}]}}
  versions:
  - name: v1
    served: true
    storage: true{subresources}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
          status: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
",
        singular = kind.to_lowercase()
    )
}

/// cert-manager's `Certificate`, `Issuer` and `ClusterIssuer` CRDs, as one YAML stream.
pub fn cert_manager() -> String {
    [
        crd(
            "cert-manager.io",
            "Certificate",
            "certificates",
            "cert",
            "Namespaced",
            true,
        ),
        crd(
            "cert-manager.io",
            "Issuer",
            "issuers",
            "iss",
            "Namespaced",
            true,
        ),
        crd(
            "cert-manager.io",
            "ClusterIssuer",
            "clusterissuers",
            "ciss",
            "Cluster",
            true,
        ),
    ]
    .join("---\n")
}

/// The Prometheus operator's `ServiceMonitor` and `PrometheusRule` CRDs, as one YAML stream.
pub fn prometheus_operator() -> String {
    [
        crd(
            "monitoring.coreos.com",
            "ServiceMonitor",
            "servicemonitors",
            "smon",
            "Namespaced",
            false,
        ),
        crd(
            "monitoring.coreos.com",
            "PrometheusRule",
            "prometheusrules",
            "promrule",
            "Namespaced",
            false,
        ),
    ]
    .join("---\n")
}
