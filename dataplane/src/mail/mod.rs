//! Mail as the API shows it: the JSON types of folders, envelopes, messages
//! and attachments ([`model`]), and how raw RFC 822 bytes become them
//! ([`mime`]). Pure: no I/O.
//!
//! Depends on no other module of this crate.

pub mod mime;
pub mod model;
