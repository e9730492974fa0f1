//! RBAC enforcement: a set of `PolicyRule`s (from ClusterRole and Role YAML,
//! e.g. a Helm chart's output) that requests of the restricted user must
//! match, with the verbs and resource names of the real authorizer.

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde::Deserialize;
use serde_json::Value;

/// What a request asks to do, as the authorizer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`.
    pub verb: String,
    /// API group, empty for core.
    pub group: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource, e.g. `status`, or empty.
    pub subresource: String,
    /// Namespace of the request, empty for cluster scope.
    pub namespace: String,
    /// Object name, empty for collections and creates.
    pub name: String,
}

/// Rules granted cluster-wide and per namespace.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    cluster: Vec<PolicyRule>,
    namespaced: Vec<(String, PolicyRule)>,
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

fn rule_allows(r: &PolicyRule, a: &Attributes) -> bool {
    let groups = r.api_groups.as_deref().unwrap_or_default();
    let resources = r.resources.as_deref().unwrap_or_default();
    let names = r.resource_names.as_deref().unwrap_or_default();
    let resource_ok = if a.subresource.is_empty() {
        has(resources, &a.resource)
    } else {
        let full = format!("{}/{}", a.resource, a.subresource);
        resources.iter().any(|x| {
            *x == "*"
                || *x == full
                || *x == format!("*/{}", a.subresource)
                || *x == format!("{}/*", a.resource)
        })
    };
    has(&r.verbs, &a.verb)
        && has(groups, &a.group)
        && resource_ok
        && (names.is_empty() || (!a.name.is_empty() && names.contains(&a.name)))
}

impl Policy {
    /// A policy from rules granted in every namespace.
    pub fn cluster(rules: Vec<PolicyRule>) -> Self {
        Self {
            cluster: rules,
            namespaced: Vec::new(),
        }
    }

    /// Grants rules in one namespace (as a RoleBinding of a Role would).
    pub fn grant_in(mut self, namespace: &str, rules: Vec<PolicyRule>) -> Self {
        self.namespaced
            .extend(rules.into_iter().map(|r| (namespace.to_string(), r)));
        self
    }

    /// Reads the rules of every ClusterRole (cluster-wide) and Role (in its
    /// namespace) of a multi-document YAML stream; other kinds are skipped.
    pub fn from_yaml(yaml: &str) -> Result<Self, String> {
        let mut policy = Self::default();
        for doc in serde_saphyr::from_multiple::<Value>(yaml).map_err(|e| e.to_string())? {
            let rules = || -> Result<Vec<PolicyRule>, String> {
                Vec::<PolicyRule>::deserialize(doc["rules"].clone()).map_err(|e| e.to_string())
            };
            match doc["kind"].as_str() {
                Some("ClusterRole") if !doc["rules"].is_null() => policy.cluster.extend(rules()?),
                Some("Role") if !doc["rules"].is_null() => {
                    let ns = doc["metadata"]["namespace"]
                        .as_str()
                        .unwrap_or("default")
                        .to_string();
                    policy
                        .namespaced
                        .extend(rules()?.into_iter().map(|r| (ns.clone(), r)));
                }
                _ => {}
            }
        }
        Ok(policy)
    }

    /// Whether the rules allow a request.
    pub fn allows(&self, a: &Attributes) -> bool {
        self.cluster.iter().any(|r| rule_allows(r, a))
            || self
                .namespaced
                .iter()
                .any(|(ns, r)| !a.namespace.is_empty() && *ns == a.namespace && rule_allows(r, a))
    }

    /// The message of the real server's 403.
    pub fn denial(a: &Attributes, user: &str) -> String {
        let qualified = if a.group.is_empty() {
            a.resource.clone()
        } else {
            format!("{}.{}", a.resource, a.group)
        };
        let subject = if a.name.is_empty() {
            qualified.clone()
        } else {
            format!("{qualified} \"{}\"", a.name)
        };
        let resource = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let scope = if a.namespace.is_empty() {
            "at the cluster scope".to_string()
        } else {
            format!("in the namespace \"{}\"", a.namespace)
        };
        format!(
            "{subject} is forbidden: User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            a.verb, a.group
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            group: "rustymail.io".into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: "default".into(),
            name: name.into(),
        }
    }

    #[test]
    fn subresources_and_resource_names_need_their_own_grant() {
        let policy = Policy::from_yaml(
            "kind: ClusterRole\nrules:\n- apiGroups: [rustymail.io]\n  resources: [rustymails]\n  verbs: [get, list, watch]\n---\nkind: Role\nmetadata: {namespace: default}\nrules:\n- apiGroups: [rustymail.io]\n  resources: [rustymails/status]\n  resourceNames: [a]\n  verbs: [patch]\n",
        )
        .unwrap();
        assert!(policy.allows(&attrs("list", "rustymails", "", "")));
        assert!(!policy.allows(&attrs("patch", "rustymails", "", "a")));
        assert!(policy.allows(&attrs("patch", "rustymails", "status", "a")));
        assert!(!policy.allows(&attrs("patch", "rustymails", "status", "b")));
    }
}
