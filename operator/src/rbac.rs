//! The operator's RBAC, generated from the table of child kinds
//! ([`crate::kinds`]) and what the operator needs for itself: RustyMails and
//! their status, Events, the Secrets a spec refers to (read through the
//! Secret watch the children already need), cert-manager issuers, the
//! leader Lease and the discovery of optional APIs.
//!
//! `rustymail-operator rbac` prints it; `deploy/rbac.yaml` is its default
//! output, kept in sync by a test. The rules name no ServiceAccount: bind
//! them to whichever account the operator runs as.
//!
//! ```text
//!  all namespaces:  ClusterRole <name>            (children, RustyMails, Events, issuers, discovery)
//!  --namespaces:    Role <name> in each namespace (children, RustyMails, Events, Issuers)
//!                   ClusterRole <name>            (ClusterIssuers, discovery)
//!  always:          Role <name>-lease             (the Lease, in --lease-namespace)
//! ```
//!
//! May depend on, in this crate: `crd`, `kinds`, `lease`, `namespaces`,
//! `render`.

use std::collections::BTreeMap;

use clap::Args;
use k8s_openapi::{
    api::rbac::v1::{ClusterRole, PolicyRule, Role},
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};

use crate::{
    crd::RustyMail,
    kinds::{CHILD_VERBS, Kind, REFERENCED_VERBS, Referenced},
    lease::DEFAULT_LEASE_NAME,
    namespaces::{NamespaceError, NamespaceScope},
    render::FIELD_MANAGER,
};

/// Arguments of `rustymail-operator rbac`.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct RbacArgs {
    /// Namespaces the operator will watch (its `--namespaces`), comma-separated:
    /// Roles in each instead of a cluster-wide ClusterRole. Default: all.
    #[arg(long = "namespaces", value_delimiter = ',', value_name = "NS[,NS…]")]
    pub namespaces: Vec<String>,
    /// Namespace of the leader Lease (its `--lease-namespace`). Default: none
    /// written, so `kubectl apply -n` places the Lease Role.
    #[arg(long = "lease-namespace")]
    pub lease_namespace: Option<String>,
    /// Name of the leader Lease (its `--lease-name`).
    #[arg(long = "lease-name", default_value = DEFAULT_LEASE_NAME)]
    pub lease_name: String,
    /// Name of the generated ClusterRole and Roles.
    #[arg(long = "name", default_value = FIELD_MANAGER)]
    pub name: String,
}

impl Default for RbacArgs {
    fn default() -> Self {
        Self {
            namespaces: Vec::new(),
            lease_namespace: None,
            lease_name: DEFAULT_LEASE_NAME.to_owned(),
            name: FIELD_MANAGER.to_owned(),
        }
    }
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
        ..PolicyRule::default()
    }
}

/// Rules on the children, one per API group, from the kind table.
fn child_rules() -> Vec<PolicyRule> {
    let mut by_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for kind in Kind::ALL {
        let info = kind.info();
        by_group.entry(info.group).or_default().push(info.plural);
    }
    by_group
        .into_iter()
        .map(|(group, resources)| rule(group, &resources, CHILD_VERBS))
        .collect()
}

/// Rules on the referenced kinds that are namespaced (`true`) or not.
fn referenced_rules(namespaced: bool) -> Vec<PolicyRule> {
    Referenced::ALL
        .into_iter()
        .map(Referenced::info)
        .filter(|info| info.namespaced == namespaced)
        .map(|info| rule(info.group, &[info.plural], REFERENCED_VERBS))
        .collect()
}

/// Rules every namespace the operator watches needs.
fn namespaced_rules() -> Vec<PolicyRule> {
    let group = <RustyMail as kube::Resource>::group(&());
    let plural = <RustyMail as kube::Resource>::plural(&());
    let mut rules = child_rules();
    rules.push(rule(&group, &[&plural], &["list", "watch"]));
    rules.push(rule(&group, &[&format!("{plural}/status")], &["patch"]));
    rules.push(rule("events.k8s.io", &["events"], &["create", "patch"]));
    rules.extend(referenced_rules(true));
    rules
}

/// Rules only a ClusterRole can hold.
fn cluster_rules() -> Vec<PolicyRule> {
    let mut rules = referenced_rules(false);
    rules.push(PolicyRule {
        non_resource_urls: Some(vec!["/apis".to_owned()]),
        verbs: vec!["get".to_owned()],
        ..PolicyRule::default()
    });
    rules
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/name".to_owned(),
            FIELD_MANAGER.to_owned(),
        )])),
        ..ObjectMeta::default()
    }
}

/// The generated roles.
#[derive(Debug, Clone, PartialEq)]
pub struct Rbac {
    /// The ClusterRole.
    pub cluster_role: ClusterRole,
    /// Roles: one per watched namespace in namespaced mode, and the Lease's.
    pub roles: Vec<Role>,
}

