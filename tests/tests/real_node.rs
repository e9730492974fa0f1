//! The data plane on a real node: pods from the image `scripts/build-images`
//! builds, rendered by the operator (running on the host as its
//! ServiceAccount), in namespaces enforcing the restricted Pod Security
//! Standard, started by the kubelet, networked by the CNI bridge, reached
//! through kube-proxy and CoreDNS, filtered by kube-router's NetworkPolicy
//! firewall.
//!
//! Ignored in the first `cargo test` of `scripts/test` (kwok's node runs
//! nothing); its second phase brings up `RUSTYMAIL_CLUSTER_NODE=real
//! scripts/cluster up`, builds and imports the images and runs these with
//! `--ignored`.

use std::time::Duration;

use rustymail_tests::{
    control_plane::{Scenario, TestNamespace},
    operator::{Operator, eventually},
    real_node::{
        CURL_NO_CONNECTION, ClientPod, InClusterDovecot, POD_WAIT, PodFacts, diagnose,
        enforce_restricted, fingerprint_of, pods, require, run,
    },
};

const SELECTOR: &str = "rustymail.io/instance=mail";

/// A Scenario whose namespace enforces the restricted Pod Security Standard.
async fn restricted_scenario(prefix: &str) -> Scenario {
    require();
    let scenario = Scenario::new(prefix).await;
    enforce_restricted(scenario.namespace()).await;
    scenario
}

/// The operator and the Dovecot its RustyMail `mail` (plus `spec_lines`)
/// serves, once the data plane pods are Ready through their own probes
/// (which need the IMAP server reachable).
async fn serve(scenario: &Scenario, spec_lines: &str) -> (Operator, InClusterDovecot) {
    let operator = scenario.synced_operator("op").await;
    let dovecot = InClusterDovecot::deploy().await;
    scenario
        .apply(&dovecot.rustymail(scenario.namespace(), spec_lines).await)
        .await;
    let ready = eventually(POD_WAIT, || async {
        scenario
            .condition("Ready")
            .await
            .is_some_and(|(s, _, _)| s == "True")
    })
    .await;
    if !ready {
        panic!(
            "mail is not Ready: {:?}\n{}",
            scenario.condition("Ready").await,
            diagnose(scenario.namespace()).await
        );
    }
    (operator, dovecot)
}

/// The data plane pods, each Ready with no restart.
async fn ready_pods(namespace: &str) -> Vec<PodFacts> {
    let facts: Vec<PodFacts> = pods(namespace, SELECTOR)
        .await
        .iter()
        .map(PodFacts::of)
        .collect();
    assert!(
        !facts.is_empty(),
        "no data plane pods:\n{}",
        diagnose(namespace).await
    );
    facts
}

#[tokio::test]
#[ignore = "needs the real node: scripts/test runs it in its real-node phase"]
async fn pods_serve_through_their_service_and_the_network_policy_admits_only_named_clients() {
    let scenario = restricted_scenario("real-serve").await;
    let (_operator, dovecot) = serve(&scenario, "").await;
    let ns = scenario.namespace().to_owned();
    for pod in ready_pods(&ns).await {
        assert!(pod.ready, "{} is not ready", pod.name);
        assert_eq!(
            pod.restarts,
            0,
            "{} restarted:\n{}",
            pod.name,
            diagnose(&ns).await
        );
        assert!(
            pod.ip.starts_with("10.244.0."),
            "{} has no bridge address: {}",
            pod.name,
            pod.ip
        );
    }

    // Same namespace: the rendered policy admits it (podSelector {}).
    let url = format!("https://mail.{ns}.svc.cluster.local:9437/api/v1/folders");
    let admitted = ClientPod::start(&ns, "admitted", &[("app", "client")]).await;
    assert_eq!(
        admitted.http_status(&url).await,
        Ok(401),
        "a client in the namespace reaches the API through the Service by name, and is asked for credentials"
    );

    // A namespace the policy does not name: the name resolves, the
    // connection is not made.
    let other = TestNamespace::create("real-refused").await;
    enforce_restricted(&other.name).await;
    let refused = ClientPod::start(&other.name, "refused", &[("app", "client")]).await;
    assert!(
        refused
            .resolves(&format!("mail.{ns}.svc.cluster.local"))
            .await,
        "cluster DNS answers in the refused namespace"
    );
    let status = refused.http_status(&url).await;
    assert!(
        matches!(status, Err(code) if CURL_NO_CONNECTION.contains(&code)),
        "a client in a namespace the policy does not name must not connect: {status:?}"
    );
    // The admitted client still connects (the refusal is the policy's).
    assert_eq!(admitted.http_status(&url).await, Ok(401));

    // Egress from a data plane pod: DNS through kube-dns and IMAPS to the
    // Dovecot its policy names are allowed; Dovecot's plain IMAP port and
    // the API server (TCP 443 to a private address) are not.
    let pod = &ready_pods(&ns).await[0];
    let dns = pod
        .in_netns(&[
            "busybox",
            "nslookup",
            "kubernetes.default.svc.cluster.local",
            "10.0.0.10",
        ])
        .await;
    assert_eq!(
        dns.code, 0,
        "DNS from the data plane pod: {}{}",
        dns.stdout, dns.stderr
    );
    let dovecot_ip = PodFacts::of(&pods(&dovecot.namespace.name, "app=dovecot").await[0]).ip;
    assert!(
        pod.connects(&format!("{dovecot_ip}:993")).await,
        "the data plane pod reaches Dovecot's IMAPS port, which its policy names"
    );
    assert!(
        !pod.connects(&format!("{dovecot_ip}:143")).await,
        "the egress policy must block Dovecot's plain IMAP port, which it does not name"
    );
    assert!(
        !pod.connects("10.0.0.1:443").await,
        "the egress policy must block the API server from the data plane pod"
    );
}

