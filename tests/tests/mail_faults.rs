//! The mail API when things go wrong: Dovecot stopped and back, a
//! connection cut between the steps of a move, a rotated password, a wrong
//! one, an unreachable server at start.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use rustymail_tests::{
    admin,
    mail::{
        Result, direct,
        dovecot::{ALICE, Dovecot, Options},
        harness::{Link, MailServer, folder_path},
        proxy::CuttingProxy,
        samples,
    },
};
use serde_json::json;

/// How many messages `folder` holds, asked directly of Dovecot.
async fn count(dovecot: &Dovecot, folder: &str) -> Result<u32> {
    let mut c = direct::login(dovecot, ALICE.0, ALICE.1).await?;
    let n = c.session.examine(folder).await?.exists;
    c.session.logout().await?;
    Ok(n)
}

async fn get_admin(addr: std::net::SocketAddr, path: &str) -> Result<(u16, String)> {
    let reply = admin::get(addr, path).await?;
    Ok((admin::status(&reply), reply))
}

/// Dovecot stops: the API answers 503 with Retry-After, then serves again
/// once Dovecot is back, without a restart.
#[tokio::test]
async fn imap_down_is_503_with_retry_after_then_recovers() -> Result<()> {
    let dovecot = Dovecot::start(Options::default())?;
    let mut s = MailServer::start(dovecot, &[("alice", ALICE.0, ALICE.1)], Link::Tls).await?;
    let mut c = s.client().await?;
    c.append("INBOX", samples::plain("a@example.com", "before", "x"))
        .await?;
    let (status, body) = get_admin(s.admin, "/readyz").await?;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"alice\":\"reachable\""), "{body}");

    s.dovecot.stop()?;
    // A session Dovecot has not yet ended may answer a last time.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        let reply = c.get(&folder_path("INBOX", "/emails", None)).await?;
        if reply.status != StatusCode::OK || Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        reply.body
    );
    assert_eq!(reply.code(), "imap_unavailable");
    assert_eq!(reply.headers["retry-after"], "5");
    let failed_append = c
        .send(
            Method::POST,
            &folder_path("INBOX", "/emails", None),
            Some((
                "message/rfc822",
                samples::plain("a@example.com", "lost?", "x"),
            )),
        )
        .await?;
    assert_eq!(
        failed_append.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a failed append is reported"
    );

    s.dovecot.start_again()?;
    let reply = c.get(&folder_path("INBOX", "/emails", None)).await?;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.json()["messages"][0]["envelope"]["subject"], "before");
    s.stop().await;
    Ok(())
}

/// A server that cannot be reached at start makes `/readyz` fail and name
/// the account.
#[tokio::test]
async fn readyz_names_an_unreachable_account() -> Result<()> {
    let mut dovecot = Dovecot::start(Options::default())?;
    dovecot.stop()?;
    let s = MailServer::start(dovecot, &[("alice", ALICE.0, ALICE.1)], Link::Tls).await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get_admin(s.admin, "/readyz").await?;
        if body.contains("\"alice\":\"unreachable\"") {
            assert_eq!(status, 503, "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readyz never named the account: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
    Ok(())
}

/// An IMAP server whose certificate the account's CA file does not vouch
/// for is refused: 502 `imap_tls_failed` naming the account, counted in
/// `rustymail_imap_errors_total{kind="tls"}`, and no login is attempted.
#[tokio::test]
async fn a_server_certificate_the_ca_file_does_not_vouch_for_is_refused() -> Result<()> {
    let dovecot = Dovecot::start(Options::default())?;
    let (other_ca, _, _) = rustymail_tests::mail::dovecot::certificate()?;
    std::fs::write(dovecot.ca_file(), other_ca)?;
    let s = MailServer::start(dovecot, &[("alice", ALICE.0, ALICE.1)], Link::Tls).await?;
    let mut c = s.client().await?;
    let reply = c.get(&folder_path("INBOX", "/emails", None)).await?;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{:?}", reply.body);
    assert_eq!(reply.code(), "imap_tls_failed");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"alice\""))
    );
    let (_, metrics) = get_admin(s.admin, "/metrics").await?;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rustymail_imap_errors_total{kind=\"tls\"} ")),
        "{metrics}"
    );
    assert!(
        !s.dovecot.log().contains("Login: user=<alice>"),
        "a login went to an unverified server"
    );
    s.stop().await;
    Ok(())
}

/// The server resets the connection in the middle of the TLS handshake, as
/// one shutting down does: that is the server going away, not a TLS
/// misconfiguration, so the answer is 503 with `Retry-After` (which clients
/// retry), not 502 `imap_tls_failed`.
#[tokio::test]
async fn a_connection_reset_during_the_tls_handshake_is_503_with_retry_after() -> Result<()> {
    let dovecot = Dovecot::start(Options::default())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let resets = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            // Read the ClientHello, then reset instead of answering it.
            let mut hello = [0u8; 512];
            let _ = tokio::io::AsyncReadExt::read(&mut tcp, &mut hello).await;
            let _ = tcp.set_zero_linger();
            drop(tcp);
        }
    });
    let s = MailServer::start(dovecot, &[("alice", ALICE.0, ALICE.1)], Link::TlsAt(addr)).await?;
    let mut c = s.client().await?;
    let reply = c.get(&folder_path("INBOX", "/emails", None)).await?;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        reply.body
    );
    assert_eq!(reply.code(), "imap_unavailable");
    assert!(reply.headers.contains_key("retry-after"));
    resets.abort();
    s.stop().await;
    Ok(())
}

