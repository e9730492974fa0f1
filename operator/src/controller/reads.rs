//! The objects one reconcile reads, each read from the API once: the spec's
//! Secrets, the operator's own Secrets and the Deployment are needed both
//! before rendering and again when comparing children, and the second look
//! is answered from memory.

use std::collections::HashMap;

use kube::{
    Api, Client, Resource,
    core::{ApiResource, DynamicObject},
};
use serde::de::DeserializeOwned;

use super::retry::retry;
use crate::error::Error;

/// Reads of one reconcile in one namespace.
pub struct Reads {
    client: Client,
    namespace: String,
    seen: HashMap<(String, String, String), Option<DynamicObject>>,
}

impl Reads {
    /// Reads in `namespace` through `client`, nothing read yet.
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            seen: HashMap::new(),
        }
    }

    /// The object `name` of `resource`, `None` when it does not exist.
    pub async fn object(
        &mut self,
        resource: &ApiResource,
        name: &str,
    ) -> Result<Option<DynamicObject>, Error> {
        let key = (
            resource.api_version.clone(),
            resource.plural.clone(),
            name.to_owned(),
        );
        if let Some(known) = self.seen.get(&key) {
            return Ok(known.clone());
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, resource);
        let found = retry(|| api.get_opt(name))
            .await
            .map_err(Error::kube(format!(
                "reading {} {}/{name}",
                resource.kind, self.namespace
            )))?;
        self.seen.insert(key, found.clone());
        Ok(found)
    }

    /// The object `name` of a built-in kind, `None` when it does not exist.
    pub async fn typed<K>(&mut self, name: &str) -> Result<Option<K>, Error>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
    {
        let resource = ApiResource::erase::<K>(&());
        let Some(object) = self.object(&resource, name).await? else {
            return Ok(None);
        };
        let typed = serde_json::to_value(object).and_then(serde_json::from_value);
        typed.map(Some).map_err(|e| {
            let what = format!("reading {} {}/{name}", resource.kind, self.namespace);
            Error::kube(what)(kube::Error::SerdeError(e))
        })
    }
}
