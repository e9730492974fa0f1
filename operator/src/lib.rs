//! RustyMail operator: turns `RustyMail` resources into hardened,
//! TLS-terminated, network-isolated deployments of the RustyMail data plane.
//!
//! May depend on `rustymail-config` (the data plane's config file, which
//! [`render`] writes) and the Kubernetes client crates; never on the data
//! plane crate, so no HTTP framework, TLS server or IMAP client is built
//! into the controller. Each module's doc names the modules it may use.

#![warn(missing_docs)]

pub mod admin;
pub mod backoff;
pub mod controller;
pub mod crd;
pub mod error;
pub mod kinds;
pub mod lease;
pub mod metrics;
pub mod namespaces;
pub mod preview;
pub mod rbac;
pub mod render;
pub mod run;
pub mod telemetry;
