//! Who the NetworkPolicy admits to the API, the isolation lever, and the
//! blocked CIDRs carried into the data plane's config.

use rand::{SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

use super::*;
use crate::crd::RustyMail;

fn observed() -> Observed {
    Observed {
        cert_manager: false,
        acme_issuer: false,
        monitoring: false,
        credentials: CredentialsInput::Generated(Credentials::generate(
            &mut StdRng::seed_from_u64(7),
            None,
        )),
        self_signed: Some(TlsMaterial {
            chain_pem: "chain".into(),
            key_pem: "key".into(),
            ca_pem: "ca".into(),
        }),
    }
}

fn with_spec(patch: Value) -> RustyMail {
    let mut value = serde_json::to_value(fixtures::minimal()).expect("serializes");
    for (k, v) in patch.as_object().into_iter().flatten() {
        value["spec"][k] = v.clone();
    }
    serde_json::from_value(value).expect("valid spec")
}

fn children(rm: &RustyMail) -> Vec<Value> {
    render(rm, &observed())
        .expect("renders")
        .iter()
        .map(Child::to_value)
        .collect()
}

fn policy(rm: &RustyMail) -> Option<Value> {
    children(rm)
        .into_iter()
        .find(|v| v["kind"] == "NetworkPolicy")
        .map(|v| v["spec"].clone())
}

/// The `from` of the ingress rule for `port`, if there is one.
fn peers_of(policy: &Value, port: i64) -> Option<Value> {
    policy["ingress"]
        .as_array()
        .expect("ingress rules")
        .iter()
        .find(|r| r["ports"][0]["port"] == port)
        .map(|r| r["from"].clone())
}

fn names(values: &[&str]) -> Value {
    json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": values}]})
}

#[test]
fn by_default_the_ingress_namespaces_and_the_rustymails_own_namespace_reach_the_api() {
    let np = policy(&fixtures::minimal()).expect("policy");
    assert_eq!(
        peers_of(&np, 9437),
        Some(json!([
            {"namespaceSelector": names(&["ingress-nginx"])},
            {"podSelector": {}},
        ]))
    );
    assert_eq!(
        peers_of(&np, 9090),
        Some(json!([{"namespaceSelector": names(&["monitoring"])}]))
    );
}

#[test]
fn named_clients_reach_the_api_port_and_nothing_else() {
    let rm = with_spec(json!({"networkPolicy": {
        "allowSameNamespace": false,
        "clients": [
            {"namespace": "team-b"},
            {"namespace": "team-c", "podSelector": {"matchLabels": {"app": "worker"}}},
            {"podSelector": {"matchLabels": {"app": "web"}}},
            {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
        ],
    }}));
    let np = policy(&rm).expect("policy");
    assert_eq!(
        peers_of(&np, 9437),
        Some(json!([
            {"namespaceSelector": names(&["ingress-nginx"])},
            {"namespaceSelector": names(&["team-b"])},
            {"namespaceSelector": names(&["team-c"]), "podSelector": {"matchLabels": {"app": "worker"}}},
            {"podSelector": {"matchLabels": {"app": "web"}}},
            {"namespaceSelector": {"matchLabels": {"env": "prod"}}},
        ]))
    );
    assert_eq!(np["ingress"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        network_policy::reachable_from(&rm.spec, "team-a"),
        [
            "namespace ingress-nginx",
            "namespace team-b",
            "pods app=worker in namespace team-c",
            "pods app=web in namespace team-a",
            "namespaces env=prod",
        ]
    );
}

#[test]
fn with_no_client_left_the_api_port_gets_no_rule_never_an_open_one() {
    let rm = with_spec(json!({"networkPolicy": {
        "ingressNamespaces": [],
        "allowSameNamespace": false,
    }}));
    let np = policy(&rm).expect("policy");
    assert_eq!(peers_of(&np, 9437), None);
    for rule in np["ingress"].as_array().expect("rules") {
        assert!(
            rule["from"].as_array().is_some_and(|f| !f.is_empty()),
            "a rule without peers admits everyone: {rule}"
        );
    }
    assert!(network_policy::reachable_from(&rm.spec, "team-a").is_empty());
}

#[test]
fn isolation_admits_no_client_on_the_api_port_and_keeps_monitoring_and_egress() {
    let open = policy(&fixtures::minimal()).expect("policy");
    let rm = with_spec(json!({
        "access": {"isolate": true},
        "networkPolicy": {"clients": [{"namespace": "team-b"}]},
    }));
    let np = policy(&rm).expect("policy");
    assert_eq!(peers_of(&np, 9437), None);
    assert_eq!(np["ingress"].as_array().map(Vec::len), Some(1));
    assert_eq!(peers_of(&np, 9090), peers_of(&open, 9090));
    assert_eq!(np["egress"], open["egress"]);
    assert!(network_policy::reachable_from(&rm.spec, "team-a").is_empty());
}

#[test]
fn isolation_forces_the_policy_even_when_network_policies_are_switched_off() {
    let off = with_spec(json!({"networkPolicy": {"enabled": false}}));
    assert!(policy(&off).is_none());
    assert_eq!(
        network_policy::reachable_from(&off.spec, "team-a"),
        ["anyone (networkPolicy.enabled is false)"]
    );
    let isolated = with_spec(json!({
        "networkPolicy": {"enabled": false},
        "access": {"isolate": true},
    }));
    let np = policy(&isolated).expect("isolation renders the policy");
    assert_eq!(peers_of(&np, 9437), None);
    assert!(peers_of(&np, 9090).is_some());
}

#[test]
fn blocked_cidrs_reach_the_data_plane_config_and_roll_the_pods() {
    let checksum = |rm: &RustyMail| {
        children(rm)
            .into_iter()
            .find(|v| v["kind"] == "Deployment")
            .map(|d| d["spec"]["template"]["metadata"]["annotations"][CONFIG_CHECKSUM].clone())
            .expect("deployment")
    };
    let rm = with_spec(json!({"access": {"blockedCIDRs": ["203.0.113.0/24", "2001:db8::/32"]}}));
    let config = data_plane_config(&rm.spec, mounts::API_KEYS_KEY).expect("config");
    let blocked: Vec<String> = config
        .access
        .blocked_cidrs
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(blocked, ["203.0.113.0/24", "2001:db8::/32"]);
    assert!(config.to_yaml().contains("blockedCidrs"));
    assert_ne!(checksum(&rm), checksum(&fixtures::minimal()));

    let bad = with_spec(json!({"access": {"blockedCIDRs": ["203.0.113.0/33"]}}));
    let err = data_plane_config(&bad.spec, mounts::API_KEYS_KEY).expect_err("not a CIDR");
    assert!(
        err.to_string().contains("spec.access.blockedCIDRs[0]"),
        "{err}"
    );
}
