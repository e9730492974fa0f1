//! RustyMail operator: turns `RustyMail` resources into hardened,
//! TLS-terminated, network-isolated deployments of the RustyMail data plane.

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
