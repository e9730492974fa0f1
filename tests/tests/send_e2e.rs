//! Sending mail end to end against real servers: the data plane submits to
//! a Postfix on loopback (implicit TLS and STARTTLS, SASL through Dovecot),
//! Postfix delivers into Dovecot over LMTP, and the message is read back
//! from the recipient's INBOX and from the sender's `\Sent` folder over
//! IMAP. Retries with an `Idempotency-Key` arrive once; refusals happen
//! before SMTP or carry the SMTP code; a stopped Postfix is a 503 with no
//! Sent copy. Needs root (Postfix's master) and `postfix` installed.

use std::time::Duration;

use http::{Method, StatusCode};
use rustymail_tests::{
    mail::{
        Result,
        client::{ApiClient, Reply},
        dovecot::{ALICE, BOB, Dovecot, Options},
        harness::{DataPlane, Link, folder_path},
        postfix::Postfix,
    },
    poll::eventually,
};
use serde_json::{Value, json};

const SENDER_KEY: &str = "sender-key-0123456789abcdef";
const READER_KEY: &str = "reader-key-0123456789abcdef";

/// Dovecot, Postfix in front of it and a data plane with three accounts:
/// `alice` (submits over implicit TLS), `alice-starttls` (the same user,
/// over STARTTLS) and `bob` (no SMTP; where the mail arrives).
struct World {
    plane: DataPlane,
    postfix: Postfix,
    dovecot: Dovecot,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> Result<Self> {
        let dovecot = Dovecot::start(Options::with_delivery())?;
        let postfix = Postfix::start(&dovecot)?;
        let dir = tempfile::tempdir()?;
        let keys = dir.path().join("keys");
        std::fs::write(
            &keys,
            format!("sender:{SENDER_KEY} scopes=read_mail,change_mail,send\nreader:{READER_KEY}\n"),
        )?;
        let settings = format!(
            "auth: {{ apiKeys: {{ file: \"{}\" }} }}\n\
             rateLimits: {{ perIp: 999999999/second, perUser: 999999999/second, perApiKey: 999999999/second }}\n\
             audit: {{ file: \"{}\" }}\n\
             send: {{ allowedRecipients: [localhost, elsewhere.test] }}",
            keys.display(),
            dir.path().join("audit.log").display(),
        );
        let (tls, starttls) = (postfix.submissions.port(), postfix.submission.port());
        let extra = move |name: &str| match name {
            "alice" => format!(
                "    smtp: {{ host: localhost, port: {tls}, security: tls, from: alice@localhost, timeout: 5s }}\n"
            ),
            "alice-starttls" => format!(
                "    smtp: {{ host: localhost, port: {starttls}, security: starttls, from: alice@localhost, timeout: 5s }}\n"
            ),
            _ => String::new(),
        };
        let plane = DataPlane::start_accounts(
            &dovecot,
            &[
                ("alice", ALICE.0, ALICE.1),
                ("alice-starttls", ALICE.0, ALICE.1),
                ("bob", BOB.0, BOB.1),
            ],
            Link::Tls,
            &settings,
            &extra,
        )
        .await?;
        Ok(Self {
            plane,
            postfix,
            dovecot,
            dir,
        })
    }

    async fn client(&self) -> Result<ApiClient> {
        self.plane.client().await
    }

    fn audit(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("audit.log")).unwrap_or_default()
    }
}

async fn send(
    c: &mut ApiClient,
    key: &str,
    idempotency: Option<&str>,
    body: &Value,
) -> Result<Reply> {
    let mut headers = vec![("x-api-key", key)];
    if let Some(k) = idempotency {
        headers.push(("idempotency-key", k));
    }
    c.send_with(
        Method::POST,
        "/api/v1/send",
        &headers,
        Some(("application/json", body.to_string().into_bytes())),
    )
    .await
}

/// The messages of `folder` of `account` whose subject is `subject`: (uid, message).
async fn messages(
    c: &mut ApiClient,
    account: &str,
    folder: &str,
    subject: &str,
) -> Result<Vec<(u64, Value)>> {
    let path = folder_path(folder, "/emails?limit=100", Some(account));
    let listing = c
        .send_with(Method::GET, &path, &[("x-api-key", SENDER_KEY)], None)
        .await?
        .json();
    let mut found = Vec::new();
    for m in listing["messages"].as_array().cloned().unwrap_or_default() {
        if m["envelope"]["subject"].as_str() == Some(subject) {
            let uid = m["uid"].as_u64().unwrap_or_default();
            let path = folder_path(folder, &format!("/emails/{uid}"), Some(account));
            let full = c
                .send_with(Method::GET, &path, &[("x-api-key", SENDER_KEY)], None)
                .await?
                .json();
            found.push((uid, full));
        }
    }
    Ok(found)
}

