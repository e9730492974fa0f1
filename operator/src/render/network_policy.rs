//! The NetworkPolicy isolating the data plane pods.
//!
//! Ingress: the API port from the ingress namespaces, the metrics port from
//! the monitoring namespaces, nothing else. Egress: DNS to kube-dns only,
//! IMAP ports to `imapEgressCIDRs` (default: the public internet, with every
//! private, shared, loopback and link-local range excepted), and `extraEgress`.

use std::collections::BTreeSet;

use k8s_openapi::{
    api::networking::v1::{
        IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule,
        NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec,
    },
    apimachinery::pkg::{
        apis::meta::v1::{LabelSelector, LabelSelectorRequirement},
        util::intstr::IntOrString,
    },
};

use super::{
    meta::{Component, Owner},
    service::{API_PORT, METRICS_PORT},
};
use crate::crd::RustyMailSpec;

/// IPv4 ranges that are not the public internet.
const PRIVATE_V4: [&str; 6] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
];
/// IPv6 ranges that are not the public internet.
const PRIVATE_V6: [&str; 3] = ["fc00::/7", "fe80::/10", "::1/128"];

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_owned()),
        ..NetworkPolicyPort::default()
    }
}

fn namespaces(names: &[String]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "kubernetes.io/metadata.name".to_owned(),
                operator: "In".to_owned(),
                values: Some(names.to_vec()),
            }]),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn ip_block(cidr: &str, except: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_owned(),
            except: (!except.is_empty()).then(|| except.iter().map(|s| (*s).to_owned()).collect()),
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn ingress_rules(spec: &RustyMailSpec) -> Vec<NetworkPolicyIngressRule> {
    let np = &spec.network_policy;
    [
        (&np.ingress_namespaces, API_PORT),
        (&np.monitoring_namespaces, METRICS_PORT),
    ]
    .into_iter()
    .filter(|(names, _)| !names.is_empty())
    .map(|(names, port)| NetworkPolicyIngressRule {
        from: Some(vec![namespaces(names)]),
        ports: Some(vec![tcp(port)]),
    })
    .collect()
}

fn dns_rule() -> NetworkPolicyEgressRule {
    let port = |protocol: &str| NetworkPolicyPort {
        port: Some(IntOrString::Int(53)),
        protocol: Some(protocol.to_owned()),
        ..NetworkPolicyPort::default()
    };
    NetworkPolicyEgressRule {
        to: Some(vec![NetworkPolicyPeer {
            pod_selector: Some(LabelSelector {
                match_labels: Some([("k8s-app".to_owned(), "kube-dns".to_owned())].into()),
                ..LabelSelector::default()
            }),
            ..namespaces(&["kube-system".to_owned()])
        }]),
        ports: Some(vec![port("UDP"), port("TCP")]),
    }
}

fn imap_rule(spec: &RustyMailSpec) -> NetworkPolicyEgressRule {
    let ports: BTreeSet<i32> = spec.accounts.iter().map(|a| a.imap.port).collect();
    let cidrs = &spec.network_policy.imap_egress_cidrs;
    let to = if cidrs.is_empty() {
        vec![
            ip_block("0.0.0.0/0", &PRIVATE_V4),
            ip_block("::/0", &PRIVATE_V6),
        ]
    } else {
        cidrs.iter().map(|c| ip_block(c, &[])).collect()
    };
    NetworkPolicyEgressRule {
        to: Some(to),
        ports: Some(ports.into_iter().map(tcp).collect()),
    }
}

/// The NetworkPolicy `<name>`, or `None` when `networkPolicy.enabled` is false.
pub fn network_policy(owner: &Owner, spec: &RustyMailSpec) -> Option<NetworkPolicy> {
    if !spec.network_policy.enabled {
        return None;
    }
    let mut egress = vec![dns_rule(), imap_rule(spec)];
    egress.extend(spec.network_policy.extra_egress.iter().cloned());
    Some(NetworkPolicy {
        metadata: owner.meta(owner.name.clone(), Component::Api),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(owner.selector()),
                ..LabelSelector::default()
            }),
            policy_types: Some(vec!["Ingress".to_owned(), "Egress".to_owned()]),
            ingress: Some(ingress_rules(spec)),
            egress: Some(egress),
        }),
    })
}
