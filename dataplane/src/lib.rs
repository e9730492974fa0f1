//! RustyMail data plane: an HTTPS REST API over IMAP mailboxes.
//!
//! [`config`] is the contract with the operator, which renders the data
//! plane's config file from these same types.

#![warn(missing_docs)]

pub mod config;
