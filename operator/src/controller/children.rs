//! Applying children and removing the ones no longer wanted.
//!
//! Each child is read first; it is applied (server-side apply, field
//! manager `rustymail-operator`, forced) only when missing or different, so a
//! settled cluster sees no writes. An object with a child's name that this
//! RustyMail does not control is never taken over.

use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
    core::{ApiResource, DynamicObject, GroupVersionKind},
};
use serde_json::Value;

use super::{apis::Apis, diff, reads::Reads, retry::retry};
use crate::{
    crd::RustyMail,
    error::Error,
    render::{Child, FIELD_MANAGER, Owner, monitoring, tls},
};

/// What happened to a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Created or changed.
    Applied(String),
    /// Deleted because it is no longer wanted.
    Deleted(String),
}

/// The API resource of a child, from its `apiVersion` and `kind`.
fn resource_of(value: &Value) -> ApiResource {
    let api_version = value["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        group,
        version,
        value["kind"].as_str().unwrap_or_default(),
    ))
}

fn api(client: &Client, namespace: &str, resource: &ApiResource) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, resource)
}

/// Whether `object` is controlled by `rm` (its controller owner reference has `rm`'s uid).
pub fn controlled_by(object: &DynamicObject, rm: &RustyMail) -> bool {
    let uid = rm.meta().uid.as_deref();
    object
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid)
}

/// The current state of a child: `None` when it does not exist.
pub async fn read(
    reads: &mut Reads,
    child: &Child,
) -> Result<(ApiResource, Value, Option<DynamicObject>), Error> {
    let value = child.to_value();
    let resource = resource_of(&value);
    let name = value["metadata"]["name"].as_str().unwrap_or_default();
    let observed = reads.object(&resource, name).await?;
    Ok((resource, value, observed))
}

/// Names a child of another controller would block: `Kind name` list.
pub fn foreign(
    rm: &RustyMail,
    observed: &[(ApiResource, Value, Option<DynamicObject>)],
) -> Vec<String> {
    observed
        .iter()
        .filter_map(|(r, _, o)| {
            o.as_ref()
                .filter(|o| !controlled_by(o, rm))
                .map(|o| format!("{} {}", r.kind, o.name_any()))
        })
        .collect()
}

/// Applies each child that is missing or differs; returns what changed and
/// the objects as they now are.
pub async fn apply(
    client: &Client,
    owner: &Owner,
    observed: Vec<(ApiResource, Value, Option<DynamicObject>)>,
) -> Result<(Vec<Change>, Vec<DynamicObject>), Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut changes = Vec::new();
    let mut current = Vec::new();
    for (resource, desired, object) in observed {
        let up_to_date = object
            .as_ref()
            .and_then(|o| serde_json::to_value(o).ok())
            .is_some_and(|o| diff::satisfied_by(&desired, &o));
        let name = desired["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        match object {
            Some(o) if up_to_date => current.push(o),
            _ => {
                let api = api(client, &owner.namespace, &resource);
                let patch = Patch::Apply(&desired);
                let applied =
                    retry(|| api.patch(&name, &params, &patch))
                        .await
                        .map_err(Error::kube(format!(
                            "applying {} {}/{name}",
                            resource.kind, owner.namespace
                        )))?;
                changes.push(Change::Applied(format!("{} {name}", resource.kind)));
                current.push(applied);
            }
        }
    }
    Ok((changes, current))
}

/// Every child a RustyMail may have beyond the ones always rendered.
fn optional_children(owner: &Owner, apis: Apis) -> Vec<(ApiResource, String)> {
    let core = |kind: &str| ApiResource::from_gvk(&GroupVersionKind::gvk("", "v1", kind));
    let gvk = |g: &str, v: &str, k: &str| ApiResource::from_gvk(&GroupVersionKind::gvk(g, v, k));
    let mut all = vec![
        (core("Secret"), owner.child_name("-credentials")),
        (core("Secret"), owner.child_name("-tls")),
        (
            gvk("networking.k8s.io", "v1", "NetworkPolicy"),
            owner.name.clone(),
        ),
        (
            gvk("policy", "v1", "PodDisruptionBudget"),
            owner.name.clone(),
        ),
        (
            gvk("networking.k8s.io", "v1", "Ingress"),
            owner.name.clone(),
        ),
    ];
    if apis.cert_manager {
        all.push((tls::certificate_resource(), owner.child_name("-tls")));
    }
    if apis.monitoring {
        all.push((monitoring::service_monitor_resource(), owner.name.clone()));
        all.push((monitoring::prometheus_rule_resource(), owner.name.clone()));
    }
    all
}

/// Deletes children `rm` controls that are not in `desired`.
pub async fn prune(
    client: &Client,
    reads: &mut Reads,
    rm: &RustyMail,
    owner: &Owner,
    apis: Apis,
    desired: &[Child],
) -> Result<Vec<Change>, Error> {
    let wanted: Vec<(String, String)> = desired
        .iter()
        .map(|c| {
            let v = c.to_value();
            (
                v["kind"].as_str().unwrap_or_default().to_owned(),
                v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let mut changes = Vec::new();
    for (resource, name) in optional_children(owner, apis) {
        if wanted.contains(&(resource.kind.clone(), name.clone())) {
            continue;
        }
        let Some(object) = reads.object(&resource, &name).await? else {
            continue;
        };
        let api = api(client, &owner.namespace, &resource);
        let what = format!("{} {}/{name}", resource.kind, owner.namespace);
        if controlled_by(&object, rm) && object.meta().deletion_timestamp.is_none() {
            let params = DeleteParams::background();
            match retry(|| api.delete(&name, &params)).await {
                Ok(_) => changes.push(Change::Deleted(format!("{} {name}", resource.kind))),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(Error::kube(format!("deleting {what}"))(e)),
            }
        }
    }
    Ok(changes)
}
