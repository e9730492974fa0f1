use super::*;

fn op(to: &[&str]) -> SendMessage {
    SendMessage {
        account: None,
        to: to.iter().map(|s| (*s).to_owned()).collect(),
        cc: Vec::new(),
        bcc: Vec::new(),
        subject: Some("s".to_owned()),
        text: Some("t".to_owned()),
        html: None,
        attachments: Vec::new(),
        in_reply_to: None,
    }
}

fn bad(result: Result<Vec<String>, MailError>) -> String {
    match result {
        Err(MailError::BadRequest(m)) => m,
        other => panic!("not a bad request: {other:?}"),
    }
}

#[test]
fn recipients_are_required_bounded_and_parsed() {
    assert!(bad(op(&[]).check(5)).contains("at least one recipient"));
    assert!(bad(op(&["a@x.test"; 6]).check(5)).contains("at most 5"));
    assert!(bad(op(&["a@x.test", "nope"]).check(5)).starts_with("field `to[1]`"));
    assert_eq!(
        op(&["Alice <alice@x.test>"]).check(5).expect("valid"),
        ["alice@x.test"]
    );
}

#[test]
fn attachments_must_be_base64_with_a_name() {
    let mut m = op(&["a@x.test"]);
    m.attachments.push(NewAttachment {
        filename: "a.txt".to_owned(),
        content_type: None,
        content: "not base64!".to_owned(),
    });
    assert!(bad(m.check(5)).contains("attachments[0].content"));
    m.attachments[0].content = "aGVsbG8=".to_owned();
    let parts = m.parts().expect("decodes");
    assert_eq!(parts[0].content, b"hello");
    assert_eq!(parts[0].content_type, "application/octet-stream");
}

#[test]
fn only_accepted_permanent_and_unknown_outcomes_are_kept_for_retries() {
    let rejected = |code| {
        Err(SendError::Smtp(SmtpError::Rejected {
            account: "a".to_owned(),
            code,
            message: String::new(),
        }))
    };
    assert!(is_final(&rejected(550)));
    assert!(!is_final(&rejected(451)), "a 4xx sent nothing");
    assert!(!is_final(&Err(SendError::Smtp(SmtpError::Unavailable {
        account: "a".to_owned(),
        reason: String::new(),
    }))));
    assert!(is_final(&Err(SendError::Smtp(SmtpError::Uncertain {
        account: "a".to_owned(),
        reason: String::new(),
    }))));
}

#[test]
fn idempotency_keys_are_visible_ascii() {
    assert!(check_idempotency_key("3f2b-41c9").is_ok());
    for k in ["", "has space", "ü"] {
        assert!(check_idempotency_key(k).is_err(), "{k:?}");
    }
    assert!(check_idempotency_key(&"k".repeat(256)).is_err());
}

#[test]
fn a_retry_is_told_apart_from_another_request() {
    assert_eq!(op(&["a@x.test"]).digest(), op(&["a@x.test"]).digest());
    assert_ne!(op(&["a@x.test"]).digest(), op(&["b@x.test"]).digest());
}
