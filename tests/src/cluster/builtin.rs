//! The table of built-in kinds: one line a kind, as the real API server
//! serves them (scope, short names, status subresource, generation), and
//! the conversion that makes events.k8s.io/v1 and core/v1 Events one store.

use k8s_openapi::api::{apps, coordination, core, events, networking, policy, rbac};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::registry::{Conversion, NameRule, ResourceType, Roundtrip};

/// Deserializes into the typed form and serializes back.
fn typed<K: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    let obj: K = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(obj).map_err(|e| e.to_string())
}

/// Scope and behaviour flags of one table line.
#[derive(Clone, Copy)]
struct Flags {
    namespaced: bool,
    status: bool,
    generation: bool,
    name_rule: NameRule,
}

const NS: Flags = Flags {
    namespaced: true,
    status: false,
    generation: false,
    name_rule: NameRule::Subdomain,
};
const NS_STATUS_GEN: Flags = Flags {
    status: true,
    generation: true,
    ..NS
};

fn line(
    group: &str,
    plural: &str,
    kind: &str,
    short: &[&str],
    flags: Flags,
    roundtrip: Roundtrip,
) -> ResourceType {
    ResourceType {
        group: group.to_string(),
        version: "v1".to_string(),
        plural: plural.to_string(),
        singular: kind.to_lowercase(),
        kind: kind.to_string(),
        namespaced: flags.namespaced,
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: Vec::new(),
        status_subresource: flags.status,
        generation: flags.generation,
        unconditional_update: true,
        name_rule: flags.name_rule,
        roundtrip: Some(roundtrip),
        schema: None,
        printer_columns: Vec::new(),
        storage_version: None,
        conversion: None,
    }
}

/// Field names of events.k8s.io/v1 Events and their core/v1 equivalents.
const EVENT_FIELDS: [(&str, &str); 7] = [
    ("note", "message"),
    ("regarding", "involvedObject"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
];

fn rename(v: &Value, to_core: bool, api_version: &str) -> Value {
    let mut out = v.clone();
    if let Some(m) = out.as_object_mut() {
        for (events, core) in EVENT_FIELDS {
            let (from, to) = if to_core {
                (events, core)
            } else {
                (core, events)
            };
            if let Some(x) = m.remove(from) {
                m.insert(to.to_string(), x);
            }
        }
        m.insert(
            "apiVersion".to_string(),
            Value::String(api_version.to_string()),
        );
    }
    out
}

fn event_to_core(v: &Value) -> Value {
    rename(v, true, "v1")
}

fn event_from_core(v: &Value) -> Value {
    rename(v, false, "events.k8s.io/v1")
}

/// The built-in kinds, core group first.
pub fn types() -> Vec<ResourceType> {
    let cluster = Flags {
        namespaced: false,
        ..NS
    };
    let mut all = vec![
        line(
            "",
            "namespaces",
            "Namespace",
            &["ns"],
            Flags {
                status: true,
                name_rule: NameRule::Label,
                ..cluster
            },
            typed::<core::v1::Namespace>,
        ),
        line(
            "",
            "serviceaccounts",
            "ServiceAccount",
            &["sa"],
            NS,
            typed::<core::v1::ServiceAccount>,
        ),
        line("", "secrets", "Secret", &[], NS, typed::<core::v1::Secret>),
        line(
            "",
            "configmaps",
            "ConfigMap",
            &["cm"],
            NS,
            typed::<core::v1::ConfigMap>,
        ),
        line(
            "",
            "services",
            "Service",
            &["svc"],
            Flags {
                status: true,
                name_rule: NameRule::Label1035,
                ..NS
            },
            typed::<core::v1::Service>,
        ),
        line("", "events", "Event", &["ev"], NS, typed::<core::v1::Event>),
        line(
            "",
            "pods",
            "Pod",
            &["po"],
            Flags { status: true, ..NS },
            typed::<core::v1::Pod>,
        ),
        ResourceType {
            conversion: Some(Conversion {
                storage_key: "/events",
                to_storage: event_to_core,
                from_storage: event_from_core,
            }),
            ..line(
                "events.k8s.io",
                "events",
                "Event",
                &["ev"],
                NS,
                typed::<events::v1::Event>,
            )
        },
        line(
            "apps",
            "deployments",
            "Deployment",
            &["deploy"],
            NS_STATUS_GEN,
            typed::<apps::v1::Deployment>,
        ),
        line(
            "networking.k8s.io",
            "networkpolicies",
            "NetworkPolicy",
            &["netpol"],
            Flags {
                generation: true,
                ..NS
            },
            typed::<networking::v1::NetworkPolicy>,
        ),
        line(
            "networking.k8s.io",
            "ingresses",
            "Ingress",
            &["ing"],
            NS_STATUS_GEN,
            typed::<networking::v1::Ingress>,
        ),
        line(
            "policy",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            &["pdb"],
            NS_STATUS_GEN,
            typed::<policy::v1::PodDisruptionBudget>,
        ),
        line(
            "coordination.k8s.io",
            "leases",
            "Lease",
            &[],
            NS,
            typed::<coordination::v1::Lease>,
        ),
        line(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            &["crd", "crds"],
            Flags {
                status: true,
                generation: true,
                ..cluster
            },
            typed::<CustomResourceDefinition>,
        ),
    ];
    let rbac_flags = Flags {
        name_rule: NameRule::PathSegment,
        ..NS
    };
    let rbac_cluster = Flags {
        namespaced: false,
        ..rbac_flags
    };
    let g = "rbac.authorization.k8s.io";
    all.extend([
        line(
            g,
            "clusterroles",
            "ClusterRole",
            &[],
            rbac_cluster,
            typed::<rbac::v1::ClusterRole>,
        ),
        line(
            g,
            "clusterrolebindings",
            "ClusterRoleBinding",
            &[],
            rbac_cluster,
            typed::<rbac::v1::ClusterRoleBinding>,
        ),
        line(g, "roles", "Role", &[], rbac_flags, typed::<rbac::v1::Role>),
        line(
            g,
            "rolebindings",
            "RoleBinding",
            &[],
            rbac_flags,
            typed::<rbac::v1::RoleBinding>,
        ),
    ]);
    for t in &mut all {
        if matches!(t.plural.as_str(), "deployments" | "services" | "pods") {
            t.categories.push("all".to_string());
        }
    }
    all
}
