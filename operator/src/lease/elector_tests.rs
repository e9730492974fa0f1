//! The election loop against an in-memory Lease store with the API server's
//! optimistic concurrency (resourceVersion checks, 409 on a stale write).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::api::coordination::v1::LeaseSpec;
use tokio::time::sleep;

use super::*;
use crate::lease::decision::holder;

#[derive(Default)]
struct Memory {
    lease: Option<Lease>,
    version: u64,
    failing: bool,
}

/// An in-memory Lease that behaves like the API server's.
#[derive(Clone, Default)]
struct MemoryStore(Arc<Mutex<Memory>>);

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, Memory> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn holder(&self) -> Option<String> {
        let memory = self.lock();
        let spec = memory.lease.as_ref()?.spec.as_ref()?;
        holder(spec).map(str::to_owned)
    }

    fn transitions(&self) -> Option<i32> {
        self.lock().lease.as_ref()?.spec.as_ref()?.lease_transitions
    }

    fn fail(&self, failing: bool) {
        self.lock().failing = failing;
    }

    fn conflict() -> StoreError {
        StoreError::Conflict {
            namespace: "test".into(),
            name: "lease".into(),
        }
    }

    fn check(memory: &Memory, verb: &'static str) -> Result<(), StoreError> {
        if memory.failing {
            return Err(StoreError::Timeout {
                verb,
                namespace: "test".into(),
                name: "lease".into(),
                timeout: Duration::ZERO,
            });
        }
        Ok(())
    }

    fn store(memory: &mut Memory, mut lease: Lease) -> Lease {
        memory.version += 1;
        lease.metadata.resource_version = Some(memory.version.to_string());
        memory.lease = Some(lease.clone());
        lease
    }
}

impl LeaseStore for MemoryStore {
    fn name(&self) -> &str {
        "lease"
    }

    async fn get(&self) -> Result<Option<Lease>, StoreError> {
        let memory = self.lock();
        Self::check(&memory, "get")?;
        Ok(memory.lease.clone())
    }

    async fn create(&self, lease: Lease) -> Result<Lease, StoreError> {
        let mut memory = self.lock();
        Self::check(&memory, "create")?;
        if memory.lease.is_some() {
            return Err(Self::conflict());
        }
        Ok(Self::store(&mut memory, lease))
    }

    async fn replace(&self, lease: Lease) -> Result<Lease, StoreError> {
        let mut memory = self.lock();
        Self::check(&memory, "update")?;
        let current = memory
            .lease
            .as_ref()
            .and_then(|lease| lease.metadata.resource_version.clone());
        if current.is_none() || current != lease.metadata.resource_version {
            return Err(Self::conflict());
        }
        Ok(Self::store(&mut memory, lease))
    }
}

fn config(identity: &str, lease_secs: u64) -> LeaseConfig {
    LeaseConfig {
        lease_duration: Duration::from_secs(lease_secs),
        renew_deadline: Duration::from_millis(600),
        retry_period: Duration::from_millis(100),
        ..LeaseConfig::new("test", "lease", identity)
    }
}

fn candidate(store: &MemoryStore, identity: &str, lease_secs: u64) -> Leadership {
    match LeaderElector::new(store.clone(), config(identity, lease_secs)) {
        Ok(elector) => elector.spawn(),
        Err(error) => panic!("test config is invalid: {error}"),
    }
}

/// Polls `condition` until it holds or `limit` passes; returns the time taken.
async fn within(limit: Duration, condition: impl Fn() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return Some(start.elapsed());
        }
        sleep(Duration::from_millis(5)).await;
    }
    condition().then(|| start.elapsed())
}

#[tokio::test]
async fn a_lone_candidate_creates_the_lease_and_leads() {
    let store = MemoryStore::default();
    let a = candidate(&store, "a", 1);
    assert!(
        within(Duration::from_secs(1), || a.is_leader())
            .await
            .is_some()
    );
    assert_eq!(store.holder().as_deref(), Some("a"));
    assert_eq!(store.transitions(), Some(0));
}

#[tokio::test]
async fn two_candidates_never_lead_at_once() {
    let store = MemoryStore::default();
    let a = candidate(&store, "a", 1);
    let b = candidate(&store, "b", 1);
    let start = Instant::now();
    let mut led = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        let leaders = usize::from(a.is_leader()) + usize::from(b.is_leader());
        assert!(leaders <= 1, "both candidates lead");
        if leaders == 1 {
            led += 1;
            let leader = if a.is_leader() { "a" } else { "b" };
            assert_eq!(store.holder().as_deref(), Some(leader));
        }
        sleep(Duration::from_millis(5)).await;
    }
    assert!(led > 200, "one candidate should lead nearly all the time");
}

