//! Raw RFC 822 bytes to the API's types, with `mail-parser`.

use mail_parser::{Addr, HeaderValue, MessageParser, MimeHeaders};

use super::model::{Address, Attachment, Envelope, Header};

fn addresses(value: &HeaderValue<'_>) -> Vec<Address> {
    let convert = |a: &Addr<'_>| Address {
        name: a.name.as_deref().map(str::to_owned),
        email: a.address.as_deref().map(str::to_owned),
    };
    match value {
        HeaderValue::Address(address) => address.iter().map(convert).collect(),
        _ => Vec::new(),
    }
}

/// The envelope of a message, from its header (or the whole message): the
/// reference the IMAP ENVELOPE conversion is tested against.
#[cfg(test)]
pub(crate) fn envelope(raw: &[u8]) -> Envelope {
    let Some(message) = MessageParser::default().parse_headers(raw) else {
        return Envelope::default();
    };
    envelope_of(&message)
}

fn envelope_of(message: &mail_parser::Message<'_>) -> Envelope {
    Envelope {
        subject: message.subject().map(str::to_owned),
        from: addresses(message.header("From").unwrap_or(&HeaderValue::Empty)),
        to: addresses(message.header("To").unwrap_or(&HeaderValue::Empty)),
        cc: addresses(message.header("Cc").unwrap_or(&HeaderValue::Empty)),
        date: message.date().map(|d| d.to_rfc3339()),
        message_id: message.message_id().map(str::to_owned),
    }
}

/// A message parsed for `GET …/emails/{uid}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// Subject, addresses, date.
    pub envelope: Envelope,
    /// Every header field, in order, unfolded.
    pub headers: Vec<Header>,
    /// The first plain-text body.
    pub text: Option<String>,
    /// The first HTML body.
    pub html: Option<String>,
    /// The attachments.
    pub attachments: Vec<Attachment>,
}

/// An attachment's bytes with its name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentData {
    /// Name, type and size.
    pub info: Attachment,
    /// The decoded content.
    pub content: Vec<u8>,
}

/// Unfolds a raw header value: line breaks and the white space after them
/// become one space.
fn unfold(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut lines = text.split('\n');
    if let Some(first) = lines.next() {
        out.push_str(first.trim_end_matches('\r'));
    }
    for line in lines {
        let line = line.trim_end_matches('\r');
        let rest = line.trim_start_matches([' ', '\t']);
        if !rest.is_empty() {
            out.push(' ');
            out.push_str(rest);
        }
    }
    out.trim().to_owned()
}

/// A file name safe to save under: the last path component, without control
/// characters or characters file systems refuse; `attachment-N` when nothing
/// is left.
pub fn safe_filename(name: Option<&str>, index: u32) -> String {
    let base = name
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*'))
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim().to_owned();
    if cleaned.is_empty() {
        format!("attachment-{index}")
    } else {
        cleaned.chars().take(200).collect()
    }
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    let valid = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    match part.content_type() {
        Some(ct) => {
            let sub = ct.subtype().unwrap_or("octet-stream");
            if valid(ct.ctype()) && valid(sub) {
                format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase()
            } else {
                "application/octet-stream".to_owned()
            }
        }
        None => "application/octet-stream".to_owned(),
    }
}

fn attachments(message: &mail_parser::Message<'_>) -> Vec<AttachmentData> {
    message
        .attachments()
        .enumerate()
        .map(|(i, part)| {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            let content = part.contents().to_vec();
            AttachmentData {
                info: Attachment {
                    index,
                    filename: safe_filename(part.attachment_name(), index),
                    content_type: content_type(part),
                    size: content.len() as u64,
                },
                content,
            }
        })
        .collect()
}