/// Waits until `folder` of `account` holds a message with `subject`; then
/// a moment more, so that a second copy would have arrived too.
async fn arrived(
    c: &mut ApiClient,
    account: &str,
    folder: &str,
    subject: &str,
) -> Result<Vec<(u64, Value)>> {
    let mut found = Vec::new();
    for _ in 0..100 {
        found = messages(c, account, folder, subject).await?;
        if !found.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
            return messages(c, account, folder, subject).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(found)
}

fn header<'a>(message: &'a Value, name: &str) -> Option<&'a str> {
    message["headers"].as_array()?.iter().find_map(|h| {
        h["name"]
            .as_str()
            .filter(|n| n.eq_ignore_ascii_case(name))
            .and(h["value"].as_str())
    })
}

#[tokio::test]
async fn a_message_arrives_once_per_idempotency_key_and_is_filed_in_sent() -> Result<()> {
    let w = World::start().await?;
    let mut c = w.client().await?;
    let body = json!({
        "account": "alice",
        "to": ["Bob <bob@localhost>"],
        "bcc": ["alice@localhost"],
        "subject": "Quarterly numbers",
        "text": "The numbers are attached.",
        "html": "<p>The numbers are <b>attached</b>.</p>",
        "attachments": [{"filename": "numbers.csv", "contentType": "text/csv", "content": "YSxiCjEsMgo="}]
    });
    let first = send(&mut c, SENDER_KEY, Some("q3-numbers"), &body).await?;
    assert_eq!(
        first.status,
        StatusCode::CREATED,
        "{:?}\n{}",
        first.json(),
        w.postfix.log()
    );
    let sent = first.json();
    assert_eq!(sent["smtp"]["code"], 250, "{sent}");
    assert_eq!(sent["recipients"], 2);
    assert_eq!(sent["sentCopy"]["folder"], "Sent", "{sent}");
    let id = sent["messageId"].as_str().unwrap_or_default().to_owned();
    assert!(id.ends_with("@localhost>"), "{id}");

    let again = send(&mut c, SENDER_KEY, Some("q3-numbers"), &body).await?;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(
        again
            .headers
            .get("idempotent-replayed")
            .map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(again.json(), sent, "the first outcome, returned again");
    let mut other = body.clone();
    other["subject"] = json!("Something else");
    let reused = send(&mut c, SENDER_KEY, Some("q3-numbers"), &other).await?;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.code(), "idempotency_key_reused");

    let inbox = arrived(&mut c, "bob", "INBOX", "Quarterly numbers").await?;
    assert_eq!(
        inbox.len(),
        1,
        "delivered once: {inbox:?}\n{}",
        w.postfix.log()
    );
    let (_, got) = &inbox[0];
    assert_eq!(header(got, "Message-ID"), Some(id.as_str()));
    assert!(header(got, "Bcc").is_none(), "Bcc hidden from recipients");
    assert!(
        got["text"]
            .as_str()
            .unwrap_or_default()
            .contains("The numbers are attached.")
    );
    assert!(
        got["html"]
            .as_str()
            .unwrap_or_default()
            .contains("<b>attached</b>")
    );
    assert_eq!(got["attachments"][0]["filename"], "numbers.csv", "{got}");
    let blind = arrived(&mut c, "alice", "INBOX", "Quarterly numbers").await?;
    assert_eq!(blind.len(), 1, "the Bcc recipient got it once");

    let filed = messages(&mut c, "alice", "Sent", "Quarterly numbers").await?;
    assert_eq!(filed.len(), 1, "one Sent copy");
    let (sent_uid, copy) = &filed[0];
    assert_eq!(header(copy, "Message-ID"), Some(id.as_str()));
    assert_eq!(
        header(copy, "Bcc"),
        Some("alice@localhost"),
        "the Sent copy keeps Bcc"
    );

    let reply = json!({
        "account": "alice-starttls",
        "to": ["bob@localhost"],
        "text": "And the forecast.",
        "inReplyTo": {"folder": "Sent", "uid": sent_uid}
    });
    let r = send(&mut c, SENDER_KEY, None, &reply).await?;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json());
    let threaded = arrived(&mut c, "bob", "INBOX", "Re: Quarterly numbers").await?;
    assert_eq!(threaded.len(), 1, "sent over STARTTLS, threaded");
    let (_, answer) = &threaded[0];
    assert_eq!(header(answer, "In-Reply-To"), Some(id.as_str()));
    assert_eq!(header(answer, "References"), Some(id.as_str()));

    let audit = w.audit();
    let lines: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"send_message\""))
        .collect();
    assert!(
        lines.iter().any(
            |l| l.contains("\"resource\":\"account=alice recipients=2\"")
                && l.contains("\"result\":\"success\"")
                && l.contains("\"user\":\"sender\"")
        ),
        "{audit}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\"result\":\"replayed\"")),
        "{audit}"
    );
    assert!(
        !audit.contains("Quarterly") && !audit.contains("numbers are"),
        "no content: {audit}"
    );
    drop(w.dovecot);
    Ok(())
}

