//! Verified access tokens, remembered so that a client calling again with
//! the same token is not verified from scratch: decoding, an HMAC and JSON
//! parsing cost more than the rest of a small request. A token is found by
//! a keyed hash of its bytes and must then equal the presented one (in
//! constant time); it is served from here only until its `exp` and only
//! while the JWT secret it was verified with is still the current one.
//! Whether its key is still accepted is checked on every request, as for a
//! freshly verified token.

use std::{
    hash::{BuildHasher, RandomState},
    sync::Arc,
};

use arc_swap::ArcSwapOption;
use subtle::ConstantTimeEq;

use super::scope::Scopes;

/// Slots in the cache; a token takes the slot its hash picks, replacing
/// whatever was there.
pub const SLOTS: usize = 1024;

/// One verified token.
#[derive(Debug)]
pub struct Verified {
    token: Box<[u8]>,
    /// Its subject.
    pub subject: Box<str>,
    /// The scopes its `scope` claim grants at most.
    pub scopes: Scopes,
    /// Its expiry, Unix seconds.
    pub exp: u64,
    secret: u64,
}

/// A fixed-size cache of verified access tokens.
pub struct TokenCache {
    slots: Box<[ArcSwapOption<Verified>]>,
    hasher: RandomState,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| ArcSwapOption::empty()).collect(),
            hasher: RandomState::new(),
        }
    }
}

impl TokenCache {
    fn slot(&self, token: &[u8]) -> &ArcSwapOption<Verified> {
        let index = (self.hasher.hash_one(token) as usize) % self.slots.len();
        &self.slots[index]
    }

    /// The remembered verification of `token`, if it was verified with the
    /// secret of generation `secret` and has not expired at `now`.
    pub fn get(&self, token: &[u8], secret: u64, now: u64) -> Option<Arc<Verified>> {
        let entry = self.slot(token).load_full()?;
        let same = entry.token.len() == token.len() && bool::from(entry.token.ct_eq(token));
        (same && entry.secret == secret && now < entry.exp).then_some(entry)
    }

    /// Remembers that `token` verified with the secret of generation
    /// `secret`, for `subject` with at most `scopes`, until `exp`.
    pub fn put(&self, token: &[u8], subject: &str, scopes: Scopes, exp: u64, secret: u64) {
        self.slot(token).store(Some(Arc::new(Verified {
            token: token.into(),
            subject: subject.into(),
            scopes,
            exp,
            secret,
        })));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_served_until_its_expiry_and_for_its_secret_only() {
        let cache = TokenCache::default();
        cache.put(b"a.b.c", "ci", Scopes::ALL, 100, 1);
        assert_eq!(
            cache.get(b"a.b.c", 1, 99).map(|v| v.subject.to_string()),
            Some("ci".into())
        );
        assert!(cache.get(b"a.b.c", 1, 100).is_none(), "expired");
        assert!(cache.get(b"a.b.c", 2, 99).is_none(), "another secret");
        assert!(cache.get(b"a.b.d", 1, 99).is_none(), "another token");
        assert!(cache.get(b"a.b.c.", 1, 99).is_none(), "a longer token");
    }
}
