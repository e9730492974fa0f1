//! The IMAP side of the data plane.
//!
//! ```text
//!  handler ─▶ Accounts ─▶ Account ─▶ Pool ─(lease)─▶ Connection ─▶ IMAP server
//!                          │  └ Credentials (files, re-read on change)
//!                          └ Cache (envelopes per folder, checked by UIDVALIDITY,
//!                                   UIDNEXT, MESSAGES, HIGHESTMODSEQ; a QRESYNC
//!                                   mirror of the newest UIDs and flags)
//! ```
//!
//! - [`connect`]: TCP, implicit TLS or STARTTLS (rustls), login, timeouts.
//! - [`credentials`]: the username and password files, watched.
//! - [`pool`]: a bounded pool of logged-in connections per account.
//! - [`ops`]: the IMAP commands behind each API operation; [`exchange`]
//!   runs one to its tagged answer.
//! - [`listing`]: a folder's page, from the cache where it is current.
//! - [`cache`]: the envelope cache and the QRESYNC mirror (pure).
//! - [`envelope`]: an IMAP ENVELOPE as the API's envelope (pure).
//! - [`account`]: one account's pool, cache and operations; [`Accounts`].
//! - [`utf7`], [`query`]: mailbox names and command arguments (pure).
//!
//! May depend on, in this crate: `config`, `mail`, `metrics`, `watch`.

pub mod account;
pub mod cache;
pub mod connect;
pub mod credentials;
pub mod envelope;
pub mod exchange;
pub mod listing;
pub mod ops;
pub mod pool;
pub mod query;
pub mod utf7;

use std::time::Duration;

pub use self::account::{Account, Accounts};

/// How long a client is asked to wait before retrying when the IMAP server
/// cannot be reached.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Why an IMAP operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImapError {
    /// No account has this name.
    #[error("no account named {0:?}")]
    UnknownAccount(String),
    /// The server could not be reached, or the connection broke.
    #[error("the IMAP server of account {account:?} cannot be reached: {reason}")]
    Unreachable {
        /// The account's name.
        account: String,
        /// What failed.
        reason: String,
    },
    /// The server did not answer in time.
    #[error("the IMAP server of account {account:?} did not answer {what} in time")]
    Timeout {
        /// The account's name.
        account: String,
        /// The command or step.
        what: &'static str,
    },
    /// Every connection of the account is busy for longer than a command may take.
    #[error("all {max} IMAP connections of account {account:?} are busy")]
    Busy {
        /// The account's name.
        account: String,
        /// The pool's size.
        max: u32,
    },
    /// The server's certificate or the TLS handshake was refused.
    #[error("TLS with the IMAP server of account {account:?} failed: {reason}")]
    Tls {
        /// The account's name.
        account: String,
        /// What failed.
        reason: String,
    },
    /// The server refused the login.
    #[error(
        "the IMAP server refused the login of account {account:?}; check the account's username and password"
    )]
    Auth {
        /// The account's name.
        account: String,
    },
    /// The username or password file cannot be read.
    #[error("cannot read the credentials of account {account:?}: {reason}")]
    Credentials {
        /// The account's name.
        account: String,
        /// What failed (file and OS error; never the content).
        reason: String,
    },
    /// The folder does not exist.
    #[error("no folder {0:?}")]
    NoFolder(String),
    /// The folder has no message with this UID.
    #[error("no message with UID {uid} in folder {folder:?}")]
    NoMessage {
        /// The folder.
        folder: String,
        /// The UID.
        uid: u32,
    },
    /// The message has no attachment at this index.
    #[error("message {uid} has no attachment {index}")]
    NoAttachment {
        /// The message's UID.
        uid: u32,
        /// The index asked for.
        index: u32,
    },
    /// A request parameter cannot be used.
    #[error(transparent)]
    Query(#[from] query::QueryError),
    /// The server refused a command (NO or BAD) for a reason of its own.
    #[error("the IMAP server refused {command}: {message}")]
    Refused {
        /// The command.
        command: &'static str,
        /// The server's text.
        message: String,
    },
    /// The server answered something unexpected.
    #[error("unexpected IMAP answer to {command}: {message}")]
    Protocol {
        /// The command.
        command: &'static str,
        /// What was wrong.
        message: String,
    },
}

impl ImapError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownAccount(_) => "unknown_account",
            Self::Unreachable { .. } => "unreachable",
            Self::Timeout { .. } => "timeout",
            Self::Busy { .. } => "busy",
            Self::Tls { .. } => "tls",
            Self::Auth { .. } => "auth",
            Self::Credentials { .. } => "credentials",
            Self::NoFolder(_) => "no_folder",
            Self::NoMessage { .. } => "no_message",
            Self::NoAttachment { .. } => "no_attachment",
            Self::Query(_) => "bad_query",
            Self::Refused { .. } => "refused",
            Self::Protocol { .. } => "protocol",
        }
    }

    /// Whether the connection that produced this error must be dropped.
    pub fn breaks_connection(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::Timeout { .. }
                | Self::Tls { .. }
                | Self::Protocol { .. }
        )
    }
}

/// The result of IMAP operations.
pub type Result<T, E = ImapError> = std::result::Result<T, E>;
