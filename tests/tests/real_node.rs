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

use rustymail_operator::crd::DEFAULT_IMAGE;
use rustymail_tests::{
    control_plane::{TestNamespace, install_crd, kubectl_admin},
    operator::Operator,
    poll::eventually,
    real_node::{
        CURL_NO_CONNECTION, ClientPod, InClusterDovecot, POD_WAIT, PodFacts, api_key, diagnose,
        enforce_restricted, fingerprint_of, host_connects,
        lease::LeaseWatch,
        load::{Load, PhaseReport},
        pods, require, resource_versions, run, secret_text, tag_image,
    },
    scenario::Scenario,
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
    // Nothing else: each of these answers a connection from the host, and
    // none from the data plane pod. (Not asserted: the other data plane
    // pod's 9437. kube-router v2.1.0 runs a policy of both types through
    // one chain for a pod's traffic in either direction, so the policy's
    // own ingress rule, which admits the namespace's pods, lets a pod it
    // selects reach a peer it also selects.)
    let (server, _) = require().server();
    let api_port = server.rsplit(':').next().unwrap_or("443").to_owned();
    let coredns_ip = PodFacts::of(&pods("kube-system", "k8s-app=kube-dns").await[0]).ip;
    for (addr, what) in [
        (
            format!("{dovecot_ip}:143"),
            "Dovecot's plain IMAP port, which the policy does not name",
        ),
        (
            "10.0.0.1:443".to_owned(),
            "the API server through the kubernetes Service",
        ),
        (
            format!("{NODE_IP}:{api_port}"),
            "the API server at the node's address",
        ),
        (
            format!("{NODE_IP}:10250"),
            "the kubelet at the node's address",
        ),
        (
            format!("{coredns_ip}:8080"),
            "a port of the DNS pod (another namespace) other than DNS",
        ),
    ] {
        assert!(
            host_connects(&addr).await,
            "{what} ({addr}) does not answer even the host"
        );
        assert!(
            !pod.connects(&addr).await,
            "the egress policy must block {what} ({addr}) from the data plane pod"
        );
    }
}

/// The real node's address (`scripts/real-node`).
const NODE_IP: &str = "172.30.0.1";

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

/// A message with an attachment, for the mail a client reads.
const MESSAGE: &str = "From: Ops <ops@example.com>\r
To: alice@example.com\r
Subject: Quarterly report on the real node\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; boundary=\"b1\"\r
\r
--b1\r
Content-Type: text/plain; charset=utf-8\r
\r
The report is attached.\r
--b1\r
Content-Type: text/plain; name=\"report.txt\"\r
Content-Disposition: attachment; filename=\"report.txt\"\r
\r
revenue up\r
--b1--\r
";

