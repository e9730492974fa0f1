//! A page of a folder, from the [`Cache`] where it is provably current.
//!
//! - A folder listed before, on a server with CONDSTORE: `STATUS` first; a
//!   page fetched under exactly that state (HIGHESTMODSEQ included) is
//!   served as it is.
//! - With QRESYNC and a [`Mirror`] of the folder: `EXAMINE … (QRESYNC
//!   (uidvalidity modseq))`, whose VANISHED and FETCH answers carry only
//!   what changed since; only the envelopes of new messages are fetched.
//! - Otherwise: `EXAMINE` and `FETCH` of the page, envelopes taken from the
//!   cache where it has them.

use std::collections::HashMap;

use super::{
    Result,
    cache::{Cache, Fixed, FolderState, Gap, Mirror, page_range},
    connect::Connection,
    ops::Commands,
};
use crate::mail::model::MessageSummary;

/// A page of a folder.
#[derive(Debug, Clone)]
pub struct Page {
    /// Messages in the folder.
    pub total: u32,
    /// The page, newest first.
    pub messages: Vec<MessageSummary>,
}

/// The page of `limit` messages of `wire` after skipping `offset`, newest
/// first.
pub async fn list(
    cmd: &Commands<'_>,
    c: &mut Connection,
    cache: &Cache,
    wire: &str,
    offset: u32,
    limit: u32,
) -> Result<Page> {
    let known = cache.knows(wire);
    let mut mirror = None;
    if c.capabilities.condstore && known {
        let state = cmd.status(c, wire).await?;
        if let Some(messages) = cache.page(wire, &state, offset, limit) {
            return Ok(Page {
                total: state.messages,
                messages,
            });
        }
        if c.capabilities.qresync {
            mirror = cache.take_mirror(wire, state.uid_validity);
        }
    }
    if c.capabilities.qresync {
        return resync(cmd, c, cache, wire, mirror, offset, limit).await;
    }
    let state = cmd.examine(c, wire).await?;
    let Some((lo, hi)) = page_range(state.messages, offset, limit) else {
        return Ok(Page {
            total: state.messages,
            messages: Vec::new(),
        });
    };
    let (messages, fetched) = cmd
        .summaries(
            c,
            lo,
            hi,
            |uids| cache.envelopes(wire, state.uid_validity, uids),
            known,
        )
        .await?;
    cache.put_envelopes(wire, state.uid_validity, fetched);
    cache.put_page(wire, state, offset, limit, &messages);
    Ok(Page {
        total: state.messages,
        messages,
    })
}

/// The page through a [`Mirror`]: brought up to date by QRESYNC when there
/// is one, started empty when not.
async fn resync(
    cmd: &Commands<'_>,
    c: &mut Connection,
    cache: &Cache,
    wire: &str,
    mirror: Option<Mirror>,
    offset: u32,
    limit: u32,
) -> Result<Page> {
    let (state, mirror) = match mirror {
        Some(mut mirror) => {
            let (state, answer) = cmd.examine_qresync(c, wire, &mirror.state).await?;
            let changed = answer
                .fetched
                .into_iter()
                .filter_map(|f| Some((f.uid?, f.flags?)));
            let current = mirror.apply(state, &answer.vanished, changed);
            (state, current.then_some(mirror))
        }
        None => {
            let state = cmd.examine(c, wire).await?;
            (state, None)
        }
    };
    let Some(mut mirror) = mirror.or_else(|| Mirror::empty(state)) else {
        // No HIGHESTMODSEQ for this folder: list it as without QRESYNC.
        return plain_page(cmd, c, cache, wire, state, offset, limit).await;
    };
    // Envelopes fetched now, then those the cache has.
    let mut fixed: HashMap<u32, Fixed> = HashMap::new();
    if let Gap::Older { from, to } = mirror.gap(offset, limit) {
        // The page's own messages with their envelopes, those between it
        // and the mirror with their flags only.
        let (lo, hi) = page_range(state.messages, offset, limit).unwrap_or((from, to));
        let mut fetched = Vec::new();
        if hi < to {
            fetched.extend(cmd.flags_at(c, hi + 1, to).await?);
        }
        let (with_envelopes, envelopes) = cmd.summaries_at(c, lo, hi.min(to)).await?;
        cache.put_envelopes(wire, state.uid_validity, envelopes.iter().cloned());
        fixed.extend(envelopes);
        fetched.extend(with_envelopes);
        if !mirror.extend_down(from, fetched) {
            return plain_page(cmd, c, cache, wire, state, offset, limit).await;
        }
    }
    let page = mirror.page(offset, limit);
    let cached: Vec<u32> = page
        .iter()
        .map(|(u, _)| *u)
        .filter(|u| !fixed.contains_key(u))
        .collect();
    if !cached.is_empty() {
        fixed.extend(cache.envelopes(wire, state.uid_validity, &cached));
    }
    let missing: Vec<u32> = cached
        .into_iter()
        .filter(|u| !fixed.contains_key(u))
        .collect();
    if !missing.is_empty() {
        let added = cmd.envelopes(c, &missing).await?;
        fixed.extend(added.iter().cloned());
        cache.put_envelopes(wire, state.uid_validity, added);
    }
    let messages: Vec<MessageSummary> = page
        .into_iter()
        .filter_map(|(uid, flags)| {
            let entry = fixed.remove(&uid)?;
            Some(MessageSummary {
                uid,
                flags,
                size: entry.size,
                envelope: entry.envelope,
            })
        })
        .collect();
    cache.put_page(wire, state, offset, limit, &messages);
    cache.put_mirror(wire, mirror);
    Ok(Page {
        total: state.messages,
        messages,
    })
}

/// The page of the selected folder in `state`, fetched whole.
async fn plain_page(
    cmd: &Commands<'_>,
    c: &mut Connection,
    cache: &Cache,
    wire: &str,
    state: FolderState,
    offset: u32,
    limit: u32,
) -> Result<Page> {
    let Some((lo, hi)) = page_range(state.messages, offset, limit) else {
        return Ok(Page {
            total: state.messages,
            messages: Vec::new(),
        });
    };
    let (messages, fetched) = cmd.summaries(c, lo, hi, |_| HashMap::new(), false).await?;
    cache.put_envelopes(wire, state.uid_validity, fetched);
    cache.put_page(wire, state, offset, limit, &messages);
    Ok(Page {
        total: state.messages,
        messages,
    })
}
