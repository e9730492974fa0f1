use super::*;

fn draft() -> Draft {
    Draft {
        from: "Support <support@example.com>".to_owned(),
        to: vec!["Alice <alice@example.org>".to_owned()],
        cc: vec!["carol@example.org".to_owned()],
        bcc: vec!["audit@example.net".to_owned()],
        subject: "Grüße".to_owned(),
        text: Some("plain words".to_owned()),
        html: None,
        attachments: Vec::new(),
        thread: None,
        message_id: "<abc@example.com>".to_owned(),
        date: SystemTime::UNIX_EPOCH,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_submitted_message_hides_bcc_and_the_filed_copy_keeps_it() {
    let composed = compose(&draft()).expect("composes");
    let submitted = text(&composed.submitted.formatted());
    let filed = text(&composed.filed);
    assert!(!submitted.contains("audit@example.net"), "{submitted}");
    assert!(filed.contains("Bcc: audit@example.net"), "{filed}");
    for copy in [&submitted, &filed] {
        assert!(copy.contains("Message-ID: <abc@example.com>"), "{copy}");
        assert!(
            copy.contains("To: \"Alice\" <alice@example.org>")
                || copy.contains("To: Alice <alice@example.org>"),
            "{copy}"
        );
        assert!(
            copy.contains("Subject: =?utf-8?"),
            "non-ASCII subject encoded: {copy}"
        );
        assert!(copy.contains("plain words"), "{copy}");
    }
    let envelope = composed.submitted.envelope();
    let rcpt: Vec<String> = envelope.to().iter().map(ToString::to_string).collect();
    assert_eq!(
        rcpt,
        [
            "alice@example.org",
            "carol@example.org",
            "audit@example.net"
        ]
    );
    assert_eq!(
        envelope.from().map(ToString::to_string).as_deref(),
        Some("support@example.com")
    );
}

#[test]
fn html_is_an_alternative_and_attachments_are_parts_beside_it() {
    let d = Draft {
        html: Some("<p>rich</p>".to_owned()),
        attachments: vec![Part {
            filename: "report.pdf".to_owned(),
            content_type: "application/pdf".to_owned(),
            content: b"%PDF-1.4 data".to_vec(),
        }],
        ..draft()
    };
    let m = text(&compose(&d).expect("composes").filed);
    assert!(m.contains("multipart/mixed"), "{m}");
    assert!(m.contains("multipart/alternative"), "{m}");
    assert!(m.contains("text/html"), "{m}");
    assert!(m.contains("filename=\"report.pdf\""), "{m}");
    assert!(m.contains("application/pdf"), "{m}");
    let bad = Draft {
        attachments: vec![Part {
            content_type: "not a type".to_owned(),
            ..d.attachments[0].clone()
        }],
        ..draft()
    };
    let err = compose(&bad).err().expect("refused");
    assert!(err.contains("attachments[0].contentType"), "{err}");
}

#[test]
fn a_bad_address_is_named_by_its_field() {
    let d = Draft {
        cc: vec!["ok@example.org".to_owned(), "not an address".to_owned()],
        ..draft()
    };
    let err = compose(&d).err().expect("refused");
    assert!(err.starts_with("field `cc[1]`"), "{err}");
}

#[test]
fn a_reply_threads_under_its_parent() {
    let parent = Parent {
        message_id: Some("<p3@x>".to_owned()),
        references: Some("<p1@x>  <p2@x>".to_owned()),
        in_reply_to: Some("<p2@x>".to_owned()),
        subject: Some("Invoice".to_owned()),
    };
    assert_eq!(
        threading(&parent),
        Some(("<p3@x>".to_owned(), "<p1@x> <p2@x> <p3@x>".to_owned()))
    );
    let first_reply = Parent {
        references: None,
        ..parent.clone()
    };
    assert_eq!(
        threading(&first_reply).map(|t| t.1),
        Some("<p2@x> <p3@x>".to_owned()),
        "In-Reply-To stands in for missing References"
    );
    let lone = Parent {
        references: None,
        in_reply_to: None,
        ..parent.clone()
    };
    assert_eq!(
        threading(&lone),
        Some(("<p3@x>".to_owned(), "<p3@x>".to_owned()))
    );
    assert_eq!(threading(&Parent::default()), None);
    assert_eq!(reply_subject(None, &parent), "Re: Invoice");
    let re = Parent {
        subject: Some("RE: Invoice".to_owned()),
        ..parent.clone()
    };
    assert_eq!(reply_subject(None, &re), "RE: Invoice");
    assert_eq!(reply_subject(Some("Own"), &parent), "Own");
    let d = Draft {
        thread: threading(&parent),
        ..draft()
    };
    let m = text(&compose(&d).expect("composes").filed);
    assert!(m.contains("In-Reply-To: <p3@x>"), "{m}");
    assert!(m.contains("References: <p1@x> <p2@x> <p3@x>"), "{m}");
}

#[test]
fn header_values_cannot_smuggle_headers() {
    let d = Draft {
        subject: "hi\r\nBcc: victim@evil.test".to_owned(),
        attachments: vec![Part {
            filename: "a\"\r\nX-Evil: 1.txt".to_owned(),
            content_type: "text/plain".to_owned(),
            content: b"x".to_vec(),
        }],
        ..draft()
    };
    let m = text(&compose(&d).expect("composes").filed);
    assert!(!m.contains("\r\nBcc: victim"), "{m}");
    assert!(!m.contains("\r\nX-Evil"), "{m}");
}
