//! Mailbox names: UTF-8 in the API, IMAP's modified UTF-7 on the wire
//! (RFC 3501 §5.1.3). Printable ASCII stands for itself, `&` is `&-`, and any
//! other run of characters is `&` + their UTF-16 in base64 with `,` for `/` +
//! `-`.

use base64::{
    Engine,
    alphabet::IMAP_MUTF7,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};

/// The base64 of modified UTF-7: `+` and `,`, no padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &IMAP_MUTF7,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Whether `c` stands for itself in modified UTF-7.
fn is_direct(c: char) -> bool {
    (' '..='~').contains(&c) && c != '&'
}

/// Encodes a UTF-8 mailbox name in modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut String| {
        if run.is_empty() {
            return;
        }
        let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&BASE64.encode(bytes));
        out.push('-');
        run.clear();
    };
    for c in name.chars() {
        if is_direct(c) {
            flush(&mut run, &mut out);
            out.push(c);
        } else if c == '&' {
            flush(&mut run, &mut out);
            out.push_str("&-");
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Why a name from the server is not modified UTF-7.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mailbox name {0:?} is not valid modified UTF-7")]
pub struct DecodeError(pub String);

/// Decodes a modified UTF-7 mailbox name to UTF-8.
pub fn decode(wire: &str) -> Result<String, DecodeError> {
    let bad = || DecodeError(wire.to_owned());
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('-').ok_or_else(bad)?;
        let encoded = &after[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            let bytes = BASE64.decode(encoded).map_err(|_| bad())?;
            if bytes.len() % 2 != 0 {
                return Err(bad());
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            let text = String::from_utf16(&units).map_err(|_| bad())?;
            // A run must not hide characters that stand for themselves.
            if text.chars().any(|c| is_direct(c) || c == '&') {
                return Err(bad());
            }
            out.push_str(&text);
        }
        rest = &after[end + 1..];
    }
    if rest.chars().any(|c| !is_direct(c)) {
        return Err(bad());
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn rfc_3501_examples_map_both_ways() {
        let pairs = [
            ("INBOX", "INBOX"),
            ("Tom & Jerry", "Tom &- Jerry"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("Entwürfe", "Entw&APw-rfe"),
            ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
            ("😀", "&2D3eAA-"),
        ];
        for (utf8, wire) in pairs {
            assert_eq!(encode(utf8), wire, "{utf8}");
            assert_eq!(decode(wire).as_deref(), Ok(utf8), "{wire}");
        }
    }

    #[test]
    fn malformed_names_are_refused() {
        for wire in ["&Jjo", "&Jjo!-", "&AGE-", "caf\u{e9}", "&AP-"] {
            assert!(decode(wire).is_err(), "{wire}");
        }
    }

    proptest! {
        #[test]
        fn any_name_survives_the_round_trip(name in "\\PC{0,20}") {
            let wire = encode(&name);
            prop_assert!(wire.bytes().all(|b| (0x20..0x7f).contains(&b)));
            prop_assert_eq!(decode(&wire), Ok(name));
        }
    }
}
