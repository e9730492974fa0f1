//! What a blocked client sees (`access.blockedCidrs`): 403 `client_blocked`
//! before authentication and rate limits, a `security_event` in the audit
//! log, and the same client address as the rate limits use, so a blocked
//! client behind the ingress cannot talk its way out with `X-Forwarded-For`.

mod support;

use std::{path::Path, time::Duration};

use rustymail_dataplane::config::Config;
use support::{Reply, SecretDir, TestServer};

const KEY: &str = "incident-key-4c8e2a6f0b3d5e7a9c1e3b5d7f9a2c4e";

/// Keys required (one good key), audit to `audit`, and `blocked` refused.
fn blocking(dir: &SecretDir, audit: &Path, blocked: &[&str]) -> impl FnOnce(&mut Config) + use<> {
    let keys = dir.file("api-keys");
    let audit = audit.to_owned();
    let blocked: Vec<_> = blocked.iter().map(|c| c.parse().expect("cidr")).collect();
    move |c: &mut Config| {
        c.auth.api_keys.required = true;
        c.auth.api_keys.file = Some(keys);
        c.audit.file = Some(audit);
        c.access.blocked_cidrs = blocked;
    }
}

fn assert_blocked(reply: &Reply) {
    assert_eq!(reply.status, 403, "{:?}", reply.body);
    assert_eq!(reply.json()["error"]["code"], "client_blocked");
    assert!(
        !reply.headers.contains_key("www-authenticate"),
        "a blocked client is not asked for credentials"
    );
}

/// The audit lines written so far, once at least `count` are there.
async fn audit_lines(file: &Path, count: usize) -> Vec<serde_json::Value> {
    for _ in 0..60 {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect();
        if lines.len() >= count {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {count} audit lines in {}", file.display());
}

#[tokio::test]
async fn a_blocked_address_gets_403_with_or_without_a_good_key_and_is_audited() {
    let dir = SecretDir::new(&[("api-keys", &format!("ci:{KEY}\n"))]);
    let audit = tempfile::tempdir().expect("tempdir");
    let audit_file = audit.path().join("audit.log");
    let server = TestServer::start(blocking(&dir, &audit_file, &["127.0.0.0/8"])).await;

    assert_blocked(&server.status_with(&[("x-api-key", KEY)]).await);
    assert_blocked(&server.status_with(&[]).await);
    assert_blocked(&server.status_with(&[("x-api-key", "a-guess")]).await);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("rustymail_blocked_requests_total 3"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .filter(|l| l.starts_with("rustymail_auth_failures_total{"))
            .all(|l| l.ends_with(" 0")),
        "a blocked request never reaches authentication:\n{metrics}"
    );

    let lines = audit_lines(&audit_file, 3).await;
    let line = &lines[0];
    assert_eq!(line["category"], "security_event");
    assert_eq!(line["client_ip"], "127.0.0.1");
    assert_eq!(line["result"], "denied:blocked_cidr:127.0.0.0/8");
    assert_eq!(line["resource"], "/api/v1/status");
    assert_eq!(line["action"], "GET");
    assert!(
        lines.iter().all(|l| l["category"] == "security_event"),
        "no authentication line for a blocked request: {lines:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn addresses_outside_the_blocked_ranges_are_served_as_before() {
    let dir = SecretDir::new(&[("api-keys", &format!("ci:{KEY}\n"))]);
    let audit = tempfile::tempdir().expect("tempdir");
    let blocked = ["203.0.113.0/24", "2001:db8::/32"];
    let server = TestServer::start(blocking(&dir, &audit.path().join("audit.log"), &blocked)).await;
    assert_eq!(server.status_with(&[("x-api-key", KEY)]).await.status, 200);
    assert_eq!(server.status_with(&[]).await.status, 401);
    server.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_blocked_and_cannot_forge_its_way_out() {
    let dir = SecretDir::new(&[("api-keys", &format!("ci:{KEY}\n"))]);
    let audit = tempfile::tempdir().expect("tempdir");
    let audit_file = audit.path().join("audit.log");
    let block = blocking(&dir, &audit_file, &["203.0.113.0/24"]);
    let server = TestServer::start(|c| {
        block(c);
        c.rate_limits.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    let key = ("x-api-key", KEY);

    // The proxy (the loopback peer) appended the blocked client's address.
    assert_blocked(
        &server
            .status_with(&[key, ("x-forwarded-for", "203.0.113.9")])
            .await,
    );
    // The client wrote a harmless address in front: the proxy's hop counts.
    assert_blocked(
        &server
            .status_with(&[key, ("x-forwarded-for", "198.51.100.1, 203.0.113.9")])
            .await,
    );
    // Another client through the same proxy is served; the proxy itself is
    // never taken for the client.
    assert_eq!(
        server
            .status_with(&[key, ("x-forwarded-for", "198.51.100.1")])
            .await
            .status,
        200
    );
    // A client that names a blocked address it is not gets no one blocked
    // but itself: the rightmost untrusted hop is what counts.
    assert_eq!(
        server
            .status_with(&[key, ("x-forwarded-for", "203.0.113.9, 198.51.100.2")])
            .await
            .status,
        200
    );
    let lines = audit_lines(&audit_file, 2).await;
    assert_eq!(lines[0]["client_ip"], "203.0.113.9");
    server.stop().await;
}

#[tokio::test]
async fn an_untrusted_peer_cannot_dodge_the_block_with_x_forwarded_for() {
    let dir = SecretDir::new(&[("api-keys", &format!("ci:{KEY}\n"))]);
    let audit = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(blocking(
        &dir,
        &audit.path().join("audit.log"),
        &["127.0.0.1/32"],
    ))
    .await;
    assert_blocked(
        &server
            .status_with(&[("x-api-key", KEY), ("x-forwarded-for", "198.51.100.1")])
            .await,
    );
    server.stop().await;
}

#[test]
fn the_config_key_is_access_blocked_cidrs_and_a_bad_cidr_names_it() {
    let config =
        Config::parse("access: {blockedCidrs: [203.0.113.0/24, '2001:db8::/32']}").expect("parses");
    assert_eq!(config.access.blocked_cidrs.len(), 2);
    let rendered = config.to_yaml();
    assert!(
        Config::parse(&rendered).expect("round trip") == config,
        "{rendered}"
    );
    let err = Config::parse("access: {blockedCidrs: [203.0.113.0/33]}")
        .expect_err("a bad CIDR is refused")
        .to_string();
    assert!(err.contains("access.blockedCidrs[0]"), "{err}");
    assert!(
        !Config::default()
            .to_yaml()
            .lines()
            .any(|l| l.starts_with("access:")),
        "an empty section is left out of the rendered file"
    );
}
