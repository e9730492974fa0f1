//! The one table of the kinds a RustyMail's children can be, and the small
//! table of the kinds a spec refers to that the operator only reads.
//!
//! Everything that depends on "which kinds exist" reads these tables: the
//! controller's watches, the prune of children that stop being desired, and
//! the generated RBAC (`rustymail-operator rbac`). [`Kind::ALL`] lists every
//! variant and [`Kind::info`] is an exhaustive match, so a new kind cannot
//! be added without saying how it is watched, pruned and authorized; the
//! same holds for [`Referenced`].
//!
//! Depends on no other module of this crate.

use kube::core::{ApiResource, GroupVersionKind};

/// An API that is not part of every cluster, and the children that need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OptionalApi {
    /// cert-manager (`cert-manager.io`).
    CertManager,
    /// The Prometheus Operator (`monitoring.coreos.com`).
    Monitoring,
}

impl OptionalApi {
    /// The API group whose presence discovery looks for.
    pub fn group(self) -> &'static str {
        match self {
            Self::CertManager => "cert-manager.io",
            Self::Monitoring => "monitoring.coreos.com",
        }
    }
}

/// A kind of child object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The pods' ServiceAccount.
    ServiceAccount,
    /// The credentials Secret and the operator-issued TLS Secret.
    Secret,
    /// The data plane's config file.
    ConfigMap,
    /// The data plane pods.
    Deployment,
    /// The API and metrics Service.
    Service,
    /// Network isolation.
    NetworkPolicy,
    /// Disruption budget (replicas > 1).
    PodDisruptionBudget,
    /// The Ingress (`spec.ingress`).
    Ingress,
    /// cert-manager's Certificate (`spec.tls.issuerRef`).
    Certificate,
    /// The Prometheus Operator's ServiceMonitor.
    ServiceMonitor,
    /// The Prometheus Operator's PrometheusRule.
    PrometheusRule,
}

/// What the operator does with children of a kind.
pub const CHILD_VERBS: &[&str] = &["list", "watch", "create", "patch", "delete"];

/// How a kind is addressed and which of its objects a RustyMail `<name>` may own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindInfo {
    /// API group, empty for core.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// `kind`.
    pub kind: &'static str,
    /// Plural resource name (the URL segment, and the RBAC resource).
    pub plural: &'static str,
    /// The optional API it needs, if any.
    pub needs: Option<OptionalApi>,
    /// Suffixes appended to the RustyMail's name to name its children of
    /// this kind (`""` for `<name>` itself): every name prune looks at.
    pub name_suffixes: &'static [&'static str],
}

impl Kind {
    /// Every kind, in the order children are applied.
    pub const ALL: [Kind; 11] = [
        Kind::ServiceAccount,
        Kind::Secret,
        Kind::Certificate,
        Kind::ConfigMap,
        Kind::Deployment,
        Kind::Service,
        Kind::NetworkPolicy,
        Kind::PodDisruptionBudget,
        Kind::Ingress,
        Kind::ServiceMonitor,
        Kind::PrometheusRule,
    ];

    /// The table row of this kind.
    pub const fn info(self) -> KindInfo {
        const fn row(
            group: &'static str,
            kind: &'static str,
            plural: &'static str,
            needs: Option<OptionalApi>,
            name_suffixes: &'static [&'static str],
        ) -> KindInfo {
            KindInfo {
                group,
                version: "v1",
                kind,
                plural,
                needs,
                name_suffixes,
            }
        }
        const OWN_NAME: &[&str] = &[""];
        match self {
            Self::ServiceAccount => row("", "ServiceAccount", "serviceaccounts", None, OWN_NAME),
            Self::Secret => row("", "Secret", "secrets", None, &["-credentials", "-tls"]),
            Self::ConfigMap => row("", "ConfigMap", "configmaps", None, &["-config"]),
            Self::Deployment => row("apps", "Deployment", "deployments", None, OWN_NAME),
            Self::Service => row("", "Service", "services", None, OWN_NAME),
            Self::NetworkPolicy => row(
                "networking.k8s.io",
                "NetworkPolicy",
                "networkpolicies",
                None,
                OWN_NAME,
            ),
            Self::PodDisruptionBudget => row(
                "policy",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
                None,
                OWN_NAME,
            ),
            Self::Ingress => row("networking.k8s.io", "Ingress", "ingresses", None, OWN_NAME),
            Self::Certificate => row(
                "cert-manager.io",
                "Certificate",
                "certificates",
                Some(OptionalApi::CertManager),
                &["-tls"],
            ),
            Self::ServiceMonitor => row(
                "monitoring.coreos.com",
                "ServiceMonitor",
                "servicemonitors",
                Some(OptionalApi::Monitoring),
                OWN_NAME,
            ),
            Self::PrometheusRule => row(
                "monitoring.coreos.com",
                "PrometheusRule",
                "prometheusrules",
                Some(OptionalApi::Monitoring),
                OWN_NAME,
            ),
        }
    }

    /// The `ApiResource` for dynamic clients.
    pub fn resource(self) -> ApiResource {
        let info = self.info();
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(info.group, info.version, info.kind),
            info.plural,
        )
    }

    /// The kind whose `kind` field is `kind`, if it is a child kind.
    pub fn from_kind(kind: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| k.info().kind == kind)
    }
}

