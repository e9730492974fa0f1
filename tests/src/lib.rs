//! Shared fixtures for RustyMail tests.
