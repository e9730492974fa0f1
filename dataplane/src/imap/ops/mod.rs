//! The IMAP commands behind each API operation, on one connection. Folder
//! names arrive here already in modified UTF-7, and are quoted by
//! async-imap or [`query::mailbox`]. Folders and mailbox state here; the
//! commands on messages in [`messages`].

mod messages;

use std::{future::Future, time::Instant};

use async_imap::types::{Mailbox, NameAttribute};
use futures::TryStreamExt;

pub use self::messages::{NewUid, uid_set};
use super::{
    ImapError, Result,
    cache::FolderState,
    connect::Connection,
    exchange::{Answer, Fetched, exchange},
    query,
};
use crate::{mail::model::Folder, metrics::Metrics};

/// Runs IMAP commands for one account, timing each by command.
pub struct Commands<'a> {
    /// The account's name, for errors.
    pub account: &'a str,
    /// Where latencies are recorded.
    pub metrics: &'a Metrics,
}

/// What a failed command means, given the folder it was about.
#[derive(Debug, Clone, Copy)]
pub(super) enum Context<'a> {
    /// A NO is the server's own refusal.
    Plain,
    /// A NO means the folder does not exist.
    Folder(&'a str),
}

impl Commands<'_> {
    pub(super) async fn timed<T>(&self, command: &'static str, fut: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = fut.await;
        self.metrics
            .observe_imap_command(command, started.elapsed().as_secs_f64());
        out
    }

    pub(super) fn error(
        &self,
        command: &'static str,
        context: Context<'_>,
        e: async_imap::error::Error,
    ) -> ImapError {
        use async_imap::error::Error as E;
        match e {
            E::No(text) => match context {
                Context::Folder(folder) => ImapError::NoFolder(
                    crate::imap::utf7::decode(folder).unwrap_or_else(|_| folder.to_owned()),
                ),
                Context::Plain => ImapError::Refused {
                    command,
                    message: text,
                },
            },
            E::Bad(text) => ImapError::Protocol {
                command,
                message: format!("BAD {text}"),
            },
            E::Io(e) => ImapError::Unreachable {
                account: self.account.to_owned(),
                reason: format!("{command}: {e}"),
            },
            E::ConnectionLost => ImapError::Unreachable {
                account: self.account.to_owned(),
                reason: format!("{command}: connection lost"),
            },
            other => ImapError::Protocol {
                command,
                message: other.to_string(),
            },
        }
    }

    /// NOOP: the connection works.
    pub async fn noop(&self, c: &mut Connection) -> Result<()> {
        self.timed("NOOP", c.session.noop())
            .await
            .map_err(|e| self.error("NOOP", Context::Plain, e))
    }

    /// Every folder, names decoded to UTF-8.
    pub async fn folders(&self, c: &mut Connection) -> Result<Vec<Folder>> {
        let names: Vec<_> = self
            .timed("LIST", async {
                c.session
                    .list(Some(""), Some("*"))
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await
            .map_err(|e| self.error("LIST", Context::Plain, e))?;
        Ok(names
            .iter()
            .map(|n| Folder {
                name: crate::imap::utf7::decode(n.name()).unwrap_or_else(|_| n.name().to_owned()),
                delimiter: n.delimiter().map(str::to_owned),
                attributes: n.attributes().iter().map(attribute).collect(),
            })
            .collect())
    }

    /// Creates a folder.
    pub async fn create(&self, c: &mut Connection, wire: &str) -> Result<()> {
        self.timed("CREATE", c.session.create(wire))
            .await
            .map_err(|e| self.error("CREATE", Context::Plain, e))
    }

    /// Renames a folder.
    pub async fn rename(&self, c: &mut Connection, from: &str, to: &str) -> Result<()> {
        self.exists(c, from).await?;
        self.timed("RENAME", c.session.rename(from, to))
            .await
            .map_err(|e| self.error("RENAME", Context::Plain, e))
    }

    /// Deletes a folder.
    pub async fn delete_folder(&self, c: &mut Connection, wire: &str) -> Result<()> {
        self.exists(c, wire).await?;
        self.leave(c).await?;
        self.timed("DELETE", c.session.delete(wire))
            .await
            .map_err(|e| self.error("DELETE", Context::Plain, e))
    }

    /// Fails with [`ImapError::NoFolder`] unless `wire` exists.
    async fn exists(&self, c: &mut Connection, wire: &str) -> Result<()> {
        self.status(c, wire).await.map(|_| ())
    }

    /// Leaves the selected mailbox, if any: STATUS of a mailbox this
    /// connection has selected may show the connection's own, older view
    /// (Dovecot does), and a folder cannot be deleted while selected.
    /// UNSELECT where the server has it; else NOOP, which brings the view up
    /// to date.
    pub async fn leave(&self, c: &mut Connection) -> Result<()> {
        if !c.selected {
            return Ok(());
        }
        if c.capabilities.unselect {
            self.timed("UNSELECT", c.session.run_command_and_check_ok("UNSELECT"))
                .await
                .map_err(|e| self.error("UNSELECT", Context::Plain, e))?;
            c.selected = false;
            Ok(())
        } else {
            self.noop(c).await
        }
    }

    /// The folder's state without selecting it.
    pub async fn status(&self, c: &mut Connection, wire: &str) -> Result<FolderState> {
        self.leave(c).await?;
        let items = if c.capabilities.condstore {
            "(MESSAGES UIDNEXT UIDVALIDITY HIGHESTMODSEQ)"
        } else {
            "(MESSAGES UIDNEXT UIDVALIDITY)"
        };
        let mailbox = self
            .timed("STATUS", c.session.status(wire, items))
            .await
            .map_err(|e| self.error("STATUS", Context::Folder(wire), e))?;
        Ok(state(&mailbox))
    }

    /// Opens `wire` read-only.
    pub async fn examine(&self, c: &mut Connection, wire: &str) -> Result<FolderState> {
        // A refused EXAMINE leaves no mailbox selected (RFC 3501 6.3.1).
        let mailbox = self.timed("EXAMINE", c.session.examine(wire)).await;
        c.selected = mailbox.is_ok();
        let mailbox = mailbox.map_err(|e| self.error("EXAMINE", Context::Folder(wire), e))?;
        Ok(state(&mailbox))
    }

    /// Opens `wire` read-only, telling the server the state `known` was
    /// current at (QRESYNC): the answer carries the UIDs vanished since and
    /// the flags of the messages changed or added since.
    pub async fn examine_qresync(
        &self,
        c: &mut Connection,
        wire: &str,
        known: &FolderState,
    ) -> Result<(FolderState, Answer)> {
        let command = format!(
            "EXAMINE {} (QRESYNC ({} {}))",
            query::mailbox(wire)?,
            known.uid_validity,
            known.highest_modseq.unwrap_or(0),
        );
        let answer = self
            .timed("EXAMINE", exchange(c, &command))
            .await
            .map_err(|e| self.error("EXAMINE", Context::Folder(wire), e));
        // A refused EXAMINE leaves no mailbox selected (RFC 3501 6.3.1).
        c.selected = answer.is_ok();
        let answer = answer?;
        let o = answer.opened;
        let state = FolderState {
            uid_validity: o.uid_validity.unwrap_or(0),
            uid_next: o.uid_next.unwrap_or(0),
            messages: o.exists.unwrap_or(0),
            highest_modseq: o.highest_modseq,
        };
        Ok((state, answer))
    }

    /// Opens `wire` for changes.
    pub async fn select(&self, c: &mut Connection, wire: &str) -> Result<FolderState> {
        // A refused SELECT leaves no mailbox selected (RFC 3501 6.3.1).
        let mailbox = self.timed("SELECT", c.session.select(wire)).await;
        c.selected = mailbox.is_ok();
        let mailbox = mailbox.map_err(|e| self.error("SELECT", Context::Folder(wire), e))?;
        Ok(state(&mailbox))
    }

    /// Runs `command` named `name` to its tagged answer.
    pub(super) async fn exchange(
        &self,
        c: &mut Connection,
        name: &'static str,
        command: &str,
    ) -> Result<Answer> {
        self.exchange_in(c, name, Context::Plain, command).await
    }

    /// [`Self::exchange`], a NO read in `context`.
    pub(super) async fn exchange_in(
        &self,
        c: &mut Connection,
        name: &'static str,
        context: Context<'_>,
        command: &str,
    ) -> Result<Answer> {
        self.timed(name, exchange(c, command))
            .await
            .map_err(|e| self.error(name, context, e))
    }

    /// Fetches `query` for the messages `set` (sequence numbers, or UIDs
    /// when `uid`).
    pub(super) async fn fetch(
        &self,
        c: &mut Connection,
        uid: bool,
        set: &str,
        query: &str,
    ) -> Result<Vec<Fetched>> {
        let (name, prefix) = if uid {
            ("UID FETCH", "UID FETCH")
        } else {
            ("FETCH", "FETCH")
        };
        Ok(self
            .exchange(c, name, &format!("{prefix} {set} {query}"))
            .await?
            .fetched)
    }
}

fn state(m: &Mailbox) -> FolderState {
    FolderState {
        uid_validity: m.uid_validity.unwrap_or(0),
        uid_next: m.uid_next.unwrap_or(0),
        messages: m.exists,
        highest_modseq: m.highest_modseq,
    }
}

pub(super) fn flag_names(f: &Fetched) -> Vec<String> {
    f.flags.clone().unwrap_or_default()
}

fn attribute(a: &NameAttribute<'_>) -> String {
    match a {
        NameAttribute::NoInferiors => "\\Noinferiors".to_owned(),
        NameAttribute::NoSelect => "\\Noselect".to_owned(),
        NameAttribute::Marked => "\\Marked".to_owned(),
        NameAttribute::Unmarked => "\\Unmarked".to_owned(),
        NameAttribute::All => "\\All".to_owned(),
        NameAttribute::Archive => "\\Archive".to_owned(),
        NameAttribute::Drafts => "\\Drafts".to_owned(),
        NameAttribute::Flagged => "\\Flagged".to_owned(),
        NameAttribute::Junk => "\\Junk".to_owned(),
        NameAttribute::Sent => "\\Sent".to_owned(),
        NameAttribute::Trash => "\\Trash".to_owned(),
        NameAttribute::Extension(s) => s.to_string(),
        _ => "\\Unknown".to_owned(),
    }
}
