//! The operator's own recent writes, for as long as the watch caches lag them.
//!
//! A reconcile reads from the watch caches, which receive the operator's
//! writes a little later. Without help, the next reconcile could see a child
//! it just created as missing (and apply it again, or worse, generate new
//! credentials over the ones it just wrote). So each write is remembered with
//! the `resourceVersion` the cache held before it: while the cache still holds
//! that version, the cache is behind and the written object stands in for it;
//! as soon as the cache holds any other version (the write itself, or a later
//! change by someone else), the cache is the truth again and the entry goes.

use std::{collections::HashMap, hash::Hash, sync::Mutex};

use crate::{
    crd::RustyMailStatus,
    render::{Child, ChildKey},
};

/// The operator's recent writes: children by namespace and key, statuses by
/// namespace and name.
#[derive(Debug, Default)]
pub struct Writes {
    /// Children applied (`Some`) or deleted (`None`).
    pub children: Recent<(String, ChildKey), Child>,
    /// Statuses written.
    pub statuses: Recent<(String, String), RustyMailStatus>,
}

/// One remembered write.
#[derive(Debug, Clone)]
struct Entry<T> {
    /// `resourceVersion` the cache held before the write (`None`: absent).
    before: Option<String>,
    /// What was written (`None`: deleted); boxed, as a child is large and a
    /// map's every slot, used or not, is as large as its entries.
    after: Option<Box<T>>,
}

/// Recent writes by key.
#[derive(Debug)]
pub struct Recent<K, T> {
    entries: Mutex<HashMap<K, Entry<T>>>,
}

impl<K, T> Default for Recent<K, T> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq, T: Clone> Recent<K, T> {
    /// Remembers that `key`, seen at version `before`, was written as `after`.
    pub fn record(&self, key: K, before: Option<String>, after: Option<T>) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(
                key,
                Entry {
                    before,
                    after: after.map(Box::new),
                },
            );
        }
    }

    /// What `key` is, given what the cache holds (`cached`, at `version`).
    pub fn resolve(&self, key: &K, cached: Option<T>, version: Option<&str>) -> Option<T> {
        let Ok(mut entries) = self.entries.lock() else {
            return cached;
        };
        match entries.get(key) {
            Some(entry) if entry.before.as_deref() == version => entry.after.as_deref().cloned(),
            Some(_) => {
                entries.remove(key);
                cached
            }
            None => cached,
        }
    }

    /// Writes remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_that_has_not_seen_a_create_yet_yields_the_created_object() {
        let recent = Recent::default();
        recent.record("mail-credentials", None, Some("written"));
        assert_eq!(
            recent.resolve(&"mail-credentials", None, None),
            Some("written")
        );
        assert_eq!(
            recent.resolve(&"mail-credentials", Some("cached"), Some("7")),
            Some("cached"),
            "once the cache holds it, the cache is the truth"
        );
        assert_eq!(recent.len(), 0);
    }

    #[test]
    fn an_edit_by_someone_else_after_the_write_wins_over_the_write() {
        let recent = Recent::default();
        recent.record("mail", Some("5".to_owned()), Some("ours"));
        assert_eq!(
            recent.resolve(&"mail", Some("old"), Some("5")),
            Some("ours"),
            "the cache still holds the version before the write"
        );
        assert_eq!(
            recent.resolve(&"mail", Some("theirs"), Some("9")),
            Some("theirs")
        );
    }

    #[test]
    fn a_deleted_object_the_cache_still_holds_is_absent() {
        let recent = Recent::default();
        recent.record("mail", Some("5".to_owned()), None::<&str>);
        assert_eq!(recent.resolve(&"mail", Some("old"), Some("5")), None);
        assert_eq!(recent.resolve(&"mail", None, None), None);
        assert_eq!(recent.len(), 0);
    }
}