/// Generates the roles for `args`.
pub fn generate(args: &RbacArgs) -> Result<Rbac, NamespaceError> {
    let scope = NamespaceScope::parse(args.namespaces.iter().map(String::as_str))?;
    let mut cluster = cluster_rules();
    let mut roles = Vec::new();
    match scope {
        NamespaceScope::All => {
            let mut rules = namespaced_rules();
            rules.append(&mut cluster);
            cluster = rules;
        }
        NamespaceScope::Only(namespaces) => {
            for ns in namespaces {
                roles.push(Role {
                    metadata: meta(&args.name, Some(&ns)),
                    rules: Some(namespaced_rules()),
                });
            }
        }
    }
    let lease = |verbs: &[&str], named: bool| PolicyRule {
        resource_names: named.then(|| vec![args.lease_name.clone()]),
        ..rule("coordination.k8s.io", &["leases"], verbs)
    };
    roles.push(Role {
        metadata: meta(
            &format!("{}-lease", args.name),
            args.lease_namespace.as_deref(),
        ),
        rules: Some(vec![
            lease(&["get", "update"], true),
            // `create` cannot be limited to a name: the object does not exist yet.
            lease(&["create"], false),
        ]),
    });
    Ok(Rbac {
        cluster_role: ClusterRole {
            metadata: meta(&args.name, None),
            rules: Some(cluster),
            aggregation_rule: None,
        },
        roles,
    })
}

/// The roles as multi-document YAML, as `rustymail-operator rbac` prints them.
pub fn rbac_yaml(args: &RbacArgs) -> Result<String, NamespaceError> {
    let rbac = generate(args)?;
    let mut out = String::from("# Generated by `rustymail-operator rbac`; do not edit.\n");
    let mut docs = vec![serde_saphyr::to_string(&rbac.cluster_role)];
    docs.extend(rbac.roles.iter().map(serde_saphyr::to_string));
    for doc in docs {
        out.push_str("---\n");
        // Serializing in-memory Kubernetes types to YAML cannot fail.
        out.push_str(&doc.unwrap_or_default());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(rules: &[PolicyRule], group: &str, resource: &str, verb: &str) -> bool {
        rules.iter().any(|r| {
            r.api_groups.iter().flatten().any(|g| g == group)
                && r.resources.iter().flatten().any(|x| x == resource)
                && r.verbs.iter().any(|v| v == verb)
        })
    }

    #[test]
    fn every_child_kind_may_be_watched_applied_and_pruned_cluster_wide() {
        let rbac = generate(&RbacArgs::default()).unwrap_or_else(|e| panic!("{e}"));
        let rules = rbac.cluster_role.rules.unwrap_or_default();
        for kind in Kind::ALL {
            let info = kind.info();
            for verb in ["list", "watch", "patch", "delete"] {
                assert!(
                    grants(&rules, info.group, info.plural, verb),
                    "{verb} {}",
                    info.plural
                );
            }
        }
        assert!(grants(&rules, "rustymail.io", "rustymails/status", "patch"));
        assert!(grants(&rules, "events.k8s.io", "events", "create"));
        assert!(
            !grants(&rules, "", "secrets", "update"),
            "Secrets are applied, never replaced"
        );
        assert_eq!(rbac.roles.len(), 1, "only the Lease Role");
    }

    #[test]
    fn namespaced_mode_grants_children_only_in_the_listed_namespaces() {
        let args = RbacArgs {
            namespaces: vec!["team-a".into(), "team-b".into()],
            lease_namespace: Some("ops".into()),
            ..RbacArgs::default()
        };
        let rbac = generate(&args).unwrap_or_else(|e| panic!("{e}"));
        let cluster = rbac.cluster_role.rules.unwrap_or_default();
        assert!(!grants(&cluster, "apps", "deployments", "patch"));
        for verb in ["list", "watch"] {
            assert!(grants(&cluster, "cert-manager.io", "clusterissuers", verb));
        }
        let namespaces: Vec<_> = rbac
            .roles
            .iter()
            .map(|r| {
                (
                    r.metadata.name.clone().unwrap_or_default(),
                    r.metadata.namespace.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            namespaces,
            [
                ("rustymail-operator".into(), "team-a".into()),
                ("rustymail-operator".into(), "team-b".into()),
                ("rustymail-operator-lease".into(), "ops".into()),
            ]
        );
        let team_a = rbac.roles[0].rules.clone().unwrap_or_default();
        assert!(grants(&team_a, "apps", "deployments", "patch"));
        for verb in ["list", "watch"] {
            assert!(grants(&team_a, "cert-manager.io", "issuers", verb));
        }
        let lease = rbac.roles[2].rules.clone().unwrap_or_default();
        assert!(grants(&lease, "coordination.k8s.io", "leases", "update"));
    }

    #[test]
    fn committed_manifest_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/rbac.yaml");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == rbac_yaml(&RbacArgs::default()).unwrap_or_default(),
            "deploy/rbac.yaml is stale: run `cargo run -p rustymail-operator -- rbac > deploy/rbac.yaml`"
        );
    }
}
