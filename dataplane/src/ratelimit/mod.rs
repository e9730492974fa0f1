//! Request budgets: per client IP address, per user, per API key, and of
//! failed authentications per client IP. Each is a `governor` keyed limiter
//! (GCRA: a budget of `requests` that refills evenly over `period`).
//!
//! The client IP is the socket's peer, unless the peer is a trusted proxy
//! (`rateLimits.trustedProxies`); only then is `X-Forwarded-For` read (see
//! [`client_ip`]). IPv6 clients are counted by their /64, the block one
//! subscriber gets, so that one client cannot take a fresh budget from each
//! of its addresses.
//!
//! Memory stays bounded under a flood of distinct addresses: a key whose
//! budget has refilled is indistinguishable from a new one, and such keys
//! are dropped (`retain_recent`) at most once a second whenever a limiter
//! holds more than its soft cap, checked every [`CHECK_EVERY`] requests.
//!
//! May depend on, in this crate: `auth`, `config`.

mod forwarded;

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use ipnet::IpNet;

pub use self::forwarded::client_ip;
use crate::{
    auth::{Identity, keys::KeyId},
    config::{RateLimits, units::Rate},
};

/// Checks between two looks at a limiter's size.
pub const CHECK_EVERY: u64 = 1024;

/// Keys a limiter holds before it drops those whose budget has refilled.
pub const SOFT_CAP: usize = 65_536;

/// Addresses blocked for failed authentications remembered at most.
const MAX_BLOCKED: usize = 65_536;

/// The budget a request exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `rateLimits.perIp`.
    Ip,
    /// `rateLimits.perUser`.
    User,
    /// `rateLimits.perApiKey`.
    ApiKey,
    /// `rateLimits.authFailuresPerIp`.
    AuthFailures,
    /// `send.perApiKey`: messages sent.
    Send,
}

impl Scope {
    /// Every budget.
    pub const ALL: [Self; 5] = [
        Scope::Ip,
        Scope::User,
        Scope::ApiKey,
        Scope::AuthFailures,
        Scope::Send,
    ];

    /// The label in metrics and audit lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ip => "ip",
            Scope::User => "user",
            Scope::ApiKey => "api_key",
            Scope::AuthFailures => "auth_failures",
            Scope::Send => "send",
        }
    }
}

/// A refused request: which budget, its size, and when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// The budget exceeded.
    pub scope: Scope,
    /// Its rate.
    pub rate: Rate,
    /// How long until one more request is allowed.
    pub retry_after: Duration,
}

/// The quota of `rate`: `requests` at once, refilling one every
/// `period / requests`.
fn quota(rate: Rate) -> Quota {
    let requests = NonZeroU32::new(rate.requests).unwrap_or(NonZeroU32::MIN);
    let interval = rate.period.duration() / rate.requests.max(1);
    Quota::with_period(interval.max(Duration::from_nanos(1)))
        .unwrap_or_else(|| Quota::per_second(requests))
        .allow_burst(requests)
}

/// One keyed budget with its bookkeeping.
pub struct Budget<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    scope: Scope,
    rate: Rate,
    clock: DefaultClock,
    checks: AtomicU64,
    cleaned: Mutex<Option<Instant>>,
    soft_cap: usize,
}

