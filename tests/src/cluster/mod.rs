//! A Kubernetes API server test double: an HTTP server on loopback that
//! kube-rs and the real `kubectl` talk to through a kubeconfig.
//!
//! ```text
//!   kubectl / kube::Client
//!            │ HTTP/1.1 + JSON
//!   server ──┼── request (path → target) ── rbac ── faults ── stats
//!            │
//!   engine ──┼── admission (names, typed roundtrip / CRD schema + CEL,
//!            │              immutable fields) ── defaults
//!            ├── apply (server-side apply, managedFields) ── patch
//!            ├── delete (finalizers, propagation) ── gc (owners, namespaces)
//!            └── store (objects, resourceVersion, history) ── watch
//! ```
//!
//! Discovery (legacy and aggregated, plus the OpenAPI v3 index kubectl
//! checks for server-side field validation) and the served kinds come from the registry: a table of
//! built-in kinds plus every stored CustomResourceDefinition. Start one with
//! [`ClusterDouble::start`]. The end-to-end tests run on the real control
//! plane (`crate::control_plane`); only `operator-bench --cluster-double`
//! still uses this double.

pub mod admission;
pub mod apply;
mod builtin;
pub mod defaults;
pub mod delete;
pub mod discovery;
pub mod double;
pub mod engine;
pub mod faults;
pub mod fields;
mod gc;
pub mod meta;
pub mod openapi;
pub mod patch;
pub mod rbac;
pub mod registry;
pub mod request;
pub mod schema;
pub mod selector;
pub mod server;
pub mod shape;
pub mod stats;
pub mod status;
pub mod store;
pub mod table;
pub mod thirdparty;
pub mod watch;

pub use double::{ClusterDouble, Options, User};
pub use faults::{Action, FaultRule, Trigger, WatchFaults};
pub use rbac::Policy;
pub use stats::{RequestRecord, Stats};
