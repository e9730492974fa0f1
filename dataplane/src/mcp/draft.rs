//! A plain-text draft from an agent's fields, as an RFC 5322 message
//! (pure). No field can add a header or a MIME part: a line break or other
//! control character in a header field is refused, and non-ASCII header
//! text is an RFC 2047 encoded word.

use base64::Engine;

use super::{error::ToolError, tools::Draft};

/// The largest draft body, in bytes.
pub const MAX_TEXT_BYTES: usize = 1 << 20;

fn check_header(name: &str, value: &str) -> Result<(), ToolError> {
    if value.chars().any(char::is_control) {
        return Err(ToolError::bad(format!(
            "argument `{name}`: line breaks and control characters are not allowed"
        )));
    }
    if value.len() > 998 {
        return Err(ToolError::bad(format!(
            "argument `{name}`: longer than a header line may be (998 bytes)"
        )));
    }
    Ok(())
}

/// `value` as header text: as it is when ASCII, else one encoded word.
fn header_text(value: &str) -> String {
    if value.is_ascii() {
        value.to_owned()
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

/// The draft's message: headers, then the text as UTF-8, quoted-printable
/// free (8bit), lines ending in CRLF.
pub fn compose(draft: &Draft) -> Result<Vec<u8>, ToolError> {
    if draft.text.len() > MAX_TEXT_BYTES {
        return Err(ToolError::bad(format!(
            "argument `text`: more than {MAX_TEXT_BYTES} bytes"
        )));
    }
    if draft
        .text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(ToolError::bad(
            "argument `text`: control characters other than line breaks and tabs are not allowed",
        ));
    }
    let mut headers = Vec::new();
    if let Some(from) = &draft.from {
        check_header("from", from)?;
        headers.push(format!("From: {}", header_text(from)));
    }
    for (name, field, list) in [("to", "To", &draft.to), ("cc", "Cc", &draft.cc)] {
        for address in list {
            check_header(name, address)?;
        }
        if !list.is_empty() {
            let joined: Vec<String> = list.iter().map(|a| header_text(a)).collect();
            headers.push(format!("{field}: {}", joined.join(", ")));
        }
    }
    check_header("subject", &draft.subject)?;
    headers.push(format!("Subject: {}", header_text(&draft.subject)));
    headers.push(format!(
        "Date: {}",
        jiff::Timestamp::now().strftime("%a, %d %b %Y %H:%M:%S +0000")
    ));
    headers.push("MIME-Version: 1.0".to_owned());
    headers.push("Content-Type: text/plain; charset=utf-8".to_owned());
    headers.push("Content-Transfer-Encoding: 8bit".to_owned());
    let body = draft
        .text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n");
    let mut raw = headers.join("\r\n");
    raw.push_str("\r\n\r\n");
    raw.push_str(&body);
    if !raw.ends_with("\r\n") {
        raw.push_str("\r\n");
    }
    Ok(raw.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(subject: &str, text: &str) -> Draft {
        Draft {
            to: vec!["Bob <bob@example.com>".to_owned()],
            subject: subject.to_owned(),
            text: text.to_owned(),
            ..Draft::default()
        }
    }

    #[test]
    fn a_draft_is_a_plain_text_message_with_encoded_non_ascii_headers() {
        let raw =
            String::from_utf8(compose(&draft("Grüße", "Hallo\nzwei")).expect("ok")).expect("utf-8");
        assert!(raw.contains("To: Bob <bob@example.com>\r\n"), "{raw}");
        assert!(
            raw.contains("Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"),
            "{raw}"
        );
        assert!(raw.ends_with("\r\n\r\nHallo\r\nzwei\r\n"), "{raw}");
    }

    #[test]
    fn no_field_can_add_a_header() {
        for (subject, to) in [
            ("x\r\nBcc: eve@example.com", "bob@example.com"),
            ("x", "bob@example.com\nBcc: eve"),
        ] {
            let mut d = draft(subject, "body");
            d.to = vec![to.to_owned()];
            let err = compose(&d).unwrap_err();
            assert_eq!(err.code, "bad_parameter");
            assert!(err.message.contains("line breaks"), "{}", err.message);
        }
    }
}