#[tokio::test]
#[ignore = "needs the real node: scripts/test runs it in its real-node phase"]
async fn helm_installs_the_system_a_client_reads_mail_and_no_request_is_lost_to_rollouts_or_the_operator()
 {
    let plane = require();
    install_crd().await;
    let operator_ns = TestNamespace::create("real-operator").await;
    let app = TestNamespace::create("real-app").await;
    enforce_restricted(&operator_ns.name).await;
    enforce_restricted(&app.name).await;

    // The chart as a user installs it, watching the application namespace;
    // its egress policy names the API server's port (this cluster's is not
    // 443 or 6443). The CRD is applied once for every test of the process.
    let (server, _) = plane.server();
    let api_port = server.rsplit(':').next().unwrap_or("443").to_owned();
    let chart = rustymail_tests::workspace::root().join("charts/rustymail-operator");
    let helm = plane.tool("helm").to_string_lossy().into_owned();
    let install = run(
        &helm,
        &[
            "install",
            "rustymail-operator",
            &chart.to_string_lossy(),
            "-n",
            &operator_ns.name,
            "--set",
            "crds.install=false",
            "--set",
            &format!("watchNamespaces={{{}}}", app.name),
            "--set",
            &format!("networkPolicy.apiServerPorts={{443,{api_port}}}"),
            "--wait",
            "--timeout",
            "180s",
        ],
    )
    .await;
    assert_eq!(
        install.code,
        0,
        "helm install: {}{}\n{}",
        install.stdout,
        install.stderr,
        diagnose(&operator_ns.name).await
    );
    let operators: Vec<PodFacts> = pods(
        &operator_ns.name,
        "app.kubernetes.io/name=rustymail-operator",
    )
    .await
    .iter()
    .map(PodFacts::of)
    .collect();
    assert_eq!(operators.len(), 2, "two operator pods");
    assert!(
        operators.iter().all(|p| p.ready && p.restarts == 0),
        "{operators:?}"
    );
    let held = eventually(POD_WAIT, || async {
        let holder = kubectl_admin(
            &[
                "-n",
                &operator_ns.name,
                "get",
                "lease",
                "rustymail-operator",
                "-o",
                "jsonpath={.spec.holderIdentity}",
                "--ignore-not-found",
            ],
            None,
        )
        .await;
        operators.iter().any(|p| p.name == holder)
    })
    .await;
    assert!(held, "one operator pod holds the Lease");

    // A RustyMail with its certificate from the test CA, its account on
    // the in-cluster Dovecot, applied as a user applies it.
    let dovecot = InClusterDovecot::deploy().await;
    dovecot.append("alice", MESSAGE).await;
    kubectl_admin(
        &[
            "-n",
            &app.name,
            "create",
            "secret",
            "generic",
            "support-imap",
            "--from-literal=username=alice",
            "--from-literal=password=secret",
        ],
        None,
    )
    .await;
    let mail = dovecot.rustymail(&app.name, LOAD_SPEC).await;
    kubectl_admin(&["apply", "--server-side", "-f", "-"], Some(&mail)).await;
    let ready = eventually(Duration::from_secs(180), || async {
        kubectl_admin(
            &[
                "-n",
                &app.name,
                "get",
                "rustymail",
                "mail",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ],
            None,
        )
        .await
            == "True"
    })
    .await;
    assert!(
        ready,
        "mail is not Ready:\n{}\n{}",
        diagnose(&app.name).await,
        diagnose(&operator_ns.name).await
    );

    // A client pod reads the mail through the Service, verifying the
    // certificate against the issuer's CA and the Service's name, with the
    // generated API key.
    let key = api_key(&app.name).await;
    let ca = std::fs::read_to_string(plane.dir.join("pki/issuer-ca.crt"))
        .unwrap_or_else(|e| panic!("the test CA: {e}"));
    let reader = ClientPod::start_with_ca(&app.name, "reader", &ca).await;
    let base = format!(
        "https://mail.{}.svc:9437/api/v1/folders/INBOX/emails",
        app.name
    );
    let get = |url: String| {
        let (reader, key) = (&reader, &key);
        async move {
            reader
                .exec(&[
                    "curl",
                    "-sS",
                    "--fail-with-body",
                    "--cacert",
                    "/etc/ca/ca.crt",
                    "-H",
                    &format!("X-API-Key: {key}"),
                    &url,
                ])
                .await
        }
    };
    let listing = get(base.clone()).await;
    assert_eq!(
        listing.code, 0,
        "listing INBOX: {}{}",
        listing.stdout, listing.stderr
    );
    assert!(
        listing.stdout.contains("Quarterly report on the real node"),
        "{}",
        listing.stdout
    );
    let uid = serde_json::from_str::<serde_json::Value>(&listing.stdout)
        .ok()
        .and_then(|v| v["messages"][0]["uid"].as_u64())
        .unwrap_or_else(|| panic!("no uid in the listing: {}", listing.stdout));
    let message = get(format!("{base}/{uid}")).await;
    assert_eq!(
        message.code, 0,
        "reading the message: {}{}",
        message.stdout, message.stderr
    );
    assert!(
        message.stdout.contains("The report is attached."),
        "{}",
        message.stdout
    );
    let attachment = get(format!("{base}/{uid}/attachments/0")).await;
    assert_eq!(
        attachment.code, 0,
        "the attachment: {}{}",
        attachment.stdout, attachment.stderr
    );
    assert!(
        attachment.stdout.contains("revenue up"),
        "{}",
        attachment.stdout
    );

    // The same RustyMail, under a steady stream of requests through each
    // change a user or the cluster makes.
    let system = System {
        operator_ns: operator_ns.name.clone(),
        ns: app.name.clone(),
        url: format!("https://mail.{}.svc:9437/api/v1/folders", app.name),
        key,
        client: reader,
        chart: chart.to_string_lossy().into_owned(),
    };
    system.steady("steady").await;
    system.image_tag_change().await;
    system.replicas_change().await;
    system.killed_pod().await;
    system.operator_upgrade().await;
    system.operator_outage().await;
    let _ = run(
        &helm,
        &["uninstall", "rustymail-operator", "-n", &operator_ns.name],
    )
    .await;
}

