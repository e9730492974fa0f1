//! Shared fixtures for RustyMail tests: the control plane, the operator and
//! data plane processes, Dovecot, the fault proxy, the Helm chart, schema
//! checks, the import-circle check and the benchmarks' helpers.
//!
//! May depend on every crate of the workspace; nothing depends on it. Each
//! module's doc names the modules it may use.
pub mod admin;
pub mod bench;
pub mod chart;
pub mod control_plane;
pub mod fault_proxy;
pub mod imports;
pub mod mail;
pub mod mcp;
pub mod operator;
pub mod operator_bench;
pub mod poll;
pub mod real_node;
pub mod rendered;
pub mod scenario;
pub mod schema;
pub mod workspace;
