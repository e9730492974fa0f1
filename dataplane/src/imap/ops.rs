//! The IMAP commands behind each API operation, on one connection. Folder
//! names arrive here already in modified UTF-7; async-imap quotes them.

use std::{collections::HashMap, future::Future, time::Instant};

use async_imap::types::{Mailbox, NameAttribute};
use futures::TryStreamExt;

use super::{
    ImapError, Result,
    cache::{Fixed, FolderState},
    connect::Connection,
    exchange::{self, Answer, Fetched, Placed, exchange},
    query,
};
use crate::{
    mail::model::{Folder, MessageSummary},
    metrics::Metrics,
};

/// What a listing fetches of each message whose envelope it needs: the same
/// items a stateless mail client asks for.
const SUMMARY: &str = "(UID FLAGS RFC822.SIZE ENVELOPE)";

/// Where a message was put: its folder's UIDVALIDITY and its UID there, as
/// the server reported them (UIDPLUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewUid {
    /// The destination's UIDVALIDITY.
    pub uid_validity: u32,
    /// The message's UID in the destination.
    pub uid: u32,
}

/// Runs IMAP commands for one account, timing each by command.
pub struct Commands<'a> {
    /// The account's name, for errors.
    pub account: &'a str,
    /// Where latencies are recorded.
    pub metrics: &'a Metrics,
}

/// What a failed command means, given the folder it was about.
#[derive(Debug, Clone, Copy)]
enum Context<'a> {
    /// A NO is the server's own refusal.
    Plain,
    /// A NO means the folder does not exist.
    Folder(&'a str),
}

