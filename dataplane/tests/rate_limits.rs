//! What a client sees of the request budgets: 429 with `Retry-After` and
//! `RateLimit-*` per client address, per user and per API key, and an
//! `X-Forwarded-For` believed only from a trusted proxy.

mod support;

use rustymail_dataplane::config::Config;
use support::{Reply, SecretDir, TestServer};

fn assert_limited(reply: &Reply, scope: &str, limit: &str) {
    assert_eq!(reply.status, 429);
    assert_eq!(reply.json()["error"]["code"], "too_many_requests");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(scope)),
        "{:?}",
        reply.json()
    );
    let h = &reply.headers;
    let retry: u64 = h["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry >= 1);
    assert_eq!(h["ratelimit-limit"], limit);
    assert_eq!(h["ratelimit-remaining"], "0");
    assert_eq!(h["ratelimit-reset"], h["retry-after"]);
}

#[tokio::test]
async fn each_address_gets_its_budget_and_then_429() {
    let server =
        TestServer::start(|c| c.rate_limits.per_ip = "3/minute".parse().expect("rate")).await;
    for _ in 0..3 {
        assert_eq!(server.status_with(&[]).await.status, 200);
    }
    assert_limited(&server.status_with(&[]).await, "ip", "3");
    server.stop().await;
}

#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_does_not_buy_a_new_budget() {
    let server =
        TestServer::start(|c| c.rate_limits.per_ip = "3/minute".parse().expect("rate")).await;
    for n in 0..3 {
        let spoofed = format!("198.51.100.{n}");
        assert_eq!(
            server
                .status_with(&[("x-forwarded-for", &spoofed)])
                .await
                .status,
            200
        );
    }
    let reply = server
        .status_with(&[("x-forwarded-for", "203.0.113.77")])
        .await;
    assert_limited(&reply, "ip", "3");
    server.stop().await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let server = TestServer::start(|c| {
        c.rate_limits.per_ip = "2/minute".parse().expect("rate");
        c.rate_limits.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    for n in 0..5 {
        let client = format!("198.51.100.{n}");
        assert_eq!(
            server
                .status_with(&[("x-forwarded-for", &client)])
                .await
                .status,
            200
        );
    }
    // A client that writes its own header is still counted by what the
    // proxy appended: the rightmost untrusted hop.
    for _ in 0..2 {
        let forged = "10.9.9.9, 203.0.113.5";
        assert_eq!(
            server
                .status_with(&[("x-forwarded-for", forged)])
                .await
                .status,
            200
        );
    }
    let reply = server
        .status_with(&[("x-forwarded-for", "192.0.2.1, 203.0.113.5")])
        .await;
    assert_limited(&reply, "ip", "2");
    server.stop().await;
}

fn with_keys(dir: &SecretDir) -> impl FnOnce(&mut Config) + use<> {
    let file = dir.file("api-keys");
    move |c: &mut Config| {
        c.auth.api_keys.required = true;
        c.auth.api_keys.file = Some(file);
    }
}

#[tokio::test]
async fn each_user_gets_its_budget_across_its_keys() {
    let dir = SecretDir::new(&[(
        "api-keys",
        "ci:first-key-of-ci\nci:second-key-of-ci\nops:key-of-ops\n",
    )]);
    let keys = with_keys(&dir);
    let server = TestServer::start(|c| {
        keys(c);
        c.rate_limits.per_user = "2/hour".parse().expect("rate");
    })
    .await;
    assert_eq!(
        server
            .status_with(&[("x-api-key", "first-key-of-ci")])
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .status_with(&[("x-api-key", "second-key-of-ci")])
            .await
            .status,
        200
    );
    assert_limited(
        &server
            .status_with(&[("x-api-key", "first-key-of-ci")])
            .await,
        "user",
        "2",
    );
    assert_eq!(
        server
            .status_with(&[("x-api-key", "key-of-ops")])
            .await
            .status,
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn each_api_key_gets_its_budget() {
    let dir = SecretDir::new(&[("api-keys", "ci:first-key-of-ci\nci:second-key-of-ci\n")]);
    let keys = with_keys(&dir);
    let server = TestServer::start(|c| {
        keys(c);
        c.rate_limits.per_api_key = "2/hour".parse().expect("rate");
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            server
                .status_with(&[("x-api-key", "first-key-of-ci")])
                .await
                .status,
            200
        );
    }
    let bearer = "Bearer first-key-of-ci";
    assert_limited(
        &server.status_with(&[("authorization", bearer)]).await,
        "api_key",
        "2",
    );
    assert_eq!(
        server
            .status_with(&[("x-api-key", "second-key-of-ci")])
            .await
            .status,
        200
    );
    server.stop().await;
}
