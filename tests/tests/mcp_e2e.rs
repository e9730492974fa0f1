//! MCP end to end: the official Python and TypeScript SDKs over TLS against
//! a data plane in front of a real Dovecot. Every tool is called and its
//! effect checked through a direct IMAP session; a read-only key is refused
//! every changing tool; a token for another audience is refused; two data
//! planes behind one balancer answer one client's requests in turn; hostile
//! arguments reach IMAP only quoted, and no mail is lost.

use std::path::{Path, PathBuf};

use http::{Method, StatusCode};
use rustymail_tests::{
    mail::{
        Result, direct,
        dovecot::{ALICE, BOB, Dovecot, Options},
        harness::{DataPlane, Link, MailServer},
        samples,
    },
    mcp::{
        balancer::Balancer,
        sdk::{Outcome, Plan, Sdk, Step, run_plan},
    },
};
use serde_json::{Value, json};

/// The full key, and the key marked read-only.
const FULL_KEY: &str = "agent-full-key-0123456789";
const READ_ONLY_KEY: &str = "agent-read-only-key-0123456789";
const JWT_SECRET: &str = "mcp-test-jwt-secret-of-at-least-32-bytes";

/// Credentials and audit files of a secured data plane.
struct Secured {
    dir: tempfile::TempDir,
}

impl Secured {
    fn new() -> Result<Self> {
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join("keys"),
            format!("agent:{FULL_KEY}\nreader:{READ_ONLY_KEY} scopes=read_mail\n"),
        )?;
        std::fs::write(dir.path().join("jwt"), JWT_SECRET)?;
        Ok(Self { dir })
    }

    fn audit_file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The config sections of a data plane writing its audit log to `audit`.
    fn settings(&self, audit: &str) -> String {
        format!(
            "auth: {{ apiKeys: {{ file: \"{}\" }}, jwt: {{ secretFile: \"{}\", audience: \"https://localhost/mcp\" }} }}\n\
             rateLimits: {{ perIp: 999999999/second, perUser: 999999999/second, perApiKey: 999999999/second }}\n\
             audit: {{ file: \"{}\" }}\n\
             mcp: {{ allowedHosts: [localhost, 127.0.0.1] }}",
            self.dir.path().join("keys").display(),
            self.dir.path().join("jwt").display(),
            self.audit_file(audit).display(),
        )
    }
}

