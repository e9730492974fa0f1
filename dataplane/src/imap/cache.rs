//! The envelope cache: what a folder listing fetched, kept per folder and
//! trusted only while the folder is provably unchanged.
//!
//! A folder's [`FolderState`] is its UIDVALIDITY, UIDNEXT, message count and,
//! where the server has CONDSTORE, HIGHESTMODSEQ. Envelopes (subject,
//! addresses, date, size) never change for a UID within one UIDVALIDITY, so
//! they are kept across states. Flags change without a new UID: a whole page
//! (UIDs and flags) is reused only when the state, HIGHESTMODSEQ included,
//! is exactly the one it was fetched under. Any append, expunge or flag
//! change moves UIDNEXT, the count or HIGHESTMODSEQ, so a page is never
//! served stale; without CONDSTORE pages are never reused, only envelopes.
//!
//! Where the server has QRESYNC, a folder also keeps a [`Mirror`]: the UIDs
//! and flags of its newest messages as of one HIGHESTMODSEQ. Reopening the
//! folder with that HIGHESTMODSEQ makes the server send only what changed
//! since (VANISHED UIDs, FETCH of changed and new messages), which
//! [`Mirror::apply`] folds in; only the envelopes of new messages are then
//! fetched.

use std::{
    collections::{BTreeMap, HashMap},
    ops::RangeInclusive,
    sync::Mutex,
};

use crate::mail::model::{Envelope, MessageSummary};

/// Envelopes kept per folder at most; beyond it the folder's cache restarts.
const MAX_ENVELOPES: usize = 20_000;
/// Pages kept per folder at most.
const MAX_PAGES: usize = 64;
/// Folders cached per account at most.
const MAX_FOLDERS: usize = 256;

/// What identifies a folder's content at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderState {
    /// UIDVALIDITY: when it changes, every UID means something else.
    pub uid_validity: u32,
    /// UIDNEXT: moves on every new message.
    pub uid_next: u32,
    /// Messages in the folder: falls on every expunge.
    pub messages: u32,
    /// HIGHESTMODSEQ, where the server has CONDSTORE: moves on every change,
    /// flags included.
    pub highest_modseq: Option<u64>,
}

/// An envelope and the message's size, fixed for a UID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    /// The message's size in bytes.
    pub size: u32,
    /// Its envelope.
    pub envelope: Envelope,
}

/// The newest messages of a folder as of one state (QRESYNC): every
/// message whose UID is at least [`Mirror::floor`], with its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// The folder's state the mirror is current for; it has a HIGHESTMODSEQ.
    pub state: FolderState,
    /// Every message with a UID from here up is in `flags`.
    floor: u32,
    flags: BTreeMap<u32, Vec<String>>,
}

/// Which messages a page needs beyond what a [`Mirror`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gap {
    /// The mirror holds the whole page.
    None,
    /// Sequence numbers `from..=to` are older than the mirror's floor.
    Older {
        /// The first sequence number missing.
        from: u32,
        /// The last.
        to: u32,
    },
}

impl Mirror {
    /// An empty mirror of a folder in `state` (which must carry a
    /// HIGHESTMODSEQ): it holds no message yet, so every page is a gap.
    pub fn empty(state: FolderState) -> Option<Self> {
        state.highest_modseq?;
        Some(Self {
            state,
            floor: u32::MAX,
            flags: BTreeMap::new(),
        })
    }

    /// Messages older than the mirror: the folder's count less those held.
    fn below(&self) -> u32 {
        self.state
            .messages
            .saturating_sub(u32::try_from(self.flags.len()).unwrap_or(u32::MAX))
    }

    /// Folds in what reopening the folder with QRESYNC reported: its new
    /// state, the UIDs that vanished and the flags of every message changed
    /// or added since. `false` when the result cannot be right (another
    /// UIDVALIDITY, or counts that do not add up); the mirror must then be
    /// dropped.
    pub fn apply(
        &mut self,
        state: FolderState,
        vanished: &[RangeInclusive<u32>],
        changed: impl IntoIterator<Item = (u32, Vec<String>)>,
    ) -> bool {
        if state.uid_validity != self.state.uid_validity || state.highest_modseq.is_none() {
            return false;
        }
        // Every message from the old UIDNEXT up is new, and reported.
        let old_next = self.state.uid_next;
        for range in vanished {
            let gone: Vec<u32> = self.flags.range(range.clone()).map(|(u, _)| *u).collect();
            for uid in gone {
                self.flags.remove(&uid);
            }
        }
        for (uid, flags) in changed {
            if uid >= self.floor || uid >= old_next {
                self.flags.insert(uid, flags);
            }
        }
        self.floor = self.floor.min(old_next);
        let held = u32::try_from(self.flags.len()).unwrap_or(u32::MAX);
        let complete = self.floor <= 1;
        self.state = state;
        held <= state.messages && (!complete || held == state.messages)
    }

