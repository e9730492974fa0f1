use std::{net::Ipv4Addr, path::Path, time::Duration};

use super::*;
use crate::{
    auth::{Method, keys::KeyId, scope::Scope},
    config::{Audit, Config, RateLimits, units::Period, units::Rate},
    imap::Account,
};

/// An operation that needs `SCOPE`, costs 2 and touches no mailbox.
struct Probe;

impl Operation for Probe {
    type Output = &'static str;
    const SPEC: Spec = Spec {
        name: "probe",
        scope: Scope::ChangeMail,
        audit: AuditEvent::DataAccess,
        cost: 2,
    };

    fn account(&self) -> Option<&str> {
        None
    }

    fn check(&self) -> Result<(), MailError> {
        Ok(())
    }

    async fn run(self, account: &Account) -> Result<&'static str, MailError> {
        Ok(if account.name() == "a" { "ran" } else { "?" })
    }
}

fn accounts() -> Accounts {
    let config = Config::parse(
        "accounts: [{name: a, imap: {host: imap.invalid}, usernameFile: /dev/null, passwordFile: /dev/null}]",
    )
    .expect("config");
    Accounts::new(&config.accounts, &Metrics::new()).expect("accounts")
}

/// A service whose budgets allow 3 requests an hour per key, writing every
/// audit category to `file`.
fn accounted(file: &Path) -> MailService {
    let audit = AuditLog::start(
        &Audit {
            file: Some(file.to_owned()),
            ..Audit::default()
        },
        Default::default(),
    )
    .expect("audit log");
    let limits = Limits::from_config(&RateLimits {
        per_api_key: Rate::new(3, Period::Hour),
        ..RateLimits::default()
    });
    MailService::new(accounts()).with_accounting(Arc::new(limits), audit, Metrics::new())
}

fn call(scopes: Scopes, accounting: Accounting) -> Call {
    Call {
        identity: Some(Identity {
            user: Arc::from("ci"),
            key: KeyId(1),
            method: Method::ApiKey,
            scopes,
        }),
        client_ip: Ipv4Addr::LOCALHOST.into(),
        user_agent: Some("probe/1".to_owned()),
        resource: "mail://a".to_owned(),
        accounting,
    }
}

/// The audit lines of `file` once there are `n`.
async fn lines(file: &Path, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().count() >= n {
            return text
                .lines()
                .map(|l| serde_json::from_str(l).expect("JSON line"))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} audit lines in {}", file.display());
}

#[tokio::test]
async fn a_caller_without_the_scope_is_refused_and_audited() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("audit.log");
    let service = accounted(&file);
    let read_only = call(Scopes::of(&[Scope::ReadMail]), Accounting::Transport);
    let refused = service.call(&read_only, Probe).await;
    assert!(
        matches!(refused, Err(MailError::Forbidden(Scope::ChangeMail))),
        "{refused:?}"
    );
    let line = &lines(&file, 1).await[0];
    assert_eq!(line["category"], "authorization");
    assert_eq!(line["action"], "probe");
    assert_eq!(line["result"], "denied:scope:change_mail");
    assert_eq!(line["user"], "ci");
}

#[tokio::test]
async fn a_caller_with_every_scope_runs_the_operation_on_its_account() {
    let service = MailService::new(accounts());
    let ran = service
        .call(&call(Scopes::ALL, Accounting::Transport), Probe)
        .await;
    assert_eq!(ran.ok(), Some("ran"));
    let anonymous = Call {
        identity: None,
        ..call(Scopes::NONE, Accounting::Transport)
    };
    let ran = service.call(&anonymous, Probe).await;
    assert_eq!(
        ran.ok(),
        Some("ran"),
        "without required credentials, all is allowed"
    );
}

#[tokio::test]
async fn the_service_charges_and_audits_what_its_interface_did_not() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("audit.log");
    let service = accounted(&file);
    let own = call(Scopes::ALL, Accounting::Service);
    assert_eq!(service.call(&own, Probe).await.ok(), Some("ran"));
    let refused = service.call(&own, Probe).await;
    let Err(MailError::Limited(limited)) = refused else {
        panic!("a cost of 2 twice fits a budget of 3: {refused:?}");
    };
    assert_eq!(limited.scope, crate::ratelimit::Scope::ApiKey);
    let lines = lines(&file, 2).await;
    assert_eq!(
        (
            &lines[0]["category"],
            &lines[0]["action"],
            &lines[0]["result"]
        ),
        (&"data_access".into(), &"probe".into(), &"success".into())
    );
    assert_eq!(lines[0]["resource"], "mail://a");
    assert_eq!(lines[0]["user_agent"], "probe/1");
    assert_eq!(
        (&lines[1]["category"], &lines[1]["result"]),
        (
            &"security_event".into(),
            &"denied:rate_limit:api_key".into()
        )
    );
}

#[tokio::test]
async fn a_transport_that_accounted_one_request_is_charged_the_rest() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("audit.log");
    let service = accounted(&file);
    let rest = call(Scopes::ALL, Accounting::Transport);
    // Each call costs 2, one prepaid: three calls spend the budget of 3.
    for _ in 0..3 {
        assert_eq!(service.call(&rest, Probe).await.ok(), Some("ran"));
    }
    assert!(matches!(
        service.call(&rest, Probe).await,
        Err(MailError::Limited(_))
    ));
    let lines = lines(&file, 1).await;
    assert_eq!(
        lines.len(),
        1,
        "only the refusal: the transport audits its calls"
    );
    assert_eq!(lines[0]["result"], "denied:rate_limit:api_key");
}

#[test]
fn every_operation_declares_its_scope_audit_category_and_cost() {
    let specs = [
        ListFolders::SPEC,
        CreateFolder::SPEC,
        GetFolder::SPEC,
        RenameFolder::SPEC,
        DeleteFolder::SPEC,
        ListMessages::SPEC,
        AppendMessage::SPEC,
        GetMessage::SPEC,
        SetFlags::SPEC,
        DeleteMessage::SPEC,
        MoveMessage::SPEC,
        Expunge::SPEC,
        ListAttachments::SPEC,
        GetAttachment::SPEC,
        SearchMessages::SPEC,
    ];
    let names: std::collections::HashSet<_> = specs.iter().map(|s| s.name).collect();
    assert_eq!(names.len(), specs.len(), "operation names are unique");
    for spec in specs {
        assert_eq!(spec.audit, AuditEvent::DataAccess, "{}", spec.name);
        assert_eq!(
            spec.cost, 1,
            "{}: one request, as the REST guard charges",
            spec.name
        );
    }
    let scope = |s: Spec| s.scope;
    assert_eq!(scope(ListMessages::SPEC), Scope::ReadMail);
    assert_eq!(scope(SetFlags::SPEC), Scope::ChangeMail);
    assert_eq!(scope(DeleteMessage::SPEC), Scope::Delete);
    assert_eq!(scope(Expunge::SPEC), Scope::Delete);
    assert_eq!(scope(RenameFolder::SPEC), Scope::ManageFolders);
}