/// The audit lines of `file` (each one JSON object).
fn audit_lines(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits until `file` holds at least `n` lines matching `pred` (the audit
/// log is written by a thread of its own).
async fn audited(file: &Path, n: usize, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    for _ in 0..100 {
        let lines: Vec<Value> = audit_lines(file).into_iter().filter(|l| pred(l)).collect();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    audit_lines(file).into_iter().filter(|l| pred(l)).collect()
}

fn plan(plane: &DataPlane, ca: &Path, key: &str, steps: Vec<Step>) -> Plan {
    Plan {
        url: format!("https://localhost:{}/mcp", plane.api.port()),
        ca_file: ca.to_owned(),
        headers: vec![("X-API-Key".to_owned(), key.to_owned())],
        fresh_connections: false,
        steps,
    }
}

fn ca_file(plane: &DataPlane, dir: &Path) -> Result<PathBuf> {
    let path = dir.join("api-ca.pem");
    std::fs::write(&path, plane.api_ca())?;
    Ok(path)
}

/// The structured content of a successful tool result.
fn structured(outcome: &Outcome, i: usize) -> &Value {
    let result = outcome
        .step(i)
        .unwrap_or_else(|e| panic!("step {i} failed: {e}\n{}", outcome.0));
    assert_ne!(result["isError"], true, "step {i}: {result}");
    &result["structuredContent"]
}

/// The error of a failed tool result: its code.
fn tool_error(outcome: &Outcome, i: usize) -> String {
    let result = outcome
        .step(i)
        .unwrap_or_else(|e| panic!("step {i} failed: {e}\n{}", outcome.0));
    assert_eq!(result["isError"], true, "step {i} succeeded: {result}");
    result["structuredContent"]["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn seeded_server(secured: &Secured) -> Result<MailServer> {
    let dovecot = Dovecot::start(Options::default())?;
    for i in 1..=3 {
        direct::append(
            &dovecot,
            ALICE.0,
            ALICE.1,
            "INBOX",
            &samples::plain("a@example.com", &format!("plain {i}"), "hello"),
        )
        .await?;
    }
    direct::append(&dovecot, ALICE.0, ALICE.1, "INBOX", &samples::multipart()).await?;
    MailServer::start_with(
        dovecot,
        &[("alice", ALICE.0, ALICE.1), ("bob", BOB.0, BOB.1)],
        Link::Tls,
        &secured.settings("audit.log"),
    )
    .await
}

/// The folders and the INBOX flags of alice, read over IMAP directly.
async fn imap_state(s: &MailServer) -> Result<(Vec<String>, Vec<(u32, Vec<String>)>)> {
    use futures::TryStreamExt;
    let mut c = direct::login(&s.dovecot, ALICE.0, ALICE.1).await?;
    let names: Vec<_> = c.session.list(None, Some("*")).await?.try_collect().await?;
    let mut folders: Vec<String> = names.iter().map(|n| n.name().to_owned()).collect();
    folders.sort();
    // EXAMINE, not SELECT: reading must not clear \Recent.
    c.session.examine("INBOX").await?;
    let fetches: Vec<_> = c
        .session
        .uid_fetch("1:*", "FLAGS")
        .await?
        .try_collect()
        .await?;
    let mut flags: Vec<(u32, Vec<String>)> = fetches
        .iter()
        .map(|f| {
            (
                f.uid.unwrap_or_default(),
                f.flags().map(|fl| format!("{fl:?}")).collect(),
            )
        })
        .collect();
    flags.sort();
    c.session.logout().await?;
    Ok((folders, flags))
}

/// Every tool through the Python SDK (2026-07-28, stateless), each effect
/// checked in Dovecot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_works_through_the_python_sdk_and_dovecot_agrees() -> Result<()> {
    let secured = Secured::new()?;
    let s = seeded_server(&secured).await?;
    let ca = ca_file(&s, secured.dir.path())?;
    let long_text = "x".repeat(30);
    let steps = vec![
        Step::list_tools(),
        Step::list_resources(),
        Step::read_resource("rustymail://accounts/bob"),
        Step::call("list_accounts", json!({})),
        Step::call("list_folders", json!({"account": "alice"})),
        Step::call(
            "list_messages",
            json!({"account": "alice", "name": "INBOX", "limit": 2}),
        ),
        Step::call(
            "search_messages",
            json!({"account": "alice", "subject": "plain 2"}),
        ),
        Step::call(
            "get_message",
            json!({"account": "alice", "name": "INBOX", "uid": 4, "maxBodyChars": 5}),
        ),
        Step::call(
            "get_message",
            json!({"account": "alice", "name": "INBOX", "uid": 4, "maxBodyChars": 5, "bodyOffset": 5}),
        ),
        Step::call(
            "list_attachments",
            json!({"account": "alice", "name": "INBOX", "uid": 4}),
        ),
        Step::call(
            "get_attachment",
            json!({"account": "alice", "name": "INBOX", "uid": 4, "index": 0}),
        ),
        Step::call(
            "get_attachment",
            json!({"account": "alice", "name": "INBOX", "uid": 4, "index": 0, "includeContent": true}),
        ),
        Step::call(
            "set_flags",
            json!({"account": "alice", "name": "INBOX", "uid": 1, "action": "add", "flags": ["\\Flagged"]}),
        ),
        Step::call(
            "create_folder",
            json!({"account": "alice", "name": "Archive"}),
        ),
        Step::call(
            "move_message",
            json!({"account": "alice", "name": "INBOX", "uid": 2, "destination": "Archive"}),
        ),
        Step::call(
            "rename_folder",
            json!({"account": "alice", "name": "Archive", "new_name": "Archiv"}),
        ),
        Step::call(
            "append_draft",
            json!({"account": "alice", "name": "INBOX", "to": ["Bob <bob@example.com>"], "subject": "Grüße", "text": long_text}),
        ),
        Step::call(
            "delete_message",
            json!({"account": "alice", "name": "INBOX", "uid": 3}),
        ),
        Step::call(
            "create_folder",
            json!({"account": "alice", "name": "Scratch"}),
        ),
        Step::call("expunge", json!({"account": "alice", "name": "Scratch"})),
        Step::call(
            "delete_folder",
            json!({"account": "alice", "name": "Scratch"}),
        ),
        Step::call(
            "get_message",
            json!({"account": "alice", "name": "INBOX", "uid": 99}),
        ),
        Step::call(
            "list_messages",
            json!({"account": "alice", "name": "INBOX", "limt": 2}),
        ),
    ];
    let out = run_plan(Sdk::Python, &plan(&s, &ca, FULL_KEY, steps)).await?;
    assert_eq!(out.connect_error(), None, "{}", out.0);
    assert_eq!(out.protocol_version(), Some("2026-07-28"), "{}", out.0);

    let tools = &out.step(0).expect("tools/list")["tools"];
    let names: Vec<&str> = tools
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names.len(), 17, "{names:?}");
    let delete = tools
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "delete_message")
        .expect("delete_message");
    assert_eq!(delete["annotations"]["destructiveHint"], true);
    assert_eq!(delete["annotations"]["readOnlyHint"], false);
    let list = tools
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "list_messages")
        .expect("list_messages");
    assert_eq!(list["annotations"]["readOnlyHint"], true);
    assert_eq!(
        list["inputSchema"]["properties"]["limit"]["type"],
        json!(["integer", "null"])
    );

    let resources = &out.step(1).expect("resources/list")["resources"];
    assert_eq!(resources[0]["uri"], "rustymail://accounts/alice");
    assert_eq!(resources[1]["uri"], "rustymail://accounts/bob");
    let bob = &out.step(2).expect("resources/read")["contents"][0];
    assert!(
        bob["text"].as_str().unwrap_or_default().contains("\"bob\""),
        "{bob}"
    );

    assert_eq!(structured(&out, 3)["accounts"], json!(["alice", "bob"]));
    let folders = structured(&out, 4)["folders"].to_string();
    assert!(folders.contains("\"INBOX\""), "{folders}");
    let page = structured(&out, 5);
    assert_eq!(
        (page["total"].as_u64(), page["messages"][0]["uid"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(2));
    let found = structured(&out, 6);
    assert_eq!(found["messages"][0]["uid"], 2);
    let first = structured(&out, 7);
    assert_eq!(first["text"]["text"], "Hello");
    assert_eq!(first["text"]["nextOffset"], 5);
    let rest = structured(&out, 8);
    assert_eq!(rest["text"]["text"], " plai");
    assert_eq!(
        structured(&out, 9)["attachments"][0]["filename"],
        "report.pdf"
    );
    let meta = structured(&out, 10);
    assert!(
        meta.get("content").is_none(),
        "content only when asked: {meta}"
    );
    assert_eq!(structured(&out, 11)["content"]["base64"], "JVBERi0xLjQK");
    assert!(
        structured(&out, 12)["flags"]
            .to_string()
            .contains("Flagged")
    );
    let moved = structured(&out, 14);
    assert_eq!(moved["folder"], "Archive");
    let draft = structured(&out, 16);
    let draft_uid = draft["uid"].as_u64().expect("UIDPLUS") as u32;
    assert_eq!(tool_error(&out, 21), "message_not_found");
    assert_eq!(tool_error(&out, 22), "bad_parameter");
    let typo = out.step(22).expect("result")["structuredContent"]["error"]["message"].to_string();
    assert!(typo.contains("limt"), "{typo}");

    // What Dovecot holds now.
    let (folders, flags) = imap_state(&s).await?;
    assert!(folders.contains(&"Archiv".to_owned()), "{folders:?}");
    assert!(
        !folders.contains(&"Archive".to_owned()) && !folders.contains(&"Scratch".to_owned()),
        "{folders:?}"
    );
    let uids: Vec<u32> = flags.iter().map(|(u, _)| *u).collect();
    assert_eq!(
        uids,
        [1, 4, draft_uid],
        "2 moved, 3 deleted, the draft added"
    );
    assert!(
        flags[0].1.iter().any(|f| f.contains("Flagged")),
        "{flags:?}"
    );
    assert!(flags[2].1.iter().any(|f| f.contains("Draft")), "{flags:?}");

    // One data_access line per tool call, naming tool, account and result,
    // and no content.
    let audit = secured.audit_file("audit.log");
    let lines = audited(&audit, 20, |l| {
        l["category"] == "data_access"
            && l["resource"]
                .as_str()
                .is_some_and(|r| r.starts_with("mcp:"))
    })
    .await;
    assert_eq!(lines.len(), 20, "{lines:?}");
    assert!(lines.iter().any(|l| l["action"] == "delete_message"
        && l["resource"] == "mcp:alice"
        && l["result"] == "success"
        && l["user"] == "agent"));
    assert!(
        lines
            .iter()
            .any(|l| l["action"] == "get_message" && l["result"] == "failed:message_not_found")
    );
    let all = std::fs::read_to_string(&audit)?;
    assert!(
        !all.contains("Hello plain") && !all.contains("Grüße") && !all.contains("JVBERi0"),
        "content in the audit log"
    );
    s.stop().await;
    Ok(())
}

/// The handshake revisions: the TypeScript SDK at 2025-11-25 and, offering
/// it, 2025-06-18; the Python SDK's legacy mode at 2025-11-25.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdks_speak_2025_06_18_and_2025_11_25_too() -> Result<()> {
    let secured = Secured::new()?;
    let s = seeded_server(&secured).await?;
    let ca = ca_file(&s, secured.dir.path())?;
    for (sdk, version) in [
        (Sdk::TypeScript, "2025-11-25"),
        (Sdk::TypeScriptOffering("2025-06-18"), "2025-06-18"),
        (Sdk::PythonLegacy, "2025-11-25"),
    ] {
        let steps = vec![
            Step::list_tools(),
            Step::call(
                "list_messages",
                json!({"account": "alice", "name": "INBOX"}),
            ),
            Step::call(
                "set_flags",
                json!({"account": "alice", "name": "INBOX", "uid": 1, "action": "add", "flags": ["\\Seen"]}),
            ),
            Step::list_resources(),
        ];
        let out = run_plan(sdk, &plan(&s, &ca, FULL_KEY, steps)).await?;
        assert_eq!(out.connect_error(), None, "{sdk:?}: {}", out.0);
        assert_eq!(out.protocol_version(), Some(version), "{sdk:?}: {}", out.0);
        let tools = out.step(0).expect("tools/list")["tools"]
            .as_array()
            .map(Vec::len);
        assert_eq!(tools, Some(17), "{sdk:?}");
        assert_eq!(structured(&out, 1)["total"], 4, "{sdk:?}");
        assert!(
            structured(&out, 2)["flags"].to_string().contains("Seen"),
            "{sdk:?}"
        );
        assert_eq!(
            out.step(3).expect("resources")["resources"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
    }
    s.stop().await;
    Ok(())
}

/// Every changing tool, called with a read-only key: refused with a clear
/// error and an `authorization` audit line, and Dovecot unchanged; the
/// reading tools still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_key_can_call_no_changing_tool() -> Result<()> {
    let secured = Secured::new()?;
    let s = seeded_server(&secured).await?;
    let ca = ca_file(&s, secured.dir.path())?;
    let before = imap_state(&s).await?;
    let changing = [
        (
            "set_flags",
            "change_mail",
            json!({"name": "INBOX", "uid": 1, "action": "add", "flags": ["\\Deleted"]}),
        ),
        (
            "move_message",
            "change_mail",
            json!({"name": "INBOX", "uid": 1, "destination": "Trash"}),
        ),
        (
            "delete_message",
            "delete",
            json!({"name": "INBOX", "uid": 1}),
        ),
        ("expunge", "delete", json!({"name": "INBOX"})),
        ("create_folder", "manage_folders", json!({"name": "Evil"})),
        (
            "rename_folder",
            "manage_folders",
            json!({"name": "INBOX", "new_name": "Gone"}),
        ),
        ("delete_folder", "manage_folders", json!({"name": "INBOX"})),
        (
            "append_draft",
            "change_mail",
            json!({"subject": "x", "text": "y"}),
        ),
        (
            "send_message",
            "send",
            json!({"to": ["x@example.org"], "text": "y"}),
        ),
    ];
    let mut steps: Vec<Step> = changing
        .iter()
        .map(|(n, _, a)| Step::call(n, a.clone()))
        .collect();
    steps.push(Step::call("list_messages", json!({"name": "INBOX"})));
    for sdk in [Sdk::Python, Sdk::TypeScript] {
        let out = run_plan(sdk, &plan(&s, &ca, READ_ONLY_KEY, steps.clone())).await?;
        assert_eq!(out.connect_error(), None, "{sdk:?}: {}", out.0);
        for (i, (name, scope, _)) in changing.iter().enumerate() {
            let error = out
                .step(i)
                .expect_err(&format!("{sdk:?}: {name} was not refused: {}", out.0));
            assert!(
                error.contains("-32003") && error.contains(scope) && error.contains(name),
                "{sdk:?} {name}: {error}"
            );
        }
        assert_eq!(
            structured(&out, changing.len())["total"],
            4,
            "{sdk:?}: reading still works"
        );
    }
    assert_eq!(
        imap_state(&s).await?,
        before,
        "a refused call changed the mailbox"
    );
    let refused = audited(&secured.audit_file("audit.log"), 18, |l| {
        l["category"] == "authorization"
            && l["result"]
                .as_str()
                .is_some_and(|r| r.starts_with("denied:scope:"))
    })
    .await;
    assert_eq!(refused.len(), 18, "{refused:?}");
    assert!(refused.iter().all(|l| l["user"] == "reader"));
    s.stop().await;
    Ok(())
}

/// OAuth resource-server behaviour: the metadata document, a 401 naming it,
/// a token for another audience refused, our own token accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_checked_for_their_audience_and_a_401_names_the_metadata() -> Result<()> {
    use rustymail_dataplane::{
        auth::{
            jwt::{JwtKeys, unix_now},
            scope::Scopes,
        },
        config::Jwt,
    };
    let secured = Secured::new()?;
    let s = seeded_server(&secured).await?;
    let ca = ca_file(&s, secured.dir.path())?;
    let mut c = s.client().await?;
    let unauthenticated = c
        .send(
            Method::POST,
            "/mcp",
            Some((
                "application/json",
                br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_vec(),
            )),
        )
        .await?;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        unauthenticated.headers["www-authenticate"],
        "Bearer realm=\"rustymail\", resource_metadata=\"https://localhost/.well-known/oauth-protected-resource/mcp\""
    );
    let metadata = c.get("/.well-known/oauth-protected-resource/mcp").await?;
    assert_eq!(metadata.status, StatusCode::OK);
    assert_eq!(metadata.json()["resource"], "https://localhost/mcp");
    assert_eq!(
        metadata.json()["scopes_supported"],
        json!([
            "read_mail",
            "change_mail",
            "delete",
            "manage_folders",
            "send"
        ])
    );

    let mine = |audience: &str| -> Result<String> {
        let jwt = Jwt {
            audience: audience.to_owned(),
            ..Jwt::default()
        };
        Ok(JwtKeys::new(JWT_SECRET.as_bytes(), &jwt)?
            .issue("agent", Scopes::ALL, unix_now())
            .access_token)
    };
    let steps = || vec![Step::call("list_messages", json!({"name": "INBOX"}))];
    let mut other = plan(&s, &ca, FULL_KEY, steps());
    other.headers = vec![(
        "Authorization".to_owned(),
        format!("Bearer {}", mine("https://elsewhere.example/mcp")?),
    )];
    let refused = run_plan(Sdk::Python, &other).await?;
    let refusal = refused
        .connect_error()
        .or_else(|| refused.step(0).err())
        .unwrap_or_default();
    assert!(
        !refusal.is_empty(),
        "a token for another audience was accepted: {}",
        refused.0
    );
    let mut ours = plan(&s, &ca, FULL_KEY, steps());
    ours.headers = vec![(
        "Authorization".to_owned(),
        format!("Bearer {}", mine("https://localhost/mcp")?),
    )];
    let accepted = run_plan(Sdk::TypeScript, &ours).await?;
    assert_eq!(structured(&accepted, 0)["total"], 4, "{}", accepted.0);
    let denied = audited(&secured.audit_file("audit.log"), 1, |l| {
        l["category"] == "authentication" && l["resource"] == "/mcp"
    })
    .await;
    assert!(
        denied
            .iter()
            .any(|l| l["result"] == "denied:token_audience"),
        "{denied:?}"
    );
    s.stop().await;
    Ok(())
}