    /// What a page of `limit` after skipping `offset` (newest first) needs
    /// that the mirror does not hold.
    pub fn gap(&self, offset: u32, limit: u32) -> Gap {
        let Some((lo, _)) = page_range(self.state.messages, offset, limit) else {
            return Gap::None;
        };
        let below = self.below();
        if lo <= below {
            Gap::Older {
                from: lo,
                to: below,
            }
        } else {
            Gap::None
        }
    }

    /// Adds the messages at sequence numbers `from..=` up to the mirror's
    /// floor (a [`Gap::Older`]), from `fetched` (UID and flags). `false`
    /// when `fetched` does not hold them all; the mirror must then be
    /// dropped.
    pub fn extend_down(&mut self, from: u32, fetched: Vec<(u32, Vec<String>)>) -> bool {
        let below = self.below();
        if from == 0 || from > below || fetched.len() != (below - from + 1) as usize {
            return false;
        }
        if fetched.iter().any(|(uid, _)| *uid >= self.floor) {
            return false;
        }
        for (uid, flags) in fetched {
            self.floor = self.floor.min(uid);
            self.flags.insert(uid, flags);
        }
        if from == 1 {
            self.floor = 1;
        }
        true
    }

    /// The UIDs and flags of the page of `limit` after skipping `offset`,
    /// newest first; what the mirror holds of it (all, after a [`Gap`] was
    /// filled).
    pub fn page(&self, offset: u32, limit: u32) -> Vec<(u32, Vec<String>)> {
        let Some((lo, hi)) = page_range(self.state.messages, offset, limit) else {
            return Vec::new();
        };
        let first = lo.max(self.below() + 1);
        if first > hi {
            return Vec::new();
        }
        let (skip, take) = (
            (first - self.below() - 1) as usize,
            (hi - first + 1) as usize,
        );
        let mut page: Vec<(u32, Vec<String>)> = self
            .flags
            .iter()
            .skip(skip)
            .take(take)
            .map(|(u, f)| (*u, f.clone()))
            .collect();
        page.reverse();
        page
    }
}

/// The sequence numbers `lo..=hi` of the page of `limit` after skipping
/// `offset` newest first, in a folder of `messages`; `None` past its end.
pub fn page_range(messages: u32, offset: u32, limit: u32) -> Option<(u32, u32)> {
    if offset >= messages || limit == 0 {
        return None;
    }
    let hi = messages - offset;
    Some((hi.saturating_sub(limit - 1).max(1), hi))
}

#[derive(Default)]
struct FolderCache {
    uid_validity: u32,
    envelopes: HashMap<u32, Fixed>,
    pages: HashMap<(u32, u32), (FolderState, Vec<MessageSummary>)>,
    mirror: Option<Mirror>,
}

/// One account's cache, keyed by the folder's wire name.
#[derive(Default)]
pub struct Cache {
    folders: Mutex<HashMap<String, FolderCache>>,
}

impl Cache {
    /// Whether anything is cached for `folder`.
    pub fn knows(&self, folder: &str) -> bool {
        self.lock().contains_key(folder)
    }

    /// The page at `(offset, limit)` fetched under exactly `state`, which
    /// must carry a HIGHESTMODSEQ.
    pub fn page(
        &self,
        folder: &str,
        state: &FolderState,
        offset: u32,
        limit: u32,
    ) -> Option<Vec<MessageSummary>> {
        state.highest_modseq?;
        let folders = self.lock();
        let (at, page) = folders.get(folder)?.pages.get(&(offset, limit))?;
        (at == state).then(|| page.clone())
    }

    /// Keeps a page fetched under `state` (only when it has a HIGHESTMODSEQ).
    pub fn put_page(
        &self,
        folder: &str,
        state: FolderState,
        offset: u32,
        limit: u32,
        page: &[MessageSummary],
    ) {
        if state.highest_modseq.is_none() {
            return;
        }
        let mut folders = self.lock();
        let cache = Self::folder(&mut folders, folder, state.uid_validity);
        if cache.pages.len() >= MAX_PAGES {
            cache.pages.clear();
        }
        cache.pages.insert((offset, limit), (state, page.to_vec()));
    }