/// The server never answers a command: the request fails after
/// `imap.commandTimeout` with 503 and `Retry-After` (counted as a timeout)
/// instead of hanging, and the next request is served on a new connection.
#[tokio::test]
async fn a_command_the_server_never_answers_times_out() -> Result<()> {
    let dovecot = Dovecot::start(Options::default())?;
    let proxy = CuttingProxy::start(dovecot.imap).await?;
    let s = MailServer::start(
        dovecot,
        &[("alice", ALICE.0, ALICE.1)],
        Link::Plain(proxy.addr),
    )
    .await?;
    let mut c = s.client().await?;
    c.append("INBOX", samples::plain("a@example.com", "slow", "x"))
        .await?;
    proxy.stall_when_client_sends("UID FETCH");
    let reply = tokio::time::timeout(
        Duration::from_secs(30),
        c.get(&folder_path("INBOX", "/emails/1", None)),
    )
    .await??;
    assert_eq!(proxy.cuts(), 1, "the command was stalled");
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        reply.body
    );
    assert!(reply.headers.contains_key("retry-after"));
    let (_, metrics) = get_admin(s.admin, "/metrics").await?;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rustymail_imap_errors_total{kind=\"timeout\"} ")),
        "{metrics}"
    );
    let again = c.get(&folder_path("INBOX", "/emails/1", None)).await?;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    s.stop().await;
    Ok(())
}

/// The connection dies between the steps of a move: the message is still
/// in at least one folder, and the failure is reported.
#[tokio::test]
async fn a_move_cut_between_its_steps_loses_no_message() -> Result<()> {
    // Without MOVE: COPY, then STORE \Deleted, then UID EXPUNGE; cut before
    // each of the last two. With MOVE: cut before UID MOVE.
    let cases = [
        (Options::without_move_and_condstore(), "UID STORE"),
        (Options::without_move_and_condstore(), "UID EXPUNGE"),
        (Options::default(), "UID MOVE"),
    ];
    for (options, cut_at) in cases {
        let dovecot = Dovecot::start(options)?;
        let proxy = CuttingProxy::start(dovecot.imap).await?;
        let s = MailServer::start(
            dovecot,
            &[("alice", ALICE.0, ALICE.1)],
            Link::Plain(proxy.addr),
        )
        .await?;
        let mut c = s.client().await?;
        c.json(Method::POST, "/api/v1/folders", json!({"name": "Dest"}))
            .await?;
        c.append("INBOX", samples::plain("a@example.com", "precious", "x"))
            .await?;
        proxy.cut_when_client_sends(cut_at);
        let reply = c
            .json(
                Method::POST,
                &folder_path("INBOX", "/emails/1/move", None),
                json!({"destination": "Dest"}),
            )
            .await?;
        assert_eq!(proxy.cuts(), 1, "{cut_at}: the connection was cut");
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{cut_at}: {:?}",
            reply.body
        );
        let (inbox, dest) = (
            count(&s.dovecot, "INBOX").await?,
            count(&s.dovecot, "Dest").await?,
        );
        assert!(
            inbox + dest >= 1,
            "{cut_at}: the message is gone (INBOX {inbox}, Dest {dest})"
        );
        // And the API serves again on a new connection.
        assert_eq!(
            c.get(&folder_path("INBOX", "/emails", None)).await?.status,
            StatusCode::OK
        );
        s.stop().await;
    }
    Ok(())
}

/// The password is rotated in the mail server and in the Secret: the next
/// request logs in with the new one, without a restart; a wrong password is
/// a 502 naming the account and never the secret.
#[tokio::test]
async fn a_rotated_password_is_used_without_restart() -> Result<()> {
    let dovecot = Dovecot::start(Options::default())?;
    let mut s = MailServer::start(dovecot, &[("alice", ALICE.0, ALICE.1)], Link::Tls).await?;
    let mut c = s.client().await?;
    let path = folder_path("INBOX", "/emails", None);
    assert_eq!(c.get(&path).await?.status, StatusCode::OK);

    s.dovecot.set_password(ALICE.0, "rotated-secret")?;
    s.account("alice")
        .secret
        .publish(&[("username", ALICE.0), ("password", "rotated-secret")])?;
    // Restarting Dovecot ends every session: whatever the API answers next
    // comes from a login with the password it read after the rotation.
    s.dovecot.stop()?;
    s.dovecot.start_again()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = c.get(&path).await?;
        if reply.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new password was not used: {:?}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    s.account("alice")
        .secret
        .publish(&[("username", ALICE.0), ("password", "wrong-password")])?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = c.get(&path).await?;
        if reply.status == StatusCode::BAD_GATEWAY {
            assert_eq!(reply.code(), "imap_auth_failed");
            let text = String::from_utf8_lossy(&reply.body).into_owned();
            assert!(text.contains("alice"), "{text}");
            assert!(
                !text.contains("wrong-password") && !text.contains("rotated-secret"),
                "{text}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the wrong password was not noticed: {:?}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.stop().await;
    Ok(())
}
