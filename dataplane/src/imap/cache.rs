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

use std::{collections::HashMap, sync::Mutex};

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

#[derive(Default)]
struct FolderCache {
    uid_validity: u32,
    envelopes: HashMap<u32, Fixed>,
    pages: HashMap<(u32, u32), (FolderState, Vec<MessageSummary>)>,
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