#[tokio::test]
async fn a_dead_leaders_lease_is_taken_over_within_the_lease_duration() {
    let store = MemoryStore::default();
    let a = candidate(&store, "a", 1);
    assert!(
        within(Duration::from_secs(1), || a.is_leader())
            .await
            .is_some()
    );
    let b = candidate(&store, "b", 1);
    sleep(Duration::from_millis(300)).await;
    assert!(!b.is_leader());

    drop(a); // dies without releasing
    let took = within(Duration::from_secs(2), || b.is_leader()).await;
    let took = took.unwrap_or_else(|| panic!("b never took over"));
    assert!(
        took >= Duration::from_millis(800),
        "took over before expiry: {took:?}"
    );
    assert!(
        took <= Duration::from_millis(1200),
        "took over too late: {took:?}"
    );
    assert_eq!(store.holder().as_deref(), Some("b"));
    assert_eq!(store.transitions(), Some(1));
}

#[tokio::test]
async fn shutdown_releases_the_lease_for_an_immediate_takeover() {
    let store = MemoryStore::default();
    let a = candidate(&store, "a", 5);
    assert!(
        within(Duration::from_secs(1), || a.is_leader())
            .await
            .is_some()
    );
    let b = candidate(&store, "b", 5);
    sleep(Duration::from_millis(200)).await;

    let a_leading = a.subscribe();
    let released = a.shutdown().await;
    assert!(released.is_ok(), "{released:?}");
    assert!(!*a_leading.borrow(), "a stops leading before releasing");
    let took = within(Duration::from_secs(1), || b.is_leader()).await;
    assert!(
        took.is_some(),
        "b should take a released Lease within a retry period"
    );
    assert_eq!(store.holder().as_deref(), Some("b"));
}

#[tokio::test]
async fn a_leader_that_cannot_renew_steps_down_before_its_lease_expires() {
    let store = MemoryStore::default();
    let a = candidate(&store, "a", 1);
    assert!(
        within(Duration::from_secs(1), || a.is_leader())
            .await
            .is_some()
    );

    store.fail(true);
    let stepped_down = within(Duration::from_secs(2), || !a.is_leader()).await;
    let stepped_down = stepped_down.unwrap_or_else(|| panic!("a kept leading"));
    assert!(
        stepped_down < Duration::from_millis(900),
        "a led past the point where others may take over: {stepped_down:?}"
    );

    store.fail(false);
    assert!(
        within(Duration::from_secs(1), || a.is_leader())
            .await
            .is_some()
    );
}

#[tokio::test]
async fn a_current_holder_is_followed_until_its_term_ends() {
    let store = MemoryStore::default();
    {
        let mut memory = store.lock();
        let lease = Lease {
            spec: Some(LeaseSpec {
                lease_transitions: Some(4),
                ..decision::claimed(None, "other", Timestamp::now(), 1)
            }),
            ..decision::new_lease("lease", "other", Timestamp::now(), 1)
        };
        MemoryStore::store(&mut memory, lease);
    }
    let a = candidate(&store, "a", 1);
    let took = within(Duration::from_secs(2), || a.is_leader()).await;
    let took = took.unwrap_or_else(|| panic!("a never took over"));
    assert!(took >= Duration::from_millis(800), "{took:?}");
    assert_eq!(store.transitions(), Some(5));
}

#[tokio::test]
async fn dropping_leadership_publishes_not_leading() {
    let store = MemoryStore::default();
    let a = candidate(&store, "a", 1);
    assert!(
        within(Duration::from_secs(1), || a.is_leader())
            .await
            .is_some()
    );
    let leading = a.subscribe();
    drop(a);
    let stopped = within(Duration::from_secs(1), || !*leading.borrow()).await;
    assert!(
        stopped.is_some(),
        "an aborted elector must not leave `true` behind"
    );
    assert_eq!(
        store.holder().as_deref(),
        Some("a"),
        "dropping does not release"
    );
}

#[tokio::test]
async fn shutdown_of_a_follower_leaves_the_lease_alone() {
    let store = MemoryStore::default();
    let a = candidate(&store, "a", 5);
    assert!(
        within(Duration::from_secs(1), || a.is_leader())
            .await
            .is_some()
    );
    let b = candidate(&store, "b", 5);
    sleep(Duration::from_millis(150)).await;
    assert!(b.shutdown().await.is_ok());
    assert_eq!(store.holder().as_deref(), Some("a"));
    assert!(a.is_leader());
}

#[test]
fn invalid_timings_are_refused_before_starting() {
    let mut bad = config("a", 1);
    bad.renew_deadline = Duration::from_secs(2);
    assert!(LeaderElector::new(MemoryStore::default(), bad).is_err());
}
