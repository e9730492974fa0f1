//! The watch caches a reconcile reads from: one reflector store per child
//! kind of the kind table, fed by the same watch streams that trigger the
//! controller, so reading a child costs no API request.
//!
//! ```text
//!  watch(kind) ─> compact (JSON) ─> store ─> trigger the owning RustyMail
//!  watch(Secret, all) ─> store ─> trigger the RustyMail its instance label
//!                                  names, and every one whose spec refers to
//!                                  the Secret by name
//! ```
//!
//! Children are watched by the operator's `managed-by` label; Secrets are
//! watched whole (in the scope's namespaces), because the Secrets a spec
//! refers to are the user's and carry no label of ours; cert-manager's
//! Issuers and ClusterIssuers (few) are watched whole too, and trigger the
//! RustyMails whose `tls.issuerRef` names them.
//!
//! The watches of a kind whose optional API (cert-manager, the Prometheus
//! Operator) is not served wait for discovery to report it, then start: an
//! API installed after the operator started is watched without a restart.
//! Until then its store is empty and not counted as unsynced.
//!
//! Every store holds its objects compacted (see `compact`) and decodes one
//! when it is read.

use std::{collections::BTreeMap, fmt::Debug, hash::Hash, sync::Arc, time::Duration};

use futures::{StreamExt, TryStreamExt, stream, stream::BoxStream};
use k8s_openapi::{
    NamespaceResourceScope,
    api::{
        apps::v1::Deployment,
        core::v1::{ConfigMap, Secret, Service, ServiceAccount},
        networking::v1::{Ingress, NetworkPolicy},
        policy::v1::PodDisruptionBudget,
    },
};
use kube::{
    Api, Client, Resource, ResourceExt,
    core::DynamicObject,
    runtime::{
        Controller, WatchStreamExt,
        reflector::{ObjectRef, Store, store::Writer},
        watcher,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::watch;

use super::{
    apis::Apis,
    compact::{self, Compact},
    plan::{IssuerLookup, secret_references},
};
use crate::{
    crd::{IssuerKind, RustyMail},
    kinds::{Kind, OptionalApi, Referenced},
    render::{Child, ChildKey, FIELD_MANAGER, INSTANCE_LABEL},
};

/// The store of one child kind.
#[derive(Clone)]
enum KindStore {
    ServiceAccount(Store<Compact<ServiceAccount>>),
    Secret(Store<Compact<Secret>>),
    ConfigMap(Store<Compact<ConfigMap>>),
    Deployment(Store<Compact<Deployment>>),
    Service(Store<Compact<Service>>),
    NetworkPolicy(Store<Compact<NetworkPolicy>>),
    PodDisruptionBudget(Store<Compact<PodDisruptionBudget>>),
    Ingress(Store<Compact<Ingress>>),
    Dynamic(Kind, Store<Compact<DynamicObject>>),
}

/// The watch caches of one controller scope (all namespaces, or one).
#[derive(Clone)]
pub struct Caches {
    stores: BTreeMap<Kind, KindStore>,
    issuers: BTreeMap<Referenced, Store<Compact<DynamicObject>>>,
    served: watch::Receiver<Apis>,
}

/// A watch of `api` that keeps a store of compacted objects and yields
/// every touched object; with `needs`, the watch starts only once `served`
/// reports that API.
fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    dyntype: K::DynamicType,
    needs: Option<(OptionalApi, watch::Receiver<Apis>)>,
) -> (
    Store<Compact<K>>,
    BoxStream<'static, Result<K, watcher::Error>>,
)
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone + Send + Sync,
{
    let mut writer = Writer::new(dyntype);
    let store = writer.as_reader();
    let stream = stream::once(async move {
        if let Some((needed, mut served)) = needs {
            // An Err means the operator is stopping; the watch then starts
            // and ends with the controller.
            let _ = served.wait_for(|apis| apis.has(needed)).await;
        }
        watcher(api, config)
            .default_backoff()
            // Nobody reads managedFields; dropping them first saves
            // compacting them.
            .modify(|o: &mut K| o.meta_mut().managed_fields = None)
            .map_ok(move |event| {
                if let Some(compacted) = compact::event(&event) {
                    writer.apply_watcher_event(&compacted);
                }
                event
            })
            .touched_objects()
    })
    .flatten()
    .boxed();
    (store, stream)
}

/// The RustyMails whose `tls.issuerRef` names the cert-manager `issuer`.
fn issuer_users(
    issuer: &DynamicObject,
    kind: IssuerKind,
    rustymails: &Store<RustyMail>,
) -> Vec<ObjectRef<RustyMail>> {
    let name = issuer.name_any();
    let namespace = issuer.namespace();
    rustymails
        .state()
        .iter()
        .filter(|rm| {
            rm.spec.tls.issuer_ref.as_ref().is_some_and(|r| {
                r.name == name
                    && r.cert_manager_kind() == Some(kind)
                    && (kind == IssuerKind::ClusterIssuer || rm.namespace() == namespace)
            })
        })
        .map(|rm| ObjectRef::from_obj(rm.as_ref()))
        .collect()
}

fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The RustyMails a Secret concerns: the one its instance label names (the
/// operator's own Secrets, and cert-manager's through the Certificate's
/// `secretTemplate`), or else those whose spec refers to it by name.
fn secret_owners(secret: &Secret, rustymails: &Store<RustyMail>) -> Vec<ObjectRef<RustyMail>> {
    let Some(ns) = secret.namespace() else {
        return Vec::new();
    };
    let name = secret.name_any();
    if let Some(owner) = secret.labels().get(INSTANCE_LABEL) {
        return vec![ObjectRef::new(owner).within(&ns)];
    }
    rustymails
        .state()
        .iter()
        .filter(|rm| rm.namespace().as_deref() == Some(ns.as_str()))
        .filter(|rm| secret_references(&rm.spec).contains(&name))
        .map(|rm| ObjectRef::from_obj(rm.as_ref()))
        .collect()
}

impl Caches {
    /// Adds a watch and a store for every child kind and every referenced
    /// kind to `controller`, in `namespace` (or all), and returns both. The
    /// watches of an optional API start once `served` reports it.
    pub fn attach(
        mut controller: Controller<RustyMail>,
        client: &Client,
        namespace: Option<&str>,
        served: watch::Receiver<Apis>,
    ) -> (Controller<RustyMail>, Self) {
        let owned = watcher::Config::default()
            .labels(&format!("app.kubernetes.io/managed-by={FIELD_MANAGER}"));
        let mut stores = BTreeMap::new();
        macro_rules! builtin {
            ($kind:ident) => {{
                let (store, stream) =
                    reflect(api::<$kind>(client, namespace), owned.clone(), (), None);
                controller = controller.owns_stream(stream);
                KindStore::$kind(store)
            }};
        }
        for kind in Kind::ALL {
            let store = match kind {
                Kind::ServiceAccount => builtin!(ServiceAccount),
                Kind::ConfigMap => builtin!(ConfigMap),
                Kind::Deployment => builtin!(Deployment),
                Kind::Service => builtin!(Service),
                Kind::NetworkPolicy => builtin!(NetworkPolicy),
                Kind::PodDisruptionBudget => builtin!(PodDisruptionBudget),
                Kind::Ingress => builtin!(Ingress),
                Kind::Secret => {
                    let (store, stream) = reflect(
                        api::<Secret>(client, namespace),
                        watcher::Config::default(),
                        (),
                        None,
                    );
                    let rustymails = controller.store();
                    controller =
                        controller.watches_stream(stream, move |s| secret_owners(&s, &rustymails));
                    KindStore::Secret(store)
                }
                Kind::Certificate | Kind::ServiceMonitor | Kind::PrometheusRule => {
                    let resource = kind.resource();
                    let api = match namespace {
                        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
                        None => Api::all_with(client.clone(), &resource),
                    };
                    let needs = kind.info().needs.map(|api| (api, served.clone()));
                    let (store, stream) = reflect(api, owned.clone(), resource.clone(), needs);
                    controller = controller.owns_stream_with(stream, resource);
                    KindStore::Dynamic(kind, store)
                }
            };
            stores.insert(kind, store);
        }
        let mut issuers = BTreeMap::new();
        for referenced in Referenced::ALL {
            let info = referenced.info();
            let resource = referenced.resource();
            let (api, kind) = match namespace {
                Some(ns) if info.namespaced => (
                    Api::namespaced_with(client.clone(), ns, &resource),
                    IssuerKind::Issuer,
                ),
                _ if info.namespaced => {
                    (Api::all_with(client.clone(), &resource), IssuerKind::Issuer)
                }
                _ => (
                    Api::all_with(client.clone(), &resource),
                    IssuerKind::ClusterIssuer,
                ),
            };
            let needs = Some((info.needs, served.clone()));
            let (store, stream) = reflect(api, watcher::Config::default(), resource.clone(), needs);
            let rustymails = controller.store();
            controller = controller.watches_stream_with(
                stream,
                move |issuer| issuer_users(&issuer, kind, &rustymails),
                resource,
            );
            issuers.insert(referenced, store);
        }
        (
            controller,
            Self {
                stores,
                issuers,
                served,
            },
        )
    }

    /// The optional APIs served, as discovery last reported them.
    pub fn apis(&self) -> Apis {
        *self.served.borrow()
    }

    /// The kinds watched, of the APIs served now.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        let apis = *self.served.borrow();
        self.stores.keys().copied().filter(move |k| apis.serves(*k))
    }

    /// The cert-manager issuer `name` of `kind` (an Issuer in `namespace`),
    /// as the watch of issuers holds it.
    pub fn issuer(&self, namespace: &str, kind: IssuerKind, name: &str) -> IssuerLookup {
        let referenced = match kind {
            IssuerKind::Issuer => Referenced::Issuer,
            IssuerKind::ClusterIssuer => Referenced::ClusterIssuer,
        };
        let Some(store) = self.issuers.get(&referenced) else {
            return IssuerLookup::NotLookedUp;
        };
        let key = ObjectRef::new_with(name, referenced.resource());
        let key = match kind {
            IssuerKind::Issuer => key.within(namespace),
            IssuerKind::ClusterIssuer => key,
        };
        match store.get(&key).and_then(|issuer| decoded(&issuer)) {
            Some(issuer) => IssuerLookup::Found(Arc::new(issuer)),
            None => IssuerLookup::Missing,
        }
    }

    /// The child `key` in `namespace` as the cache holds it.
    pub fn child(&self, namespace: &str, key: &ChildKey) -> Option<Child> {
        let name = key.name.as_str();
        fn get<K>(store: &Store<Compact<K>>, namespace: &str, name: &str) -> Option<K>
        where
            K: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
        {
            decoded(store.get(&ObjectRef::new(name).within(namespace))?.as_ref())
        }
        Some(match self.stores.get(&key.kind)? {
            KindStore::ServiceAccount(s) => Child::ServiceAccount(get(s, namespace, name)?),
            KindStore::Secret(s) => Child::Secret(get(s, namespace, name)?),
            KindStore::ConfigMap(s) => Child::ConfigMap(get(s, namespace, name)?),
            KindStore::Deployment(s) => Child::Deployment(get(s, namespace, name)?),
            KindStore::Service(s) => Child::Service(get(s, namespace, name)?),
            KindStore::NetworkPolicy(s) => Child::NetworkPolicy(get(s, namespace, name)?),
            KindStore::PodDisruptionBudget(s) => {
                Child::PodDisruptionBudget(get(s, namespace, name)?)
            }
            KindStore::Ingress(s) => Child::Ingress(get(s, namespace, name)?),
            KindStore::Dynamic(kind, s) => {
                let key = ObjectRef::new_with(name, kind.resource()).within(namespace);
                let object = decoded(s.get(&key)?.as_ref())?;
                match kind {
                    Kind::Certificate => Child::Certificate(object),
                    Kind::ServiceMonitor => Child::ServiceMonitor(object),
                    _ => Child::PrometheusRule(object),
                }
            }
        })
    }

    /// The kinds (their `kind` names) whose watch has not listed its
    /// objects yet, waiting up to `patience` for them to do so.
    pub async fn unsynced(&self, patience: Duration) -> Vec<&'static str> {
        async fn ready<K>(store: &Store<Compact<K>>) -> bool
        where
            Compact<K>: kube::runtime::reflector::Lookup + Clone + 'static,
            <Compact<K> as kube::runtime::reflector::Lookup>::DynamicType: Eq + Hash + Clone,
        {
            tokio::time::timeout(Duration::ZERO, store.wait_until_ready())
                .await
                .is_ok()
        }
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let apis = *self.served.borrow();
            let mut missing = Vec::new();
            for (kind, store) in self.stores.iter().filter(|(k, _)| apis.serves(**k)) {
                let synced = match store {
                    KindStore::ServiceAccount(s) => ready(s).await,
                    KindStore::Secret(s) => ready(s).await,
                    KindStore::ConfigMap(s) => ready(s).await,
                    KindStore::Deployment(s) => ready(s).await,
                    KindStore::Service(s) => ready(s).await,
                    KindStore::NetworkPolicy(s) => ready(s).await,
                    KindStore::PodDisruptionBudget(s) => ready(s).await,
                    KindStore::Ingress(s) => ready(s).await,
                    KindStore::Dynamic(_, s) => ready(s).await,
                };
                if !synced {
                    missing.push(kind.info().kind);
                }
            }
            if apis.cert_manager {
                for (referenced, store) in &self.issuers {
                    if !ready(store).await {
                        missing.push(referenced.info().kind);
                    }
                }
            }
            if missing.is_empty() || tokio::time::Instant::now() >= deadline {
                return missing;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The object `cached` holds; a cached object that does not decode (which
/// would be a bug, as the operator encoded it) is logged and read as absent.
fn decoded<K>(cached: &Compact<K>) -> Option<K>
where
    K: Resource + Serialize + DeserializeOwned,
{
    cached
        .decode()
        .inspect_err(
            |e| tracing::error!(error = %e, object = ?cached, "cannot decode a cached object"),
        )
        .ok()
}
