//! The incident levers end to end: the real operator against the local
//! control plane (`scripts/cluster up`), driven with kubectl and the API as
//! a person under pressure would. NetworkPolicies are not enforced on kwok's
//! fake node, so the policies are read back from the API server; the
//! revocation runs a data plane process from the operator's own rendered
//! config and Secret, the Secret volume updated as kubelet does.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use k8s_openapi::{
    ByteString,
    api::{
        apps::v1::Deployment,
        core::v1::{ConfigMap, Secret},
        networking::v1::NetworkPolicy,
    },
};
use kube::api::{Patch, PatchParams};
use rustymail_dataplane::config::Config;
use rustymail_operator::crd::{AccessStatus, RustyMail};
use rustymail_tests::{
    poll::eventually,
    rendered::RenderedDataPlane,
    scenario::{Scenario, WAIT},
};
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `status.access` of `mail`.
async fn access(s: &Scenario) -> Option<AccessStatus> {
    s.rustymail().await?.status?.access
}

/// The NetworkPolicy `mail` as the API server holds it, as JSON.
async fn policy(s: &Scenario) -> Value {
    s.get::<NetworkPolicy>("mail")
        .await
        .and_then(|p| serde_json::to_value(p.spec).ok())
        .unwrap_or(Value::Null)
}

