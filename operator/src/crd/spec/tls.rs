//! The serving certificate's source and the TLS policy.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::numbers;
use crate::crd::rules;

/// Certificate source and TLS policy. Set `issuerRef` (cert-manager issues
/// and renews), or `secretName` (you manage a kubernetes.io/tls Secret), or
/// neither (the operator issues a self-signed CA and leaf and renews them).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!(has(self.issuerRef) && has(self.secretName))").message("set at most one certificate source: tls.issuerRef or tls.secretName"))]
#[x_kube(validation = kube::core::Rule::new(format!("{} < {}", rules::as_duration("renewBefore"), rules::as_duration("duration"))).message("tls.renewBefore must be shorter than tls.duration"))]
pub struct TlsSpec {
    /// A cert-manager Issuer or ClusterIssuer that issues the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_ref: Option<IssuerRef>,
    /// A kubernetes.io/tls Secret you manage, with `tls.crt` and `tls.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::dns_subdomain())]
    #[schemars(length(max = 253))]
    pub secret_name: Option<String>,
    /// Extra DNS names of the certificate. The Service's names are always included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(max = 253)))]
    pub dns_names: Vec<String>,
    /// Certificate lifetime (issued certificates only). Default `2160h` (90
    /// days); a bare number is seconds.
    #[serde(default = "default_duration", deserialize_with = "numbers::duration")]
    #[x_kube(validation = rules::duration())]
    #[schemars(schema_with = "numbers::int_or_string_schema")]
    pub duration: String,
    /// Renew this long before expiry. Default `720h` (30 days); a bare number
    /// is seconds.
    #[serde(
        default = "default_renew_before",
        deserialize_with = "numbers::duration"
    )]
    #[x_kube(validation = rules::duration())]
    #[schemars(schema_with = "numbers::int_or_string_schema")]
    pub renew_before: String,
    /// Lowest TLS version accepted: "1.2" (default) or "1.3", quoted or not.
    #[serde(
        default = "default_min_version",
        deserialize_with = "numbers::tls_version"
    )]
    #[schemars(schema_with = "numbers::tls_version_schema")]
    pub min_version: String,
    /// IANA names of the cipher suites to offer. Default: every supported
    /// forward-secret AEAD suite.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(validation = rules::cipher_suites())]
    #[schemars(length(max = 16), inner(length(max = 64)))]
    pub cipher_suites: Vec<String>,
}

impl Default for TlsSpec {
    fn default() -> Self {
        Self {
            issuer_ref: None,
            secret_name: None,
            dns_names: Vec::new(),
            duration: default_duration(),
            renew_before: default_renew_before(),
            min_version: default_min_version(),
            cipher_suites: Vec::new(),
        }
    }
}

fn default_duration() -> String {
    "2160h".to_owned()
}

fn default_renew_before() -> String {
    "720h".to_owned()
}

fn default_min_version() -> String {
    "1.2".to_owned()
}

/// A reference to a cert-manager issuer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerRef {
    /// Name of the issuer.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// `Issuer` (namespaced, the default) or `ClusterIssuer`.
    #[serde(default)]
    pub kind: IssuerKind,
}

/// Which kind of cert-manager issuer.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum IssuerKind {
    /// An Issuer in the RustyMail's namespace.
    #[default]
    Issuer,
    /// A cluster-wide ClusterIssuer.
    ClusterIssuer,
}

impl IssuerKind {
    /// The kind's name in cert-manager's API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issuer => "Issuer",
            Self::ClusterIssuer => "ClusterIssuer",
        }
    }
}
