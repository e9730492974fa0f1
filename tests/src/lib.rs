//! Shared fixtures for RustyMail tests.
pub mod cluster;
