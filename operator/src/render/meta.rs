//! Names, labels and owner references shared by every child of a RustyMail.
//!
//! Children carry the selector label `rustymail.io/instance=<name>` and the
//! `app.kubernetes.io` labels below, and never `app.kubernetes.io/instance`
//! nor a label copied from the RustyMail: Argo CD tracks resources by
//! `app.kubernetes.io/instance` and would prune children carrying it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use sha2::{Digest, Sha256};

use super::RenderError;
use crate::crd::RustyMail;

/// The label every child and pod carries, naming its RustyMail: the selector.
pub const INSTANCE_LABEL: &str = "rustymail.io/instance";
/// Name of the field manager the operator applies with.
pub const FIELD_MANAGER: &str = "rustymail-operator";

/// The part of the system a child belongs to (`app.kubernetes.io/component`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The data plane: Deployment, Service, ConfigMap, policies.
    Api,
    /// Certificates and credentials.
    Security,
    /// ServiceMonitor and PrometheusRule.
    Monitoring,
}

impl Component {
    fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Security => "security",
            Self::Monitoring => "monitoring",
        }
    }
}

/// The longest DNS label, e.g. a pod volume's name.
const MAX_LABEL: usize = 63;

/// `<prefix>-<name>` when that is short enough for a DNS label (a volume's
/// name); otherwise `name` cut to fit and followed by a digest of the whole
/// `name`, so that distinct names stay distinct and the result never changes.
pub fn label_name(prefix: &str, name: &str) -> String {
    let full = format!("{prefix}-{name}");
    if full.len() <= MAX_LABEL {
        return full;
    }
    let digest = hex::encode(Sha256::digest(name.as_bytes()));
    let digest = &digest[..10];
    let room = MAX_LABEL.saturating_sub(prefix.len() + digest.len() + 2);
    let head: String = name.chars().take(room).collect();
    format!("{prefix}-{}-{digest}", head.trim_end_matches('-'))
}

/// The identity of the RustyMail being rendered, checked once.
#[derive(Debug, Clone)]
pub struct Owner {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    reference: OwnerReference,
}

impl Owner {
    /// Reads name, namespace and uid; fails if the resource has no name or namespace.
    pub fn of(rm: &RustyMail) -> Result<Self, RenderError> {
        let name = rm.metadata.name.clone().ok_or(RenderError::MissingName)?;
        let namespace = rm.namespace().ok_or(RenderError::MissingNamespace)?;
        let reference = OwnerReference {
            api_version: RustyMail::api_version(&()).into_owned(),
            kind: RustyMail::kind(&()).into_owned(),
            name: name.clone(),
            uid: rm.uid().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        Ok(Self {
            name,
            namespace,
            reference,
        })
    }

    /// The selector labels: only the instance label, so they never change.
    pub fn selector(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(INSTANCE_LABEL.to_owned(), self.name.clone())])
    }

    /// Every label a child of `component` carries.
    pub fn labels(&self, component: Component) -> BTreeMap<String, String> {
        let mut labels = self.selector();
        labels.insert("app.kubernetes.io/name".to_owned(), "rustymail".to_owned());
        labels.insert(
            "app.kubernetes.io/managed-by".to_owned(),
            FIELD_MANAGER.to_owned(),
        );
        labels.insert(
            "app.kubernetes.io/component".to_owned(),
            component.as_str().to_owned(),
        );
        labels
    }

    /// Metadata of a child named `name`: namespace, labels, owner reference.
    pub fn meta(&self, name: impl Into<String>, component: Component) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels(component)),
            owner_references: Some(vec![self.reference.clone()]),
            ..ObjectMeta::default()
        }
    }

    /// Name of a child: the RustyMail's name plus `suffix` (`-tls`, `-config`, …).
    pub fn child_name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.name)
    }

    /// The in-cluster DNS names of the Service, shortest first.
    pub fn service_dns_names(&self) -> Vec<String> {
        let (name, ns) = (&self.name, &self.namespace);
        vec![
            name.clone(),
            format!("{name}.{ns}"),
            format!("{name}.{ns}.svc"),
            format!("{name}.{ns}.svc.cluster.local"),
        ]
    }
}
