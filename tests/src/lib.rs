//! Shared fixtures for RustyMail tests.
pub mod bench;
pub mod chart;
pub mod cluster;
pub mod operator;
pub mod operator_bench;
pub mod workspace;
