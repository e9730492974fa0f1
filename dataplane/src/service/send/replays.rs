//! The `Idempotency-Key` store: the first outcome of a send, kept for a
//! while and returned to a retried request instead of sending again.
//!
//! In this process's memory only: each outcome is kept for the store's
//! time to live and at most its capacity of entries is held (past it, the oldest
//! finished entries make room; when every entry is a send still running,
//! a new key is refused). A key is the caller's own: two API keys using the
//! same `Idempotency-Key` never see each other's outcomes. Pure apart from
//! the clock it is handed.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

/// Where an entry stands.
#[derive(Debug, Clone)]
enum Slot<T> {
    /// A send with this key is running.
    Running,
    /// Its outcome, since the instant given.
    Done(T, Instant),
}

#[derive(Debug)]
struct Entry<T> {
    /// A digest of the request, so a key reused for another request is seen.
    digest: [u8; 32],
    slot: Slot<T>,
}

type Key = (String, String);

/// What a claim of a key found.
#[derive(Debug)]
pub enum Claim<T> {
    /// The key is new: the caller sends, and settles the ticket.
    New(Ticket<T>),
    /// The key's first request finished with this outcome.
    Replay(T),
    /// The key's first request is still running.
    Running,
    /// The key was used for a different request.
    Mismatch,
    /// The store is full of running sends.
    Full,
}

/// The first outcomes of keyed requests.
#[derive(Debug)]
pub struct Replays<T> {
    entries: Arc<Mutex<HashMap<Key, Entry<T>>>>,
    ttl: Duration,
    capacity: usize,
}

impl<T: Clone> Replays<T> {
    /// A store keeping outcomes for `ttl`, at most `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Arc::new(Mutex::new(HashMap::new())),
            ttl,
            capacity,
        }
    }

    /// Claims `key` of `caller` for a request with `digest`, at `now`.
    pub fn claim(&self, caller: &str, key: &str, digest: [u8; 32], now: Instant) -> Claim<T> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let id = (caller.to_owned(), key.to_owned());
        if let Some(entry) = entries.get(&id) {
            let fresh = match &entry.slot {
                Slot::Running => true,
                Slot::Done(_, at) => now.duration_since(*at) < self.ttl,
            };
            if fresh {
                return match (&entry.slot, entry.digest == digest) {
                    (_, false) => Claim::Mismatch,
                    (Slot::Running, true) => Claim::Running,
                    (Slot::Done(outcome, _), true) => Claim::Replay(outcome.clone()),
                };
            }
        }
        if !entries.contains_key(&id) && entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, e| match e.slot {
                Slot::Running => true,
                Slot::Done(_, at) => now.duration_since(at) < ttl,
            });
            while entries.len() >= self.capacity {
                let oldest = entries
                    .iter()
                    .filter_map(|(k, e)| match e.slot {
                        Slot::Done(_, at) => Some((at, k.clone())),
                        Slot::Running => None,
                    })
                    .min_by_key(|(at, _)| *at);
                let Some((_, k)) = oldest else {
                    return Claim::Full;
                };
                entries.remove(&k);
            }
        }
        entries.insert(
            id.clone(),
            Entry {
                digest,
                slot: Slot::Running,
            },
        );
        Claim::New(Ticket {
            entries: Arc::clone(&self.entries),
            id: Some(id),
        })
    }
}

/// The right to settle a claimed key. Dropped unsettled (the request
/// failed before anything was sent, or was cancelled), it frees the key.
#[derive(Debug)]
pub struct Ticket<T> {
    entries: Arc<Mutex<HashMap<Key, Entry<T>>>>,
    id: Option<Key>,
}

impl<T> Ticket<T> {
    /// Keeps `outcome` as the key's first outcome, from `now`.
    pub fn settle(mut self, outcome: T, now: Instant) {
        if let Some(id) = self.id.take() {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = entries.get_mut(&id) {
                entry.slot = Slot::Done(outcome, now);
            }
        }
    }
}

impl<T> Drop for Ticket<T> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            entries.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [1; 32];
    const B: [u8; 32] = [2; 32];

    fn settled(store: &Replays<&'static str>, key: &str, outcome: &'static str, at: Instant) {
        let Claim::New(ticket) = store.claim("ci", key, A, at) else {
            panic!("{key} not new");
        };
        ticket.settle(outcome, at);
    }

    #[test]
    fn a_settled_key_replays_its_outcome_until_it_expires() {
        let t0 = Instant::now();
        let store = Replays::new(Duration::from_secs(60), 10);
        settled(&store, "k1", "sent", t0);
        assert!(matches!(
            store.claim("ci", "k1", A, t0),
            Claim::Replay("sent")
        ));
        assert!(matches!(store.claim("ci", "k1", B, t0), Claim::Mismatch));
        assert!(
            matches!(store.claim("other", "k1", A, t0), Claim::New(_)),
            "keys are per caller"
        );
        let later = t0 + Duration::from_secs(61);
        assert!(matches!(store.claim("ci", "k1", A, later), Claim::New(_)));
    }

    #[test]
    fn a_running_key_is_busy_and_an_unsettled_ticket_frees_it() {
        let t0 = Instant::now();
        let store: Replays<&str> = Replays::new(Duration::from_secs(60), 10);
        let ticket = store.claim("ci", "k", A, t0);
        assert!(matches!(store.claim("ci", "k", A, t0), Claim::Running));
        drop(ticket);
        assert!(matches!(store.claim("ci", "k", A, t0), Claim::New(_)));
    }

    #[test]
    fn the_store_is_bounded_oldest_outcomes_first_and_never_drops_a_running_send() {
        let t0 = Instant::now();
        let store = Replays::new(Duration::from_secs(60), 2);
        settled(&store, "old", "1", t0);
        settled(&store, "new", "2", t0 + Duration::from_secs(1));
        settled(&store, "newest", "3", t0 + Duration::from_secs(2));
        assert!(
            matches!(store.claim("ci", "old", A, t0), Claim::New(_)),
            "evicted"
        );
        let t = t0 + Duration::from_secs(3);
        let running: Replays<&str> = Replays::new(Duration::from_secs(60), 1);
        let _first = running.claim("ci", "a", A, t);
        assert!(matches!(running.claim("ci", "b", A, t), Claim::Full));
    }
}