#[tokio::test]
#[ignore = "needs the real node: scripts/test runs it in its real-node phase"]
async fn named_clients_are_admitted_isolation_cuts_every_client_off_and_blocked_cidrs_get_403() {
    let scenario = restricted_scenario("real-access").await;
    let ns = scenario.namespace().to_owned();
    let monitoring = TestNamespace::create("real-monitoring").await;
    let outside = TestNamespace::create("real-outside").await;
    for n in [&monitoring.name, &outside.name] {
        enforce_restricted(n).await;
    }
    let (_operator, _dovecot) = serve(
        &scenario,
        &format!("    monitoringNamespaces: [{}]\n", monitoring.name),
    )
    .await;
    let api = format!("https://mail.{ns}.svc.cluster.local:9437/api/v1/folders");
    let metrics = format!("http://mail.{ns}.svc.cluster.local:9090/metrics");
    let inside = ClientPod::start(&ns, "inside", &[("app", "client")]).await;
    let outsider = ClientPod::start(&outside.name, "outsider", &[("app", "client")]).await;
    let scraper = ClientPod::start(&monitoring.name, "scraper", &[("app", "prometheus")]).await;
    let refused =
        |s: Result<u16, i32>| matches!(s, Err(code) if CURL_NO_CONNECTION.contains(&code));

    assert_eq!(inside.http_status(&api).await, Ok(401));
    assert!(
        refused(outsider.http_status(&api).await),
        "a namespace the policy does not name"
    );
    assert_eq!(
        scraper.http_status(&metrics).await,
        Ok(200),
        "the monitoring namespace scrapes 9090"
    );
    assert!(
        refused(scraper.http_status(&api).await),
        "the monitoring namespace may not call the API"
    );

    // networkPolicy.clients names the outside namespace: admitted within
    // seconds of the edit.
    scenario
        .patch(
            "rustymail/mail",
            &format!(
                r#"{{"spec":{{"networkPolicy":{{"clients":[{{"namespace":"{}"}}]}}}}}}"#,
                outside.name
            ),
        )
        .await;
    let started = std::time::Instant::now();
    let admitted = eventually(Duration::from_secs(30), || async {
        outsider.http_status(&api).await == Ok(401)
    })
    .await;
    assert!(
        admitted,
        "networkPolicy.clients did not admit the namespace within 30 s"
    );
    eprintln!(
        "networkPolicy.clients admitted the namespace after {:?}",
        started.elapsed()
    );

    // access.isolate: no client reaches 9437, monitoring still scrapes.
    scenario
        .patch("rustymail/mail", r#"{"spec":{"access":{"isolate":true}}}"#)
        .await;
    let isolated = eventually(Duration::from_secs(30), || async {
        refused(inside.http_status(&api).await) && refused(outsider.http_status(&api).await)
    })
    .await;
    assert!(
        isolated,
        "access.isolate did not cut the clients off within 30 s"
    );
    assert_eq!(
        scraper.http_status(&metrics).await,
        Ok(200),
        "isolated pods are still scraped"
    );

    // blockedCIDRs: the inside client's address is answered 403 (the pods
    // roll for it), the others still 401.
    let inside_ip = PodFacts::of(&pods(&ns, "app=client").await[0]).ip;
    scenario
        .patch(
            "rustymail/mail",
            &format!(
                r#"{{"spec":{{"access":{{"isolate":false,"blockedCIDRs":["{inside_ip}/32"]}}}}}}"#
            ),
        )
        .await;
    let blocked = eventually(POD_WAIT, || async {
        inside.http_status(&api).await == Ok(403) && outsider.http_status(&api).await == Ok(401)
    })
    .await;
    assert!(
        blocked,
        "blockedCIDRs: inside {:?}, outsider {:?}\n{}",
        inside.http_status(&api).await,
        outsider.http_status(&api).await,
        diagnose(&ns).await
    );
}

#[tokio::test]
#[ignore = "needs the real node: scripts/test runs it in its real-node phase"]
async fn deleting_the_rustymail_drains_its_pods_collects_its_children_and_keeps_the_users_secrets()
{
    let scenario = restricted_scenario("real-delete").await;
    let (_operator, _dovecot) = serve(&scenario, "").await;
    let ns = scenario.namespace().to_owned();
    let pod = ready_pods(&ns).await.remove(0);
    let kubectl = require().tool("kubectl").to_string_lossy().into_owned();
    let follow = {
        let (kubectl, ns, name) = (kubectl.clone(), ns.clone(), pod.name.clone());
        tokio::spawn(async move { run(&kubectl, &["-n", &ns, "logs", "-f", &name]).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let delete = run(
        &kubectl,
        &["-n", &ns, "delete", "rustymail", "mail", "--wait=false"],
    )
    .await;
    assert_eq!(delete.code, 0, "kubectl delete: {}", delete.stderr);

    let Ok(log) = tokio::time::timeout(Duration::from_secs(90), follow).await else {
        panic!(
            "{} did not stop within 90 s:\n{}",
            pod.name,
            diagnose(&ns).await
        );
    };
    let log = log.unwrap_or_else(|e| panic!("log follower: {e}"));
    for line in ["shutting down", "stopped"] {
        assert!(
            log.stdout.contains(line),
            "{} did not log {line:?}:\n{}",
            pod.name,
            log.stdout
        );
    }
    let children = [
        "deployment/mail",
        "service/mail",
        "configmap/mail-config",
        "secret/mail-credentials",
        "secret/mail-tls",
        "networkpolicy/mail",
        "poddisruptionbudget/mail",
        "serviceaccount/mail",
    ];
    let collected = eventually(POD_WAIT, || async {
        let left = run(
            &kubectl,
            &[
                &["-n", &ns, "get", "--ignore-not-found", "-o", "name"][..],
                &children[..],
            ]
            .concat(),
        )
        .await;
        left.code == 0 && left.stdout.trim().is_empty() && pods(&ns, SELECTOR).await.is_empty()
    })
    .await;
    assert!(
        collected,
        "children or pods left after the delete:\n{}",
        diagnose(&ns).await
    );
    for secret in ["secret/support-imap", "secret/dovecot-ca"] {
        let kept = run(&kubectl, &["-n", &ns, "get", secret, "-o", "name"]).await;
        assert_eq!(
            kept.code, 0,
            "the user's {secret} must stay: {}",
            kept.stderr
        );
    }
}

/// A certificate from the test CA and rate limits above what the load
/// client sends (the defaults answer one client's stream with 429s).
const LOAD_SPEC: &str = "  tls:\n    issuerRef: {name: test-ca, kind: ClusterIssuer}\n  rateLimits: {perIp: 100000/minute, perUser: 100000/minute, perApiKey: 100000/minute}\n";

/// The SHA-256 fingerprint of the certificate in Secret `mail-tls`.
async fn secret_fingerprint(ns: &str) -> String {
    let pem = secret_text(ns, "mail-tls", "tls.crt")
        .await
        .unwrap_or_else(|| panic!("tls.crt of mail-tls is not base64 PEM"));
    fingerprint_of(&pem).await
}

#[tokio::test]
#[ignore = "needs the real node: scripts/test runs it in its real-node phase"]
async fn cert_manager_renews_the_certificate_under_load_and_no_request_fails() {
    let scenario = restricted_scenario("real-renew").await;
    let ns = scenario.namespace().to_owned();
    let (_operator, _dovecot) = serve(&scenario, LOAD_SPEC).await;
    let before = ready_pods(&ns).await;
    let first = secret_fingerprint(&ns).await;
    for pod in &before {
        assert_eq!(
            pod.served_fingerprint(9437).await.as_deref(),
            Some(first.as_str()),
            "{} serves the issued certificate",
            pod.name
        );
    }

    let ca = std::fs::read_to_string(require().dir.join("pki/issuer-ca.crt"))
        .unwrap_or_else(|e| panic!("the test CA: {e}"));
    let client = ClientPod::start_with_ca(&ns, "load", &ca).await;
    let url = format!("https://mail.{ns}.svc:9437/api/v1/folders");
    let key = api_key(&ns).await;

    let steady = Load::start(&client, &url, &key, &[200]);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let steady = steady.finish("steady").await;
    assert!(steady.sent > 0, "{steady:?}");
    assert_eq!(steady.failed, 0, "before the renewal: {steady:?}");

    // What `cmctl renew` does: the Issuing condition, set through the
    // Certificate's status subresource.
    let load = Load::start(&client, &url, &key, &[200]);
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| panic!("formatting the time"));
    kubectl_admin(
        &[
            "-n",
            &ns,
            "patch",
            "certificate",
            "mail-tls",
            "--subresource=status",
            "--type=json",
            "-p",
            &format!(
                r#"[{{"op":"add","path":"/status/conditions/-","value":{{"type":"Issuing","status":"True","reason":"ManuallyTriggered","message":"renewal under load","lastTransitionTime":"{now}"}}}}]"#
            ),
        ],
        None,
    )
    .await;
    let started = std::time::Instant::now();
    let reissued = eventually(Duration::from_secs(60), || async {
        secret_fingerprint(&ns).await != first
    })
    .await;
    assert!(
        reissued,
        "cert-manager did not reissue mail-tls within 60 s:\n{}",
        diagnose(&ns).await
    );
    let second = secret_fingerprint(&ns).await;
    // The kubelet refreshes Secret volumes every sync plus its cache delay;
    // the data plane reloads on the file change.
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
    eprintln!(
        "every pod served the renewed certificate {:?} after the renewal was triggered",
        started.elapsed()
    );
    let renewal = load.finish("renewal").await;
    assert!(renewal.sent > 0, "{renewal:?}");
    assert_eq!(renewal.failed, 0, "during the renewal: {renewal:?}");

    let after = ready_pods(&ns).await;
    for pod in &before {
        let now = after
            .iter()
            .find(|p| p.uid == pod.uid)
            .unwrap_or_else(|| panic!("pod {} ({}) was replaced", pod.name, pod.uid));
        assert_eq!(now.restarts, 0, "{} restarted", pod.name);
    }
}

/// The HTTP status `client` (started with the test CA) gets for `url` with
/// API key `key`, verifying the certificate; 0 when there was none.
async fn status_with(client: &ClientPod, url: &str, key: &str) -> u16 {
    let out = client
        .exec(&[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--cacert",
            "/etc/ca/ca.crt",
            "-H",
            &format!("X-API-Key: {key}"),
            "--connect-timeout",
            "2",
            "-m",
            "5",
            url,
        ])
        .await;
    out.stdout.trim().parse().unwrap_or(0)
}

/// The rotation test's `spec.auth.rotationGracePeriod`: long enough for the
/// pods to roll beside the other tests (14 s here), short enough to wait
/// out.
const ROTATION_GRACE: Duration = Duration::from_secs(45);

#[tokio::test]
#[ignore = "needs the real node: scripts/test runs it in its real-node phase"]
async fn rotating_the_credentials_under_load_keeps_the_old_key_for_its_grace_period_and_no_request_fails()
 {
    let scenario = restricted_scenario("real-creds").await;
    let ns = scenario.namespace().to_owned();
    let spec = format!(
        "{LOAD_SPEC}  auth: {{rotationGracePeriod: {}s}}\n",
        ROTATION_GRACE.as_secs()
    );
    let (_operator, _dovecot) = serve(&scenario, &spec).await;
    let before = ready_pods(&ns).await;
    let ca = std::fs::read_to_string(require().dir.join("pki/issuer-ca.crt"))
        .unwrap_or_else(|e| panic!("the test CA: {e}"));
    // The stream from one pod, the key checks from another: the data plane
    // answers a stream of refused keys from one address with 429 once it
    // passes authFailuresPerIp (10 a minute).
    let streamer = ClientPod::start_with_ca(&ns, "load", &ca).await;
    let client = ClientPod::start_with_ca(&ns, "probe", &ca).await;
    let url = format!("https://mail.{ns}.svc:9437/api/v1/folders");
    let old = api_key(&ns).await;
    assert_eq!(status_with(&client, &url, &old).await, 200);

    // A client that has not switched yet keeps the old key: while the pods
    // roll and until the grace period ends, every request is answered 200.
    let load = Load::start(&streamer, &url, &old, &[200]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    kubectl_admin(
        &[
            "-n",
            &ns,
            "annotate",
            "rustymail",
            "mail",
            "rustymail.io/rotate-credentials=under-load",
            "--overwrite",
        ],
        None,
    )
    .await;
    let started = std::time::Instant::now();
    let rotated = eventually(Duration::from_secs(60), || async {
        api_key(&ns).await != old
    })
    .await;
    assert!(
        rotated,
        "mail-credentials was not rotated within 60 s:\n{}",
        diagnose(&ns).await
    );
    let new = api_key(&ns).await;
    let until = eventually(Duration::from_secs(30), || async {
        previous_key_accepted_until(&scenario).await.is_some()
    })
    .await;
    assert!(until, "status.access.previousKeyAcceptedUntil is not set");
    let until = previous_key_accepted_until(&scenario)
        .await
        .unwrap_or_else(|| panic!("status.access.previousKeyAcceptedUntil"));
    let rolled = eventually(POD_WAIT, || async {
        let now = ready_pods(&ns).await;
        now.len() == before.len()
            && now
                .iter()
                .all(|p| p.ready && before.iter().all(|b| b.uid != p.uid))
    })
    .await;
    assert!(
        rolled,
        "the pods did not roll for the new credentials:\n{}",
        diagnose(&ns).await
    );
    let switched = eventually(Duration::from_secs(30), || async {
        status_with(&client, &url, &new).await == 200
    })
    .await;
    assert!(switched, "the new key is not served after the roll");
    eprintln!(
        "the new key was served {:?} after the annotation; the old one is accepted until {until}",
        started.elapsed()
    );
    let left = until - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::seconds(7),
        "the pods rolled too close to the end of the grace period ({left} left) to tell the \
         stream's last requests from the refusal; raise ROTATION_GRACE"
    );
    assert_eq!(
        status_with(&client, &url, &old).await,
        200,
        "the old key within its grace period, after the roll"
    );
    let rotation = load.finish("rotation, old key in its grace period").await;
    assert!(rotation.sent > 0, "{rotation:?}");
    assert_eq!(rotation.failed, 0, "during the rotation: {rotation:?}");

    // The grace period over: the old key is refused by every pod, without
    // another roll, and the new one works everywhere.
    let rolled_pods = ready_pods(&ns).await;
    let wait = until - time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    tokio::time::sleep(Duration::try_from(wait).unwrap_or_default()).await;
    for _ in 0..3 {
        assert_eq!(
            status_with(&client, &url, &old).await,
            401,
            "the old key after its grace period"
        );
        assert_eq!(status_with(&client, &url, &new).await, 200, "the new key");
    }
    let steady = Load::start(&client, &url, &new, &[200]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let steady = steady.finish("after the grace period").await;
    assert_eq!(steady.failed, 0, "with the new key: {steady:?}");
    let dropped = eventually(Duration::from_secs(30), || async {
        secret_text(&ns, "mail-credentials", "api-keys")
            .await
            .is_some_and(|k| k.lines().count() == 1)
    })
    .await;
    assert!(
        dropped,
        "the operator did not remove the old key's line from mail-credentials after its grace period"
    );
    let after: Vec<String> = ready_pods(&ns).await.into_iter().map(|p| p.uid).collect();
    assert_eq!(
        after,
        rolled_pods.into_iter().map(|p| p.uid).collect::<Vec<_>>(),
        "the pods rolled again when the grace period ended"
    );
}

/// `status.access.previousKeyAcceptedUntil` of `mail`, while a rotated key
/// is in its grace period.
async fn previous_key_accepted_until(scenario: &Scenario) -> Option<time::OffsetDateTime> {
    let text = scenario
        .kubectl_ns(&[
            "get",
            "rustymail",
            "mail",
            "-o",
            "jsonpath={.status.access.previousKeyAcceptedUntil}",
        ])
        .await;
    time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339).ok()
}

/// The helm-installed system under load: the operator's release, the
/// RustyMail `mail` it serves, and a client pod (with the test CA) sending
/// requests to it with the generated key.
struct System {
    operator_ns: String,
    ns: String,
    url: String,
    key: String,
    client: ClientPod,
    chart: String,
}

/// The operator pods' selector.
const OPERATOR_SELECTOR: &str = "app.kubernetes.io/name=rustymail-operator";

/// The chart's Lease timings (values.yaml): a follower checks the Lease
/// every retry period, and takes a released one over on its next check.
const LEASE_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// What the RustyMail owns and is, whose resourceVersions change on any
/// write.
const WRITTEN: [&str; 10] = [
    "rustymail/mail",
    "deployment/mail",
    "service/mail",
    "configmap/mail-config",
    "secret/mail-credentials",
    "secret/mail-tls",
    "certificates.cert-manager.io/mail-tls",
    "networkpolicy/mail",
    "poddisruptionbudget/mail",
    "serviceaccount/mail",
];

impl System {
    /// Starts the stream of requests; every request must be answered 200.
    fn load(&self) -> Load {
        Load::start(&self.client, &self.url, &self.key, &[200])
    }

    /// Sums up the stream as `phase`, failing on any failed request.
    async fn no_failures(&self, load: Load, phase: &str) -> PhaseReport {
        let report = load.finish(phase).await;
        assert!(report.sent > 0, "{phase}: no request sent: {report:?}");
        assert_eq!(
            report.failed,
            0,
            "{phase}: failed requests: {report:?}\n{}",
            diagnose(&self.ns).await
        );
        report
    }

    /// Five seconds of the stream with nothing changing.
    async fn steady(&self, phase: &str) {
        let load = self.load();
        tokio::time::sleep(Duration::from_secs(5)).await;
        self.no_failures(load, phase).await;
    }

    /// `kubectl patch rustymail/mail` with a merge patch.
    async fn patch(&self, patch: &str) {
        kubectl_admin(
            &[
                "-n",
                &self.ns,
                "patch",
                "rustymail",
                "mail",
                "--type",
                "merge",
                "-p",
                patch,
            ],
            None,
        )
        .await;
    }

    /// Waits until the data plane runs `count` pods, each Ready, of `image`,
    /// none of them one of `before` (an empty `before`: any pods).
    async fn wait_pods(&self, count: usize, image: &str, before: &[PodFacts], what: &str) {
        let done = eventually(POD_WAIT, || async {
            let now = pods(&self.ns, SELECTOR).await;
            now.len() == count
                && now.iter().all(|p| {
                    let facts = PodFacts::of(p);
                    facts.ready
                        && p["spec"]["containers"][0]["image"] == image
                        && before.iter().all(|b| b.uid != facts.uid)
                })
        })
        .await;
        assert!(done, "{what} did not finish:\n{}", diagnose(&self.ns).await);
    }

    /// A change of `spec.image` (a second tag of the same image) rolls the
    /// pods, one new pod Ready before an old one stops: every request is
    /// answered.
    async fn image_tag_change(&self) {
        let next = format!("{DEFAULT_IMAGE}-next");
        tag_image(DEFAULT_IMAGE, &next).await;
        let before = ready_pods(&self.ns).await;
        let load = self.load();
        self.patch(&format!(r#"{{"spec":{{"image":"{next}"}}}}"#))
            .await;
        self.wait_pods(
            before.len(),
            &next,
            &before,
            "the roll to the new image tag",
        )
        .await;
        self.no_failures(load, "image tag change").await;
    }

    /// `spec.replicas` 2 -> 3 -> 2: the new pod joins once Ready, the
    /// removed one drains; every request is answered.
    async fn replicas_change(&self) {
        let image = format!("{DEFAULT_IMAGE}-next");
        let load = self.load();
        self.patch(r#"{"spec":{"replicas":3}}"#).await;
        self.wait_pods(3, &image, &[], "scaling to 3").await;
        self.no_failures(load, "replicas 2 to 3").await;
        let load = self.load();
        self.patch(r#"{"spec":{"replicas":2}}"#).await;
        self.wait_pods(2, &image, &[], "scaling to 2").await;
        self.no_failures(load, "replicas 3 to 2").await;
    }

    /// One pod's container killed with SIGKILL: the kubelet restarts it,
    /// the Service routes around it meanwhile (its endpoint is marked not
    /// ready); the requests that reached it
    /// as it died, or in the moment before its endpoint was withdrawn, are
    /// counted and bounded, and none fails once it is back.
    async fn killed_pod(&self) {
        let victim = ready_pods(&self.ns).await.remove(0);
        let load = self.load();
        tokio::time::sleep(Duration::from_secs(2)).await;
        victim.kill().await;
        let started = std::time::Instant::now();
        let withdrawn = std::sync::atomic::AtomicBool::new(false);
        let back = eventually(POD_WAIT, || async {
            if self.endpoints().await.get(&victim.ip) == Some(&false) {
                withdrawn.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            let now = ready_pods(&self.ns).await;
            now.len() == 2
                && now.iter().all(|p| p.ready)
                && now.iter().any(|p| p.uid == victim.uid && p.restarts == 1)
        })
        .await;
        assert!(
            back,
            "{} was not restarted and Ready again:\n{}",
            victim.name,
            diagnose(&self.ns).await
        );
        let took = started.elapsed();
        assert!(
            withdrawn.load(std::sync::atomic::Ordering::SeqCst),
            "the Service's endpoint for {} was never marked not ready",
            victim.name
        );
        let report = load.finish("pod killed").await;
        eprintln!(
            "{} killed: restarted and Ready again after {took:?}; {} of {} requests failed",
            victim.name, report.failed, report.sent
        );
        assert!(
            report.sent > report.failed,
            "no request answered: {report:?}"
        );
        assert!(
            report.failed <= KILLED_POD_FAILURES,
            "more than {KILLED_POD_FAILURES} requests failed for one killed pod: {report:?}"
        );
        self.steady("after the kill").await;
    }

    /// The Service's endpoints (EndpointSlices): each address, and whether
    /// it is ready to receive traffic.
    async fn endpoints(&self) -> std::collections::BTreeMap<String, bool> {
        let out = kubectl_admin(
            &[
                "-n",
                &self.ns,
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=mail",
                "-o",
                "jsonpath={range .items[*].endpoints[*]}{.addresses[0]}={.conditions.ready}{\"\\n\"}{end}",
            ],
            None,
        )
        .await;
        out.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(ip, ready)| (ip.to_owned(), ready == "true"))
            .collect()
    }

    /// The operator's pods, as the kubelet reports them.
    async fn operators(&self) -> Vec<PodFacts> {
        pods(&self.operator_ns, OPERATOR_SELECTOR)
            .await
            .iter()
            .map(PodFacts::of)
            .collect()
    }

    /// `metadata.generation` of Deployment `mail`.
    async fn deployment_generation(&self) -> String {
        kubectl_admin(
            &[
                "-n",
                &self.ns,
                "get",
                "deployment",
                "mail",
                "-o",
                "jsonpath={.metadata.generation}",
            ],
            None,
        )
        .await
    }

    /// `helm upgrade` with a new pod annotation rolls the operator's pods:
    /// the Lease is held throughout but for the hand-over (at most the
    /// retry period after the leader releases it, plus a second for the
    /// round trips and the poll); the data plane pods do not roll, nothing
    /// the RustyMail owns is rewritten, and every request is answered.
    async fn operator_upgrade(&self) {
        let before = self.operators().await;
        let pods_before = ready_pods(&self.ns).await;
        let generation = self.deployment_generation().await;
        let versions = resource_versions(&self.ns, &WRITTEN).await;
        let watch = LeaseWatch::start(&self.operator_ns, "rustymail-operator").await;
        let load = self.load();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let helm = require().tool("helm").to_string_lossy().into_owned();
        let upgrade = run(
            &helm,
            &[
                "upgrade",
                "rustymail-operator",
                &self.chart,
                "-n",
                &self.operator_ns,
                "--reuse-values",
                "--set",
                "podAnnotations.rustymail\\.io/upgrade=second",
                "--wait",
                "--timeout",
                "180s",
            ],
        )
        .await;
        assert_eq!(
            upgrade.code,
            0,
            "helm upgrade: {}{}\n{}",
            upgrade.stdout,
            upgrade.stderr,
            diagnose(&self.operator_ns).await
        );
        let rolled = eventually(POD_WAIT, || async {
            let now = self.operators().await;
            now.len() == 2
                && now
                    .iter()
                    .all(|p| p.ready && before.iter().all(|b| b.uid != p.uid))
        })
        .await;
        assert!(
            rolled,
            "the operator's pods did not roll:\n{}",
            diagnose(&self.operator_ns).await
        );
        let after = self.operators().await;
        let held = eventually(POD_WAIT, || self.leader_reconciled(&after)).await;
        assert!(
            held,
            "no new operator pod took the Lease and reconciled:\n{}",
            diagnose(&self.operator_ns).await
        );
        // A write the reconcile makes lands before it is counted; two
        // seconds more for anything queued behind it.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let lease = watch.finish().await;
        self.no_failures(load, "operator upgrade").await;
        eprintln!(
            "operator upgrade: Lease read {} times, holders {:?}, longest gap {:?}",
            lease.samples, lease.holders, lease.longest_gap
        );
        assert!(lease.held_at_both_ends, "{lease:?}");
        assert!(
            lease.longest_gap <= LEASE_RETRY_PERIOD + Duration::from_secs(1),
            "the Lease went without a holder for longer than the retry period allows: {lease:?}"
        );
        let known: Vec<&str> = before
            .iter()
            .chain(&after)
            .map(|p| p.name.as_str())
            .collect();
        assert!(
            lease.holders.iter().all(|h| known.contains(&h.as_str())),
            "a Lease holder that is no operator pod: {lease:?} {known:?}"
        );
        let pods_after = ready_pods(&self.ns).await;
        assert_eq!(
            pods_after
                .iter()
                .map(|p| (&p.uid, p.restarts))
                .collect::<Vec<_>>(),
            pods_before
                .iter()
                .map(|p| (&p.uid, p.restarts))
                .collect::<Vec<_>>(),
            "the data plane pods rolled or restarted with the operator"
        );
        assert_eq!(
            self.deployment_generation().await,
            generation,
            "the operator upgrade rewrote the data plane's Deployment"
        );
        assert_eq!(
            resource_versions(&self.ns, &WRITTEN).await,
            versions,
            "the upgraded operator wrote to a RustyMail where nothing had changed"
        );
    }

    /// `reconciles_total{result="success"}` of operator pod `pod`, read in
    /// its network namespace from its admin port.
    async fn successful_reconciles(pod: &PodFacts) -> f64 {
        let out = pod
            .in_netns(&["curl", "-s", "-m", "2", "http://127.0.0.1:8080/metrics"])
            .await;
        rustymail_tests::operator::sum_of(
            &out.stdout,
            "rustymail_operator_reconciles_total{result=\"success\"}",
        )
    }

    /// Whether one of `among` holds the Lease and has finished a reconcile
    /// (every RustyMail is reconciled when the Lease is gained).
    async fn leader_reconciled(&self, among: &[PodFacts]) -> bool {
        let holder = kubectl_admin(
            &[
                "-n",
                &self.operator_ns,
                "get",
                "lease",
                "rustymail-operator",
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ],
            None,
        )
        .await;
        match among.iter().find(|p| p.name == holder) {
            Some(leader) => Self::successful_reconciles(leader).await >= 1.0,
            None => false,
        }
    }

    /// The operator scaled to zero: the data plane keeps serving. Scaled
    /// back, a new replica takes the Lease and reconciles the RustyMail
    /// without writing to it or to anything it owns.
    async fn operator_outage(&self) {
        let scale = |replicas: &'static str| async move {
            kubectl_admin(
                &[
                    "-n",
                    &self.operator_ns,
                    "scale",
                    "deployment/rustymail-operator",
                    &format!("--replicas={replicas}"),
                ],
                None,
            )
            .await
        };
        let versions = resource_versions(&self.ns, &WRITTEN).await;
        assert_eq!(versions.lines().count(), WRITTEN.len(), "{versions}");
        let events = self.operator_events().await;
        let load = self.load();
        scale("0").await;
        let gone = eventually(POD_WAIT, || async { self.operators().await.is_empty() }).await;
        assert!(gone, "{}", diagnose(&self.operator_ns).await);
        tokio::time::sleep(Duration::from_secs(5)).await;
        self.no_failures(load, "operator scaled to zero").await;

        let load = self.load();
        scale("2").await;
        let leader = eventually(POD_WAIT, || async {
            let operators = self.operators().await;
            operators.len() == 2
                && operators.iter().all(|p| p.ready)
                && self.leader_reconciled(&operators).await
        })
        .await;
        assert!(
            leader,
            "no new operator replica took the Lease and reconciled:\n{}",
            diagnose(&self.operator_ns).await
        );
        // As after the upgrade.
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.no_failures(load, "operator scaled back").await;
        assert_eq!(
            resource_versions(&self.ns, &WRITTEN).await,
            versions,
            "the operator wrote to a RustyMail where nothing had changed"
        );
        assert_eq!(
            self.operator_events().await,
            events,
            "the operator published Events where nothing had changed"
        );
    }

    /// `NAME=RESOURCE_VERSION` of each Event the operator published in the
    /// RustyMail's namespace (a repeated Event changes its version).
    async fn operator_events(&self) -> String {
        kubectl_admin(
            &[
                "-n",
                &self.ns,
                "get",
                "events.events.k8s.io",
                "-o",
                "jsonpath={range .items[?(@.reportingController==\"rustymail-operator\")]}{.reason}/{.metadata.name}={.metadata.resourceVersion}{\"\\n\"}{end}",
            ],
            None,
        )
        .await
    }
}

/// The requests one killed pod may fail: those it had accepted, and those
/// sent to it between its death and the withdrawal of its endpoint (the
/// kubelet's PLEG relists every second, then the EndpointSlice and
/// kube-proxy's rules follow). A refused connection fails in milliseconds,
/// so this is about two seconds of the stream's share for that pod; 2 to 20
/// failed in four runs here.
const KILLED_POD_FAILURES: usize = 50;
