//! The commands on messages: listing pages, fetching one, flags, moves,
//! appends, expunges and searches.

use std::collections::HashMap;

use super::{Commands, Context, flag_names};
use crate::{
    imap::{
        ImapError, Result,
        cache::Fixed,
        connect::Connection,
        exchange::{self, Fetched, Placed},
        query,
    },
    mail::model::MessageSummary,
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

impl Commands<'_> {
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
        folder: crate::imap::utf7::decode(folder).unwrap_or_else(|_| folder.to_owned()),
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
