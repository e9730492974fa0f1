//! How the watch caches keep an object: as the JSON the operator would send
//! back, deflated, one byte string per object, decoded again only when a
//! reconcile reads it.
//!
//! A typed Kubernetes object spends most of its memory on structure (every
//! absent optional field of a pod template, a tree node per label), so a
//! Deployment typed is several times the size of its JSON, and its JSON
//! (the same keys and label values over and over) deflates to about a third.
//! The caches hold every child of every RustyMail while a reconcile reads
//! about ten objects, so holding deflated JSON and decoding on read trades a
//! little CPU per reconcile for most of the operator's memory. Nothing is
//! dropped: a decoded object is the object as watched (less `managedFields`,
//! which nobody reads), so the "nothing to change" comparison sees every field
//! the API server sent.

use std::{borrow::Cow, fmt, marker::PhantomData};

use kube::{Resource, runtime::reflector::Lookup, runtime::watcher};
use serde::{Serialize, de::DeserializeOwned};

/// Deflate level: 1 is the fastest; higher levels gain a few percent on
/// objects this small at several times the CPU.
const LEVEL: u8 = 1;

/// Why a cached object could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The deflated bytes do not inflate.
    #[error("cannot inflate the cached object: {0}")]
    Inflate(String),
    /// The JSON does not describe an object of the kind.
    #[error("cannot read the cached object: {0}")]
    Json(#[from] serde_json::Error),
}

/// An object of kind `K` as one deflated JSON byte string, with the identity
/// a store indexes it by.
pub struct Compact<K> {
    name: String,
    namespace: Option<String>,
    resource_version: Option<String>,
    uid: Option<String>,
    deflated: Box<[u8]>,
    kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Compact<K> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            resource_version: self.resource_version.clone(),
            uid: self.uid.clone(),
            deflated: self.deflated.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> fmt::Debug for Compact<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compact")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .field("resource_version", &self.resource_version)
            .field("deflated_bytes", &self.deflated.len())
            .finish()
    }
}

impl<K: Resource + Serialize + DeserializeOwned> Compact<K> {
    /// `object` as deflated JSON, without its `managedFields`.
    pub fn encode(object: &K) -> Result<Self, serde_json::Error> {
        let meta = object.meta();
        let json = if meta.managed_fields.is_some() {
            let mut value = serde_json::to_value(object)?;
            if let Some(meta) = value.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                meta.remove("managedFields");
            }
            serde_json::to_vec(&value)?
        } else {
            serde_json::to_vec(object)?
        };
        Ok(Self {
            name: meta.name.clone().unwrap_or_default(),
            namespace: meta.namespace.clone(),
            resource_version: meta.resource_version.clone(),
            uid: meta.uid.clone(),
            deflated: miniz_oxide::deflate::compress_to_vec(&json, LEVEL).into_boxed_slice(),
            kind: PhantomData,
        })
    }

    /// The object again.
    pub fn decode(&self) -> Result<K, DecodeError> {
        let json = miniz_oxide::inflate::decompress_to_vec(&self.deflated)
            .map_err(|e| DecodeError::Inflate(e.to_string()))?;
        Ok(serde_json::from_slice(&json)?)
    }
}

impl<K: Resource> Lookup for Compact<K> {
    type DynamicType = K::DynamicType;

    fn kind(dyntype: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dyntype)
    }

    fn group(dyntype: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dyntype)
    }

    fn version(dyntype: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dyntype)
    }

    fn plural(dyntype: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dyntype)
    }

    fn name(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(&self.name))
    }

    fn namespace(&self) -> Option<Cow<'_, str>> {
        self.namespace.as_deref().map(Cow::Borrowed)
    }

    fn resource_version(&self) -> Option<Cow<'_, str>> {
        self.resource_version.as_deref().map(Cow::Borrowed)
    }

    fn uid(&self) -> Option<Cow<'_, str>> {
        self.uid.as_deref().map(Cow::Borrowed)
    }
}

/// The watcher event `event` with its object compacted; `None` when the
/// object cannot be serialized (which a watched object always can).
pub fn event<K>(event: &watcher::Event<K>) -> Option<watcher::Event<Compact<K>>>
where
    K: Resource + Serialize + DeserializeOwned,
{
    Some(match event {
        watcher::Event::Apply(o) => watcher::Event::Apply(encode_logged(o)?),
        watcher::Event::Delete(o) => watcher::Event::Delete(encode_logged(o)?),
        watcher::Event::InitApply(o) => watcher::Event::InitApply(encode_logged(o)?),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
    })
}

