//! Shared fixtures for RustyMail tests.
pub mod cluster;
pub mod workspace;
