//! The mail API against a real Dovecot: every endpoint, non-ASCII folders,
//! multipart and large messages, two accounts, STARTTLS and a server without
//! MOVE or CONDSTORE, errors, and concurrent clients.

use http::{Method, StatusCode};
use rustymail_tests::mail::{
    Result, direct,
    dovecot::{ALICE, BOB, Dovecot, Options},
    harness::{Link, MailServer, folder_path},
    samples,
};
use serde_json::json;

async fn server(options: Options, link: Link) -> Result<MailServer> {
    let dovecot = Dovecot::start(options)?;
    MailServer::start(
        dovecot,
        &[("alice", ALICE.0, ALICE.1), ("bob", BOB.0, BOB.1)],
        link,
    )
    .await
}

fn uids(listing: &serde_json::Value) -> Vec<u64> {
    listing["messages"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["uid"].as_u64()).collect())
        .unwrap_or_default()
}

fn subjects(listing: &serde_json::Value) -> Vec<String> {
    listing["messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|x| {
                    x["envelope"]["subject"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Folders, messages and attachments end to end, over IMAPS.
#[tokio::test]
async fn every_endpoint_works_against_dovecot() -> Result<()> {
    let s = server(Options::default(), Link::Tls).await?;
    let mut c = s.client().await?;

    // Folders, with names outside ASCII.
    let reply = c
        .json(
            Method::POST,
            "/api/v1/folders",
            json!({"name": "Entwürfe/日本語"}),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    let again = c
        .json(
            Method::POST,
            "/api/v1/folders",
            json!({"name": "Entwürfe/日本語"}),
        )
        .await?;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let reply = c
        .json(Method::POST, "/api/v1/folders", json!({"name": "Archive"}))
        .await?;
    assert_eq!(reply.status, StatusCode::CREATED);
    let list = c.get("/api/v1/folders").await?.json();
    let names: Vec<&str> = list["folders"]
        .as_array()
        .expect("folders")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    for name in ["INBOX", "Entwürfe/日本語", "Archive"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let renamed = c
        .json(
            Method::PUT,
            &folder_path("Entwürfe/日本語", "", None),
            json!({"name": "Отправленные"}),
        )
        .await?;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    let shown = c.get(&folder_path("Отправленные", "", None)).await?;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.json()["messages"], 0);
    assert_eq!(
        c.get(&folder_path("Entwürfe/日本語", "", None))
            .await?
            .status,
        StatusCode::NOT_FOUND
    );

    // Append, list newest first with limit and offset.
    for i in 1..=5 {
        c.append(
            "INBOX",
            samples::plain("a@example.com", &format!("plain {i}"), "hello"),
        )
        .await?;
    }
    c.append("INBOX", samples::multipart()).await?;
    c.append("INBOX", samples::large(3 << 20)).await?;
    c.append(
        "Отправленные",
        samples::plain("me@example.com", "sent one", "x"),
    )
    .await?;
    let page = c
        .get(&folder_path("INBOX", "/emails?limit=3", None))
        .await?;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    let page = page.json();
    assert_eq!(page["total"], 7);
    assert_eq!(uids(&page), [7, 6, 5]);
    assert_eq!(subjects(&page)[1], "Grüße with attachment");
    assert!(page["messages"][0]["size"].as_u64().unwrap_or(0) > 3 << 20);
    let next = c
        .get(&folder_path("INBOX", "/emails?limit=3&offset=3", None))
        .await?
        .json();
    assert_eq!(uids(&next), [4, 3, 2]);
    let last = c
        .get(&folder_path("INBOX", "/emails?limit=3&offset=6", None))
        .await?
        .json();
    assert_eq!(uids(&last), [1]);
    let sent = c
        .get(&folder_path("Отправленные", "/emails", None))
        .await?
        .json();
    assert_eq!(subjects(&sent), ["sent one"]);

    // One message: headers, bodies, attachments.
    let m = c.get(&folder_path("INBOX", "/emails/6", None)).await?;
    assert_eq!(m.status, StatusCode::OK);
    let m = m.json();
    assert_eq!(m["envelope"]["from"][0]["name"], "Jürgen");
    assert_eq!(m["text"].as_str().map(str::trim), Some("Hello plain"));
    assert!(m["html"].as_str().is_some_and(|h| h.contains("Hello html")));
    assert_eq!(m["attachments"][0]["filename"], "report.pdf");
    assert!(
        m["headers"]
            .as_array()
            .is_some_and(|h| h.iter().any(|x| x["name"] == "Message-ID"))
    );
    let list = c
        .get(&folder_path("INBOX", "/emails/6/attachments", None))
        .await?
        .json();
    assert_eq!(list["attachments"][0]["contentType"], "application/pdf");
    let file = c
        .get(&folder_path("INBOX", "/emails/6/attachments/0", None))
        .await?;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.headers["content-type"], "application/pdf");
    let disposition = file.headers["content-disposition"].to_str()?;
    assert!(
        disposition.contains("filename=\"report.pdf\""),
        "{disposition}"
    );
    assert_eq!(&file.body[..], b"%PDF-1.4\n");
    assert_eq!(
        c.get(&folder_path("INBOX", "/emails/6/attachments/1", None))
            .await?
            .status,
        StatusCode::NOT_FOUND
    );
    let big = c
        .get(&folder_path("INBOX", "/emails/7/attachments/0", None))
        .await?;
    assert_eq!(big.status, StatusCode::OK);
    assert!(big.body.len() > 2 << 20);

    // Flags: set, add, remove; the listing shows them.
    let path = folder_path("INBOX", "/emails/1", None);
    let r = c
        .json(Method::PUT, &path, json!({"flags": ["\\Seen"]}))
        .await?
        .json();
    assert_eq!(r["flags"], json!(["\\Seen"]));
    let r = c
        .json(
            Method::PUT,
            &path,
            json!({"action": "add", "flags": ["\\Flagged", "$Work"]}),
        )
        .await?
        .json();
    let flags: Vec<&str> = r["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert!(
        flags.contains(&"\\Seen") && flags.contains(&"\\Flagged") && flags.contains(&"$Work"),
        "{flags:?}"
    );
    let r = c
        .json(
            Method::PUT,
            &path,
            json!({"action": "remove", "flags": ["\\Seen"]}),
        )
        .await?
        .json();
    assert!(
        !r["flags"]
            .as_array()
            .expect("flags")
            .contains(&json!("\\Seen"))
    );
    let bad = c
        .json(Method::PUT, &path, json!({"flags": ["bad flag)"]}))
        .await?;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let listing = c
        .get(&folder_path("INBOX", "/emails?limit=100", None))
        .await?
        .json();
    let first = listing["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["uid"] == 1)
        .expect("uid 1")
        .clone();
    assert!(
        first["flags"]
            .as_array()
            .expect("flags")
            .contains(&json!("\\Flagged"))
    );

    // Search.
    let found = c
        .get("/api/v1/emails/search?subject=plain&flagged=true")
        .await?
        .json();
    assert_eq!(found["total"], 1);
    assert_eq!(uids(&found), [1]);
    let found = c
        .get("/api/v1/emails/search?from=j%40example.com")
        .await?
        .json();
    assert_eq!(uids(&found), [6]);
    let found = c
        .get("/api/v1/emails/search?subject=Gr%C3%BC%C3%9Fe")
        .await?
        .json();
    assert_eq!(uids(&found), [6], "non-ASCII search goes as a literal");
    let found = c
        .get("/api/v1/emails/search?since=2024-03-05&seen=false")
        .await?
        .json();
    assert!(uids(&found).contains(&6));

    // Move, delete, expunge.
    let moved = c
        .json(
            Method::POST,
            &folder_path("INBOX", "/emails/2/move", None),
            json!({"destination": "Archive"}),
        )
        .await?;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    assert_eq!(
        c.get(&folder_path("INBOX", "/emails/2", None))
            .await?
            .status,
        StatusCode::NOT_FOUND
    );
    let archive = c
        .get(&folder_path("Archive", "/emails", None))
        .await?
        .json();
    assert_eq!(subjects(&archive), ["plain 2"]);
    let gone = c
        .send(
            Method::DELETE,
            &folder_path("INBOX", "/emails/3", None),
            None,
        )
        .await?;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        c.get(&folder_path("INBOX", "/emails/3", None))
            .await?
            .status,
        StatusCode::NOT_FOUND
    );
    c.json(
        Method::PUT,
        &folder_path("INBOX", "/emails/4", None),
        json!({"action": "add", "flags": ["\\Deleted"]}),
    )
    .await?;
    let expunged = c
        .send(Method::POST, &folder_path("INBOX", "/expunge", None), None)
        .await?
        .json();
    assert_eq!(expunged["expunged"], 1);
    let after = c.get(&folder_path("INBOX", "/emails", None)).await?.json();
    assert_eq!(uids(&after), [7, 6, 5, 1]);

    // Deleting a folder.
    assert_eq!(
        c.send(Method::DELETE, &folder_path("Archive", "", None), None)
            .await?
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        c.get(&folder_path("Archive", "/emails", None))
            .await?
            .status,
        StatusCode::NOT_FOUND
    );
    s.stop().await;
    Ok(())
}

/// Errors are JSON with stable codes, and bad parameters are named.
#[tokio::test]
async fn errors_name_what_is_wrong() -> Result<()> {
    let s = server(Options::default(), Link::Tls).await?;
    let mut c = s.client().await?;
    let cases = [
        (
            "/api/v1/folders/Nope/emails",
            StatusCode::NOT_FOUND,
            "folder_not_found",
            "Nope",
        ),
        (
            "/api/v1/folders/INBOX/emails/99",
            StatusCode::NOT_FOUND,
            "message_not_found",
            "99",
        ),
        (
            "/api/v1/folders/INBOX/emails?limit=101",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "limit",
        ),
        (
            "/api/v1/folders/INBOX/emails?offset=x",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "offset",
        ),
        (
            "/api/v1/folders/INBOX/emails/0",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "uid",
        ),
        (
            "/api/v1/folders/INBOX/emails/0/attachments",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "uid",
        ),
        (
            "/api/v1/folders/INBOX/emails/abc",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "abc",
        ),
        (
            "/api/v1/emails/search?since=yesterday",
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            "since",
        ),
        (
            "/api/v1/folders?account=nobody",
            StatusCode::BAD_REQUEST,
            "unknown_account",
            "account",
        ),
    ];
    for (path, status, code, named) in cases {
        let reply = c.get(path).await?;
        assert_eq!(reply.status, status, "{path}: {:?}", reply.body);
        assert_eq!(reply.code(), code, "{path}");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(named), "{path}: {message}");
    }
    let injection = c
        .get("/api/v1/emails/search?subject=x%0D%0AA1%20DELETE%20INBOX")
        .await?;
    assert_eq!(injection.status, StatusCode::BAD_REQUEST);
    assert_eq!(c.get("/api/v1/folders/INBOX").await?.status, StatusCode::OK);
    let not_mail = c
        .send(
            Method::POST,
            "/api/v1/folders/INBOX/emails",
            Some(("application/json", b"{}".to_vec())),
        )
        .await?;
    assert_eq!(not_mail.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    s.stop().await;
    Ok(())
}

/// `?account=` chooses the mailbox; the first account is the default.
#[tokio::test]
async fn two_accounts_are_kept_apart() -> Result<()> {
    let s = server(Options::default(), Link::Tls).await?;
    let mut c = s.client().await?;
    c.append("INBOX", samples::plain("x@example.com", "for alice", "a"))
        .await?;
    let reply = c
        .send(
            Method::POST,
            &folder_path("INBOX", "/emails", Some("bob")),
            Some((
                "message/rfc822",
                samples::plain("y@example.com", "for bob", "b"),
            )),
        )
        .await?;
    assert_eq!(reply.status, StatusCode::CREATED);
    let alice = c
        .get(&folder_path("INBOX", "/emails", Some("alice")))
        .await?
        .json();
    let default = c.get(&folder_path("INBOX", "/emails", None)).await?.json();
    let bob = c
        .get(&folder_path("INBOX", "/emails", Some("bob")))
        .await?
        .json();
    assert_eq!(subjects(&alice), ["for alice"]);
    assert_eq!(subjects(&default), ["for alice"]);
    assert_eq!(subjects(&bob), ["for bob"]);
    s.stop().await;
    Ok(())
}

/// Append and move answer the message's UID in its folder, and that
/// folder's UIDVALIDITY (UIDPLUS: APPENDUID, COPYUID).
#[tokio::test]
async fn append_and_move_answer_where_the_message_went() -> Result<()> {
    let s = server(Options::default(), Link::Tls).await?;
    let mut c = s.client().await?;
    c.json(Method::POST, "/api/v1/folders", json!({"name": "Kept"}))
        .await?;
    let mut placed = Vec::new();
    for subject in ["first", "second"] {
        let reply = c
            .send(
                Method::POST,
                &folder_path("INBOX", "/emails", None),
                Some((
                    "message/rfc822",
                    samples::plain("a@example.com", subject, "x"),
                )),
            )
            .await?;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        placed.push(reply.json());
    }
    let inbox = c.get(&folder_path("INBOX", "", None)).await?.json();
    assert_eq!(placed[0]["folder"], "INBOX");
    assert_eq!(placed[0]["uid"], 1);
    assert_eq!(placed[1]["uid"], 2);
    assert_eq!(placed[1]["uidValidity"], inbox["uidValidity"]);

    let moved = c
        .json(
            Method::POST,
            &folder_path("INBOX", "/emails/2/move", None),
            json!({"destination": "Kept"}),
        )
        .await?
        .json();
    let kept = c.get(&folder_path("Kept", "", None)).await?.json();
    assert_eq!(moved["folder"], "Kept");
    assert_eq!(moved["uidValidity"], kept["uidValidity"]);
    let uid = moved["uid"].as_u64().expect("a UID");
    let message = c
        .get(&folder_path("Kept", &format!("/emails/{uid}"), None))
        .await?
        .json();
    assert_eq!(message["envelope"]["subject"], "second");
    s.stop().await;
    Ok(())
}

/// STARTTLS, and a server without MOVE, CONDSTORE and QRESYNC: moves go by
/// COPY + STORE + UID EXPUNGE, listings validate flags without HIGHESTMODSEQ.
#[tokio::test]
async fn starttls_and_a_server_without_move_or_condstore() -> Result<()> {
    let s = server(Options::without_move_and_condstore(), Link::Starttls).await?;
    let mut c = s.client().await?;
    c.json(Method::POST, "/api/v1/folders", json!({"name": "Later"}))
        .await?;
    for i in 1..=3 {
        c.append(
            "INBOX",
            samples::plain("a@example.com", &format!("m{i}"), "x"),
        )
        .await?;
    }
    let first = c.get(&folder_path("INBOX", "/emails", None)).await?.json();
    assert_eq!(uids(&first), [3, 2, 1]);
    let moved = c
        .json(
            Method::POST,
            &folder_path("INBOX", "/emails/2/move", None),
            json!({"destination": "Later"}),
        )
        .await?;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    assert_eq!(moved.json()["uid"], 1, "COPYUID names the copy");
    let inbox = c.get(&folder_path("INBOX", "/emails", None)).await?.json();
    assert_eq!(uids(&inbox), [3, 1], "only the moved UID was expunged");
    assert_eq!(
        subjects(&c.get(&folder_path("Later", "/emails", None)).await?.json()),
        ["m2"]
    );

    // Another client flags a message: the next listing shows it.
    let mut other = direct::login(&s.dovecot, ALICE.0, ALICE.1).await?;
    other.session.select("INBOX").await?;
    futures::TryStreamExt::try_collect::<Vec<_>>(
        other.session.uid_store("1", "+FLAGS (\\Flagged)").await?,
    )
    .await?;
    let listing = c.get(&folder_path("INBOX", "/emails", None)).await?.json();
    let one = listing["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["uid"] == 1)
        .expect("uid 1")
        .clone();
    assert!(
        one["flags"]
            .as_array()
            .expect("flags")
            .contains(&json!("\\Flagged")),
        "{one}"
    );
    s.stop().await;
    Ok(())
}

/// Listings of a folder another client changes: every new message and every
/// flag change shows in the next listing, with QRESYNC, with CONDSTORE
/// alone and with neither.
#[tokio::test]
async fn changes_by_another_client_show_in_the_next_listing() -> Result<()> {
    for options in [
        Options::default(),
        Options::without_qresync(),
        Options::without_move_and_condstore(),
    ] {
        let s = server(options, Link::Tls).await?;
        let mut c = s.client().await?;
        c.append("INBOX", samples::plain("a@example.com", "one", "x"))
            .await?;
        let path = folder_path("INBOX", "/emails", None);
        assert_eq!(uids(&c.get(&path).await?.json()), [1]);
        assert_eq!(uids(&c.get(&path).await?.json()), [1], "a repeated listing");
        direct::append(
            &s.dovecot,
            ALICE.0,
            ALICE.1,
            "INBOX",
            &samples::plain("b@example.com", "two", "y"),
        )
        .await?;
        let listing = c.get(&path).await?.json();
        assert_eq!(uids(&listing), [2, 1], "the new message shows");
        let mut other = direct::login(&s.dovecot, ALICE.0, ALICE.1).await?;
        other.session.select("INBOX").await?;
        futures::TryStreamExt::try_collect::<Vec<_>>(
            other.session.uid_store("1", "+FLAGS (\\Seen)").await?,
        )
        .await?;
        let listing = c.get(&path).await?.json();
        assert_eq!(
            listing["messages"][1]["flags"],
            json!(["\\Seen"]),
            "the flag shows"
        );
        futures::TryStreamExt::try_collect::<Vec<_>>(
            other.session.uid_store("1", "-FLAGS (\\Seen)").await?,
        )
        .await?;
        let listing = c.get(&path).await?.json();
        assert_eq!(
            listing["messages"][1]["flags"],
            json!([]),
            "the removed flag shows"
        );
        other.session.logout().await?;
        s.stop().await;
    }
    Ok(())
}

/// How many FETCH and UID FETCH commands the data plane has sent.
async fn fetches(s: &MailServer) -> Result<(u64, u64)> {
    let metrics = rustymail_tests::admin::get(s.admin, "/metrics").await?;
    let count = |command: &str| {
        let key =
            format!("rustymail_imap_command_duration_seconds_count{{command=\"{command}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    Ok((count("FETCH"), count("UID FETCH")))
}

/// With QRESYNC, a listing after another client flagged, expunged and
/// added messages shows every change and fetches only the new message:
/// the flags and the expunged UIDs come with the EXAMINE. A later page
/// older than anything listed before is fetched, with its current flags.
#[tokio::test]
async fn qresync_fetches_only_what_another_client_changed() -> Result<()> {
    let s = server(Options::default(), Link::Tls).await?;
    let mut c = s.client().await?;
    for i in 1..=5 {
        c.append(
            "INBOX",
            samples::plain("a@example.com", &format!("m{i}"), "x"),
        )
        .await?;
    }
    let path = folder_path("INBOX", "/emails?limit=2", None);
    assert_eq!(uids(&c.get(&path).await?.json()), [5, 4]);

    let mut other = direct::login(&s.dovecot, ALICE.0, ALICE.1).await?;
    other.session.select("INBOX").await?;
    for (uid, change) in [("2", "+FLAGS (\\Flagged)"), ("3", "+FLAGS (\\Deleted)")] {
        futures::TryStreamExt::try_collect::<Vec<_>>(other.session.uid_store(uid, change).await?)
            .await?;
    }
    futures::TryStreamExt::try_collect::<Vec<_>>(other.session.expunge().await?).await?;
    other.session.logout().await?;
    direct::append(
        &s.dovecot,
        ALICE.0,
        ALICE.1,
        "INBOX",
        &samples::plain("b@example.com", "m6", "y"),
    )
    .await?;

    let before = fetches(&s).await?;
    let listing = c.get(&path).await?.json();
    let after = fetches(&s).await?;
    assert_eq!(uids(&listing), [6, 5], "{listing}");
    assert_eq!(listing["total"], 5);
    assert_eq!(subjects(&listing), ["m6", "m5"]);
    assert_eq!(after.0, before.0, "no FETCH of the page");
    assert_eq!(after.1, before.1 + 1, "one UID FETCH, of the new message");

    let older = c
        .get(&folder_path("INBOX", "/emails?limit=3&offset=2", None))
        .await?
        .json();
    assert_eq!(uids(&older), [4, 2, 1], "{older}");
    assert_eq!(older["messages"][1]["flags"], json!(["\\Flagged"]));
    s.stop().await;
    Ok(())
}

/// Many clients at once on a pool smaller than them: all served.
#[tokio::test]
async fn concurrent_clients_share_the_pool() -> Result<()> {
    let s = server(Options::default(), Link::Tls).await?;
    let mut c = s.client().await?;
    for i in 1..=20 {
        c.append(
            "INBOX",
            samples::plain("a@example.com", &format!("m{i}"), "x"),
        )
        .await?;
    }
    let mut tasks = Vec::new();
    for n in 0..16u32 {
        let mut c = s.client().await?;
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..10u32 {
                let offset = (n + i) % 20;
                let reply = c
                    .get(&format!(
                        "/api/v1/folders/INBOX/emails?limit=5&offset={offset}"
                    ))
                    .await;
                statuses.push(
                    reply
                        .map(|r| (r.status, uids(&r.json()).first().copied()))
                        .ok(),
                );
            }
            statuses
        }));
    }
    for task in tasks {
        for status in task.await? {
            let (status, first) = status.expect("a reply");
            assert_eq!(status, StatusCode::OK);
            assert!(first.is_some());
        }
    }
    let metrics = rustymail_tests::admin::get(s.admin, "/metrics").await?;
    let open: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("rustymail_imap_connections{account=\"alice\"}"))
        .collect();
    let n: f64 = open
        .first()
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::MAX);
    assert!(n <= 8.0, "pool stays within imap.maxConnections: {open:?}");
    assert!(metrics.contains("rustymail_imap_command_duration_seconds_count{command=\"FETCH\"}"));
    s.stop().await;
    Ok(())
}
