//! How the pods are reached and isolated: NetworkPolicy and Ingress.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::networking::v1::NetworkPolicyEgressRule, apimachinery::pkg::apis::meta::v1::LabelSelector,
};
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::default_true;
use crate::crd::rules;

/// Network isolation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Create the NetworkPolicy. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Namespaces allowed to reach the API port 9437. Default `ingress-nginx`.
    #[serde(default = "default_ingress_namespaces")]
    #[schemars(length(max = 32), inner(length(max = 63)))]
    pub ingress_namespaces: Vec<String>,
    /// Whether pods in the RustyMail's own namespace may reach the API port
    /// 9437, so that the in-cluster endpoint in `status.endpoint` answers
    /// them. Default true; set false to admit only the ingress namespaces
    /// and `clients`.
    #[serde(default = "default_true")]
    pub allow_same_namespace: bool,
    /// Further clients allowed to reach the API port 9437: a namespace (by
    /// name or by labels), pods by labels (in the RustyMail's namespace, or
    /// in the namespaces the same entry names), or both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub clients: Vec<ClientPeer>,
    /// Namespaces allowed to scrape the metrics port 9090. Default `monitoring`.
    #[serde(default = "default_monitoring_namespaces")]
    #[schemars(length(max = 32), inner(length(max = 63)))]
    pub monitoring_namespaces: Vec<String>,
    /// Where IMAP traffic, and SMTP submission to the accounts' `smtp`
    /// ports, may go. Default: the public internet, private and link-local
    /// ranges excepted. For mail servers inside the cluster, name their
    /// pods' addresses (the pod CIDR or a narrower range), not their
    /// Services': most CNIs apply policies after the Service's DNAT.
    #[serde(
        default,
        rename = "imapEgressCIDRs",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[x_kube(validation = rules::cidrs())]
    #[schemars(length(max = 64), inner(length(max = 64)))]
    pub imap_egress_cidrs: Vec<String>,
    /// Further egress rules, e.g. to Redis.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra_egress: Vec<NetworkPolicyEgressRule>,
}

impl Default for NetworkPolicySpec {
    fn default() -> Self {
        Self {
            enabled: true,
            ingress_namespaces: default_ingress_namespaces(),
            allow_same_namespace: true,
            clients: Vec::new(),
            monitoring_namespaces: default_monitoring_namespaces(),
            imap_egress_cidrs: Vec::new(),
            extra_egress: Vec::new(),
        }
    }
}

/// One kind of client allowed to reach the API port: every pod of a
/// namespace, the pods a selector picks, or the pods a selector picks in
/// the namespaces named.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.__namespace__) || has(self.namespaceSelector) || has(self.podSelector)").message("name a namespace, a namespaceSelector or a podSelector"))]
#[x_kube(validation = kube::core::Rule::new("!(has(self.__namespace__) && has(self.namespaceSelector))").message("set namespace or namespaceSelector, not both"))]
pub struct ClientPeer {
    /// A namespace by name: its pods (those `podSelector` picks, when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = rules::dns_label())]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    /// Namespaces by their labels: their pods (those `podSelector` picks,
    /// when set). `{}` is every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Pods by their labels: in the namespaces named by `namespace` or
    /// `namespaceSelector`, else in the RustyMail's own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
}

fn default_ingress_namespaces() -> Vec<String> {
    vec!["ingress-nginx".to_owned()]
}

fn default_monitoring_namespaces() -> Vec<String> {
    vec!["monitoring".to_owned()]
}

/// An Ingress in front of the API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Host name clients use.
    #[x_kube(validation = rules::dns_subdomain())]
    #[schemars(length(max = 253))]
    pub host: String,
    /// IngressClass name. Default: the cluster's default class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Annotations of the Ingress, e.g. cert-manager.io/cluster-issuer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Secret for the Ingress's own TLS. Default `<name>-ingress-tls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
}