impl Commands<'_> {
    async fn timed<T>(&self, command: &'static str, fut: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = fut.await;
        self.metrics
            .observe_imap_command(command, started.elapsed().as_secs_f64());
        out
    }

    fn error(
        &self,
        command: &'static str,
        context: Context<'_>,
        e: async_imap::error::Error,
    ) -> ImapError {
        use async_imap::error::Error as E;
        match e {
            E::No(text) => match context {
                Context::Folder(folder) => ImapError::NoFolder(
                    super::utf7::decode(folder).unwrap_or_else(|_| folder.to_owned()),
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
                name: super::utf7::decode(n.name()).unwrap_or_else(|_| n.name().to_owned()),
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
    async fn exchange(
        &self,
        c: &mut Connection,
        name: &'static str,
        command: &str,
    ) -> Result<Answer> {
        self.exchange_in(c, name, Context::Plain, command).await
    }

    /// [`Self::exchange`], a NO read in `context`.
    async fn exchange_in(
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
    async fn fetch(
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

    /// The summaries of the messages at sequence numbers `lo..=hi` of the
    /// selected folder, newest first, envelopes taken from `known` where
    /// present; returns the envelopes it had to fetch too.
    pub async fn summaries(
        &self,
        c: &mut Connection,
        lo: u32,
        hi: u32,
        known: impl Fn(&[u32]) -> HashMap<u32, Fixed>,
        all_known: bool,
    ) -> Result<(Vec<MessageSummary>, Vec<(u32, Fixed)>)> {
        let set = format!("{lo}:{hi}");
        if !all_known {
            let fetched = self.fetch(c, false, &set, SUMMARY).await?;
            return Ok(full_summaries(fetched));
        }
        let flags = self
            .fetch(c, false, &set, "(UID FLAGS RFC822.SIZE)")
            .await?;
        let uids: Vec<u32> = flags.iter().filter_map(|f| f.uid).collect();
        let mut fixed = known(&uids);
        let missing: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|u| !fixed.contains_key(u))
            .collect();
        let mut added = Vec::new();
        if !missing.is_empty() {
            added = self.envelopes(c, &missing).await?;
            fixed.extend(added.iter().cloned());
        }
        let mut page: Vec<MessageSummary> = flags
            .iter()
            .filter_map(|f| {
                let uid = f.uid?;
                let entry = fixed.get(&uid)?;
                Some(MessageSummary {
                    uid,
                    flags: flag_names(f),
                    size: entry.size,
                    envelope: entry.envelope.clone(),
                })
            })
            .collect();
        page.sort_by_key(|m| std::cmp::Reverse(m.uid));
        Ok((page, added))
    }

    /// The sizes and envelopes of the messages with `uids` in the selected
    /// folder.
    pub async fn envelopes(&self, c: &mut Connection, uids: &[u32]) -> Result<Vec<(u32, Fixed)>> {
        let fetched = self
            .fetch(c, true, &uid_set(uids), "(UID RFC822.SIZE ENVELOPE)")
            .await?;
        Ok(fetched
            .into_iter()
            .filter_map(|f| {
                Some((
                    f.uid?,
                    Fixed {
                        size: f.size.unwrap_or(0),
                        envelope: f.envelope.unwrap_or_default(),
                    },
                ))
            })
            .collect())
    }

    /// The UIDs and flags of the messages at sequence numbers `lo..=hi` of
    /// the selected folder.
    pub async fn flags_at(
        &self,
        c: &mut Connection,
        lo: u32,
        hi: u32,
    ) -> Result<Vec<(u32, Vec<String>)>> {
        let fetched = self
            .fetch(c, false, &format!("{lo}:{hi}"), "(UID FLAGS)")
            .await?;
        Ok(fetched
            .into_iter()
            .filter_map(|f| Some((f.uid?, f.flags.unwrap_or_default())))
            .collect())
    }

    /// The UIDs and flags of the messages at sequence numbers `lo..=hi` of
    /// the selected folder, and their sizes and envelopes.
    pub async fn summaries_at(
        &self,
        c: &mut Connection,
        lo: u32,
        hi: u32,
    ) -> Result<(Vec<(u32, Vec<String>)>, Vec<(u32, Fixed)>)> {
        let fetched = self.fetch(c, false, &format!("{lo}:{hi}"), SUMMARY).await?;
        let mut flags = Vec::with_capacity(fetched.len());
        let mut fixed = Vec::with_capacity(fetched.len());
        for f in fetched {
            let Some(uid) = f.uid else { continue };
            flags.push((uid, f.flags.unwrap_or_default()));
            fixed.push((
                uid,
                Fixed {
                    size: f.size.unwrap_or(0),
                    envelope: f.envelope.unwrap_or_default(),
                },
            ));
        }
        Ok((flags, fixed))
    }

    /// Summaries of the messages with `uids` in the selected folder, newest first.
    pub async fn summaries_by_uid(
        &self,
        c: &mut Connection,
        uids: &[u32],
    ) -> Result<Vec<MessageSummary>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let fetched = self.fetch(c, true, &uid_set(uids), SUMMARY).await?;
        Ok(full_summaries(fetched).0)
    }

    /// The whole message `uid` of the selected folder: flags, size, bytes.
    pub async fn message(
        &self,
        c: &mut Connection,
        folder: &str,
        uid: u32,
    ) -> Result<(Vec<String>, u32, Vec<u8>)> {
        let fetched = self
            .fetch(
                c,
                true,
                &uid.to_string(),
                "(UID FLAGS RFC822.SIZE BODY.PEEK[])",
            )
            .await?;
        let f = fetched
            .into_iter()
            .find(|f| f.uid == Some(uid) && f.body.is_some())
            .ok_or_else(|| no_message(folder, uid))?;
        Ok((
            flag_names(&f),
            f.size.unwrap_or(0),
            f.body.unwrap_or_default(),
        ))
    }

    /// Fails with [`ImapError::NoMessage`] unless the selected folder has `uid`.
    pub async fn require_uid(&self, c: &mut Connection, folder: &str, uid: u32) -> Result<()> {
        let fetched = self.fetch(c, true, &uid.to_string(), "(UID)").await?;
        if fetched.iter().any(|f| f.uid == Some(uid)) {
            Ok(())
        } else {
            Err(no_message(folder, uid))
        }
    }

    /// Changes the flags of `uid` in the selected folder (`FLAGS`, `+FLAGS`
    /// or `-FLAGS`) and returns them as they are after the change.
    pub async fn store(
        &self,
        c: &mut Connection,
        folder: &str,
        uid: u32,
        item: &str,
        flags: &[String],
    ) -> Result<Vec<String>> {
        self.require_uid(c, folder, uid).await?;
        let mut checked = Vec::with_capacity(flags.len());
        for f in flags {
            checked.push(query::flag(f)?);
        }
        let command = format!("UID STORE {uid} {item} ({})", checked.join(" "));
        let out = self.exchange(c, "UID STORE", &command).await?.fetched;
        match out.iter().find(|f| f.uid == Some(uid) && f.flags.is_some()) {
            Some(f) => Ok(flag_names(f)),
            None => {
                let now = self.fetch(c, true, &uid.to_string(), "(UID FLAGS)").await?;
                now.iter()
                    .find(|f| f.uid == Some(uid))
                    .map(flag_names)
                    .ok_or_else(|| no_message(folder, uid))
            }
        }
    }

    /// Moves `uid` from the selected folder to `dest`: UID MOVE where the
    /// server has it, else COPY, STORE \Deleted and UID EXPUNGE of that UID
    /// alone. Whatever fails between the steps, the message stays in at
    /// least one folder: the original is marked and expunged only once the
    /// copy succeeded.
    ///
    /// Returns the message's UID in `dest` where the server reports it
    /// (COPYUID, UIDPLUS).
    pub async fn move_message(
        &self,
        c: &mut Connection,
        folder: &str,
        uid: u32,
        dest: &str,
    ) -> Result<Option<NewUid>> {
        self.require_uid(c, folder, uid).await?;
        let to = query::mailbox(dest)?;
        if c.capabilities.moves {
            let answer = self
                .exchange_in(
                    c,
                    "UID MOVE",
                    Context::Folder(dest),
                    &format!("UID MOVE {uid} {to}"),
                )
                .await?;
            return Ok(copied(answer.placed, uid));
        }
        let answer = self
            .exchange_in(
                c,
                "UID COPY",
                Context::Folder(dest),
                &format!("UID COPY {uid} {to}"),
            )
            .await?;
        self.expunge_uid(c, uid).await?;
        Ok(copied(answer.placed, uid))
    }

    /// Marks `uid` \Deleted and expunges that UID alone (UIDPLUS); without
    /// UIDPLUS the message stays marked \Deleted until the next expunge.
    pub async fn expunge_uid(&self, c: &mut Connection, uid: u32) -> Result<()> {
        self.exchange(
            c,
            "UID STORE",
            &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
        )
        .await?;
        if c.capabilities.uidplus {
            self.exchange(c, "UID EXPUNGE", &format!("UID EXPUNGE {uid}"))
                .await?;
        }
        Ok(())
    }

    /// Expunges every \Deleted message of the selected folder; returns how many.
    pub async fn expunge(&self, c: &mut Connection) -> Result<u32> {
        Ok(self.exchange(c, "EXPUNGE", "EXPUNGE").await?.expunged)
    }

    /// Appends a raw RFC 822 message to `wire`; returns its UID there where
    /// the server reports it (APPENDUID, UIDPLUS).
    pub async fn append(
        &self,
        c: &mut Connection,
        wire: &str,
        raw: &[u8],
    ) -> Result<Option<NewUid>> {
        let mailbox = query::mailbox(wire)?;
        let answer = self
            .timed("APPEND", exchange::append(c, &mailbox, raw))
            .await
            .map_err(|e| self.error("APPEND", Context::Folder(wire), e))?;
        Ok(match answer.placed {
            Some(Placed::Append { uid_validity, uids }) if uids.len() == 1 => Some(NewUid {
                uid_validity,
                uid: uids[0],
            }),
            _ => None,
        })
    }

    /// The UIDs of the selected folder matching `criteria`.
    pub async fn search(&self, c: &mut Connection, criteria: &query::Criteria) -> Result<Vec<u32>> {
        let key = criteria.to_imap(c.capabilities.literals())?;
        let found = self
            .timed("UID SEARCH", c.session.uid_search(&key))
            .await
            .map_err(|e| self.error("UID SEARCH", Context::Plain, e))?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable_by_key(|u| std::cmp::Reverse(*u));
        Ok(uids)
    }
}

fn no_message(folder: &str, uid: u32) -> ImapError {
    ImapError::NoMessage {
        folder: super::utf7::decode(folder).unwrap_or_else(|_| folder.to_owned()),
        uid,
    }
}

/// The destination UID of `uid` in a COPYUID.
fn copied(placed: Option<Placed>, uid: u32) -> Option<NewUid> {
    match placed {
        Some(Placed::Copy {
            uid_validity,
            from,
            to,
        }) if from.len() == to.len() => from.iter().position(|u| *u == uid).map(|i| NewUid {
            uid_validity,
            uid: to[i],
        }),
        _ => None,
    }
}

/// Summaries from fetches that carry envelopes, newest first, and the
/// envelopes to remember.
fn full_summaries(fetched: Vec<Fetched>) -> (Vec<MessageSummary>, Vec<(u32, Fixed)>) {
    let mut page = Vec::with_capacity(fetched.len());
    let mut fixed = Vec::with_capacity(fetched.len());
    for f in fetched {
        let Some(uid) = f.uid else { continue };
        let entry = Fixed {
            size: f.size.unwrap_or(0),
            envelope: f.envelope.unwrap_or_default(),
        };
        page.push(MessageSummary {
            uid,
            flags: f.flags.unwrap_or_default(),
            size: entry.size,
            envelope: entry.envelope.clone(),
        });
        fixed.push((uid, entry));
    }
    page.sort_by_key(|m| std::cmp::Reverse(m.uid));
    (page, fixed)
}

/// A compact UID set: `1:3,7`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

fn state(m: &Mailbox) -> FolderState {
    FolderState {
        uid_validity: m.uid_validity.unwrap_or(0),
        uid_next: m.uid_next.unwrap_or(0),
        messages: m.exists,
        highest_modseq: m.highest_modseq,
    }
}

fn flag_names(f: &Fetched) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_collapse_runs() {
        assert_eq!(uid_set(&[7, 1, 2, 3, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }
}
