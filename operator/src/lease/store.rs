//! Reading and writing the Lease: a small trait, so the election loop can be
//! tested against an in-memory store, and its Kubernetes implementation.

use std::{future::Future, time::Duration};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client, api::PostParams};

/// The field manager recorded on Lease writes.
pub const FIELD_MANAGER: &str = "rustymail-operator";

/// How long one Lease request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the Lease lives. Writes are conditional: `create` fails when the
/// Lease exists, `replace` when its `resourceVersion` is not the one read;
/// both with [`StoreError::Conflict`].
pub trait LeaseStore: Send + Sync + 'static {
    /// The Lease's name.
    fn name(&self) -> &str;
    /// Reads the Lease; `None` when it does not exist.
    fn get(&self) -> impl Future<Output = Result<Option<Lease>, StoreError>> + Send;
    /// Creates the Lease.
    fn create(&self, lease: Lease) -> impl Future<Output = Result<Lease, StoreError>> + Send;
    /// Replaces the Lease, if its `resourceVersion` is still `lease`'s.
    fn replace(&self, lease: Lease) -> impl Future<Output = Result<Lease, StoreError>> + Send;
}

/// A Lease request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another writer changed the Lease since it was read (409): the race for
    /// it is lost, read it again.
    #[error("Lease {namespace}/{name} was changed by another writer (409 Conflict)")]
    Conflict {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
    },
    /// The API server refused or failed the request.
    #[error(
        "{verb} Lease {namespace}/{name} failed (the operator needs get, create and update \
         on coordination.k8s.io leases in its namespace)"
    )]
    Api {
        /// `get`, `create` or `update`.
        verb: &'static str,
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// The client's error.
        #[source]
        source: Box<kube::Error>,
    },
    /// The request took longer than [`REQUEST_TIMEOUT`].
    #[error("{verb} Lease {namespace}/{name} timed out after {timeout:?}")]
    Timeout {
        /// `get`, `create` or `update`.
        verb: &'static str,
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// The time allowed.
        timeout: Duration,
    },
}

impl StoreError {
    /// Whether the error means another candidate wrote first.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

/// The Lease on a Kubernetes API server.
#[derive(Clone)]
pub struct KubeLeaseStore {
    api: Api<Lease>,
    namespace: String,
    name: String,
}

impl KubeLeaseStore {
    /// The Lease `namespace/name`, through `client`.
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    fn post_params() -> PostParams {
        PostParams {
            dry_run: false,
            field_manager: Some(FIELD_MANAGER.to_owned()),
        }
    }

    async fn call<T>(
        &self,
        verb: &'static str,
        request: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
            Err(_elapsed) => Err(StoreError::Timeout {
                verb,
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                timeout: REQUEST_TIMEOUT,
            }),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(kube::Error::Api(status)))
                if status.is_conflict() || status.is_already_exists() =>
            {
                Err(StoreError::Conflict {
                    namespace: self.namespace.clone(),
                    name: self.name.clone(),
                })
            }
            Ok(Err(source)) => Err(StoreError::Api {
                verb,
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                source: Box::new(source),
            }),
        }
    }
}

impl LeaseStore for KubeLeaseStore {
    fn name(&self) -> &str {
        &self.name
    }

    async fn get(&self) -> Result<Option<Lease>, StoreError> {
        self.call("get", self.api.get_opt(&self.name)).await
    }

    async fn create(&self, lease: Lease) -> Result<Lease, StoreError> {
        self.call("create", self.api.create(&Self::post_params(), &lease))
            .await
    }

    async fn replace(&self, lease: Lease) -> Result<Lease, StoreError> {
        self.call(
            "update",
            self.api.replace(&self.name, &Self::post_params(), &lease),
        )
        .await
    }
}
