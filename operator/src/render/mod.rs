//! Pure rendering: from a RustyMail and what the reconciler observed to the
//! exact set of child objects it should have.
//!
//! ```text
//!   RustyMail ──┐
//!   Observed ───┴─> render() ─> [ServiceAccount, Secret, Certificate|Secret,
//!                                ConfigMap, Deployment, Service, NetworkPolicy,
//!                                PodDisruptionBudget, Ingress, ServiceMonitor,
//!                                PrometheusRule]
//! ```
//!
//! Nothing here touches the network, the clock or a random source: whatever
//! is random (credentials, self-signed keys) is generated beside the renderer
//! and passed in through [`Observed`], so the same input renders the same
//! objects, byte for byte.
//!
//! May depend on, in this crate: `crd`, `kinds`.

mod availability;
mod config;
pub mod credentials;
mod deployment;
#[cfg(test)]
pub(crate) mod fixtures;
mod ingress;
pub mod meta;
pub mod monitoring;
pub mod mounts;
pub mod network_policy;
pub mod quantity;
mod service;
pub mod tls;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{
    ByteString,
    api::{
        apps::v1::Deployment,
        core::v1::{ConfigMap, Secret, Service, ServiceAccount},
        networking::v1::{Ingress, NetworkPolicy},
        policy::v1::PodDisruptionBudget,
    },
};
use kube::core::DynamicObject;

pub use config::data_plane_config;
pub use credentials::Credentials;
pub use deployment::{CONFIG_CHECKSUM, CREDENTIALS_CHECKSUM};
pub use meta::{FIELD_MANAGER, INSTANCE_LABEL, Owner};
pub use service::{API_PORT, METRICS_PORT};
pub use tls::{TlsMaterial, TlsPlan};

use crate::{
    crd::{CertificateSource, RustyMail},
    kinds::Kind,
};

/// Why a RustyMail cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The resource has no `metadata.name`.
    #[error("metadata.name is required")]
    MissingName,
    /// The resource has no `metadata.namespace`.
    #[error("metadata.namespace is required")]
    MissingNamespace,
    /// A field has a value the data plane cannot use.
    #[error("{field}: {message}")]
    Invalid {
        /// Path of the field, e.g. `spec.rateLimits.perIp`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The serving certificate could not be issued or read.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The operator-managed certificate was not supplied to the renderer.
    #[error("no self-signed certificate material was supplied for {0}")]
    MissingTlsMaterial(String),
}

impl RenderError {
    /// An invalid-field error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The credentials the pods mount.
#[derive(Debug, Clone)]
pub enum CredentialsInput {
    /// Operator-generated: written to `<name>-credentials`.
    Generated(Credentials),
    /// The user's `auth.existingSecret`, never written; its data only feeds the
    /// checksum that rolls the pods when the user rotates it.
    Existing(BTreeMap<String, ByteString>),
}

/// What the reconciler observed in the cluster, or generated, for one RustyMail.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The cert-manager.io API exists.
    pub cert_manager: bool,
    /// The monitoring.coreos.com API exists.
    pub monitoring: bool,
    /// `tls.issuerRef` names an ACME issuer (Let's Encrypt): the Certificate
    /// asks for `tls.dnsNames` only.
    pub acme_issuer: bool,
    /// The credentials to mount.
    pub credentials: CredentialsInput,
    /// The operator-issued certificate, when the RustyMail uses one.
    pub self_signed: Option<TlsMaterial>,
}

