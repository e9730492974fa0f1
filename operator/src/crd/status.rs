//! The observed state of a RustyMail deployment: the `status` of the resource.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the operator last observed and did.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RustyMailStatus {
    /// The `metadata.generation` the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Available`, `CertificateReady`, `Progressing`, `Degraded`
    /// and `MonitoringReady`, each with its own observedGeneration, reason
    /// and message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// Pods the Deployment has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Pods ready to serve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    /// The serving certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateStatus>,
    /// The in-cluster URL of the API, e.g. `https://mail.team-a.svc:9437`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The Secret holding the API keys and JWT secret in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// Who may reach the API, and the incident levers in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessStatus>,
}

/// Who may reach the API, and the incident levers in force.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessStatus {
    /// The NetworkPolicy that admits no client on port 9437
    /// (`spec.access.isolate`) is in place.
    pub isolated: bool,
    /// Who the NetworkPolicy admits to port 9437, e.g. `namespace
    /// ingress-nginx`, `pods in namespace team-a`; empty when isolated,
    /// `anyone` without a NetworkPolicy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reachable_from: Vec<String>,
    /// How many client ranges the data plane refuses (`spec.access.blockedCIDRs`).
    #[serde(rename = "blockedCIDRs")]
    pub blocked_cidrs: u32,
    /// The `rustymail.io/rotate-credentials` value the generated credentials
    /// in use answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_rotation: Option<String>,
    /// When the operator first reported the credentials of that rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_rotated_at: Option<Time>,
    /// Until when the API key the last rotation replaced is still accepted
    /// (`spec.auth.rotationGracePeriod`); absent when none is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_key_accepted_until: Option<Time>,
}

/// The serving certificate as last read.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateStatus {
    /// The kubernetes.io/tls Secret the pods mount.
    pub secret_name: String,
    /// When the certificate expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Time>,
    /// When it will be renewed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_time: Option<Time>,
    /// `cert-manager`, `user` or `self-signed`.
    pub source: CertificateSource,
}

/// Who issues and renews the serving certificate.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CertificateSource {
    /// cert-manager, from `tls.issuerRef`.
    CertManager,
    /// The user, in `tls.secretName`.
    User,
    /// The operator's own self-signed CA.
    #[default]
    SelfSigned,
}