fn encode_logged<K>(object: &K) -> Option<Compact<K>>
where
    K: Resource + Serialize + DeserializeOwned,
{
    Compact::encode(object)
        .inspect_err(|e| {
            tracing::error!(error = %e, name = ?object.meta().name, "cannot cache a watched object")
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::apps::v1::Deployment, apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry,
    };
    use serde_json::json;

    use super::*;

    fn deployment() -> Deployment {
        serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "mail", "namespace": "ns", "resourceVersion": "7", "uid": "u-1",
                         "labels": {"app.kubernetes.io/name": "rustymail"},
                         "ownerReferences": [{"apiVersion": "rustymail.io/v1alpha1", "kind": "RustyMail",
                                              "name": "mail", "uid": "o-1", "controller": true}]},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}},
                                  "spec": {"containers": [{"name": "d", "image": "x:1",
                                            "resources": {"limits": {"cpu": "500m"}},
                                            "terminationMessagePath": "/dev/termination-log"}]}}},
            "status": {"replicas": 2, "readyReplicas": 1}
        }))
        .unwrap_or_default()
    }

    #[test]
    fn a_cached_object_decodes_to_the_object_watched_less_managed_fields() {
        let mut watched = deployment();
        watched.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some("kubectl".to_owned()),
            ..ManagedFieldsEntry::default()
        }]);
        let cached = Compact::encode(&watched).map(|c| c.decode());
        let mut expected = deployment();
        expected.metadata.managed_fields = None;
        assert_eq!(cached.ok().and_then(Result::ok), Some(expected));
    }

    /// Every child the operator renders for the minimal fixture.
    fn rendered() -> Vec<crate::render::Child> {
        use crate::render::{self, CredentialsInput, Observed, Owner, tls};
        let rm = render::fixtures::minimal();
        let owner = Owner::of(&rm).unwrap_or_else(|e| panic!("fixture owner: {e}"));
        let (material, _) =
            tls::settle_self_signed(&owner, &rm.spec, None, time::OffsetDateTime::now_utc())
                .unwrap_or_else(|e| panic!("fixture certificate: {e}"));
        let observed = Observed {
            cert_manager: false,
            acme_issuer: false,
            monitoring: false,
            credentials: CredentialsInput::Existing(Default::default()),
            self_signed: Some(material),
        };
        render::render(&rm, &observed).unwrap_or_else(|e| panic!("fixture renders: {e}"))
    }

    #[test]
    fn every_rendered_child_reads_back_from_the_cache_unchanged() {
        use crate::render::Child;
        for child in rendered() {
            let back = match &child {
                Child::ServiceAccount(o) => Compact::encode(o)
                    .ok()
                    .and_then(|c| c.decode().ok())
                    .map(Child::ServiceAccount),
                Child::Secret(o) => Compact::encode(o)
                    .ok()
                    .and_then(|c| c.decode().ok())
                    .map(Child::Secret),
                Child::ConfigMap(o) => Compact::encode(o)
                    .ok()
                    .and_then(|c| c.decode().ok())
                    .map(Child::ConfigMap),
                Child::Deployment(o) => Compact::encode(o)
                    .ok()
                    .and_then(|c| c.decode().ok())
                    .map(Child::Deployment),
                Child::Service(o) => Compact::encode(o)
                    .ok()
                    .and_then(|c| c.decode().ok())
                    .map(Child::Service),
                Child::NetworkPolicy(o) => Compact::encode(o)
                    .ok()
                    .and_then(|c| c.decode().ok())
                    .map(Child::NetworkPolicy),
                other => Some(other.clone()),
            };
            assert_eq!(back.as_ref(), Some(&child), "{}", child.key());
        }
    }

    #[test]
    fn a_cached_deployment_takes_less_than_half_the_bytes_of_its_json() {
        let deployment = rendered().into_iter().find_map(|c| match c {
            crate::render::Child::Deployment(d) => Some(d),
            _ => None,
        });
        let Some(deployment) = deployment else {
            panic!("the fixture renders a Deployment");
        };
        let json = serde_json::to_vec(&deployment).unwrap_or_default();
        let cached = Compact::encode(&deployment).unwrap_or_else(|e| panic!("encodes: {e}"));
        assert!(
            cached.deflated.len() * 2 < json.len(),
            "{} bytes cached for {} bytes of JSON",
            cached.deflated.len(),
            json.len()
        );
    }

    #[test]
    fn a_cached_object_is_found_under_its_name_namespace_and_version() {
        let cached = Compact::encode(&deployment()).ok();
        let identity = cached.as_ref().map(|c| {
            (
                c.name().map(Cow::into_owned),
                Lookup::namespace(c).map(Cow::into_owned),
                Lookup::resource_version(c).map(Cow::into_owned),
                Lookup::uid(c).map(Cow::into_owned),
            )
        });
        assert_eq!(
            identity,
            Some((
                Some("mail".to_owned()),
                Some("ns".to_owned()),
                Some("7".to_owned()),
                Some("u-1".to_owned())
            ))
        );
    }
}