/// The peers of the ingress rule of `port`, if there is one.
fn peers(policy: &Value, port: i64) -> Option<Vec<Value>> {
    policy["ingress"]
        .as_array()?
        .iter()
        .find(|r| r["ports"][0]["port"] == port)
        .and_then(|r| r["from"].as_array().cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_clients_isolation_and_blocked_cidrs_reach_the_cluster_and_the_status() {
    let s = Scenario::new("access").await;
    let _operator = s.synced_operator("op-a").await;
    let ns = s.namespace().to_owned();
    s.apply(&s.mail(
        "  networkPolicy:\n    clients:\n      - namespace: billing\n      - podSelector: {matchLabels: {app: web}}\n",
    ))
    .await;

    let expected = vec![
        "namespace ingress-nginx".to_owned(),
        format!("namespace {ns}"),
        "namespace billing".to_owned(),
        format!("pods app=web in namespace {ns}"),
    ];
    assert!(
        eventually(WAIT, || async {
            access(&s)
                .await
                .is_some_and(|a| a.reachable_from == expected && !a.isolated)
        })
        .await,
        "status.access says who may connect: {:?}",
        access(&s).await
    );
    let open = policy(&s).await;
    let api = peers(&open, 9437).expect("a rule for the API port");
    assert!(api.contains(&json!({"podSelector": {}})), "{api:?}");
    assert!(
        api.contains(&json!({"podSelector": {"matchLabels": {"app": "web"}}})),
        "{api:?}"
    );
    assert!(
        api.iter()
            .any(|p| p["namespaceSelector"]["matchExpressions"][0]["values"] == json!(["billing"])),
        "{api:?}"
    );

    // Isolate: the API port leaves the policy, monitoring stays.
    s.patch("rmail/mail", r#"{"spec":{"access":{"isolate":true}}}"#)
        .await;
    assert!(
        eventually(WAIT, || async {
            let p = policy(&s).await;
            peers(&p, 9437).is_none() && peers(&p, 9090).is_some()
        })
        .await,
        "the isolating policy is applied: {}",
        policy(&s).await
    );
    assert!(
        eventually(WAIT, || async {
            access(&s)
                .await
                .is_some_and(|a| a.isolated && a.reachable_from.is_empty())
        })
        .await,
        "{:?}",
        access(&s).await
    );
    assert!(
        eventually(WAIT, || async { !s.events("Isolated").await.is_empty() }).await,
        "isolation is announced"
    );

    // Isolation holds even with network policies switched off.
    s.patch(
        "rmail/mail",
        r#"{"spec":{"networkPolicy":{"enabled":false}}}"#,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let p = policy(&s).await;
    assert!(
        !p.is_null() && peers(&p, 9437).is_none(),
        "still isolated: {p}"
    );

    // Block two ranges: the data plane's config carries them.
    s.patch(
        "rmail/mail",
        r#"{"spec":{"access":{"blockedCIDRs":["203.0.113.0/24","2001:db8::/32"]}}}"#,
    )
    .await;
    let rendered = eventually(WAIT, || async {
        s.get::<ConfigMap>("mail-config")
            .await
            .and_then(|c| c.data)
            .and_then(|d| d.get("config.yaml").cloned())
            .and_then(|text| Config::parse(&text).ok())
            .is_some_and(|c| c.access.blocked_cidrs.len() == 2)
    })
    .await;
    assert!(rendered, "the config carries access.blockedCidrs");
    assert!(
        eventually(WAIT, || async {
            access(&s).await.is_some_and(|a| a.blocked_cidrs == 2)
        })
        .await
    );
    assert!(
        eventually(WAIT, || async {
            !s.events("BlockedCIDRsChanged").await.is_empty()
        })
        .await
    );

    // A malformed range never gets past the API server.
    let refused = s
        .api::<RustyMail>()
        .patch(
            "mail",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"access": {"blockedCIDRs": ["203.0.113.9"]}}})),
        )
        .await
        .expect_err("not a CIDR");
    assert!(refused.to_string().contains("CIDR"), "{refused}");

    // Lifting isolation with policies off removes the policy again, even
    // while the RustyMail is paused.
    s.patch("rmail/mail", r#"{"spec":{"paused":true}}"#).await;
    s.wait_condition("Progressing", "False", "Paused").await;
    s.patch("rmail/mail", r#"{"spec":{"access":{"isolate":false}}}"#)
        .await;
    assert!(
        eventually(WAIT, || async { !s.exists::<NetworkPolicy>("mail").await }).await,
        "the policy forced by isolation goes with it"
    );
    assert!(
        eventually(WAIT, || async {
            !s.events("IsolationLifted").await.is_empty()
        })
        .await
    );
}

/// The status code of `GET /api/v1/status` with `key`, over plain HTTP.
async fn status_with_key(addr: SocketAddr, key: &str) -> u16 {
    let Ok(mut tcp) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    let request = format!(
        "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nConnection: close\r\n\r\n"
    );
    if tcp.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let mut reply = String::new();
    let _ = tcp.read_to_string(&mut reply).await;
    rustymail_tests::admin::status(&reply)
}

/// The text of key `key` of Secret `data`.
fn text(data: &BTreeMap<String, ByteString>, key: &str) -> String {
    data.get(key)
        .map(|v| String::from_utf8_lossy(&v.0).into_owned())
        .unwrap_or_else(|| panic!("no {key}"))
}

/// What the kubelet does with the credentials Secret's new `data` in
/// `plane`'s volume.
fn publish(plane: &RenderedDataPlane, data: &BTreeMap<String, ByteString>) {
    plane.publish(&text(data, "api-keys"), &text(data, "jwt-secret"));
}

/// The data of Secret `mail-credentials`.
async fn credentials(s: &Scenario) -> BTreeMap<String, ByteString> {
    s.get::<Secret>("mail-credentials")
        .await
        .and_then(|s| s.data)
        .expect("credentials")
}

/// Applies `mail` with `spec_lines` and starts a data plane from what the
/// operator renders for it; returns it with the first credentials.
async fn data_plane(
    s: &Scenario,
    spec_lines: &str,
) -> (RenderedDataPlane, BTreeMap<String, ByteString>) {
    s.apply(&s.mail(spec_lines)).await;
    let ready = eventually(WAIT, || async {
        s.exists::<Secret>("mail-credentials").await && s.exists::<ConfigMap>("mail-config").await
    })
    .await;
    assert!(ready, "credentials and config rendered");
    let old = credentials(s).await;
    let yaml = s
        .get::<ConfigMap>("mail-config")
        .await
        .and_then(|c| c.data)
        .and_then(|d| d.get("config.yaml").cloned())
        .expect("config.yaml");

    let plane =
        RenderedDataPlane::start(&yaml, &text(&old, "api-keys"), &text(&old, "jwt-secret")).await;
    let addr = plane.addr();
    let old_key = text(&old, "api-keys");
    assert!(
        eventually(WAIT, || async {
            status_with_key(addr, &old_key).await == 200
        })
        .await,
        "the generated key is accepted"
    );
    (plane, old)
}

/// Annotates `mail` with rotation `value` and waits for the new Secret.
async fn rotate(
    s: &Scenario,
    value: &str,
    old: &BTreeMap<String, ByteString>,
) -> BTreeMap<String, ByteString> {
    let annotation = format!("rustymail.io/rotate-credentials={value}");
    s.kubectl_ns(&["annotate", "rmail", "mail", &annotation])
        .await;
    let rotated = eventually(WAIT, || async {
        s.get::<Secret>("mail-credentials")
            .await
            .and_then(|s| s.data)
            .is_some_and(|d| d.get("api-keys") != old.get("api-keys"))
    })
    .await;
    assert!(rotated, "the operator regenerates the Secret");
    credentials(s).await
}

/// How long a data plane takes at most to take up a changed volume.
fn pick_up() -> Duration {
    Duration::from_secs(rustymail_dataplane::auth::reload::RECHECK.as_secs() + 3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rotate_annotation_with_no_grace_revokes_the_old_key_in_a_data_plane_run_from_the_rendered_config()
 {
    let s = Scenario::new("revoke").await;
    let _operator = s.synced_operator("op-a").await;
    let (plane, old) = data_plane(&s, "  auth:\n    rotationGracePeriod: 0\n").await;
    let old_key = text(&old, "api-keys");
    let new = rotate(&s, "incident-1", &old).await;
    assert_eq!(
        text(&new, "api-keys").lines().count(),
        1,
        "no previous key is kept with a zero grace"
    );
    publish(&plane, &new);
    let picked_up = pick_up();
    assert!(
        eventually(picked_up, || async {
            status_with_key(plane.addr(), &old_key).await == 401
        })
        .await,
        "the old key was still accepted {picked_up:?} after the volume changed"
    );
    assert_eq!(
        status_with_key(plane.addr(), &text(&new, "api-keys")).await,
        200
    );

    let reported = eventually(WAIT, || async {
        access(&s).await.is_some_and(|a| {
            a.credentials_rotation.as_deref() == Some("incident-1")
                && a.credentials_rotated_at.is_some()
                && a.previous_key_accepted_until.is_none()
        })
    })
    .await;
    assert!(reported, "status.access: {:?}", access(&s).await);
    assert!(
        eventually(WAIT, || async {
            !s.events("CredentialsRotated").await.is_empty()
        })
        .await
    );
    plane.stop().await;
}

/// Sleeps until `instant` (at once when it has passed).
async fn sleep_until(instant: OffsetDateTime) {
    let left = instant - OffsetDateTime::now_utc();
    tokio::time::sleep(left.try_into().unwrap_or(Duration::ZERO)).await;
}

/// The pod template's credentials checksum of Deployment `mail`.
async fn credentials_checksum(s: &Scenario) -> Option<String> {
    s.get::<Deployment>("mail")
        .await?
        .spec
        .template
        .metadata?
        .annotations?
        .get("rustymail.io/credentials-checksum")
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_accepted_through_its_grace_then_refused_and_removed_without_a_roll() {
    let s = Scenario::new("grace").await;
    let _operator = s.synced_operator("op-a").await;
    let (plane, old) = data_plane(&s, "  auth:\n    rotationGracePeriod: 30s\n").await;
    let old_key = text(&old, "api-keys");
    let new = rotate(&s, "r1", &old).await;
    let keys = text(&new, "api-keys");
    let lines: Vec<&str> = keys.lines().collect();
    let new_key = lines[0].to_owned();
    let (kept, until) = lines
        .get(1)
        .and_then(|l| l.split_once(" not-after="))
        .unwrap_or_else(|| panic!("the previous key is kept with its end: {lines:?}"));
    assert_eq!((lines.len(), kept), (2, old_key.as_str()), "{lines:?}");
    let until = OffsetDateTime::parse(until, &Rfc3339).expect("an RFC 3339 instant");
    let left = until - OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::seconds(20) && left <= time::Duration::seconds(30),
        "the grace ends {left} from now"
    );
    let reported = eventually(WAIT, || async {
        access(&s).await.is_some_and(|a| {
            a.previous_key_accepted_until
                .is_some_and(|t| t.0.as_second() == until.unix_timestamp())
        })
    })
    .await;
    assert!(reported, "status.access: {:?}", access(&s).await);
    let announced = eventually(WAIT, || async {
        s.events("CredentialsRotated").await.iter().any(|e| {
            e.note
                .as_deref()
                .is_some_and(|n| n.contains("accepted until"))
        })
    })
    .await;
    assert!(announced, "the Event says until when the old key works");
    let checksum = credentials_checksum(&s).await;
    assert!(checksum.is_some());

    publish(&plane, &new);
    assert!(
        eventually(pick_up(), || async {
            status_with_key(plane.addr(), &new_key).await == 200
        })
        .await,
        "the new key is accepted once the volume changed"
    );
    assert!(
        OffsetDateTime::now_utc() < until,
        "the window is still open"
    );
    assert_eq!(
        status_with_key(plane.addr(), &old_key).await,
        200,
        "the old key is accepted within its grace, from the same volume"
    );

    // The data plane refuses it at its instant by itself, no volume change.
    // Asked once on each side of it: every refusal counts against this
    // address's budget of failed authentications.
    sleep_until(until - time::Duration::seconds(2)).await;
    assert_eq!(
        status_with_key(plane.addr(), &old_key).await,
        200,
        "the old key is accepted up to its end"
    );
    sleep_until(until + time::Duration::seconds(1)).await;
    assert_eq!(
        status_with_key(plane.addr(), &old_key).await,
        401,
        "the old key is refused from its end on"
    );
    assert_eq!(status_with_key(plane.addr(), &new_key).await, 200);

    // The operator removes the line once the grace ended, and rolls nothing.
    let removed = eventually(WAIT, || async {
        s.get::<Secret>("mail-credentials")
            .await
            .and_then(|s| s.data)
            .is_some_and(|d| text(&d, "api-keys") == new_key)
    })
    .await;
    assert!(
        removed,
        "api-keys still: {:?}",
        text(&credentials(&s).await, "api-keys")
    );
    let after = credentials(&s).await;
    assert_eq!(text(&after, "jwt-secret"), text(&new, "jwt-secret"));
    assert_eq!(
        credentials_checksum(&s).await,
        checksum,
        "no roll for the removal"
    );
    assert!(
        eventually(WAIT, || async {
            access(&s)
                .await
                .is_some_and(|a| a.previous_key_accepted_until.is_none())
        })
        .await,
        "status.access: {:?}",
        access(&s).await
    );
    publish(&plane, &after);
    assert!(
        eventually(pick_up(), || async {
            status_with_key(plane.addr(), &new_key).await == 200
        })
        .await
    );
    plane.stop().await;
}
