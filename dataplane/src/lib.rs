//! RustyMail data plane: an HTTPS REST API over IMAP mailboxes.
//!
//! [`config`] is the contract with the operator, which renders the data
//! plane's config file from these same types. [`server`] runs the listeners,
//! [`tls`] terminates TLS and reloads certificates, [`auth`] checks API keys
//! and tokens, [`access`] refuses blocked client addresses, [`ratelimit`]
//! holds the request budgets, [`audit`] writes the audit log, [`metrics`]
//! and [`shutdown`] serve them all.

#![warn(missing_docs)]

pub mod access;
pub mod audit;
pub mod auth;
pub mod config;
pub mod imap;
pub mod logging;
pub mod mail;
pub mod mcp;
pub mod metrics;
pub mod ratelimit;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod tls;
pub mod watch;
