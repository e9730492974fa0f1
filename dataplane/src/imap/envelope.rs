//! The IMAP `ENVELOPE` of a message (RFC 3501 7.4.2) as the API's
//! [`Envelope`]: the same fields the header parser gives, decoded the same
//! way (RFC 2047 words in the subject and display names, the date in
//! RFC 3339, the Message-ID without angle brackets).
//!
//! A listing asks for `ENVELOPE`, which the server keeps parsed in its own
//! index, rather than the raw header, which it must read from each message.

use mail_parser::{DateTime, HeaderValue, parsers::MessageStream};

use crate::mail::model::{Address, Envelope};

/// `raw` as the header parser reads a value after the field's colon: a
/// space first, one line end last. A line break inside stays only where it
/// folds (white space follows); any other becomes a space.
fn header_line(raw: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(raw.len() + 2);
    line.push(b' ');
    let wsp = |k: usize| matches!(raw.get(k), Some(b' ' | b'\t'));
    for (i, b) in raw.iter().enumerate() {
        match b {
            b'\n' if !wsp(i + 1) => line.push(b' '),
            // CRLF: the LF decides; a lone CR is a space.
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {
                if wsp(i + 2) {
                    line.push(b'\r');
                }
            }
            b'\r' => line.push(b' '),
            other => line.push(*other),
        }
    }
    line.push(b'\n');
    line
}

/// Text of an unstructured header value, RFC 2047 words decoded.
fn unstructured(raw: &[u8]) -> Option<String> {
    match MessageStream::new(&header_line(raw)).parse_unstructured() {
        HeaderValue::Text(text) => Some(text.into_owned()),
        _ => None,
    }
}

fn message_id(raw: &[u8]) -> Option<String> {
    match MessageStream::new(&header_line(raw)).parse_id() {
        HeaderValue::Text(id) => Some(id.into_owned()),
        HeaderValue::TextList(ids) => ids.into_iter().next().map(|id| id.into_owned()),
        _ => None,
    }
}

/// The mailboxes of an ENVELOPE address list; group markers (no host) are
/// left out, the group's members kept.
fn addresses(list: Option<&[imap_proto::Address<'_>]>) -> Vec<Address> {
    list.unwrap_or_default()
        .iter()
        .filter_map(|a| {
            let host = a.host.as_deref()?;
            let mailbox = a.mailbox.as_deref()?;
            let email = format!(
                "{}@{}",
                String::from_utf8_lossy(mailbox),
                String::from_utf8_lossy(host)
            );
            Some(Address {
                name: a
                    .name
                    .as_deref()
                    .and_then(unstructured)
                    .filter(|n| !n.is_empty()),
                email: Some(email),
            })
        })
        .collect()
}

/// The API's envelope of an IMAP `ENVELOPE`.
pub fn from_imap(e: &imap_proto::Envelope<'_>) -> Envelope {
    Envelope {
        subject: e.subject.as_deref().and_then(unstructured),
        from: addresses(e.from.as_deref()),
        to: addresses(e.to.as_deref()),
        cc: addresses(e.cc.as_deref()),
        date: e
            .date
            .as_deref()
            .and_then(|d| DateTime::parse_rfc822(String::from_utf8_lossy(d).trim()))
            .map(|d| d.to_rfc3339()),
        message_id: e.message_id.as_deref().and_then(message_id),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn address<'a>(
        name: Option<&'a str>,
        mailbox: &'a str,
        host: &'a str,
    ) -> imap_proto::Address<'a> {
        imap_proto::Address {
            name: name.map(|n| Cow::Borrowed(n.as_bytes())),
            adl: None,
            mailbox: Some(Cow::Borrowed(mailbox.as_bytes())),
            host: Some(Cow::Borrowed(host.as_bytes())),
        }
    }

    fn bytes(s: &str) -> Option<Cow<'_, [u8]>> {
        Some(Cow::Borrowed(s.as_bytes()))
    }

    /// What the header parser makes of `header`.
    fn from_header(header: &str) -> Envelope {
        crate::mail::mime::envelope(header.as_bytes())
    }

    #[test]
    fn an_envelope_decodes_as_the_header_it_came_from() {
        let header = "From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.com>\r\n\
To: alice@example.com, \"Doe, Bob\" <bob@example.com>\r\n\
Cc: team: carol@example.com;\r\n\
Subject: =?UTF-8?B?R3LDvMOfZQ==?= with attachment\r\n\
Date: Tue, 5 Mar 2024 10:00:00 +0100\r\n\
Message-ID: <multipart-1@example.com>\r\n\r\n";
        let envelope = imap_proto::Envelope {
            date: bytes("Tue, 5 Mar 2024 10:00:00 +0100"),
            subject: bytes("=?UTF-8?B?R3LDvMOfZQ==?= with attachment"),
            from: Some(vec![address(
                Some("=?UTF-8?Q?J=C3=BCrgen?="),
                "j",
                "example.com",
            )]),
            sender: None,
            reply_to: None,
            to: Some(vec![
                address(None, "alice", "example.com"),
                address(Some("Doe, Bob"), "bob", "example.com"),
            ]),
            cc: Some(vec![
                imap_proto::Address {
                    name: None,
                    adl: None,
                    mailbox: bytes("team"),
                    host: None,
                },
                address(None, "carol", "example.com"),
                imap_proto::Address {
                    name: None,
                    adl: None,
                    mailbox: None,
                    host: None,
                },
            ]),
            bcc: None,
            in_reply_to: None,
            message_id: bytes("<multipart-1@example.com>"),
        };
        let converted = from_imap(&envelope);
        assert_eq!(converted.subject.as_deref(), Some("Grüße with attachment"));
        assert_eq!(converted.from[0].name.as_deref(), Some("Jürgen"));
        assert_eq!(converted.date.as_deref(), Some("2024-03-05T10:00:00+01:00"));
        assert_eq!(
            converted.message_id.as_deref(),
            Some("multipart-1@example.com")
        );
        assert_eq!(converted, from_header(header));
    }

    #[test]
    fn a_folded_or_broken_subject_reads_as_its_header_would() {
        let folded = "A long\r\n subject =?UTF-8?Q?=C3=BC?=";
        let header = format!("Subject: {folded}\r\n\r\n");
        let mut envelope = imap_proto::Envelope {
            date: None,
            subject: bytes(folded),
            from: None,
            sender: None,
            reply_to: None,
            to: None,
            cc: None,
            bcc: None,
            in_reply_to: None,
            message_id: None,
        };
        assert_eq!(from_imap(&envelope), from_header(&header));
        envelope.subject = bytes("cut\r\nhere");
        assert_eq!(from_imap(&envelope).subject.as_deref(), Some("cut here"));
    }

    #[test]
    fn an_empty_envelope_is_an_empty_envelope() {
        let envelope = imap_proto::Envelope {
            date: None,
            subject: None,
            from: None,
            sender: None,
            reply_to: None,
            to: None,
            cc: None,
            bcc: None,
            in_reply_to: None,
            message_id: None,
        };
        assert_eq!(from_imap(&envelope), Envelope::default());
    }
}
