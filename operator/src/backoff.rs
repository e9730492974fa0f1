//! Per-object exponential backoff with full jitter, for the controller's error
//! policy.
//!
//! Each failing object gets its own attempt counter. The n-th consecutive
//! failure (n = 0, 1, …) waits a delay drawn uniformly from
//! `[base, min(cap, base · 2ⁿ)]`: full jitter, so objects that failed together
//! (an API server outage) spread their retries instead of stampeding, with a
//! floor of `base` so an object never retries hotter than that.
//!
//! Memory stays bounded: an entry is removed when its object reconciles
//! successfully ([`Backoffs::success`]) or is deleted ([`Backoffs::forget`]),
//! and entries whose object has not failed for a long while (it was deleted
//! without the controller hearing of it) are swept on the next failure.
//!
//! [`Backoffs`] is pure (the caller passes the clock and the random source);
//! [`SharedBackoffs`] wraps it for the controller's synchronous
//! `error_policy`.
//!
//! Depends on no other module of this crate.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

use rand::Rng;

/// How delays grow: from `base`, doubling per consecutive failure, up to `cap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Smallest delay, and the ceiling of the first retry. Default 1 s.
    pub base: Duration,
    /// Largest delay. Default 5 min: a broken object is still retried often
    /// enough that fixing it (say, creating a missing Secret) shows up soon.
    pub cap: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
        }
    }
}

impl BackoffPolicy {
    /// The largest delay the `attempt`-th consecutive failure (from 0) may wait:
    /// `min(cap, base · 2^attempt)`, never below `base`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt).unwrap_or(u32::MAX);
        self.base
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.cap)
            .max(self.base)
    }

    /// A delay for the `attempt`-th consecutive failure, drawn uniformly from
    /// `[base, ceiling(attempt)]` with `rng`.
    pub fn delay<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let ceiling = self.ceiling(attempt);
        let floor = self.base.min(ceiling);
        if ceiling <= floor {
            return floor;
        }
        let span = ceiling - floor;
        floor + span.mul_f64(rng.random::<f64>())
    }

    /// How long an entry may go without a failure before it is presumed
    /// orphaned: long past the longest retry any object could be waiting for.
    fn stale_after(&self) -> Duration {
        self.cap.saturating_mul(2).saturating_add(self.base)
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    attempts: u32,
    last_failure: Instant,
}

/// Consecutive-failure counters per object key (an `ObjectRef` or a UID).
#[derive(Debug)]
pub struct Backoffs<K> {
    policy: BackoffPolicy,
    entries: HashMap<K, Entry>,
    last_sweep: Option<Instant>,
}

