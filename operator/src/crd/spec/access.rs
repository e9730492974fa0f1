//! The incident levers a person sets under pressure: cut every client off
//! the API, and refuse client address ranges. (The third, revoking the
//! credentials, is the `rustymail.io/rotate-credentials` annotation.)

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use crate::crd::rules;

/// Who is cut off the API, now.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessSpec {
    /// Isolate the pods: the NetworkPolicy admits no client on the API port
    /// 9437 (neither the ingress namespaces nor `networkPolicy.clients` nor
    /// the same namespace), while the monitoring namespaces still scrape
    /// 9090 and egress is unchanged. Applied even when
    /// `networkPolicy.enabled` is false, and applied and lifted while
    /// `paused` is true or the spec is Degraded. Takes effect only where the
    /// CNI enforces NetworkPolicies. Default false.
    #[serde(default)]
    pub isolate: bool,
    /// Client address ranges (CIDRs, IPv4 or IPv6) the data plane refuses
    /// with 403 `client_blocked`, before authentication, each refusal
    /// audited as a security_event. Behind a proxy listed in
    /// `rateLimits.trustedProxies` the client is the rightmost untrusted
    /// X-Forwarded-For hop. A change rolls the pods. Default: none.
    #[serde(
        default,
        rename = "blockedCIDRs",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[x_kube(validation = rules::cidrs())]
    #[schemars(length(max = 1024), inner(length(max = 64)))]
    pub blocked_cidrs: Vec<String>,
}