/// One object the operator applies, or observes as a child.
// A handful are built per reconcile; boxing would only add indirection.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Child {
    /// The pods' ServiceAccount.
    ServiceAccount(ServiceAccount),
    /// The credentials or the self-signed TLS Secret.
    Secret(Secret),
    /// The data plane config.
    ConfigMap(ConfigMap),
    /// The data plane pods.
    Deployment(Deployment),
    /// The API and metrics Service.
    Service(Service),
    /// Network isolation.
    NetworkPolicy(NetworkPolicy),
    /// Disruption budget.
    PodDisruptionBudget(PodDisruptionBudget),
    /// The Ingress.
    Ingress(Ingress),
    /// cert-manager's Certificate.
    Certificate(DynamicObject),
    /// The Prometheus Operator's ServiceMonitor.
    ServiceMonitor(DynamicObject),
    /// The Prometheus Operator's PrometheusRule.
    PrometheusRule(DynamicObject),
}

impl Child {
    /// Its kind, a row of the kind table.
    pub fn kind(&self) -> Kind {
        match self {
            Self::ServiceAccount(_) => Kind::ServiceAccount,
            Self::Secret(_) => Kind::Secret,
            Self::ConfigMap(_) => Kind::ConfigMap,
            Self::Deployment(_) => Kind::Deployment,
            Self::Service(_) => Kind::Service,
            Self::NetworkPolicy(_) => Kind::NetworkPolicy,
            Self::PodDisruptionBudget(_) => Kind::PodDisruptionBudget,
            Self::Ingress(_) => Kind::Ingress,
            Self::Certificate(_) => Kind::Certificate,
            Self::ServiceMonitor(_) => Kind::ServiceMonitor,
            Self::PrometheusRule(_) => Kind::PrometheusRule,
        }
    }

    /// Its metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Self::ServiceAccount(o) => &o.metadata,
            Self::Secret(o) => &o.metadata,
            Self::ConfigMap(o) => &o.metadata,
            Self::Deployment(o) => &o.metadata,
            Self::Service(o) => &o.metadata,
            Self::NetworkPolicy(o) => &o.metadata,
            Self::PodDisruptionBudget(o) => &o.metadata,
            Self::Ingress(o) => &o.metadata,
            Self::Certificate(o) | Self::ServiceMonitor(o) | Self::PrometheusRule(o) => &o.metadata,
        }
    }

    /// Its `metadata.name` (rendered children always have one).
    pub fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// Kind and name: what identifies it among one RustyMail's children.
    pub fn key(&self) -> ChildKey {
        ChildKey {
            kind: self.kind(),
            name: self.name().to_owned(),
        }
    }

    /// The object as JSON, with `apiVersion` and `kind`.
    pub fn to_value(&self) -> serde_json::Value {
        let value = match self {
            Self::ServiceAccount(o) => serde_json::to_value(o),
            Self::Secret(o) => serde_json::to_value(o),
            Self::ConfigMap(o) => serde_json::to_value(o),
            Self::Deployment(o) => serde_json::to_value(o),
            Self::Service(o) => serde_json::to_value(o),
            Self::NetworkPolicy(o) => serde_json::to_value(o),
            Self::PodDisruptionBudget(o) => serde_json::to_value(o),
            Self::Ingress(o) => serde_json::to_value(o),
            Self::Certificate(o) | Self::ServiceMonitor(o) | Self::PrometheusRule(o) => {
                serde_json::to_value(o)
            }
        };
        // Serializing in-memory Kubernetes types to JSON cannot fail.
        value.unwrap_or_default()
    }

    /// A child of `kind` from its JSON (e.g. what the API server returned).
    pub fn from_value(kind: Kind, value: serde_json::Value) -> Result<Self, serde_json::Error> {
        use serde_json::from_value as from;
        Ok(match kind {
            Kind::ServiceAccount => Self::ServiceAccount(from(value)?),
            Kind::Secret => Self::Secret(from(value)?),
            Kind::ConfigMap => Self::ConfigMap(from(value)?),
            Kind::Deployment => Self::Deployment(from(value)?),
            Kind::Service => Self::Service(from(value)?),
            Kind::NetworkPolicy => Self::NetworkPolicy(from(value)?),
            Kind::PodDisruptionBudget => Self::PodDisruptionBudget(from(value)?),
            Kind::Ingress => Self::Ingress(from(value)?),
            Kind::Certificate => Self::Certificate(from(value)?),
            Kind::ServiceMonitor => Self::ServiceMonitor(from(value)?),
            Kind::PrometheusRule => Self::PrometheusRule(from(value)?),
        })
    }
}