/// Parses a whole message.
pub fn parse(raw: &[u8]) -> Parsed {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Parsed {
            envelope: Envelope::default(),
            headers: Vec::new(),
            text: None,
            html: None,
            attachments: Vec::new(),
        };
    };
    let headers = message
        .headers()
        .iter()
        .map(|h| Header {
            name: h.name().to_owned(),
            value: unfold(
                raw.get(h.offset_start() as usize..h.offset_end() as usize)
                    .unwrap_or_default(),
            ),
        })
        .collect();
    Parsed {
        envelope: envelope_of(&message),
        headers,
        // mail-parser converts between the two when only one exists; the
        // API shows only what the message has.
        text: message
            .text_part(0)
            .filter(|p| p.is_text() && !p.is_text_html())
            .and_then(|_| message.body_text(0))
            .map(|t| t.into_owned()),
        html: message
            .html_part(0)
            .filter(|p| p.is_text_html())
            .and_then(|_| message.body_html(0))
            .map(|t| t.into_owned()),
        attachments: attachments(&message).into_iter().map(|a| a.info).collect(),
    }
}

/// The attachment at `index`, if the message has one there.
pub fn attachment(raw: &[u8], index: u32) -> Option<AttachmentData> {
    let message = MessageParser::default().parse(raw)?;
    attachments(&message).into_iter().nth(index as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTIPART: &[u8] = b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.com>\r\n\
To: alice@example.com, Bob <bob@example.com>\r\n\
Subject: =?UTF-8?B?R3LDvMOfZQ==?= and more\r\n\
X-Folded: one\r\n\
\ttwo\r\n\
Date: Mon, 4 Mar 2024 10:00:00 +0100\r\n\
Message-ID: <id-1@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\
\r\n\
--b2\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Hello plain\r\n\
--b2\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Hello html</p>\r\n\
--b2--\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"x.pdf\"\r\n\
Content-Disposition: attachment; filename=\"../../etc/re\x01port.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--b1--\r\n";

    #[test]
    fn multipart_message_has_both_bodies_and_its_attachment() {
        let p = parse(MULTIPART);
        assert_eq!(p.envelope.subject.as_deref(), Some("Grüße and more"));
        assert_eq!(p.envelope.from[0].name.as_deref(), Some("Jürgen"));
        assert_eq!(p.envelope.to.len(), 2);
        assert_eq!(p.envelope.message_id.as_deref(), Some("id-1@example.com"));
        assert!(
            p.envelope
                .date
                .as_deref()
                .is_some_and(|d| d.starts_with("2024-03-04"))
        );
        assert_eq!(p.text.as_deref().map(str::trim), Some("Hello plain"));
        assert!(p.html.as_deref().is_some_and(|h| h.contains("Hello html")));
        assert_eq!(p.attachments.len(), 1);
        let a = &p.attachments[0];
        assert_eq!(a.filename, "report.pdf");
        assert_eq!(a.content_type, "application/pdf");
        let data = attachment(MULTIPART, 0).expect("attachment 0");
        assert_eq!(data.content, b"%PDF-1.4\n");
        assert!(attachment(MULTIPART, 1).is_none());
        let folded = p
            .headers
            .iter()
            .find(|h| h.name == "X-Folded")
            .expect("header");
        assert_eq!(folded.value, "one two");
    }

    #[test]
    fn file_names_cannot_leave_the_download_folder() {
        assert_eq!(safe_filename(Some("../../etc/passwd"), 0), "passwd");
        assert_eq!(safe_filename(Some("C:\\x\\evil.exe"), 0), "evil.exe");
        assert_eq!(safe_filename(Some(".."), 3), "attachment-3");
        assert_eq!(safe_filename(Some(".bashrc"), 0), "bashrc");
        assert_eq!(safe_filename(None, 2), "attachment-2");
        assert_eq!(safe_filename(Some("a\r\nb\"c.txt"), 0), "abc.txt");
    }

    #[test]
    fn a_plain_message_has_no_html_and_no_attachments() {
        let p = parse(b"Subject: hi\r\n\r\nbody\r\n");
        assert_eq!(p.text.as_deref().map(str::trim), Some("body"));
        assert_eq!(p.html, None);
        assert!(p.attachments.is_empty());
    }
}
