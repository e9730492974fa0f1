//! RustyMail data plane: an HTTPS REST API over IMAP mailboxes.
//!
//! [`config`] is the contract with the operator, which renders the data
//! plane's config file from these same types. [`server`] runs the listeners,
//! [`tls`] terminates TLS and reloads certificates, [`metrics`] and
//! [`shutdown`] serve both.

#![warn(missing_docs)]

pub mod config;
pub mod imap;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod server;
pub mod shutdown;
pub mod tls;