/// Two data planes behind one balancer: one client's consecutive requests
/// go to one and then the other, in both the stateless revision and the
/// handshake one, and every request is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_data_planes_behind_one_address_answer_in_turn() -> Result<()> {
    let secured = Secured::new()?;
    let s = seeded_server(&secured).await?;
    let users = [("alice", ALICE.0, ALICE.1), ("bob", BOB.0, BOB.1)];
    let second = DataPlane::start_with(
        &s.dovecot,
        &users,
        Link::Tls,
        &secured.settings("audit-2.log"),
    )
    .await?;
    let balancer = Balancer::start(vec![s.api, second.api]).await?;
    // Both planes were given certificates of their own test CA; the client
    // trusts both.
    let ca = secured.dir.path().join("both-cas.pem");
    std::fs::write(&ca, format!("{}\n{}", s.api_ca(), second.api_ca()))?;
    for sdk in [Sdk::Python, Sdk::PythonLegacy] {
        let steps: Vec<Step> = (0..6)
            .map(|i| {
                Step::call(
                    "list_messages",
                    json!({"name": "INBOX", "limit": 1, "offset": i % 4}),
                )
            })
            .collect();
        let mut p = plan(&s, &ca, FULL_KEY, steps);
        p.url = format!("https://localhost:{}/mcp", balancer.addr.port());
        p.fresh_connections = true;
        let out = run_plan(sdk, &p).await?;
        assert_eq!(out.connect_error(), None, "{sdk:?}: {}", out.0);
        for i in 0..6 {
            assert_eq!(structured(&out, i)["total"], 4, "{sdk:?} step {i}");
        }
    }
    let chosen = balancer.chosen();
    assert!(chosen.len() >= 12, "{chosen:?}");
    assert!(
        chosen.windows(2).all(|w| w[0] != w[1]),
        "not in turn: {chosen:?}"
    );
    let first = audited(&secured.audit_file("audit.log"), 6, |l| {
        l["action"] == "list_messages" && l["resource"] == "mcp:alice"
    })
    .await;
    let other = audited(&secured.audit_file("audit-2.log"), 6, |l| {
        l["action"] == "list_messages" && l["resource"] == "mcp:alice"
    })
    .await;
    assert_eq!(first.len() + other.len(), 12, "every call answered once");
    assert!(
        first.len() >= 5 && other.len() >= 5,
        "{} and {}",
        first.len(),
        other.len()
    );
    second.stop().await;
    s.stop().await;
    Ok(())
}

