//! The serving certificate's source and the TLS policy.

use kube::KubeSchema;
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
    /// The issuer that signs the certificate: a cert-manager Issuer or
    /// ClusterIssuer, or an external issuer (`group`). An ACME issuer (a
    /// cert-manager.io issuer with `spec.acme`, such as Let's Encrypt) is
    /// asked only for `tls.dnsNames`, which must list at least one public
    /// name; every other issuer (CA, Vault, self-signed, external) is asked
    /// for the Service's cluster names, `tls.dnsNames` and the Ingress host.
    /// An Issuer or ClusterIssuer that does not exist sets `Degraded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_ref: Option<IssuerRef>,
    /// A kubernetes.io/tls Secret you manage, with `tls.crt` and `tls.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::dns_subdomain())]
    #[schemars(length(max = 253))]
    pub secret_name: Option<String>,
    /// Public DNS names of the certificate. With an ACME issuer (Let's
    /// Encrypt) these are the only names asked for, and at least one is
    /// required; otherwise the Service's cluster names and the Ingress host
    /// are included too.
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

/// cert-manager's own API group, the default of `issuerRef.group`.
pub const CERT_MANAGER_GROUP: &str = "cert-manager.io";

/// A reference to the issuer that signs the certificate: a cert-manager
/// `Issuer` or `ClusterIssuer`, or an external issuer of another API group.
///
/// What the Certificate asks for depends on the issuer: an ACME issuer
/// (a cert-manager.io issuer with `spec.acme`, such as Let's Encrypt) gets
/// only `tls.dnsNames`, which must then list at least one public name; every
/// other issuer (CA, Vault, self-signed, external) gets the Service's
/// cluster names, `tls.dnsNames` and the Ingress host.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.group != 'cert-manager.io' || self.kind == 'Issuer' || self.kind == 'ClusterIssuer'").message("a cert-manager.io issuer is of kind Issuer or ClusterIssuer"))]
pub struct IssuerRef {
    /// Name of the issuer.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Kind of the issuer: `Issuer` (namespaced, the default) or
    /// `ClusterIssuer` for cert-manager.io; the external issuer's own kind
    /// otherwise (e.g. `StepClusterIssuer`, `AWSPCAClusterIssuer`).
    #[serde(default = "default_issuer_kind")]
    #[schemars(length(min = 1, max = 63))]
    pub kind: String,
    /// API group of the issuer. Default `cert-manager.io` (cert-manager's
    /// own issuers: ACME, CA, Vault, Venafi, self-signed); set it for an
    /// external issuer, e.g. `certmanager.step.sm` (step-ca) or
    /// `awspca.cert-manager.io` (AWS Private CA). The operator reads only
    /// cert-manager.io issuers: an external one is not checked for existence
    /// and is asked for every name.
    #[serde(default = "default_issuer_group")]
    #[schemars(length(min = 1, max = 253))]
    pub group: String,
}

fn default_issuer_kind() -> String {
    IssuerKind::Issuer.as_str().to_owned()
}

fn default_issuer_group() -> String {
    CERT_MANAGER_GROUP.to_owned()
}

impl IssuerRef {
    /// The cert-manager kind, when this is one of cert-manager's own issuers.
    pub fn cert_manager_kind(&self) -> Option<IssuerKind> {
        if self.group != CERT_MANAGER_GROUP {
            return None;
        }
        [IssuerKind::Issuer, IssuerKind::ClusterIssuer]
            .into_iter()
            .find(|k| k.as_str() == self.kind)
    }
}

/// Which kind of cert-manager issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuerKind {
    /// An Issuer in the RustyMail's namespace.
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
