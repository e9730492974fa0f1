//! RustyMail operator.
pub mod admin;
pub mod backoff;
pub mod lease;
pub mod metrics;
pub mod namespaces;
pub mod telemetry;
