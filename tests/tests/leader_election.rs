//! Leader election between operator replicas, over the real kube-rs client
//! against the cluster double: exactly one leads, a dead leader is replaced
//! within the lease duration, a released Lease is taken at once, faults on
//! the Lease never make two leaders, and the Lease needs only get, create and
//! update in its namespace.

use std::time::Duration;

use k8s_openapi::api::{coordination::v1::Lease, rbac::v1::PolicyRule};
use kube::{Api, Client};
use rustymail_operator::lease::{KubeLeaseStore, LeaderElector, Leadership, LeaseConfig};
use rustymail_tests::cluster::{ClusterDouble, FaultRule, Options, Policy, Trigger, User};
use tokio::time::{Instant, sleep};

const NAMESPACE: &str = "default";
const LEASE: &str = "rustymail-operator";

/// Short timings so a test runs in seconds; same ratios as the defaults.
fn config(identity: &str, lease_secs: u64) -> LeaseConfig {
    LeaseConfig {
        lease_duration: Duration::from_secs(lease_secs),
        renew_deadline: Duration::from_secs(lease_secs) / 2,
        retry_period: Duration::from_millis(200),
        ..LeaseConfig::new(NAMESPACE, LEASE, identity)
    }
}

async fn start(options: Options) -> ClusterDouble {
    match ClusterDouble::start(options).await {
        Ok(double) => double,
        Err(error) => panic!("cluster double did not start: {error}"),
    }
}

async fn client(double: &ClusterDouble, user: User) -> Client {
    match double.client_for(user).await {
        Ok(client) => client,
        Err(error) => panic!("no client for the double: {error}"),
    }
}

/// A candidate with its own client, as a separate operator process would be.
async fn candidate(
    double: &ClusterDouble,
    user: User,
    identity: &str,
    lease_secs: u64,
) -> Leadership {
    let store = KubeLeaseStore::new(client(double, user).await, NAMESPACE, LEASE);
    match LeaderElector::new(store, config(identity, lease_secs)) {
        Ok(elector) => elector.spawn(),
        Err(error) => panic!("invalid test timings: {error}"),
    }
}

/// The Lease's holder, as the API server has it.
async fn holder(double: &ClusterDouble) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(client(double, User::Admin).await, NAMESPACE);
    let lease = leases.get_opt(LEASE).await.ok().flatten()?;
    lease
        .spec?
        .holder_identity
        .filter(|holder| !holder.is_empty())
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns
/// how long it took.
async fn within(limit: Duration, condition: impl Fn() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if condition() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= limit {
            return None;
        }
        sleep(Duration::from_millis(10)).await;
    }
}

/// Samples both candidates for `span`: never two leaders; returns the share
/// of samples with one.
async fn watch_pair(a: &Leadership, b: &Leadership, span: Duration) -> f64 {
    let start = Instant::now();
    let (mut samples, mut led) = (0u32, 0u32);
    while start.elapsed() < span {
        assert!(!(a.is_leader() && b.is_leader()), "two leaders at once");
        samples += 1;
        led += u32::from(a.is_leader() || b.is_leader());
        sleep(Duration::from_millis(10)).await;
    }
    f64::from(led) / f64::from(samples.max(1))
}

#[tokio::test]
async fn exactly_one_of_two_candidates_leads_and_holds_the_lease() {
    let double = start(Options::default()).await;
    let a = candidate(&double, User::Admin, "a", 2).await;
    let b = candidate(&double, User::Admin, "b", 2).await;
    assert!(
        within(Duration::from_secs(3), || a.is_leader() || b.is_leader())
            .await
            .is_some(),
        "nobody acquired a free Lease"
    );
    let share = watch_pair(&a, &b, Duration::from_secs(3)).await;
    assert!(
        share > 0.99,
        "leadership flapped: led {share:.2} of the time"
    );
    let leader = if a.is_leader() { "a" } else { "b" };
    assert_eq!(holder(&double).await.as_deref(), Some(leader));
}

