//! The NetworkPolicy isolating the data plane pods.
//!
//! Ingress: the API port from the ingress namespaces, the RustyMail's own
//! namespace (unless `allowSameNamespace` is false) and the `clients` the
//! spec names, or from nobody while `access.isolate` is set; the metrics port
//! from the monitoring namespaces; nothing else. Egress: DNS to kube-dns only,
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
use crate::crd::{ClientPeer, RustyMailSpec};

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

/// The peer of one `networkPolicy.clients` entry.
fn client(c: &ClientPeer) -> NetworkPolicyPeer {
    let namespace_selector = match (&c.namespace, &c.namespace_selector) {
        (Some(name), _) => namespaces(std::slice::from_ref(name)).namespace_selector,
        (None, selector) => selector.clone(),
    };
    NetworkPolicyPeer {
        namespace_selector,
        pod_selector: c.pod_selector.clone(),
        ..NetworkPolicyPeer::default()
    }
}

/// Who may reach the API port; empty while isolated.
fn api_peers(spec: &RustyMailSpec) -> Vec<NetworkPolicyPeer> {
    let np = &spec.network_policy;
    if spec.access.isolate {
        return Vec::new();
    }
    let mut peers = Vec::new();
    if !np.ingress_namespaces.is_empty() {
        peers.push(namespaces(&np.ingress_namespaces));
    }
    if np.allow_same_namespace {
        peers.push(NetworkPolicyPeer {
            pod_selector: Some(LabelSelector::default()),
            ..NetworkPolicyPeer::default()
        });
    }
    peers.extend(np.clients.iter().map(client));
    peers
}

fn ingress_rules(spec: &RustyMailSpec) -> Vec<NetworkPolicyIngressRule> {
    // A rule without peers would admit everyone: a port nobody may reach
    // gets no rule at all.
    [
        (api_peers(spec), API_PORT),
        (
            match spec.network_policy.monitoring_namespaces.as_slice() {
                [] => Vec::new(),
                names => vec![namespaces(names)],
            },
            METRICS_PORT,
        ),
    ]
    .into_iter()
    .filter(|(peers, _)| !peers.is_empty())
    .map(|(peers, port)| NetworkPolicyIngressRule {
        from: Some(peers),
        ports: Some(vec![tcp(port)]),
    })
    .collect()
}

/// A label selector in words: `app=web,tier in (a, b)`; `any` when empty.
fn selector_text(selector: &LabelSelector) -> String {
    let labels = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"));
    let expressions = selector.match_expressions.iter().flatten().map(|e| {
        let values = e.values.clone().unwrap_or_default().join(", ");
        format!("{} {} ({values})", e.key, e.operator)
    });
    let parts: Vec<String> = labels.chain(expressions).collect();
    if parts.is_empty() {
        "any".to_owned()
    } else {
        parts.join(",")
    }
}

/// Who the NetworkPolicy admits to the API port, in words, for the status:
/// empty while isolated, `anyone` without a NetworkPolicy.
pub fn reachable_from(spec: &RustyMailSpec, namespace: &str) -> Vec<String> {
    let np = &spec.network_policy;
    if spec.access.isolate {
        return Vec::new();
    }
    if !np.enabled {
        return vec!["anyone (networkPolicy.enabled is false)".to_owned()];
    }
    let mut who: Vec<String> = np
        .ingress_namespaces
        .iter()
        .map(|n| format!("namespace {n}"))
        .collect();
    if np.allow_same_namespace {
        who.push(format!("namespace {namespace}"));
    }
    who.extend(np.clients.iter().map(|c| {
        let place = match (&c.namespace, &c.namespace_selector) {
            (Some(name), _) => format!("namespace {name}"),
            (None, Some(selector)) => format!("namespaces {}", selector_text(selector)),
            (None, None) => format!("namespace {namespace}"),
        };
        match &c.pod_selector {
            Some(pods) => format!("pods {} in {place}", selector_text(pods)),
            None => place,
        }
    }));
    who
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
    mail_rule(spec, spec.accounts.iter().map(|a| a.imap.port).collect())
}

/// Egress to the accounts' SMTP submission ports, to the same addresses as
/// IMAP (`imapEgressCIDRs`, else any public address); `None` when no
/// account sends.
fn smtp_rule(spec: &RustyMailSpec) -> Option<NetworkPolicyEgressRule> {
    let ports: BTreeSet<i32> = spec
        .accounts
        .iter()
        .filter_map(|a| a.smtp.as_ref().map(|s| s.port))
        .collect();
    (!ports.is_empty()).then(|| mail_rule(spec, ports))
}

fn mail_rule(spec: &RustyMailSpec, ports: BTreeSet<i32>) -> NetworkPolicyEgressRule {
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

/// The NetworkPolicy `<name>`, or `None` when `networkPolicy.enabled` is
/// false and `access.isolate` does not force it.
pub fn network_policy(owner: &Owner, spec: &RustyMailSpec) -> Option<NetworkPolicy> {
    if !spec.network_policy.enabled && !spec.access.isolate {
        return None;
    }
    let mut egress = vec![dns_rule(), imap_rule(spec)];
    egress.extend(smtp_rule(spec));
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
