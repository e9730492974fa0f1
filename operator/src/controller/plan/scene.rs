//! What a reconcile observes, for the plan's tests: a [`Scene`] built like
//! the scenario it describes, and carried out as an API server would.

use std::{collections::BTreeMap, sync::Arc};

use k8s_openapi::{
    ByteString,
    api::{
        apps::v1::DeploymentStatus,
        core::v1::{Secret, Service},
    },
    apimachinery::pkg::apis::meta::v1::ObjectMeta,
};
use rand::{SeedableRng, rngs::StdRng};
use serde_json::json;
use time::{Duration as Span, OffsetDateTime};

use super::{IssuerLookup, Observation, Plan, plan};
use crate::{
    controller::apis::Apis,
    crd::{RustyMail, RustyMailSpec},
    kinds::Kind,
    render::{Child, ChildKey, fixtures},
};

/// What a reconcile observes, built like the scenario it describes.
#[derive(Clone)]
pub(super) struct Scene {
    pub(super) rm: RustyMail,
    pub(super) apis: Apis,
    pub(super) secrets: BTreeMap<String, Secret>,
    pub(super) issuer: IssuerLookup,
    pub(super) children: BTreeMap<ChildKey, Child>,
    pub(super) now: OffsetDateTime,
    /// Seed of the random source; each executed plan draws from a new one.
    pub(super) seed: u64,
}

