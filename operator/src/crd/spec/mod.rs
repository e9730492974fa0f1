//! The desired state of a RustyMail deployment: the `spec` of the resource,
//! one file per concern.

mod access;
mod accounts;
mod auth;
mod exposure;
mod mcp;
mod numbers;
mod observability;
mod tls;
mod traffic;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use self::{
    access::*, accounts::*, auth::*, exposure::*, mcp::*, observability::*, tls::*, traffic::*,
};
use super::{RustyMailStatus, rules};

/// The data plane image used when `spec.image` is not set: the release that
/// matches this operator.
pub const DEFAULT_IMAGE: &str = concat!(
    "ghcr.io/rustymail/rustymail-dataplane:v",
    env!("CARGO_PKG_VERSION")
);

/// A RustyMail deployment: an HTTPS REST API over IMAP mailboxes, with TLS,
/// authentication, rate limits and network isolation managed by the operator.
// Printer columns share types (`string`, `date`): repeated `type_` is intended.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rustymail.io",
    version = "v1alpha1",
    kind = "RustyMail",
    namespaced,
    shortname = "rmail",
    status = "RustyMailStatus",
    derive = "PartialEq",
    cel,
    validation = rules::instance_name(),
    doc = "A RustyMail deployment: an HTTPS REST API over IMAP mailboxes, kept hardened, TLS-terminated and network-isolated by the RustyMail operator.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Replicas",
        type_ = "integer",
        json_path = ".status.readyReplicas",
        description = "Pods ready to serve"
    ),
    printcolumn(
        name = "Certificate expiry",
        type_ = "string",
        json_path = ".status.certificate.notAfter",
        description = "When the serving certificate expires (RFC 3339)"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RustyMailSpec {
    /// Number of data plane pods. Default 2; a PodDisruptionBudget is created above 1.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// Data plane container image. Default: the release matching the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image pull policy: Always, IfNotPresent or Never. Default IfNotPresent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    /// Compute resources of the data plane container. Default: requests 100m CPU
    /// and 128Mi memory, limit 512Mi memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node labels the pods must match.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = rules::qualified_keys("label"), validation = rules::label_values())]
    #[schemars(extend("maxProperties" = 64, "additionalProperties" = {"type": "string", "maxLength": 63}))]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Scheduling affinity. Default: prefer spreading pods over nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    /// Extra annotations on the pods (not on other children).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = rules::qualified_keys("annotation"))]
    #[schemars(extend("maxProperties" = 64))]
    pub pod_annotations: BTreeMap<String, String>,
    /// Extra labels on the pods. Keys under rustymail.io/ and app.kubernetes.io/ are reserved.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[x_kube(validation = rules::user_pod_labels(), validation = rules::qualified_keys("label"), validation = rules::label_values())]
    #[schemars(extend("maxProperties" = 64, "additionalProperties" = {"type": "string", "maxLength": 63}))]
    pub pod_labels: BTreeMap<String, String>,
    /// PriorityClass of the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::dns_subdomain())]
    #[schemars(length(max = 253))]
    pub priority_class_name: Option<String>,
    /// Stop changing children: the operator only reports status while paused.
    #[serde(default)]
    pub paused: bool,
    /// IMAP accounts served; the first is the API's default (`?account=` picks another).
    #[schemars(length(min = 1, max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]), validation = rules::unique_names())]
    pub accounts: Vec<AccountSpec>,
    /// Where the serving certificate comes from and the TLS policy.
    #[serde(default)]
    pub tls: TlsSpec,
    /// API-key and JWT authentication.
    #[serde(default)]
    pub auth: AuthSpec,
    /// Request budgets per client address, user and API key.
    #[serde(default)]
    pub rate_limits: RateLimitsSpec,
    /// Request size limits and accepted content types.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// The rules of sending mail through the accounts' `smtp` servers.
    #[serde(default)]
    pub send: SendSpec,
    /// Network isolation of the pods.
    #[serde(default)]
    pub network_policy: NetworkPolicySpec,
    /// Incident levers: isolate the pods, refuse client address ranges.
    #[serde(default)]
    pub access: AccessSpec,
    /// Prometheus Operator integration.
    #[serde(default)]
    pub monitoring: MonitoringSpec,
    /// Expose the API through an Ingress; the backend is spoken to over HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,
    /// The data plane's audit log.
    #[serde(default)]
    pub audit: AuditSpec,
    /// MCP for AI agents at `/mcp`.
    #[serde(default)]
    pub mcp: McpSpec,
}

fn default_replicas() -> i32 {
    2
}

/// When the kubelet pulls the image.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    /// Pull on every pod start.
    Always,
    /// Pull only when the node lacks the image.
    IfNotPresent,
    /// Never pull.
    Never,
}

impl PullPolicy {
    /// The name Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// Serde default for switches that are on unless turned off.
fn default_true() -> bool {
    true
}