impl<K: Hash + Eq> Backoffs<K> {
    /// No object has failed yet.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            policy,
            entries: HashMap::new(),
            last_sweep: None,
        }
    }

    /// Records a failure of `key` at `now` and returns how long to wait before
    /// retrying it.
    pub fn failure<R: Rng + ?Sized>(&mut self, key: K, now: Instant, rng: &mut R) -> Duration {
        self.sweep(now);
        let entry = self.entries.entry(key).or_insert(Entry {
            attempts: 0,
            last_failure: now,
        });
        let delay = self.policy.delay(entry.attempts, rng);
        entry.attempts = entry.attempts.saturating_add(1);
        entry.last_failure = now;
        delay
    }

    /// Records a success of `key`: its next failure starts again from `base`.
    pub fn success(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Drops what is known about `key`, for an object that was deleted.
    pub fn forget(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Consecutive failures recorded for `key` (0 when it has none).
    pub fn attempts(&self, key: &K) -> u32 {
        self.entries.get(key).map_or(0, |entry| entry.attempts)
    }

    /// Number of objects currently backing off.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no object is backing off.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Removes orphaned entries, at most once per `cap`.
    fn sweep(&mut self, now: Instant) {
        let due = self
            .last_sweep
            .is_none_or(|last| now.saturating_duration_since(last) >= self.policy.cap);
        if !due {
            return;
        }
        self.last_sweep = Some(now);
        let stale_after = self.policy.stale_after();
        self.entries
            .retain(|_, entry| now.saturating_duration_since(entry.last_failure) < stale_after);
    }
}

/// [`Backoffs`] behind a lock, with the system clock and thread-local RNG,
/// for sharing through the controller's context.
#[derive(Debug)]
pub struct SharedBackoffs<K> {
    inner: Mutex<Backoffs<K>>,
}

impl<K: Hash + Eq> SharedBackoffs<K> {
    /// No object has failed yet.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            inner: Mutex::new(Backoffs::new(policy)),
        }
    }

    /// Records a failure of `key` now; returns the delay before its retry.
    pub fn failure(&self, key: K) -> Duration {
        self.with(|backoffs| backoffs.failure(key, Instant::now(), &mut rand::rng()))
    }

    /// Records a success of `key`, resetting its backoff.
    pub fn success(&self, key: &K) {
        self.with(|backoffs| backoffs.success(key));
    }

    /// Drops what is known about a deleted object.
    pub fn forget(&self, key: &K) {
        self.with(|backoffs| backoffs.forget(key));
    }

    /// Number of objects currently backing off.
    pub fn len(&self) -> usize {
        self.with(|backoffs| backoffs.len())
    }

    /// Whether no object is backing off.
    pub fn is_empty(&self) -> bool {
        self.with(|backoffs| backoffs.is_empty())
    }

    fn with<T>(&self, f: impl FnOnce(&mut Backoffs<K>) -> T) -> T {
        // The critical sections cannot panic halfway through an update, so a
        // poisoned lock still guards consistent counters.
        let mut guard = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    const BASE: Duration = Duration::from_millis(100);
    const CAP: Duration = Duration::from_secs(10);

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            base: BASE,
            cap: CAP,
        }
    }

    #[test]
    fn ceiling_doubles_from_base_up_to_cap() {
        let policy = policy();
        assert_eq!(policy.ceiling(0), BASE);
        assert_eq!(policy.ceiling(1), BASE * 2);
        assert_eq!(policy.ceiling(3), BASE * 8);
        assert_eq!(policy.ceiling(7), CAP);
        assert_eq!(policy.ceiling(u32::MAX), CAP);
    }

    #[test]
    fn delays_stay_between_base_and_ceiling() {
        let policy = policy();
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 0..40 {
            for _ in 0..50 {
                let delay = policy.delay(attempt, &mut rng);
                assert!(delay >= BASE, "{delay:?} below base at attempt {attempt}");
                assert!(delay <= policy.ceiling(attempt), "{delay:?} above ceiling");
            }
        }
    }

    #[test]
    fn jitter_spreads_retries_of_objects_that_failed_together() {
        let policy = policy();
        let mut rng = StdRng::seed_from_u64(1);
        let mut delays: Vec<_> = (0..100).map(|_| policy.delay(6, &mut rng)).collect();
        delays.sort();
        delays.dedup();
        assert!(delays.len() > 90, "only {} distinct delays", delays.len());
        let below_half = delays
            .iter()
            .filter(|d| **d < policy.ceiling(6) / 2)
            .count();
        assert!(below_half > 20, "full jitter should reach the lower half");
    }

    #[test]
    fn a_cap_below_base_waits_base() {
        let policy = BackoffPolicy {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(1),
        };
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(policy.delay(4, &mut rng), Duration::from_secs(5));
    }

    #[test]
    fn consecutive_failures_grow_and_success_resets() {
        let mut backoffs = Backoffs::new(policy());
        let mut rng = StdRng::seed_from_u64(11);
        let now = Instant::now();
        for _ in 0..5 {
            backoffs.failure("a", now, &mut rng);
        }
        assert_eq!(backoffs.attempts(&"a"), 5);
        let delay = backoffs.failure("a", now, &mut rng);
        assert!(delay <= policy().ceiling(5));

        backoffs.success(&"a");
        assert_eq!(backoffs.attempts(&"a"), 0);
        assert!(backoffs.is_empty());
        let delay = backoffs.failure("a", now, &mut rng);
        assert_eq!(delay, BASE, "first retry after a reset waits base");
    }

    #[test]
    fn objects_back_off_independently() {
        let mut backoffs = Backoffs::new(policy());
        let mut rng = StdRng::seed_from_u64(5);
        let now = Instant::now();
        for _ in 0..4 {
            backoffs.failure("broken", now, &mut rng);
        }
        backoffs.failure("other", now, &mut rng);
        assert_eq!(backoffs.attempts(&"broken"), 4);
        assert_eq!(backoffs.attempts(&"other"), 1);
        assert_eq!(backoffs.len(), 2);
    }

    #[test]
    fn deleted_objects_are_forgotten() {
        let mut backoffs = Backoffs::new(policy());
        let mut rng = StdRng::seed_from_u64(5);
        backoffs.failure("gone", Instant::now(), &mut rng);
        backoffs.forget(&"gone");
        assert!(backoffs.is_empty());
    }

    #[test]
    fn orphaned_entries_are_swept_on_a_later_failure() {
        let mut backoffs = Backoffs::new(policy());
        let mut rng = StdRng::seed_from_u64(9);
        let start = Instant::now();
        backoffs.failure("orphan", start, &mut rng);
        backoffs.failure("recent", start + CAP * 2, &mut rng);
        assert_eq!(backoffs.len(), 2, "orphan is not stale yet");

        let later = start + CAP * 3;
        backoffs.failure("recent", later, &mut rng);
        assert_eq!(backoffs.attempts(&"orphan"), 0);
        assert_eq!(backoffs.attempts(&"recent"), 2);
        assert_eq!(backoffs.len(), 1);
    }

    #[test]
    fn shared_backoffs_count_across_threads() {
        let shared = std::sync::Arc::new(SharedBackoffs::new(policy()));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let shared = shared.clone();
                std::thread::spawn(move || shared.failure("a"))
            })
            .collect();
        for handle in handles {
            let delay = handle.join().unwrap_or(Duration::MAX);
            assert!(delay <= CAP);
        }
        assert_eq!(shared.len(), 1);
        shared.success(&"a");
        assert!(shared.is_empty());
        shared.failure("b");
        shared.forget(&"b");
        assert!(shared.is_empty());
    }
}
