//! What a client sees of authentication: API keys in the header or as a
//! bearer token, tokens issued and refreshed, keys and secrets rotated in
//! the kubelet layout, failed attempts limited, and no secret in any log.

mod support;

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use axum::{Router, routing::get};
use rustymail_dataplane::{config::Config, server::api};
use support::{PATIENCE, Reply, SecretDir, TestServer, request};

/// How soon a rotated file is in use: at its file event, or at the latest at
/// the next periodic re-check (a loaded machine can miss or delay the event).
const PICKED_UP: Duration =
    Duration::from_secs(rustymail_dataplane::auth::reload::RECHECK.as_secs() + 3);

const KEY_CI: &str = "ci-key-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e";
const KEY_OPS: &str = "ops-key-2b4d6f8a0c1e3b5d7f9a1c3e5b7d9f0a";
const JWT_SECRET: &str = "jwt-secret-5e7a9c1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f";
const JWT_SECRET_NEXT: &str = "jwt-secret-next-0a2c4e6b8d0f1a3c5e7b9d2f4a6c8e0b";

/// Every secret these tests use: none may appear in a log line.
const SECRETS: [&str; 4] = [KEY_CI, KEY_OPS, JWT_SECRET, JWT_SECRET_NEXT];

/// Log lines of every server in this test binary, JSON as in production.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        logs
    }))
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Credentials in a kubelet-style volume.
fn credentials() -> SecretDir {
    SecretDir::new(&[
        (
            "api-keys",
            &format!("# test keys\nci:{KEY_CI}\nops:{KEY_OPS}\n"),
        ),
        ("jwt-secret", JWT_SECRET),
    ])
}

/// Requires credentials from `dir`, audit log in `audit`.
fn secured(dir: &SecretDir, audit: &std::path::Path) -> impl FnOnce(&mut Config) + use<> {
    let keys = dir.file("api-keys");
    let secret = dir.file("jwt-secret");
    let audit = audit.to_owned();
    move |c: &mut Config| {
        c.auth.api_keys.required = true;
        c.auth.api_keys.file = Some(keys);
        c.auth.jwt.secret_file = Some(secret);
        c.audit.file = Some(audit);
    }
}

/// The API (its IMAP server unreachable) and a slow route, for in-flight tests.
fn routes() -> Router {
    support::api_routes().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            "done"
        }),
    )
}

async fn send(
    server: &TestServer,
    req: hyper::Request<http_body_util::Full<bytes::Bytes>>,
) -> Reply {
    server.h1().await.send(req).await.expect("reply")
}

