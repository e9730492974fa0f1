//! RustyMail data plane: an HTTPS REST API over IMAP mailboxes.
//!
//! [`config`] reads the config file, whose types are the `rustymail-config`
//! crate the operator renders it from, and the security guide's environment
//! overlay. [`server`] runs the listeners and the REST interface, [`mcp`] the
//! MCP interface at `/mcp`, [`service`]
//! is the one mail service every interface goes through (scope check, rate
//! limit, audit), [`imap`] carries its operations out and [`mail`] holds
//! their JSON types, [`smtp`] submits the mail it sends. [`tls`] terminates TLS and reloads certificates,
//! [`auth`] checks API keys and tokens, [`access`] refuses blocked client
//! addresses, [`ratelimit`] holds the request budgets, [`audit`] writes the
//! audit log, [`metrics`], [`watch`] and [`shutdown`] serve them all.
//!
//! May depend on `rustymail-config` and the HTTP, TLS and IMAP crates; never
//! on the operator. Each module's doc names the modules it may use; no file
//! imports one that imports it back (`tests/tests/import_cycles.rs`).

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
pub mod smtp;
pub mod tls;
pub mod watch;
