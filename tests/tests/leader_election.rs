//! Leader election between operator replicas, over the real kube-rs client
//! against the local control plane: exactly one leads, a dead leader is
//! replaced within the lease duration, a released Lease is taken at once,
//! faults on the Lease never make two leaders, and the Lease needs only get,
//! create and update in its namespace. Candidates run as a ServiceAccount
//! granted exactly that, through a fault proxy that also records every
//! answer the API server gave.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use rustymail_operator::lease::{KubeLeaseStore, LeaderElector, Leadership, LeaseConfig};
use rustymail_tests::{
    control_plane::{ControlPlane, OperatorIdentity, TestNamespace, client_from},
    fault_proxy::{FaultProxy, FaultRule, Trigger},
};
use serde_json::json;
use tokio::time::{Instant, sleep};

const LEASE: &str = "rustymail-operator";

/// A namespace, a ServiceAccount allowed only get, create and update on
/// Leases there, and a fault proxy its candidates talk through.
struct Election {
    ns: TestNamespace,
    identity: OperatorIdentity,
    proxy: FaultProxy,
}

impl Election {
    async fn new(prefix: &str, seed: u64) -> Self {
        let ns = TestNamespace::create(prefix).await;
        let rule = json!({"kind": "Role", "rules": [{
            "apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
            "verbs": ["get", "create", "update"],
        }]});
        let identity = OperatorIdentity::create(&ns.name, &[rule]).await;
        let (server, ca) = ControlPlane::get().server();
        let proxy = FaultProxy::start(&server, &ca, seed)
            .await
            .unwrap_or_else(|e| panic!("fault proxy: {e}"));
        Self {
            ns,
            identity,
            proxy,
        }
    }

    /// Short timings so a test runs in seconds; same ratios as the defaults.
    fn config(&self, identity: &str, lease_secs: u64) -> LeaseConfig {
        LeaseConfig {
            lease_duration: Duration::from_secs(lease_secs),
            renew_deadline: Duration::from_secs(lease_secs) / 2,
            retry_period: Duration::from_millis(200),
            ..LeaseConfig::new(&self.ns.name, LEASE, identity)
        }
    }

    /// A candidate with its own client, as a separate operator process would be.
    async fn candidate(&self, identity: &str, lease_secs: u64) -> Leadership {
        let kubeconfig = self
            .identity
            .kubeconfig(&self.proxy.url(), self.proxy.ca_pem());
        let client = client_from(&kubeconfig)
            .await
            .unwrap_or_else(|e| panic!("client: {e}"));
        let store = KubeLeaseStore::new(client, &self.ns.name, LEASE);
        match LeaderElector::new(store, self.config(identity, lease_secs)) {
            Ok(elector) => elector.spawn(),
            Err(error) => panic!("invalid test timings: {error}"),
        }
    }

    /// The Lease's holder, as the API server has it.
    async fn holder(&self) -> Option<String> {
        let leases: Api<Lease> = Api::namespaced(ControlPlane::get().admin().await, &self.ns.name);
        let lease = leases.get_opt(LEASE).await.ok().flatten()?;
        lease
            .spec?
            .holder_identity
            .filter(|holder| !holder.is_empty())
    }
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
    let e = Election::new("lease-one", 1).await;
    let a = e.candidate("a", 2).await;
    let b = e.candidate("b", 2).await;
    assert!(
        within(Duration::from_secs(5), || a.is_leader() || b.is_leader())
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
    assert_eq!(e.holder().await.as_deref(), Some(leader));
}

#[tokio::test]
async fn a_killed_leader_is_replaced_within_the_lease_duration() {
    let e = Election::new("lease-killed", 1).await;
    let a = e.candidate("a", 2).await;
    let b = e.candidate("b", 2).await;
    assert!(
        within(Duration::from_secs(5), || a.is_leader() || b.is_leader())
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
    assert_eq!(e.holder().await.as_deref(), Some(survivor_name));
}

#[tokio::test]
async fn release_on_shutdown_lets_the_other_acquire_at_once() {
    let e = Election::new("lease-release", 1).await;
    let a = e.candidate("a", 10).await;
    assert!(
        within(Duration::from_secs(5), || a.is_leader())
            .await
            .is_some()
    );
    let b = e.candidate("b", 10).await;
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
    assert_eq!(e.holder().await.as_deref(), Some("b"));
}

#[tokio::test]
async fn faults_on_the_lease_never_make_two_leaders() {
    let e = Election::new("lease-faults", 7).await;
    for rule in [
        FaultRule::fail(500)
            .resources(&["leases"])
            .when(Trigger::Fraction(0.2)),
        FaultRule::fail(409)
            .verbs(&["update"])
            .resources(&["leases"])
            .when(Trigger::EveryNth(5)),
        FaultRule::fail(503)
            .resources(&["leases"])
            .when(Trigger::EveryNth(11)),
        FaultRule::delay(Duration::from_millis(30)).resources(&["leases"]),
    ] {
        e.proxy.add(rule);
    }
    let a = e.candidate("a", 2).await;
    let b = e.candidate("b", 2).await;
    assert!(
        within(Duration::from_secs(10), || a.is_leader() || b.is_leader())
            .await
            .is_some(),
        "nobody acquired the Lease despite retries"
    );
    let share = watch_pair(&a, &b, Duration::from_secs(6)).await;
    assert!(
        share > 0.5,
        "a leader should hold most of the time despite faults: {share:.2}"
    );
}

#[tokio::test]
async fn the_lease_needs_only_get_create_and_update_in_its_namespace() {
    let e = Election::new("lease-rbac", 1).await;
    let a = e.candidate("a", 2).await;
    assert!(
        within(Duration::from_secs(5), || a.is_leader())
            .await
            .is_some()
    );
    let released = a.shutdown().await;
    assert!(released.is_ok(), "release failed: {released:?}");
    assert_eq!(e.holder().await, None);
    let served = e.proxy.served();
    assert!(!served.is_empty(), "the candidate went through the proxy");
    let denied: Vec<_> = served.iter().filter(|r| r.code == 403).collect();
    assert!(
        denied.is_empty(),
        "the elector used a verb the rule does not grant: {denied:?}"
    );
}
