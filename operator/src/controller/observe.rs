//! Gathers what one reconcile needs to know, from the watch caches (children
//! and Secrets), the operator's own recent writes the caches may not show
//! yet, discovery, and, only for `spec.tls.issuerRef`, one read of the issuer.

use std::{collections::BTreeMap, sync::Arc};

use kube::{Api, Resource};
use time::OffsetDateTime;

use super::{
    Context,
    cache::Caches,
    plan::{Observation, secret_references},
    retry::retry,
};
use crate::{
    crd::{IssuerKind, RustyMail, RustyMailSpec},
    error::Error,
    kinds::Kind,
    render::{Child, ChildKey, Owner},
};

/// Looks up whether the cert-manager issuer named by `spec.tls.issuerRef` exists.
async fn issuer_found(
    ctx: &Context,
    namespace: &str,
    spec: &RustyMailSpec,
) -> Result<Option<bool>, Error> {
    let Some(issuer) = &spec.tls.issuer_ref else {
        return Ok(None);
    };
    let resource = kube::core::ApiResource::from_gvk(&kube::core::GroupVersionKind::gvk(
        "cert-manager.io",
        "v1",
        issuer.kind.as_str(),
    ));
    let api: Api<kube::core::DynamicObject> = match issuer.kind {
        IssuerKind::Issuer => Api::namespaced_with(ctx.client.clone(), namespace, &resource),
        IssuerKind::ClusterIssuer => Api::all_with(ctx.client.clone(), &resource),
    };
    let found = retry(|| api.get_opt(&issuer.name))
        .await
        .map_err(Error::kube(format!(
            "reading {} {}",
            issuer.kind.as_str(),
            issuer.name
        )))?;
    Ok(Some(found.is_some()))
}

/// The child `key` of namespace `ns`: the cache, unless it lags a write of ours.
fn child(ctx: &Context, caches: &Caches, ns: &str, key: &ChildKey) -> Option<Child> {
    let cached = caches.child(ns, key);
    let version = cached
        .as_ref()
        .and_then(|c| c.meta().resource_version.clone());
    ctx.writes
        .children
        .resolve(&(ns.to_owned(), key.clone()), cached, version.as_deref())
}

/// Observes `rm` and everything its reconcile depends on.
pub async fn observe(
    ctx: &Context,
    caches: &Caches,
    rm: Arc<RustyMail>,
) -> Result<Observation, Error> {
    let owner = Owner::of(&rm)?;
    let ns = owner.namespace.as_str();
    let apis = ctx
        .apis
        .get()
        .await
        .map_err(Error::kube("discovering optional APIs"))?;

    let written = ctx.writes.statuses.resolve(
        &(owner.namespace.clone(), owner.name.clone()),
        rm.status.clone(),
        rm.meta().resource_version.as_deref(),
    );
    let rm = if written == rm.status {
        rm
    } else {
        let mut newer = (*rm).clone();
        newer.status = written;
        Arc::new(newer)
    };

    let watched: Vec<Kind> = caches.kinds().collect();
    let children = Observation::candidates(&owner, apis)
        .into_iter()
        .filter(|key| watched.contains(&key.kind))
        .filter_map(|key| child(ctx, caches, ns, &key).map(|c| (key, c)))
        .collect();
    let secrets = secret_references(&rm.spec)
        .into_iter()
        .filter_map(|name| {
            let key = ChildKey {
                kind: Kind::Secret,
                name: name.clone(),
            };
            match child(ctx, caches, ns, &key) {
                Some(Child::Secret(s)) => Some((name, s)),
                _ => None,
            }
        })
        .collect::<BTreeMap<_, _>>();
    let issuer_found = if apis.cert_manager {
        issuer_found(ctx, ns, &rm.spec).await?
    } else {
        None
    };
    Ok(Observation {
        rm,
        apis,
        secrets,
        issuer_found,
        children,
        now: OffsetDateTime::now_utc(),
    })
}