/// Kind and name of a child; the namespace is its RustyMail's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChildKey {
    /// The kind.
    pub kind: Kind,
    /// `metadata.name`.
    pub name: String,
}

impl std::fmt::Display for ChildKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.info().kind, self.name)
    }
}

/// Renders every child `rm` should have, in apply order.
pub fn render(rm: &RustyMail, observed: &Observed) -> Result<Vec<Child>, RenderError> {
    let owner = Owner::of(rm)?;
    let spec = &rm.spec;
    let api_keys_key = match &observed.credentials {
        CredentialsInput::Generated(_) => mounts::API_KEYS_KEY,
        CredentialsInput::Existing(data) => credentials::api_keys_key(data),
    };
    let mut config = data_plane_config(spec, api_keys_key)?;
    config.mcp = config::mcp(&owner, spec);
    let plan = TlsPlan::of(&owner, spec);

    let mut children = vec![Child::ServiceAccount(service::service_account(&owner))];

    let (credentials_secret, credentials_checksum) = match &observed.credentials {
        CredentialsInput::Generated(creds) => {
            let secret = credentials::secret(&owner, creds);
            let sum = creds.checksum();
            let name = owner.child_name("-credentials");
            children.push(Child::Secret(secret));
            (name, sum)
        }
        CredentialsInput::Existing(data) => {
            let name = spec
                .auth
                .existing_secret
                .clone()
                .unwrap_or_else(|| owner.child_name("-credentials"));
            (name, checksum_of(Some(data)))
        }
    };

    match plan.source {
        CertificateSource::CertManager => {
            if observed.cert_manager
                && let Some(cert) = tls::certificate(&owner, spec, &plan, observed.acme_issuer)
            {
                children.push(Child::Certificate(cert));
            }
        }
        CertificateSource::SelfSigned => {
            let material = observed
                .self_signed
                .as_ref()
                .ok_or_else(|| RenderError::MissingTlsMaterial(plan.secret_name.clone()))?;
            children.push(Child::Secret(tls::self_signed_secret(
                &owner, &plan, material,
            )));
        }
        CertificateSource::User => {}
    }

    let config_map = config::config_map(&owner, &config);
    let config_checksum = checksum_of_strings(config_map.data.as_ref());
    children.push(Child::ConfigMap(config_map));

    let inputs = deployment::DeploymentInputs {
        tls_secret: &plan.secret_name,
        credentials_secret: &credentials_secret,
        config_checksum,
        credentials_checksum,
        limits: &config.limits,
    };
    children.push(Child::Deployment(deployment::deployment(
        &owner, spec, &inputs,
    )));
    children.push(Child::Service(service::service(&owner)));
    children.extend(network_policy::network_policy(&owner, spec).map(Child::NetworkPolicy));
    children
        .extend(availability::pod_disruption_budget(&owner, spec).map(Child::PodDisruptionBudget));
    children.extend(ingress::ingress(&owner, spec).map(Child::Ingress));
    children.extend(
        monitoring::service_monitor(&owner, spec, observed.monitoring).map(Child::ServiceMonitor),
    );
    children.extend(
        monitoring::prometheus_rule(&owner, spec, observed.monitoring).map(Child::PrometheusRule),
    );
    Ok(children)
}

fn checksum_of(data: Option<&BTreeMap<String, ByteString>>) -> String {
    credentials::checksum(
        data.into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.0.as_slice())),
    )
}

fn checksum_of_strings(data: Option<&BTreeMap<String, String>>) -> String {
    credentials::checksum(
        data.into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_bytes())),
    )
}
#[cfg(test)]
mod access_tests;
#[cfg(test)]
mod tests;