async fn tokens(server: &TestServer, key: &str) -> serde_json::Value {
    let reply = send(
        server,
        request("POST", "/api/v1/auth/token", &[("x-api-key", key)], ""),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.json()
}

fn bearer(token: &serde_json::Value) -> String {
    format!("Bearer {}", token.as_str().expect("token string"))
}

/// Polls `check` until it holds, for at most `limit`.
async fn within<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn every_route_refuses_without_credentials_and_admits_a_key_or_a_token() {
    captured_logs();
    let dir = credentials();
    let audit = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start_with(
        support::api_routes(),
        secured(&dir, &audit.path().join("audit.log")),
    )
    .await;
    let access = bearer(&tokens(&server, KEY_CI).await["access_token"]);
    // Every route the router serves, read from the router's own document.
    let table = api::route_table();
    assert!(table.len() >= 5, "{table:?}");
    for (method, path) in table {
        let uri = api::concrete_path(&path);
        let public = path == "/api/v1/auth/refresh";
        let refused = send(&server, request(method.as_str(), &uri, &[], "")).await;
        if public {
            assert_ne!(refused.status, 401, "{method} {path} checks its own token");
            continue;
        }
        assert_eq!(refused.status, 401, "{method} {path} without credentials");
        for credentials in [("x-api-key", KEY_CI), ("authorization", access.as_str())] {
            let reply = send(&server, request(method.as_str(), &uri, &[credentials], "")).await;
            assert_ne!(
                reply.status, 401,
                "{method} {path} with {}: {:?}",
                credentials.0, reply.body
            );
            // Admitted: what the route makes of it (a 503 while the IMAP
            // server is unreachable, a 400 for the filled-in parameters) is
            // the route's business.
            assert_ne!(reply.status, 429, "{method} {path}");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn keys_are_accepted_in_the_header_or_as_bearer_and_anything_else_is_refused() {
    captured_logs();
    let dir = credentials();
    let audit = tempfile::tempdir().expect("tempdir");
    let server =
        TestServer::start_with(routes(), secured(&dir, &audit.path().join("audit.log"))).await;
    let reply = server.status_with(&[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"]["code"], "unauthorized");
    // MCP is on by default, so the challenge names the OAuth metadata
    // (RFC 9728) too.
    let challenge = reply.headers["www-authenticate"].to_str().expect("ascii");
    assert!(
        challenge.starts_with("Bearer realm=\"rustymail\", resource_metadata=\"https://")
            && challenge.ends_with("/.well-known/oauth-protected-resource/mcp\""),
        "{challenge}"
    );
    assert_eq!(
        server.status_with(&[("x-api-key", KEY_CI)]).await.status,
        200
    );
    let as_bearer = format!("Bearer {KEY_OPS}");
    assert_eq!(
        server
            .status_with(&[("authorization", &as_bearer)])
            .await
            .status,
        200
    );
    assert_eq!(
        server
            .status_with(&[("x-api-key", "not-a-key")])
            .await
            .status,
        401
    );
    let text = server.metrics().await;
    for series in [
        "rustymail_auth_failures_total{reason=\"missing\"} 1",
        "rustymail_auth_failures_total{reason=\"invalid_key\"} 1",
        "rustymail_http_requests_total{route=\"/api/v1/status\",method=\"GET\",status=\"401\"} 2",
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn tokens_are_issued_for_a_key_refreshed_and_used_only_as_intended() {
    captured_logs();
    let dir = credentials();
    let audit = tempfile::tempdir().expect("tempdir");
    let server =
        TestServer::start_with(routes(), secured(&dir, &audit.path().join("audit.log"))).await;
    let pair = tokens(&server, KEY_CI).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 3600);
    let access = bearer(&pair["access_token"]);
    assert_eq!(
        server
            .status_with(&[("authorization", &access)])
            .await
            .status,
        200
    );
    let refresh = bearer(&pair["refresh_token"]);
    let reply = server.status_with(&[("authorization", &refresh)]).await;
    assert_eq!(reply.status, 401, "a refresh token is not an access token");
    // A token cannot buy more tokens; only a key can.
    let reply = send(
        &server,
        request(
            "POST",
            "/api/v1/auth/token",
            &[("authorization", &access)],
            "",
        ),
    )
    .await;
    assert_eq!(reply.status, 403);
    // Refresh, as JSON and as a form, with no other credentials.
    let body = serde_json::json!({ "refresh_token": pair["refresh_token"] }).to_string();
    let reply = send(
        &server,
        request(
            "POST",
            "/api/v1/auth/refresh",
            &[("content-type", "application/json")],
            &body,
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let again = reply.json();
    assert_eq!(
        server
            .status_with(&[("authorization", &bearer(&again["access_token"]))])
            .await
            .status,
        200
    );
    let form = format!(
        "grant_type=refresh_token&refresh_token={}",
        pair["refresh_token"].as_str().expect("token")
    );
    let reply = send(
        &server,
        request(
            "POST",
            "/api/v1/auth/refresh",
            &[("content-type", "application/x-www-form-urlencoded")],
            &form,
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // An access token cannot refresh, and a missing field is named.
    let body = serde_json::json!({ "refresh_token": pair["access_token"] }).to_string();
    let reply = send(
        &server,
        request(
            "POST",
            "/api/v1/auth/refresh",
            &[("content-type", "application/json")],
            &body,
        ),
    )
    .await;
    assert_eq!(reply.status, 401);
    let reply = send(
        &server,
        request(
            "POST",
            "/api/v1/auth/refresh",
            &[("content-type", "application/json")],
            "{}",
        ),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("refresh_token"))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_removed_key_is_refused_within_seconds_while_its_request_in_flight_finishes() {
    captured_logs();
    let dir = credentials();
    let audit = tempfile::tempdir().expect("tempdir");
    let server =
        TestServer::start_with(routes(), secured(&dir, &audit.path().join("audit.log"))).await;
    let token = tokens(&server, KEY_OPS).await;
    let access = bearer(&token["access_token"]);
    let mut slow = server.h1().await;
    let in_flight = tokio::spawn(async move {
        slow.send(request("GET", "/slow", &[("x-api-key", KEY_OPS)], ""))
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    dir.publish(&[
        ("api-keys", &format!("ci:{KEY_CI}\n")),
        ("jwt-secret", JWT_SECRET),
    ]);
    let removed = within(PICKED_UP, || async {
        server.status_with(&[("x-api-key", KEY_OPS)]).await.status == 401
    })
    .await;
    assert!(
        removed,
        "the removed key was still accepted after {PICKED_UP:?}"
    );
    assert_eq!(
        server
            .status_with(&[("authorization", &access)])
            .await
            .status,
        401,
        "tokens of a removed key die with it"
    );
    assert_eq!(
        server.status_with(&[("x-api-key", KEY_CI)]).await.status,
        200
    );
    let reply = tokio::time::timeout(PATIENCE, in_flight)
        .await
        .expect("in time")
        .expect("task")
        .expect("the request in flight was not cut");
    assert_eq!(
        (reply.status.as_u16(), &reply.body[..]),
        (200, &b"done"[..])
    );
    assert!(
        server
            .metrics()
            .await
            .contains("rustymail_credential_reloads_total{file=\"api_keys\"} 1")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_rotated_jwt_secret_refuses_older_tokens_and_signs_new_ones() {
    captured_logs();
    let dir = credentials();
    let audit = tempfile::tempdir().expect("tempdir");
    let server =
        TestServer::start_with(routes(), secured(&dir, &audit.path().join("audit.log"))).await;
    let old = bearer(&tokens(&server, KEY_CI).await["access_token"]);
    dir.publish(&[
        ("api-keys", &format!("ci:{KEY_CI}\nops:{KEY_OPS}\n")),
        ("jwt-secret", JWT_SECRET_NEXT),
    ]);
    let refused = within(PICKED_UP, || async {
        server.status_with(&[("authorization", &old)]).await.status == 401
    })
    .await;
    assert!(
        refused,
        "a token of the old secret was still accepted after {PICKED_UP:?}"
    );
    let new = bearer(&tokens(&server, KEY_CI).await["access_token"]);
    assert_eq!(
        server.status_with(&[("authorization", &new)]).await.status,
        200
    );
    server.stop().await;
}

#[tokio::test]
async fn failed_authentications_are_limited_per_address() {
    captured_logs();
    let dir = credentials();
    let audit = tempfile::tempdir().expect("tempdir");
    let secure = secured(&dir, &audit.path().join("audit.log"));
    let server = TestServer::start_with(routes(), |c| {
        secure(c);
        c.rate_limits.auth_failures_per_ip = Some("3/minute".parse().expect("rate"));
    })
    .await;
    for guess in 0..4 {
        let key = format!("guess-{guess}");
        assert_eq!(server.status_with(&[("x-api-key", &key)]).await.status, 401);
    }
    let reply = server.status_with(&[("x-api-key", KEY_CI)]).await;
    assert_eq!(
        reply.status, 429,
        "guessing further is refused, even with a good key"
    );
    assert!(reply.headers.contains_key("retry-after"));
    assert!(
        server
            .metrics()
            .await
            .contains("rustymail_rate_limited_requests_total{scope=\"auth_failures\"} 1")
    );
    server.stop().await;
}

#[tokio::test]
async fn public_paths_need_no_credentials() {
    captured_logs();
    let dir = credentials();
    let audit = tempfile::tempdir().expect("tempdir");
    let secure = secured(&dir, &audit.path().join("audit.log"));
    let server = TestServer::start_with(routes(), |c| {
        secure(c);
        c.auth.api_keys.public_paths = vec!["/api/v1/status".into()];
    })
    .await;
    assert_eq!(server.status_with(&[]).await.status, 200);
    assert_eq!(
        send(&server, request("GET", "/api/v1/folders", &[], ""))
            .await
            .status,
        401
    );
    server.stop().await;
}

#[tokio::test]
async fn no_log_line_carries_a_secret_or_a_token() {
    let logs = captured_logs();
    let dir = credentials();
    let audit = tempfile::tempdir().expect("tempdir");
    let audit_file = audit.path().join("audit.log");
    let server = TestServer::start_with(routes(), secured(&dir, &audit_file)).await;
    let pair = tokens(&server, KEY_CI).await;
    let access = pair["access_token"].as_str().expect("token").to_owned();
    let refresh = pair["refresh_token"].as_str().expect("token").to_owned();
    server
        .status_with(&[("authorization", &format!("Bearer {access}"))])
        .await;
    server
        .status_with(&[("authorization", &format!("Bearer {refresh}"))])
        .await;
    server.status_with(&[("x-api-key", KEY_OPS)]).await;
    server
        .status_with(&[("x-api-key", &format!("{KEY_CI}x"))])
        .await;
    send(
        &server,
        request("GET", "/api/v1/folders", &[("x-api-key", KEY_CI)], ""),
    )
    .await;
    let body = serde_json::json!({ "refresh_token": refresh }).to_string();
    send(
        &server,
        request(
            "POST",
            "/api/v1/auth/refresh",
            &[("content-type", "application/json")],
            &body,
        ),
    )
    .await;
    dir.publish(&[
        ("api-keys", "broken line without key:\n"),
        ("jwt-secret", "short"),
    ]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.stop().await;
    let logs = String::from_utf8_lossy(&logs.lock().expect("logs")).into_owned();
    let audit = std::fs::read_to_string(&audit_file).expect("audit log");
    assert!(
        logs.contains("API key file change rejected"),
        "the scenario was logged:\n{logs}"
    );
    assert!(audit.contains("token_issued"), "{audit}");
    for secret in SECRETS
        .iter()
        .copied()
        .chain([access.as_str(), refresh.as_str()])
    {
        assert!(!logs.contains(secret), "a log line carries a secret");
        assert!(!audit.contains(secret), "an audit line carries a secret");
    }
}

#[tokio::test]
async fn every_audit_line_has_every_field() {
    captured_logs();
    let dir = credentials();
    let audit = tempfile::tempdir().expect("tempdir");
    let audit_file = audit.path().join("audit.log");
    let secure = secured(&dir, &audit_file);
    let server = TestServer::start_with(routes(), |c| {
        secure(c);
        c.rate_limits.per_user = "3/hour".parse().expect("rate");
    })
    .await;
    let ua = ("user-agent", "audit-test/1.0");
    send(
        &server,
        request("GET", "/api/v1/status", &[ua, ("x-api-key", "wrong")], ""),
    )
    .await;
    send(
        &server,
        request(
            "POST",
            "/api/v1/auth/token",
            &[ua, ("x-api-key", KEY_CI)],
            "",
        ),
    )
    .await;
    let folders = send(
        &server,
        request("GET", "/api/v1/folders", &[ua, ("x-api-key", KEY_CI)], ""),
    )
    .await;
    send(
        &server,
        request("GET", "/api/v1/status", &[ua, ("x-api-key", KEY_CI)], ""),
    )
    .await;
    send(
        &server,
        request("GET", "/api/v1/status", &[ua, ("x-api-key", KEY_CI)], ""),
    )
    .await;
    let lines = within(Duration::from_secs(3), || async {
        std::fs::read_to_string(&audit_file)
            .unwrap_or_default()
            .lines()
            .count()
            >= 4
    })
    .await;
    assert!(lines, "four audit lines expected");
    server.stop().await;
    let text = std::fs::read_to_string(&audit_file).expect("audit log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let find = |category: &str, action: &str| {
        lines
            .iter()
            .find(|l| l["category"] == category && l["action"] == action)
            .unwrap_or_else(|| panic!("no {category}/{action} line in\n{text}"))
            .clone()
    };
    for line in &lines {
        for field in [
            "timestamp",
            "category",
            "user",
            "client_ip",
            "user_agent",
            "action",
            "resource",
            "result",
        ] {
            assert!(line.get(field).is_some(), "{field} missing from {line}");
        }
        let ts = line["timestamp"].as_str().expect("timestamp");
        ts.parse::<jiff::Timestamp>().expect("ISO 8601 timestamp");
        assert_eq!(line["client_ip"], "127.0.0.1");
        assert_eq!(line["user_agent"], "audit-test/1.0");
    }
    let failed = find("authentication", "authenticate");
    assert_eq!(
        (failed["result"].as_str(), failed["user"].is_null()),
        (Some("denied:invalid_key"), true)
    );
    assert_eq!(failed["resource"], "/api/v1/status");
    let issued = find("authentication", "token_issued");
    assert_eq!(
        (issued["user"].as_str(), issued["result"].as_str()),
        (Some("ci"), Some("success"))
    );
    let access = find("data_access", "GET");
    assert_eq!(
        (
            access["user"].as_str(),
            access["resource"].as_str(),
            access["result"].as_str()
        ),
        (
            Some("ci"),
            Some("/api/v1/folders"),
            Some(folders.status.as_str())
        )
    );
    let limited = find("security_event", "GET");
    assert_eq!(limited["result"], "denied:rate_limit:user");
}

#[tokio::test]
async fn a_key_in_its_grace_is_accepted_and_audited_and_a_key_past_it_is_refused() {
    let until = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let ended = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
    let dir = SecretDir::new(&[
        (
            "api-keys",
            &format!(
                "ci:{KEY_CI}\nci:rmk_previous not-after={until}\nci:rmk_ended not-after={ended}\n"
            ),
        ),
        ("jwt-secret", JWT_SECRET),
    ]);
    let audit = tempfile::tempdir().expect("tempdir");
    let audit_file = audit.path().join("audit.log");
    let server = TestServer::start_with(routes(), secured(&dir, &audit_file)).await;
    let status = |key: &'static str| {
        let server = &server;
        async move {
            send(
                server,
                request(
                    "GET",
                    "/api/v1/status",
                    &[("user-agent", "not-switched/1.0"), ("x-api-key", key)],
                    "",
                ),
            )
            .await
            .status
        }
    };
    assert_eq!(status("rmk_previous").await, 200, "within its grace");
    assert_eq!(status("rmk_ended").await, 401, "past its grace");
    assert_eq!(status(KEY_CI).await, 200, "the current key");
    let written = within(Duration::from_secs(3), || async {
        std::fs::read_to_string(&audit_file)
            .unwrap_or_default()
            .lines()
            .count()
            >= 2
    })
    .await;
    assert!(written, "audit lines expected");
    server.stop().await;
    let text = std::fs::read_to_string(&audit_file).expect("audit log");
    let grace: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .filter(|l| {
            l["result"]
                .as_str()
                .is_some_and(|r| r.starts_with("success:previous_key"))
        })
        .collect();
    assert_eq!(
        grace.len(),
        1,
        "one line for the one request in grace:\n{text}"
    );
    let line = &grace[0];
    assert_eq!(
        line["result"],
        format!("success:previous_key_accepted_until:{until}")
    );
    assert_eq!(
        (line["category"].as_str(), line["user"].as_str()),
        (Some("authentication"), Some("ci"))
    );
    assert_eq!(line["user_agent"], "not-switched/1.0");
    assert!(!text.contains("rmk_previous"), "no key in the audit log");
}