    /// The envelopes known for `uids` under `uid_validity`, by UID.
    pub fn envelopes(&self, folder: &str, uid_validity: u32, uids: &[u32]) -> HashMap<u32, Fixed> {
        let folders = self.lock();
        let Some(cache) = folders
            .get(folder)
            .filter(|c| c.uid_validity == uid_validity)
        else {
            return HashMap::new();
        };
        uids.iter()
            .filter_map(|uid| cache.envelopes.get(uid).map(|f| (*uid, f.clone())))
            .collect()
    }

    /// Keeps envelopes fetched under `uid_validity`.
    pub fn put_envelopes(
        &self,
        folder: &str,
        uid_validity: u32,
        fetched: impl IntoIterator<Item = (u32, Fixed)>,
    ) {
        let mut folders = self.lock();
        let cache = Self::folder(&mut folders, folder, uid_validity);
        if cache.envelopes.len() >= MAX_ENVELOPES {
            cache.envelopes.clear();
        }
        cache.envelopes.extend(fetched);
    }

    /// Takes the folder's mirror out of the cache, if it has one for
    /// `uid_validity` (a concurrent listing then works without it).
    pub fn take_mirror(&self, folder: &str, uid_validity: u32) -> Option<Mirror> {
        let mut folders = self.lock();
        let cache = folders.get_mut(folder)?;
        let mirror = cache.mirror.take()?;
        (mirror.state.uid_validity == uid_validity).then_some(mirror)
    }

    /// Keeps `mirror` for the folder (none past [`MAX_ENVELOPES`] messages).
    pub fn put_mirror(&self, folder: &str, mirror: Mirror) {
        if mirror.flags.len() > MAX_ENVELOPES {
            return;
        }
        let mut folders = self.lock();
        let uid_validity = mirror.state.uid_validity;
        Self::folder(&mut folders, folder, uid_validity).mirror = Some(mirror);
    }

    /// Forgets a folder (deleted or renamed).
    pub fn forget(&self, folder: &str) {
        self.lock().remove(folder);
    }

