//! Watching a Lease throughout a phase: polled every 100 ms, each sample
//! says who held it and whether that holder's term was current (renewed
//! within `leaseDurationSeconds`); the report names every holder seen and
//! the longest stretch with no current holder.
//!
//! ```text
//!  test ─ GET lease (admin client, every 100 ms) ─> samples ─> LeaseReport
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    jiff::{SignedDuration, Timestamp},
};
use kube::Api;

use crate::control_plane::ControlPlane;

/// How often the Lease is read.
const POLL: Duration = Duration::from_millis(100);

/// One reading of the Lease.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseSample {
    /// When it was read, since the watch started.
    pub at: Duration,
    /// `spec.holderIdentity`, when set and not empty.
    pub holder: Option<String>,
    /// Whether the holder's term was current when it was read.
    pub held: bool,
}

/// Whether `spec` names a holder whose last renewal (or acquisition) is
/// less than `leaseDurationSeconds` before `now`.
pub fn is_held(spec: &LeaseSpec, now: Timestamp) -> bool {
    let named = spec
        .holder_identity
        .as_deref()
        .is_some_and(|h| !h.is_empty());
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0);
    let duration = spec
        .lease_duration_seconds
        .map(|s| SignedDuration::from_secs(i64::from(s)));
    match (named, renewed, duration) {
        (true, Some(renewed), Some(duration)) => {
            renewed.checked_add(duration).is_ok_and(|end| end > now)
        }
        _ => false,
    }
}

/// What a watch saw.
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseReport {
    /// How many times the Lease was read.
    pub samples: usize,
    /// Every holder seen, in the order they first held it.
    pub holders: Vec<String>,
    /// The longest time from a reading with a current holder to the next
    /// one, across readings without (an upper bound of the gap: the poll
    /// interval is included); zero when it was always held.
    pub longest_gap: Duration,
    /// Whether the first and the last reading had a current holder.
    pub held_at_both_ends: bool,
}

/// Sums up `samples`, in the order they were read.
pub fn summarize(samples: &[LeaseSample]) -> LeaseReport {
    let mut holders: Vec<String> = Vec::new();
    let mut longest_gap = Duration::ZERO;
    let mut last_held: Option<Duration> = None;
    let mut missed = false;
    for sample in samples {
        if let Some(holder) = sample.holder.as_ref().filter(|_| sample.held)
            && !holders.contains(holder)
        {
            holders.push(holder.clone());
        }
        match (sample.held, last_held) {
            (true, Some(before)) => {
                if missed {
                    longest_gap = longest_gap.max(sample.at.saturating_sub(before));
                }
                last_held = Some(sample.at);
                missed = false;
            }
            (true, None) => last_held = Some(sample.at),
            (false, _) => missed = true,
        }
    }
    LeaseReport {
        samples: samples.len(),
        holders,
        longest_gap,
        held_at_both_ends: samples.first().is_some_and(|s| s.held)
            && samples.last().is_some_and(|s| s.held),
    }
}

/// A running watch of one Lease.
pub struct LeaseWatch {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<LeaseSample>>,
}

impl LeaseWatch {
    /// Starts reading Lease `name` in `namespace` every 100 ms; a read that
    /// fails counts as a reading without a holder.
    pub async fn start(namespace: &str, name: &str) -> Self {
        let api: Api<Lease> = Api::namespaced(ControlPlane::get().admin().await, namespace);
        let (name, stop) = (name.to_owned(), Arc::new(AtomicBool::new(false)));
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut samples = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                let spec = api.get_opt(&name).await.ok().flatten().and_then(|l| l.spec);
                let now = Timestamp::now();
                samples.push(LeaseSample {
                    at: started.elapsed(),
                    holder: spec
                        .as_ref()
                        .and_then(|s| s.holder_identity.clone())
                        .filter(|h| !h.is_empty()),
                    held: spec.as_ref().is_some_and(|s| is_held(s, now)),
                });
                tokio::time::sleep(POLL).await;
            }
            samples
        });
        Self { stop, task }
    }

    /// Stops the watch and sums up what it saw.
    pub async fn finish(self) -> LeaseReport {
        self.stop.store(true, Ordering::SeqCst);
        let samples = self
            .task
            .await
            .unwrap_or_else(|e| panic!("the Lease watch: {e}"));
        summarize(&samples)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    use super::*;

    fn sample(ms: u64, holder: Option<&str>, held: bool) -> LeaseSample {
        LeaseSample {
            at: Duration::from_millis(ms),
            holder: holder.map(str::to_owned),
            held,
        }
    }

    #[test]
    fn the_gap_runs_from_the_last_held_reading_to_the_next() {
        let samples = [
            sample(0, Some("a"), true),
            sample(100, Some("a"), true),
            sample(200, None, false),
            sample(300, None, false),
            sample(400, Some("b"), true),
            sample(500, Some("b"), true),
        ];
        let report = summarize(&samples);
        assert_eq!(report.longest_gap, Duration::from_millis(300));
        assert_eq!(report.holders, ["a", "b"]);
        assert!(report.held_at_both_ends);
        assert_eq!(report.samples, 6);
    }

    #[test]
    fn always_held_has_no_gap_and_a_trailing_miss_is_reported() {
        let held = [sample(0, Some("a"), true), sample(100, Some("b"), true)];
        assert_eq!(summarize(&held).longest_gap, Duration::ZERO);
        let lost = [sample(0, Some("a"), true), sample(100, Some("a"), false)];
        let report = summarize(&lost);
        assert!(!report.held_at_both_ends);
        assert_eq!(report.holders, ["a"]);
    }

    #[test]
    fn a_lease_is_held_only_by_a_named_holder_within_its_term() {
        let renewed = Timestamp::from_second(1_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let spec = LeaseSpec {
            holder_identity: Some("a".into()),
            renew_time: Some(MicroTime(renewed)),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        };
        let at = |s: i64| Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH);
        assert!(is_held(&spec, at(1_014)));
        assert!(!is_held(&spec, at(1_015)), "expired");
        let released = LeaseSpec {
            holder_identity: Some(String::new()),
            ..spec.clone()
        };
        assert!(!is_held(&released, at(1_001)), "released");
        let never_renewed = LeaseSpec {
            renew_time: None,
            acquire_time: None,
            ..spec
        };
        assert!(!is_held(&never_renewed, at(1_001)));
    }
}