#[tokio::test]
async fn refusals_come_before_smtp_or_carry_the_smtp_code_and_leave_no_sent_copy() -> Result<()> {
    let mut w = World::start().await?;
    let mut c = w.client().await?;
    let mail = |to: &str, subject: &str| json!({"account": "alice", "to": [to], "subject": subject, "text": "hello"});

    let unmarked = send(&mut c, READER_KEY, None, &mail("bob@localhost", "Unmarked")).await?;
    assert_eq!(
        unmarked.status,
        StatusCode::FORBIDDEN,
        "a key without scopes= cannot send"
    );
    assert_eq!(unmarked.code(), "forbidden");

    let connections = w.postfix.log().matches("connect from").count();
    let outside = send(
        &mut c,
        SENDER_KEY,
        None,
        &mail("mallory@evil.test", "Outside"),
    )
    .await?;
    assert_eq!(outside.status, StatusCode::FORBIDDEN);
    assert_eq!(outside.code(), "recipient_not_allowed");
    assert!(
        outside.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("mallory@evil.test")
    );
    assert_eq!(
        w.postfix.log().matches("connect from").count(),
        connections,
        "refused before any SMTP connection"
    );

    let relay = send(
        &mut c,
        SENDER_KEY,
        Some("relay-1"),
        &mail("carol@elsewhere.test", "Relayed"),
    )
    .await?;
    assert_eq!(relay.status, StatusCode::BAD_GATEWAY, "{:?}", relay.json());
    assert_eq!(relay.code(), "smtp_rejected");
    let message = relay.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("554"),
        "the SMTP code is reported: {message}"
    );
    let again = send(
        &mut c,
        SENDER_KEY,
        Some("relay-1"),
        &mail("carol@elsewhere.test", "Relayed"),
    )
    .await?;
    assert_eq!(
        again.status,
        StatusCode::BAD_GATEWAY,
        "the first outcome, again"
    );
    assert!(
        messages(&mut c, "alice", "Sent", "Relayed")
            .await?
            .is_empty(),
        "no Sent copy"
    );

    w.postfix.stop()?;
    let down = send(
        &mut c,
        SENDER_KEY,
        Some("down-1"),
        &mail("bob@localhost", "While down"),
    )
    .await?;
    assert_eq!(
        down.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        down.json()
    );
    assert_eq!(down.code(), "smtp_unavailable");
    assert!(down.headers.contains_key("retry-after"));
    assert!(
        messages(&mut c, "alice", "Sent", "While down")
            .await?
            .is_empty(),
        "nothing half sent"
    );

    w.postfix.start_again()?;
    let later = send(
        &mut c,
        SENDER_KEY,
        Some("down-1"),
        &mail("bob@localhost", "While down"),
    )
    .await?;
    assert_eq!(
        later.status,
        StatusCode::CREATED,
        "nothing was sent, so the retry sends: {:?}",
        later.json()
    );
    assert_eq!(
        arrived(&mut c, "bob", "INBOX", "While down").await?.len(),
        1
    );
    assert_eq!(
        messages(&mut c, "alice", "Sent", "While down").await?.len(),
        1
    );

    let none = send(
        &mut c,
        SENDER_KEY,
        None,
        &json!({"account": "bob", "to": ["alice@localhost"], "text": "x"}),
    )
    .await?;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert_eq!(none.code(), "smtp_not_configured");
    assert!(
        eventually(Duration::from_secs(2), || async {
            w.audit().contains("failed:recipient_not_allowed")
        })
        .await,
        "refusals are audited"
    );
    Ok(())
}