    fn folder<'a>(
        folders: &'a mut HashMap<String, FolderCache>,
        folder: &str,
        uid_validity: u32,
    ) -> &'a mut FolderCache {
        if folders.len() >= MAX_FOLDERS && !folders.contains_key(folder) {
            folders.clear();
        }
        let cache = folders.entry(folder.to_owned()).or_default();
        if cache.uid_validity != uid_validity {
            *cache = FolderCache {
                uid_validity,
                ..FolderCache::default()
            };
        }
        cache
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, FolderCache>> {
        self.folders.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(uid_next: u32, modseq: Option<u64>) -> FolderState {
        FolderState {
            uid_validity: 7,
            uid_next,
            messages: uid_next - 1,
            highest_modseq: modseq,
        }
    }

    fn summary(uid: u32, flags: &[&str]) -> MessageSummary {
        MessageSummary {
            uid,
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            size: 10,
            envelope: Envelope::default(),
        }
    }

    #[test]
    fn a_page_is_served_only_under_the_exact_state_it_was_fetched_in() {
        let cache = Cache::default();
        let s = state(3, Some(10));
        cache.put_page("INBOX", s, 0, 50, &[summary(2, &[]), summary(1, &[])]);
        assert_eq!(cache.page("INBOX", &s, 0, 50).map(|p| p.len()), Some(2));
        let flagged_elsewhere = FolderState {
            highest_modseq: Some(11),
            ..s
        };
        assert!(cache.page("INBOX", &flagged_elsewhere, 0, 50).is_none());
        let new_mail = state(4, Some(10));
        assert!(cache.page("INBOX", &new_mail, 0, 50).is_none());
        let expunged = FolderState { messages: 1, ..s };
        assert!(cache.page("INBOX", &expunged, 0, 50).is_none());
        assert!(cache.page("INBOX", &s, 50, 50).is_none());
    }

    #[test]
    fn without_condstore_no_page_is_kept_but_envelopes_are() {
        let cache = Cache::default();
        let s = state(3, None);
        cache.put_page("INBOX", s, 0, 50, &[summary(1, &["\\Seen"])]);
        assert!(cache.page("INBOX", &s, 0, 50).is_none());
        let fixed = Fixed {
            size: 5,
            envelope: Envelope::default(),
        };
        cache.put_envelopes("INBOX", 7, [(1, fixed.clone())]);
        assert_eq!(cache.envelopes("INBOX", 7, &[1, 2]).len(), 1);
    }

    fn uids(page: &[(u32, Vec<String>)]) -> Vec<u32> {
        page.iter().map(|(u, _)| *u).collect()
    }

    fn unflagged(uids: RangeInclusive<u32>) -> Vec<(u32, Vec<String>)> {
        uids.map(|u| (u, Vec::new())).collect()
    }

    /// A mirror of a folder holding UIDs 1 to 5, the newest `held` of them.
    fn mirror(held: u32) -> Mirror {
        let mut m = Mirror::empty(state(6, Some(10))).expect("a HIGHESTMODSEQ");
        let from = 6 - held;
        assert_eq!(m.gap(0, held), Gap::Older { from, to: 5 });
        assert!(m.extend_down(from, unflagged(from..=5)));
        m
    }

    #[test]
    fn a_resync_folds_in_vanished_changed_and_new_messages() {
        let mut m = mirror(5);
        assert_eq!(uids(&m.page(0, 3)), [5, 4, 3]);
        let after = FolderState {
            uid_validity: 7,
            uid_next: 7,
            messages: 5,
            highest_modseq: Some(12),
        };
        let changed = [(3, vec!["\\Seen".to_owned()]), (6, Vec::new())];
        assert!(m.apply(after, &[2..=2], changed));
        assert_eq!(m.gap(0, 5), Gap::None);
        assert_eq!(uids(&m.page(0, 3)), [6, 5, 4]);
        let older = m.page(3, 3);
        assert_eq!(uids(&older), [3, 1]);
        assert_eq!(older[0].1, ["\\Seen"]);
    }

    #[test]
    fn a_resync_that_does_not_add_up_drops_the_mirror() {
        let more_than_reported = FolderState {
            uid_validity: 7,
            uid_next: 6,
            messages: 7,
            highest_modseq: Some(11),
        };
        assert!(!mirror(5).apply(more_than_reported, &[], []));
        let new_validity = FolderState {
            uid_validity: 8,
            ..state(6, Some(11))
        };
        assert!(!mirror(5).apply(new_validity, &[], []));
    }

    #[test]
    fn a_page_older_than_the_mirror_is_fetched_below_it() {
        let mut m = mirror(3);
        assert_eq!(m.gap(0, 3), Gap::None);
        assert_eq!(m.gap(2, 3), Gap::Older { from: 1, to: 2 });
        assert_eq!(uids(&m.page(2, 3)), [3], "only what the mirror holds");
        assert!(!m.clone().extend_down(1, unflagged(1..=1)), "one short");
        assert!(m.extend_down(1, unflagged(1..=2)));
        assert_eq!(uids(&m.page(2, 3)), [3, 2, 1]);
        assert_eq!(m.gap(0, 100), Gap::None);
    }

    #[test]
    fn new_messages_extend_a_mirror_of_an_empty_folder() {
        let empty = FolderState {
            uid_validity: 7,
            uid_next: 1,
            messages: 0,
            highest_modseq: Some(1),
        };
        let mut m = Mirror::empty(empty).expect("a HIGHESTMODSEQ");
        assert_eq!(m.gap(0, 50), Gap::None);
        assert!(m.apply(state(3, Some(3)), &[], unflagged(1..=2)));
        assert_eq!(uids(&m.page(0, 50)), [2, 1]);
        assert!(Mirror::empty(state(3, None)).is_none(), "no HIGHESTMODSEQ");
    }

    #[test]
    fn a_new_uidvalidity_drops_everything_known_about_the_folder() {
        let cache = Cache::default();
        let fixed = Fixed {
            size: 5,
            envelope: Envelope::default(),
        };
        cache.put_envelopes("INBOX", 7, [(1, fixed.clone())]);
        assert!(cache.envelopes("INBOX", 8, &[1]).is_empty());
        cache.put_envelopes("INBOX", 8, [(2, fixed)]);
        assert!(cache.envelopes("INBOX", 7, &[1]).is_empty());
        assert_eq!(cache.envelopes("INBOX", 8, &[1, 2]).len(), 1);
    }
}
