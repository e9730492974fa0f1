//! What a tool returns, shaped for an agent's context: a message body cut
//! to a stated number of characters and read on from an offset, and an
//! attachment's content only when asked for, within a size cap (pure).

use base64::Engine;
use serde::Serialize;

/// Characters of a body returned when no size is asked for.
pub const DEFAULT_BODY_CHARS: u32 = 8_000;
/// The most characters of a body one call returns.
pub const MAX_BODY_CHARS: u32 = 100_000;
/// Attachment bytes returned when no cap is asked for.
pub const DEFAULT_ATTACHMENT_BYTES: u32 = 1 << 20;
/// The largest attachment content one call returns.
pub const MAX_ATTACHMENT_BYTES: u32 = 8 << 20;

/// A window of a body: the characters `[offset, offset + text.len())`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BodyWindow {
    /// The characters in the window.
    pub text: String,
    /// Where the window starts, in characters.
    pub offset: u32,
    /// The body's length, in characters.
    pub total_chars: u32,
    /// Where to read on (`bodyOffset` of the next call); absent at the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u32>,
}

/// The window of `body` from character `offset`, at most `max` characters.
pub fn window(body: &str, offset: u32, max: u32) -> BodyWindow {
    let total = u32::try_from(body.chars().count()).unwrap_or(u32::MAX);
    let text: String = body
        .chars()
        .skip(offset as usize)
        .take(max as usize)
        .collect();
    let end = offset.saturating_add(u32::try_from(text.chars().count()).unwrap_or(u32::MAX));
    BodyWindow {
        text,
        offset: offset.min(total),
        total_chars: total,
        next_offset: (end < total).then_some(end),
    }
}

/// An attachment's content as a tool returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    /// The bytes, base64 (standard alphabet, padded).
    pub base64: String,
}

/// `bytes` within `cap`, or why not.
pub fn content(bytes: &[u8], cap: u32) -> Result<Content, String> {
    if bytes.len() > cap as usize {
        return Err(format!(
            "the attachment is {} bytes, more than maxBytes ({cap}); ask for more (at most {MAX_ATTACHMENT_BYTES}) or fetch it over REST",
            bytes.len()
        ));
    }
    Ok(Content {
        base64: base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_body_is_read_on_window_by_window_without_splitting_characters() {
        let body = "Grüße, 日本語 and more";
        let first = window(body, 0, 7);
        assert_eq!(first.text, "Grüße, ");
        assert_eq!(first.total_chars, 19);
        assert_eq!(first.next_offset, Some(7));
        let mut read = first.text.clone();
        let mut next = first.next_offset;
        while let Some(offset) = next {
            let w = window(body, offset, 7);
            read.push_str(&w.text);
            next = w.next_offset;
        }
        assert_eq!(read, body);
    }

    #[test]
    fn an_offset_past_the_end_returns_nothing_more() {
        let w = window("short", 99, 10);
        assert_eq!((w.text.as_str(), w.offset, w.next_offset), ("", 5, None));
    }

    #[test]
    fn content_over_the_cap_is_refused_with_the_sizes() {
        assert_eq!(content(b"abc", 3).map(|c| c.base64), Ok("YWJj".to_owned()));
        let err = content(b"abcd", 3).unwrap_err();
        assert!(
            err.contains("4 bytes") && err.contains("maxBytes (3)"),
            "{err}"
        );
    }
}