/// What the operator does with the objects a spec refers to: it watches them.
pub const REFERENCED_VERBS: &[&str] = &["list", "watch"];

/// A kind the operator watches because a spec refers to its objects, never
/// owning or writing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Referenced {
    /// cert-manager's namespaced Issuer (`spec.tls.issuerRef`).
    Issuer,
    /// cert-manager's ClusterIssuer (`spec.tls.issuerRef`).
    ClusterIssuer,
}

/// How a referenced kind is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferencedInfo {
    /// API group.
    pub group: &'static str,
    /// API version within the group.
    pub version: &'static str,
    /// `kind`.
    pub kind: &'static str,
    /// Plural resource name (the URL segment, and the RBAC resource).
    pub plural: &'static str,
    /// Namespaced (`true`) or cluster-scoped.
    pub namespaced: bool,
    /// The optional API it belongs to.
    pub needs: OptionalApi,
}

impl Referenced {
    /// Every referenced kind.
    pub const ALL: [Referenced; 2] = [Referenced::Issuer, Referenced::ClusterIssuer];

    /// The table row of this kind.
    pub const fn info(self) -> ReferencedInfo {
        let (kind, plural, namespaced) = match self {
            Self::Issuer => ("Issuer", "issuers", true),
            Self::ClusterIssuer => ("ClusterIssuer", "clusterissuers", false),
        };
        ReferencedInfo {
            group: "cert-manager.io",
            version: "v1",
            kind,
            plural,
            namespaced,
            needs: OptionalApi::CertManager,
        }
    }

    /// The `ApiResource` for dynamic clients.
    pub fn resource(self) -> ApiResource {
        let info = self.info();
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(info.group, info.version, info.kind),
            info.plural,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use kube::Resource;

    use super::*;

    #[test]
    fn every_kind_is_listed_once_with_its_builtin_type_coordinates() {
        let unique: BTreeSet<Kind> = Kind::ALL.into_iter().collect();
        assert_eq!(unique.len(), Kind::ALL.len());
        fn same<K: Resource<DynamicType = ()>>(kind: Kind) {
            let info = kind.info();
            assert_eq!(
                (info.group, info.version, info.kind, info.plural),
                (
                    K::group(&()).as_ref(),
                    K::version(&()).as_ref(),
                    K::kind(&()).as_ref(),
                    K::plural(&()).as_ref()
                )
            );
        }
        use k8s_openapi::api::{
            apps::v1::Deployment,
            core::v1::{ConfigMap, Secret, Service, ServiceAccount},
            networking::v1::{Ingress, NetworkPolicy},
            policy::v1::PodDisruptionBudget,
        };
        same::<ServiceAccount>(Kind::ServiceAccount);
        same::<Secret>(Kind::Secret);
        same::<ConfigMap>(Kind::ConfigMap);
        same::<Deployment>(Kind::Deployment);
        same::<Service>(Kind::Service);
        same::<NetworkPolicy>(Kind::NetworkPolicy);
        same::<PodDisruptionBudget>(Kind::PodDisruptionBudget);
        same::<Ingress>(Kind::Ingress);
    }

    #[test]
    fn custom_kinds_need_their_optional_api() {
        for kind in Kind::ALL {
            let info = kind.info();
            let builtin = ["", "apps", "policy", "networking.k8s.io"].contains(&info.group);
            assert_eq!(info.needs.is_none(), builtin, "{kind:?}");
            if let Some(api) = info.needs {
                assert_eq!(api.group(), info.group);
            }
            assert_eq!(Kind::from_kind(info.kind), Some(kind));
        }
        for referenced in Referenced::ALL {
            let info = referenced.info();
            assert_eq!(info.needs.group(), info.group);
        }
    }
}
