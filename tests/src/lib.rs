//! Shared fixtures for RustyMail tests.
pub mod bench;
pub mod cluster;
pub mod mail;
pub mod operator;
pub mod operator_bench;
pub mod workspace;
