//! Mail fixtures: a real Dovecot ([`dovecot`]), a data plane in front of it
//! ([`harness`]), an HTTPS client ([`client`]), direct IMAP access for
//! checking what the server holds ([`direct`]), sample messages
//! ([`samples`]), and a real Postfix for sending ([`postfix`]).
//!
//! May depend on, in this crate: `bench`.

pub mod client;
pub mod daemon;
pub mod direct;
pub mod dovecot;
pub mod harness;
pub mod postfix;
pub mod proxy;
pub mod samples;

/// Errors of the mail fixtures: reported, and fatal to the test.
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