impl<K: Hash + Eq + Clone> Budget<K> {
    /// A budget of `rate` per key, counted under `scope`.
    pub fn new(scope: Scope, rate: Rate, soft_cap: usize) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota(rate)),
            scope,
            rate,
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
            cleaned: Mutex::new(None),
            soft_cap,
        }
    }

    /// Spends one request of `key`'s budget, or says when to come back.
    pub fn check(&self, key: &K) -> Result<(), Limited> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % CHECK_EVERY == CHECK_EVERY - 1 {
            self.bound_memory();
        }
        self.limiter.check_key(key).map_err(|not_until| Limited {
            scope: self.scope,
            rate: self.rate,
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// Spends `n` requests of `key`'s budget at once, or says when to come
    /// back; a cost larger than the whole budget is never allowed.
    pub fn check_n(&self, key: &K, n: NonZeroU32) -> Result<(), Limited> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % CHECK_EVERY == CHECK_EVERY - 1 {
            self.bound_memory();
        }
        let limited = |retry_after| Limited {
            scope: self.scope,
            rate: self.rate,
            retry_after,
        };
        match self.limiter.check_key_n(key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(limited(not_until.wait_time_from(self.clock.now()))),
            Err(_) => Err(limited(self.rate.period.duration())),
        }
    }

    /// How many keys are held now.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    /// Drops the keys whose budget has refilled, when over the soft cap and
    /// not done within the last second.
    fn bound_memory(&self) {
        if self.limiter.len() <= self.soft_cap {
            return;
        }
        let Ok(mut cleaned) = self.cleaned.try_lock() else {
            return;
        };
        if cleaned.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return;
        }
        *cleaned = Some(Instant::now());
        self.forget_refilled();
    }

    /// Drops every key whose budget has refilled (they are
    /// indistinguishable from keys never seen).
    pub fn forget_refilled(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Addresses refused for too many failed authentications, until when.
struct Blocked {
    until: Mutex<HashMap<IpAddr, Instant>>,
    count: AtomicUsize,
}

impl Blocked {
    fn retry_after(&self, ip: IpAddr) -> Option<Duration> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let until = self.until.lock().ok()?.get(&ip).copied()?;
        until.checked_duration_since(Instant::now())
    }

    fn block(&self, ip: IpAddr, for_: Duration) {
        let Ok(mut until) = self.until.lock() else {
            return;
        };
        let now = Instant::now();
        if until.len() >= MAX_BLOCKED {
            until.retain(|_, t| *t > now);
        }
        if until.len() < MAX_BLOCKED {
            until.insert(ip, now + for_);
        }
        self.count.store(until.len(), Ordering::Relaxed);
    }
}

/// Every budget of the API listener.
pub struct Limits {
    /// Per client address.
    pub per_ip: Budget<IpAddr>,
    /// Per user.
    pub per_user: Budget<std::sync::Arc<str>>,
    /// Per API key.
    pub per_key: Budget<KeyId>,
    failures: Budget<IpAddr>,
    blocked: Blocked,
    trusted: Box<[IpNet]>,
}

impl Limits {
    /// The budgets `limits` configures.
    pub fn from_config(limits: &RateLimits) -> Self {
        Self {
            per_ip: Budget::new(Scope::Ip, limits.per_ip, SOFT_CAP),
            per_user: Budget::new(Scope::User, limits.per_user, SOFT_CAP),
            per_key: Budget::new(Scope::ApiKey, limits.per_api_key, SOFT_CAP),
            failures: Budget::new(Scope::AuthFailures, limits.auth_failures(), SOFT_CAP),
            blocked: Blocked {
                until: Mutex::new(HashMap::new()),
                count: AtomicUsize::new(0),
            },
            trusted: limits.trusted_proxies.clone().into_boxed_slice(),
        }
    }

    /// The proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted
    }

    /// Spends one request of the client address's budget; refuses an
    /// address blocked for failed authentications too.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Limited> {
        let key = limiter_key(ip);
        if let Some(retry_after) = self.blocked.retry_after(key) {
            return Err(Limited {
                scope: Scope::AuthFailures,
                rate: self.failures.rate,
                retry_after,
            });
        }
        self.per_ip.check(&key)
    }

    /// Spends one request of the API key's and then the user's budget (a
    /// request the key's budget refuses costs the user nothing).
    pub fn check_identity(&self, identity: &Identity) -> Result<(), Limited> {
        self.per_key.check(&identity.key)?;
        self.per_user.check(&identity.user)
    }

    /// Spends `cost` requests of the client address's budget and, for an
    /// authenticated caller, of its key's and user's: what an operation
    /// costs beyond what its interface has already charged. A cost of zero
    /// spends nothing.
    pub fn spend(&self, ip: IpAddr, identity: Option<&Identity>, cost: u32) -> Result<(), Limited> {
        let Some(n) = NonZeroU32::new(cost) else {
            return Ok(());
        };
        self.per_ip.check_n(&limiter_key(ip), n)?;
        if let Some(identity) = identity {
            self.per_key.check_n(&identity.key, n)?;
            self.per_user.check_n(&identity.user, n)?;
        }
        Ok(())
    }

    /// Counts a failed authentication from `ip`; past the budget, the
    /// address is refused until it refills.
    pub fn failed_authentication(&self, ip: IpAddr) {
        let key = limiter_key(ip);
        if let Err(limited) = self.failures.check(&key) {
            self.blocked.block(key, limited.retry_after);
        }
    }
}

/// The key an address is counted under: IPv4 as it is (IPv4-mapped IPv6
/// included), IPv6 by its /64.
pub fn limiter_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
}

#[cfg(test)]
mod tests;
