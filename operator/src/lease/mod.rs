//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several
//! operator replicas exactly one writes (kube 5 has no such module; this
//! follows kubert's `lease.rs` and client-go's timings).
//!
//! - [`decision`]: the pure rules (free, expired, ours, someone else's) and the
//!   specs to write.
//! - [`store`]: reading and conditionally writing the Lease.
//! - [`elector`]: the task that acquires, renews and releases it, and
//!   publishes leadership on a `watch` channel.
//! - [`config`]: timings, identity and their command-line flags.
//!
//! Two candidates can never both hold the Lease: every write carries the
//! `resourceVersion` that was read, and the API server rejects all but the
//! first writer of a version with 409. Expiry is measured against the
//! holder's `renewTime`, so the nodes' clocks must agree to within
//! `lease_duration - renew_deadline` (5 s by default), as with client-go.
//!
//! ```no_run
//! # async fn example(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use rustymail_operator::lease::{KubeLeaseStore, LeaderElector, LeaseConfig};
//!
//! let config = LeaseConfig::new("rustymail-system", "rustymail-operator", "pod-a");
//! let store = KubeLeaseStore::new(client, &config.namespace, &config.name);
//! let leadership = LeaderElector::new(store, config)?.spawn();
//! let mut leading = leadership.subscribe();
//! // … gate writes on *leading.borrow() …
//! leadership.shutdown().await?; // on SIGTERM: stop writing, release the Lease
//! # Ok(())
//! # }
//! ```
//!
//! Depends on no other module of this crate.

pub mod config;
pub mod decision;
pub mod elector;
pub mod store;

pub use config::{DEFAULT_LEASE_NAME, LeaseArgs, LeaseConfig, LeaseConfigError};
pub use elector::{LeaderElector, Leadership, LeaseError};
pub use store::{KubeLeaseStore, LeaseStore, StoreError};
