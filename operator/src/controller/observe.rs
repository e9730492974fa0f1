//! Gathers what one reconcile needs to know, from the watch caches (children,
//! Secrets and cert-manager issuers), the operator's own recent writes the
//! caches may not show yet, and the last discovery of optional APIs. It
//! sends no request to the API server.

use std::{collections::BTreeMap, sync::Arc};

use kube::Resource;
use time::OffsetDateTime;

use super::{
    Context,
    cache::Caches,
    plan::{IssuerLookup, Observation, secret_references},
};
use crate::{
    crd::RustyMail,
    error::Error,
    kinds::Kind,
    render::{Child, ChildKey, Owner},
};

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
pub fn observe(ctx: &Context, caches: &Caches, rm: Arc<RustyMail>) -> Result<Observation, Error> {
    let owner = Owner::of(&rm)?;
    let ns = owner.namespace.as_str();
    let apis = caches.apis();

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
    let issuer = match rm.spec.tls.issuer_ref.as_ref() {
        Some(r) if apis.cert_manager => match r.cert_manager_kind() {
            Some(kind) => caches.issuer(ns, kind, &r.name),
            None => IssuerLookup::NotLookedUp,
        },
        _ => IssuerLookup::NotLookedUp,
    };
    Ok(Observation {
        rm,
        apis,
        secrets,
        issuer,
        children,
        now: OffsetDateTime::now_utc(),
    })
}
