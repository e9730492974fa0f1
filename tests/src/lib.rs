//! Shared fixtures for RustyMail tests.
pub mod cluster;
pub mod workspace;
pub mod operator;