/// A self-signed certificate for the data plane's Service names.
fn certificate(ns: &str) -> (String, String) {
    let names = vec![
        format!("mail.{ns}.svc"),
        format!("mail.{ns}.svc.cluster.local"),
    ];
    let made =
        rcgen::generate_simple_self_signed(names).unwrap_or_else(|e| panic!("certificate: {e}"));
    (made.cert.pem(), made.signing_key.serialize_pem())
}

fn tls_secret(ns: &str, cert: &str, key: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: mail-api-tls, namespace: {ns}}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: {}\n  tls.key: {}\n",
        quote(cert),
        quote(key)
    )
}

#[tokio::test]
#[ignore = "needs the real node: scripts/test runs it in its real-node phase"]
async fn a_certificate_updated_in_the_secret_volume_is_served_without_a_restart() {
    let scenario = restricted_scenario("real-rotate").await;
    let ns = scenario.namespace().to_owned();
    let (cert, key) = certificate(&ns);
    scenario.apply(&tls_secret(&ns, &cert, &key)).await;
    let (_operator, _dovecot) = serve(&scenario, "  tls: {secretName: mail-api-tls}\n").await;
    let before = ready_pods(&ns).await;
    let first = fingerprint_of(&cert).await;
    for pod in &before {
        assert_eq!(
            pod.served_fingerprint(9437).await.as_deref(),
            Some(first.as_str()),
            "{}",
            pod.name
        );
    }

    let (cert, key) = certificate(&ns);
    let second = fingerprint_of(&cert).await;
    assert_ne!(first, second);
    scenario.apply(&tls_secret(&ns, &cert, &key)).await;
    // The kubelet refreshes Secret volumes every sync (10 s on this node)
    // plus its cache delay; the data plane reloads on the file change.
    for pod in &before {
        let served = eventually(Duration::from_secs(120), || async {
            pod.served_fingerprint(9437).await.as_deref() == Some(second.as_str())
        })
        .await;
        assert!(
            served,
            "{} still serves the old certificate:\n{}",
            pod.name,
            diagnose(&ns).await
        );
    }
    let after = ready_pods(&ns).await;
    for pod in &before {
        let now = after
            .iter()
            .find(|p| p.uid == pod.uid)
            .unwrap_or_else(|| panic!("pod {} ({}) was replaced", pod.name, pod.uid));
        assert_eq!(now.restarts, 0, "{} restarted", pod.name);
    }
}

#[tokio::test]
#[ignore = "needs the real node: scripts/test runs it in its real-node phase"]
async fn a_pod_stopped_by_a_rollout_gets_sigterm_and_drains() {
    let scenario = restricted_scenario("real-rollout").await;
    let (_operator, _dovecot) = serve(&scenario, "").await;
    let ns = scenario.namespace().to_owned();
    let pod = ready_pods(&ns).await.remove(0);
    let plane = require();
    let kubectl = plane.tool("kubectl").to_string_lossy().into_owned();
    // The container's log, followed until it exits.
    let follow = {
        let (kubectl, ns, name) = (kubectl.clone(), ns.clone(), pod.name.clone());
        tokio::spawn(async move { run(&kubectl, &["-n", &ns, "logs", "-f", &name]).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let restart = run(
        &kubectl,
        &["-n", &ns, "rollout", "restart", "deployment/mail"],
    )
    .await;
    assert_eq!(
        restart.code, 0,
        "kubectl rollout restart: {}",
        restart.stderr
    );
    let Ok(log) = tokio::time::timeout(Duration::from_secs(90), follow).await else {
        panic!(
            "{} did not stop within 90 s:\n{}",
            pod.name,
            diagnose(&ns).await
        );
    };
    let log = log.unwrap_or_else(|e| panic!("log follower: {e}"));
    for line in [
        "not ready; still serving until the delay is over",
        "shutting down",
        "stopped",
    ] {
        assert!(
            log.stdout.contains(line),
            "{} did not log {line:?} when stopped; its log:\n{}",
            pod.name,
            log.stdout
        );
    }
    let replaced = eventually(POD_WAIT, || async {
        let now = ready_pods(&ns).await;
        now.iter().all(|p| p.uid != pod.uid && p.ready) && now.len() == 2
    })
    .await;
    assert!(
        replaced,
        "the rollout did not finish:\n{}",
        diagnose(&ns).await
    );
}