#[tokio::test]
async fn a_killed_leader_is_replaced_within_the_lease_duration() {
    let double = start(Options::default()).await;
    let a = candidate(&double, User::Admin, "a", 2).await;
    let b = candidate(&double, User::Admin, "b", 2).await;
    assert!(
        within(Duration::from_secs(3), || a.is_leader() || b.is_leader())
            .await
            .is_some()
    );
    let (survivor, survivor_name) = match (a.is_leader(), b.is_leader()) {
        (true, false) => {
            drop(a); // killed: the Lease is not released
            (b, "b")
        }
        (false, true) => {
            drop(b);
            (a, "a")
        }
        _ => panic!("no single leader"),
    };

    let took = within(Duration::from_secs(4), || survivor.is_leader()).await;
    let took = took.unwrap_or_else(|| panic!("{survivor_name} never took over"));
    assert!(
        took <= Duration::from_millis(2500),
        "took {took:?}, more than the 2 s lease duration (plus request latency)"
    );
    assert!(
        took >= Duration::from_millis(1500),
        "took over after {took:?}, before the dead leader's lease expired"
    );
    assert_eq!(holder(&double).await.as_deref(), Some(survivor_name));
}

#[tokio::test]
async fn release_on_shutdown_lets_the_other_acquire_at_once() {
    let double = start(Options::default()).await;
    let a = candidate(&double, User::Admin, "a", 10).await;
    assert!(
        within(Duration::from_secs(3), || a.is_leader())
            .await
            .is_some()
    );
    let b = candidate(&double, User::Admin, "b", 10).await;
    sleep(Duration::from_millis(400)).await;
    assert!(!b.is_leader());

    let released = a.shutdown().await;
    assert!(released.is_ok(), "release failed: {released:?}");
    let took = within(Duration::from_secs(3), || b.is_leader()).await;
    let took = took.unwrap_or_else(|| panic!("b did not take the released Lease"));
    assert!(
        took < Duration::from_secs(1),
        "took {took:?}: a released Lease must not wait for the 10 s lease duration"
    );
    assert_eq!(holder(&double).await.as_deref(), Some("b"));
}

#[tokio::test]
async fn faults_on_the_lease_never_make_two_leaders() {
    let double = start(Options {
        seed: 7,
        faults: vec![
            FaultRule::fail(500)
                .resources(&["leases"])
                .when(Trigger::Fraction(0.2)),
            FaultRule::fail(409)
                .verbs(&["update"])
                .resources(&["leases"])
                .when(Trigger::EveryNth(5)),
            FaultRule::delay(Duration::from_millis(30)).resources(&["leases"]),
        ],
        ..Options::default()
    })
    .await;
    let a = candidate(&double, User::Admin, "a", 2).await;
    let b = candidate(&double, User::Admin, "b", 2).await;
    let share = watch_pair(&a, &b, Duration::from_secs(6)).await;
    assert!(
        share > 0.5,
        "a leader should hold most of the time despite faults: {share:.2}"
    );
}

#[tokio::test]
async fn the_lease_needs_only_get_create_and_update_in_its_namespace() {
    let rule = PolicyRule {
        api_groups: Some(vec!["coordination.k8s.io".into()]),
        resources: Some(vec!["leases".into()]),
        verbs: vec!["get".into(), "create".into(), "update".into()],
        ..PolicyRule::default()
    };
    let double = start(Options {
        rbac: Some(Policy::default().grant_in(NAMESPACE, vec![rule])),
        ..Options::default()
    })
    .await;
    let a = candidate(&double, User::Restricted, "a", 2).await;
    assert!(
        within(Duration::from_secs(3), || a.is_leader())
            .await
            .is_some()
    );
    let released = a.shutdown().await;
    assert!(released.is_ok(), "release failed: {released:?}");
    assert_eq!(holder(&double).await, None);
    let denied = double.stats().log.iter().filter(|r| r.code == 403).count();
    assert_eq!(denied, 0, "the elector used a verb the rule does not grant");
}
