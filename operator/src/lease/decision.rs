//! The pure part of leader election: given the Lease as read, who we are and
//! the time, what to do and what to write. No I/O, so every rule is unit
//! tested here.
//!
//! A Lease is held by `holderIdentity` until `renewTime + leaseDurationSeconds`.
//! It is free when it has no holder (never held, or released on shutdown) or
//! when that time has passed (the holder died). Writes carry the
//! `resourceVersion` that was read, so of two candidates racing for a free
//! Lease the API server accepts one and answers 409 to the other.

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
};

/// What a candidate should do with the Lease it read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No Lease exists: create it, held by us.
    Create,
    /// The Lease is free or its holder's term has expired: take it over.
    Acquire,
    /// We hold the Lease: renew it.
    Renew,
    /// Someone else holds the Lease: wait, at most until `expires_at`.
    Follow {
        /// The current holder.
        holder: String,
        /// When the holder's term ends unless renewed.
        expires_at: Timestamp,
    },
}

/// Decides what `identity` should do at `now` with `lease` (`None`: no Lease
/// object exists).
pub fn decide(lease: Option<&Lease>, identity: &str, now: Timestamp) -> Decision {
    let Some(lease) = lease else {
        return Decision::Create;
    };
    let Some(spec) = lease.spec.as_ref() else {
        return Decision::Acquire;
    };
    match holder(spec) {
        None => Decision::Acquire,
        Some(holder) if holder == identity => Decision::Renew,
        Some(holder) => match expiry(spec) {
            Some(expires_at) if expires_at > now => Decision::Follow {
                holder: holder.to_owned(),
                expires_at,
            },
            // Expired, or a holder that never recorded a renewal: take over.
            _ => Decision::Acquire,
        },
    }
}

/// The current holder, if any (an empty identity means released).
pub fn holder(spec: &LeaseSpec) -> Option<&str> {
    spec.holder_identity
        .as_deref()
        .filter(|holder| !holder.is_empty())
}

/// When the holder's term ends: `renewTime` (else `acquireTime`) plus
/// `leaseDurationSeconds`; `None` when either is missing.
pub fn expiry(spec: &LeaseSpec) -> Option<Timestamp> {
    let MicroTime(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref())?;
    let seconds = spec.lease_duration_seconds?;
    renewed
        .checked_add(SignedDuration::from_secs(i64::from(seconds)))
        .ok()
}

/// The spec that makes `identity` the holder at `now` for `duration_seconds`,
/// from the `previous` spec (`None` when creating). A renewal keeps
/// `acquireTime` and `leaseTransitions`; a takeover resets `acquireTime` and
/// counts a transition.
pub fn claimed(
    previous: Option<&LeaseSpec>,
    identity: &str,
    now: Timestamp,
    duration_seconds: i32,
) -> LeaseSpec {
    let base = previous.cloned().unwrap_or_default();
    let renewing = previous.and_then(holder) == Some(identity);
    let (acquire_time, transitions) = match previous {
        None => (Some(MicroTime(now)), 0),
        Some(_) if renewing => (
            base.acquire_time.clone().or(Some(MicroTime(now))),
            base.lease_transitions.unwrap_or(0),
        ),
        Some(_) => (
            Some(MicroTime(now)),
            base.lease_transitions.unwrap_or(0).saturating_add(1),
        ),
    };
    LeaseSpec {
        holder_identity: Some(identity.to_owned()),
        acquire_time,
        renew_time: Some(MicroTime(now)),
        lease_duration_seconds: Some(duration_seconds),
        lease_transitions: Some(transitions),
        ..base
    }
}

/// The spec that gives the Lease up at `now`, so that another candidate can
/// take it at once: no holder, a one-second duration, transitions kept.
pub fn released(previous: &LeaseSpec, now: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        acquire_time: None,
        renew_time: Some(MicroTime(now)),
        lease_duration_seconds: Some(1),
        ..previous.clone()
    }
}

