//! Why a mail operation failed, whatever the interface.

use crate::{auth::scope::Scope, imap::ImapError, ratelimit::Limited};

/// An error of a mail operation; each interface answers it in its own terms.
#[derive(Debug)]
pub enum MailError {
    /// From the IMAP layer.
    Imap(ImapError),
    /// A parameter or the body is malformed; the message names it.
    BadRequest(String),
    /// The caller's credential does not carry the scope the operation needs.
    Forbidden(Scope),
    /// The caller's budget does not cover the operation's cost.
    Limited(Limited),
    /// A send was refused or failed.
    Send(super::send::SendError),
}

impl From<ImapError> for MailError {
    fn from(e: ImapError) -> Self {
        Self::Imap(e)
    }
}

impl MailError {
    /// A short label for audit lines, e.g. `no_folder` or `bad_parameter`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Imap(e) => e.kind(),
            Self::BadRequest(_) => "bad_parameter",
            Self::Forbidden(_) => "forbidden",
            Self::Limited(_) => "rate_limited",
            Self::Send(e) => e.kind(),
        }
    }
}

/// A folder name from a client: not empty, no control characters; `param`
/// names it in the error.
pub fn check_name(param: &str, name: &str) -> Result<(), MailError> {
    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(MailError::BadRequest(format!(
            "parameter `{param}`: a folder name is 1 to 255 bytes without control characters"
        )));
    }
    Ok(())
}

/// `uid` must name a message: UIDs start at 1 (RFC 9051, 2.3.1.1), and an
/// IMAP server answers `BAD` to 0, which would reach the client as a 502.
pub(super) fn check_uid(uid: u32) -> Result<(), MailError> {
    if uid == 0 {
        return Err(MailError::BadRequest(
            "parameter `uid`: message UIDs start at 1".to_owned(),
        ));
    }
    Ok(())
}

/// Page size when none is asked for.
const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
const MAX_LIMIT: u32 = 100;

/// A page size from a client, 1 to 100, [`DEFAULT_LIMIT`] when not given.
pub(super) fn limit(param: &str, limit: Option<u32>) -> Result<u32, MailError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(MailError::BadRequest(format!(
            "parameter `{param}`: {n} is not between 1 and {MAX_LIMIT}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_outside_1_to_100_name_the_parameter() {
        assert_eq!(limit("limit", None).ok(), Some(50));
        assert_eq!(limit("limit", Some(100)).ok(), Some(100));
        for bad in [0, 101] {
            let Err(MailError::BadRequest(m)) = limit("limit", Some(bad)) else {
                panic!("{bad} accepted");
            };
            assert!(m.contains("`limit`"), "{m}");
        }
    }
}