/// The hostile inputs of the REST tests, as tool arguments: refused or
/// quoted, and every message still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_arguments_reach_imap_only_quoted_and_no_mail_is_lost() -> Result<()> {
    let secured = Secured::new()?;
    let s = seeded_server(&secured).await?;
    let ca = ca_file(&s, secured.dir.path())?;
    let quoted = "quote\" back\\slash {5}";
    let steps = vec![
        Step::call(
            "search_messages",
            json!({"subject": "x\r\nA1 DELETE INBOX"}),
        ),
        Step::call("search_messages", json!({"text": "\") OR ALL (\""})),
        Step::call("list_messages", json!({"name": "INBOX\r\nA1 DELETE INBOX"})),
        Step::call("create_folder", json!({"name": "x\r\nA1 DELETE INBOX"})),
        Step::call(
            "move_message",
            json!({"name": "INBOX", "uid": 1, "destination": "INBOX\r\nA2 EXPUNGE"}),
        ),
        Step::call(
            "set_flags",
            json!({"name": "INBOX", "uid": 1, "action": "add", "flags": ["\\Seen) (\\Deleted"]}),
        ),
        Step::call("create_folder", json!({"name": quoted})),
        Step::call("list_messages", json!({"name": quoted})),
        Step::call(
            "search_messages",
            json!({"since": "2024-01-01\r\nA3 LOGOUT"}),
        ),
        Step::call("list_messages", json!({"name": "INBOX", "limit": -1})),
        Step::call("get_message", json!({"name": "INBOX", "uid": "1 OR 2"})),
        Step::call(
            "append_draft",
            json!({"name": "INBOX", "subject": "x\r\nBcc: eve@example.com", "text": "y"}),
        ),
    ];
    let out = run_plan(Sdk::Python, &plan(&s, &ca, FULL_KEY, steps)).await?;
    assert_eq!(out.connect_error(), None, "{}", out.0);
    for i in [0, 2, 3, 4, 8, 9, 10, 11] {
        assert_eq!(tool_error(&out, i), "bad_parameter", "step {i}: {}", out.0);
    }
    // A quoted search for odd text matches nothing rather than everything.
    assert_eq!(structured(&out, 1)["total"], 0);
    let flags = out.step(5).expect("result");
    assert!(
        flags["isError"] == true || !flags.to_string().contains("\\\\Deleted\""),
        "{flags}"
    );
    assert_eq!(
        structured(&out, 7)["total"],
        0,
        "the quoted name is one folder"
    );
    let (folders, messages) = imap_state(&s).await?;
    // async-imap hands the LIST name back as it is quoted on the wire.
    let on_the_wire = quoted.replace('\\', "\\\\").replace('"', "\\\"");
    assert!(folders.contains(&on_the_wire), "{folders:?}");
    assert_eq!(folders.len(), 2, "no other folder made: {folders:?}");
    assert_eq!(messages.len(), 4, "no mail lost: {messages:?}");
    assert!(
        messages
            .iter()
            .all(|(_, f)| !f.iter().any(|x| x.contains("Deleted"))),
        "{messages:?}"
    );
    s.stop().await;
    Ok(())
}