pub(super) fn secret(name: &str, keys: &[&str]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some("team-a".to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(
            keys.iter()
                .map(|k| ((*k).to_owned(), ByteString(b"value".to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

impl Scene {
    /// The minimal RustyMail `team-a/mail`, its account Secret present,
    /// nothing created yet.
    pub(super) fn new() -> Self {
        let mut rm = fixtures::minimal();
        rm.metadata.generation = Some(1);
        Self {
            rm,
            apis: Apis::default(),
            secrets: BTreeMap::from([(
                "support-imap".to_owned(),
                secret("support-imap", &["username", "password"]),
            )]),
            issuer: IssuerLookup::NotLookedUp,
            children: BTreeMap::new(),
            now: OffsetDateTime::UNIX_EPOCH + Span::days(20_000),
            seed: 0,
        }
    }

    pub(super) fn spec(mut self, edit: impl FnOnce(&mut RustyMailSpec)) -> Self {
        edit(&mut self.rm.spec);
        self.rm.metadata.generation = self.rm.metadata.generation.map(|g| g + 1);
        self
    }

    pub(super) fn annotated(mut self, key: &str, value: &str) -> Self {
        self.rm
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(key.to_owned(), value.to_owned());
        self
    }

    pub(super) fn with_secret(mut self, secret: Secret) -> Self {
        let name = secret.metadata.name.clone().unwrap_or_default();
        self.secrets.insert(name, secret);
        self
    }

    pub(super) fn without_secret(mut self, name: &str) -> Self {
        self.secrets.remove(name);
        self
    }

    pub(super) fn with_child(mut self, child: Child) -> Self {
        self.children.insert(child.key(), child);
        self
    }

    /// cert-manager installed, and `spec.tls.issuerRef` naming ClusterIssuer
    /// `name` with `spec` (e.g. `{"acme": …}`), Ready or not.
    pub(super) fn with_cluster_issuer(
        mut self,
        name: &str,
        spec: serde_json::Value,
        ready: bool,
    ) -> Self {
        self.apis.cert_manager = true;
        self.issuer = IssuerLookup::Found(Arc::new(issuer(name, spec, ready)));
        let reference = json!({"name": name, "kind": "ClusterIssuer"});
        self.spec(|s| s.tls.issuer_ref = serde_json::from_value(reference).ok())
    }

    /// The cert-manager Certificate `mail-tls` as applied, with `conditions`
    /// in its status.
    pub(super) fn with_certificate_conditions(self, conditions: serde_json::Value) -> Self {
        let plan = self.plan();
        let Some(Child::Certificate(mut cert)) = plan
            .apply
            .into_iter()
            .find(|c| c.kind() == Kind::Certificate)
        else {
            panic!("no Certificate planned");
        };
        cert.data["status"] = json!({"conditions": conditions});
        self.with_child(Child::Certificate(cert))
    }

    pub(super) fn later(mut self, by: Span) -> Self {
        self.now += by;
        self
    }

    pub(super) fn observation(&self) -> Observation {
        Observation {
            rm: Arc::new(self.rm.clone()),
            apis: self.apis,
            secrets: self.secrets.clone(),
            issuer: self.issuer.clone(),
            children: self.children.clone(),
            now: self.now,
        }
    }

    /// The random source of this scene's next plan.
    pub(super) fn rng(&self) -> StdRng {
        StdRng::seed_from_u64(self.seed)
    }

    pub(super) fn plan(&self) -> Plan {
        plan(&self.observation(), &mut self.rng()).unwrap_or_else(|e| panic!("plan fails: {e}"))
    }

    /// The scene after its plan was carried out as an API server would.
    pub(super) fn executed(mut self) -> Self {
        let plan = self.plan();
        self.seed += 1;
        for child in plan.apply {
            self.children.insert(child.key(), child);
        }
        for key in plan.delete {
            self.children.remove(&key);
        }
        if let Some(status) = plan.status {
            self.rm.status = Some(status);
        }
        self
    }

    /// The Deployment's pods all ready at its current generation.
    pub(super) fn rolled_out(mut self) -> Self {
        let replicas = self.rm.spec.replicas;
        let key = ChildKey {
            kind: Kind::Deployment,
            name: "mail".to_owned(),
        };
        if let Some(Child::Deployment(d)) = self.children.get_mut(&key) {
            d.metadata.generation = Some(1);
            d.status = Some(DeploymentStatus {
                observed_generation: Some(1),
                replicas: Some(replicas),
                updated_replicas: Some(replicas),
                ready_replicas: Some(replicas),
                available_replicas: Some(replicas),
                ..DeploymentStatus::default()
            });
        }
        self
    }

    /// The status the RustyMail reports once this scene's plan is written.
    pub(super) fn plan_status(&self) -> Plan {
        let mut plan = self.plan();
        plan.status = plan.status.or_else(|| self.rm.status.clone());
        plan
    }

    /// Built, rolled out, Ready, and the status written.
    pub(super) fn settled(self) -> Self {
        self.executed().rolled_out().executed()
    }
}

/// A cert-manager ClusterIssuer `name` with `spec`, Ready or not.
pub(super) fn issuer(
    name: &str,
    spec: serde_json::Value,
    ready: bool,
) -> kube::core::DynamicObject {
    let resource = crate::kinds::Referenced::ClusterIssuer.resource();
    let mut issuer = kube::core::DynamicObject::new(name, &resource);
    let condition = if ready {
        json!({"type": "Ready", "status": "True", "reason": "KeyPairVerified", "message": "Signing CA verified"})
    } else {
        json!({"type": "Ready", "status": "False", "reason": "ErrRegisterACMEAccount",
               "message": "Failed to register ACME account: dial tcp 127.0.0.1:1: connect: connection refused"})
    };
    issuer.data = json!({"spec": spec, "status": {"conditions": [condition]}});
    issuer
}

pub(super) fn acme() -> serde_json::Value {
    json!({"acme": {"server": "https://acme-v02.api.letsencrypt.org/directory",
                    "privateKeySecretRef": {"name": "le-account"}}})
}

/// A Service `team-a/mail` that no RustyMail controls: the name of the
/// RustyMail's own Service, taken.
pub(super) fn foreign_service() -> Child {
    Child::Service(Service {
        metadata: ObjectMeta {
            name: Some("mail".into()),
            namespace: Some("team-a".into()),
            ..ObjectMeta::default()
        },
        ..Service::default()
    })
}
