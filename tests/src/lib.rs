//! Shared fixtures for RustyMail tests.
pub mod admin;
pub mod bench;
pub mod chart;
pub mod control_plane;
pub mod fault_proxy;
pub mod mail;
pub mod operator;
pub mod operator_bench;
pub mod real_node;
pub mod schema;
pub mod workspace;