/// A new Lease named `name`, held by `identity` from `now`.
pub fn new_lease(name: &str, identity: &str, now: Timestamp, duration_seconds: i32) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        spec: Some(claimed(None, identity, now, duration_seconds)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn held_by(holder: &str, renewed: i64, seconds: i32) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("lease".into()),
                resource_version: Some("7".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                acquire_time: Some(MicroTime(at(renewed - 100))),
                renew_time: Some(MicroTime(at(renewed))),
                lease_duration_seconds: Some(seconds),
                lease_transitions: Some(3),
                ..LeaseSpec::default()
            }),
        }
    }

    #[test]
    fn no_lease_means_create_it() {
        assert_eq!(decide(None, "a", at(NOW)), Decision::Create);
    }

    #[test]
    fn a_lease_without_holder_is_free() {
        let mut lease = held_by("", NOW, 15);
        assert_eq!(decide(Some(&lease), "a", at(NOW)), Decision::Acquire);
        lease.spec = None;
        assert_eq!(decide(Some(&lease), "a", at(NOW)), Decision::Acquire);
    }

    #[test]
    fn a_current_lease_of_another_is_followed_until_it_expires() {
        let lease = held_by("b", NOW, 15);
        assert_eq!(
            decide(Some(&lease), "a", at(NOW + 14)),
            Decision::Follow {
                holder: "b".into(),
                expires_at: at(NOW + 15)
            }
        );
    }

    #[test]
    fn an_expired_lease_of_another_is_taken_over() {
        let lease = held_by("b", NOW, 15);
        assert_eq!(decide(Some(&lease), "a", at(NOW + 15)), Decision::Acquire);
        assert_eq!(decide(Some(&lease), "a", at(NOW + 60)), Decision::Acquire);
    }

    #[test]
    fn a_holder_that_never_renewed_is_taken_over() {
        let mut lease = held_by("b", NOW, 15);
        if let Some(spec) = lease.spec.as_mut() {
            spec.lease_duration_seconds = None;
        }
        assert_eq!(decide(Some(&lease), "a", at(NOW)), Decision::Acquire);
    }

    #[test]
    fn our_own_lease_is_renewed_even_when_expired() {
        let lease = held_by("a", NOW, 15);
        assert_eq!(decide(Some(&lease), "a", at(NOW + 1)), Decision::Renew);
        assert_eq!(decide(Some(&lease), "a", at(NOW + 99)), Decision::Renew);
    }

    #[test]
    fn expiry_falls_back_to_acquire_time() {
        let spec = LeaseSpec {
            holder_identity: Some("b".into()),
            acquire_time: Some(MicroTime(at(NOW))),
            lease_duration_seconds: Some(10),
            ..LeaseSpec::default()
        };
        assert_eq!(expiry(&spec), Some(at(NOW + 10)));
    }

    #[test]
    fn renewing_keeps_acquire_time_and_transitions() {
        let lease = held_by("a", NOW, 15);
        let spec = claimed(lease.spec.as_ref(), "a", at(NOW + 2), 20);
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(NOW - 100))));
        assert_eq!(spec.renew_time, Some(MicroTime(at(NOW + 2))));
        assert_eq!(spec.lease_duration_seconds, Some(20));
        assert_eq!(spec.lease_transitions, Some(3));
    }

    #[test]
    fn taking_over_counts_a_transition() {
        let lease = held_by("b", NOW, 15);
        let spec = claimed(lease.spec.as_ref(), "a", at(NOW + 30), 15);
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(NOW + 30))));
        assert_eq!(spec.lease_transitions, Some(4));
    }

    #[test]
    fn a_created_lease_starts_at_zero_transitions() {
        let lease = new_lease("lease", "a", at(NOW), 15);
        assert_eq!(lease.metadata.name.as_deref(), Some("lease"));
        let spec = lease.spec.unwrap_or_default();
        assert_eq!(spec.lease_transitions, Some(0));
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(expiry(&spec), Some(at(NOW + 15)));
    }

    #[test]
    fn a_released_lease_is_free_at_once_for_others() {
        let lease = held_by("a", NOW, 15);
        let spec = released(
            lease.spec.as_ref().unwrap_or(&LeaseSpec::default()),
            at(NOW + 1),
        );
        assert_eq!(spec.holder_identity, None);
        assert_eq!(spec.lease_duration_seconds, Some(1));
        assert_eq!(spec.lease_transitions, Some(3));
        let released = Lease {
            spec: Some(spec),
            ..lease
        };
        assert_eq!(decide(Some(&released), "b", at(NOW + 1)), Decision::Acquire);
    }
}
