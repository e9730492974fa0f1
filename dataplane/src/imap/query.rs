//! Building IMAP command arguments from client input. Nothing a client sends
//! is pasted into a command: text becomes a quoted string when it is plain
//! ASCII, else a literal, and dates, flags and numbers are checked first.

use std::fmt::Write as _;

/// Why client input cannot become part of an IMAP command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The value cannot be sent as it is; names the API parameter.
    #[error("parameter `{param}`: {message}")]
    Invalid {
        /// The API parameter, e.g. `since`.
        param: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Non-ASCII text needs a literal, and the server cannot take one inline.
    #[error(
        "parameter `{param}`: non-ASCII text needs the server's LITERAL+ or LITERAL- capability"
    )]
    NeedsLiteral {
        /// The API parameter.
        param: &'static str,
    },
}

fn invalid(param: &'static str, message: impl Into<String>) -> QueryError {
    QueryError::Invalid {
        param,
        message: message.into(),
    }
}

/// How text that is not plain ASCII may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Literals {
    /// `{n+}` literals are accepted without a round trip (LITERAL+, or
    /// LITERAL- up to 4096 bytes).
    NonSynchronizing {
        /// The largest literal the server takes this way.
        max: usize,
    },
    /// Only ASCII quoted strings.
    None,
}

/// `text` as an IMAP string argument: a quoted string for printable ASCII,
/// a non-synchronizing literal otherwise. NUL, CR and LF are refused.
pub fn string(param: &'static str, text: &str, literals: Literals) -> Result<String, QueryError> {
    if text.bytes().any(|b| matches!(b, 0 | b'\r' | b'\n')) {
        return Err(invalid(param, "must not contain NUL, CR or LF"));
    }
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        let mut out = String::with_capacity(text.len() + 2);
        out.push('"');
        for c in text.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        return Ok(out);
    }
    match literals {
        Literals::NonSynchronizing { max } if text.len() <= max => {
            Ok(format!("{{{}+}}\r\n{text}", text.len()))
        }
        _ => Err(QueryError::NeedsLiteral { param }),
    }
}

/// A mailbox name (already in modified UTF-7, hence ASCII) as a quoted string.
pub fn mailbox(wire: &str) -> Result<String, QueryError> {
    string("folder", wire, Literals::None)
}

/// A calendar date, as the API takes it (`2024-03-01`), in IMAP's form
/// (`1-Mar-2024`).
pub fn date(param: &'static str, iso: &str) -> Result<String, QueryError> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let bad = || invalid(param, format!("{iso:?} is not a date like 2024-03-01"));
    let mut parts = iso.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
        return Err(bad());
    }
    let (year, month, day): (u32, usize, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    Ok(format!("{day}-{}-{year}", MONTHS[month - 1]))
}

/// What a search looks for; every field present must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Criteria {
    /// Text in the From header.
    pub from: Option<String>,
    /// Text in the To header.
    pub to: Option<String>,
    /// Text in the Subject header.
    pub subject: Option<String>,
    /// Text anywhere in the message.
    pub text: Option<String>,
    /// Received on or after this date (`2024-03-01`).
    pub since: Option<String>,
    /// Received before this date.
    pub before: Option<String>,
    /// Read (`true`) or unread (`false`).
    pub seen: Option<bool>,
    /// Flagged or not.
    pub flagged: Option<bool>,
}

impl Criteria {
    /// The search key of `UID SEARCH`, `CHARSET UTF-8` first when a literal
    /// carries non-ASCII text; `ALL` when nothing is asked.
    pub fn to_imap(&self, literals: Literals) -> Result<String, QueryError> {
        let mut keys = Vec::new();
        let texts = [
            ("from", "FROM", &self.from),
            ("to", "TO", &self.to),
            ("subject", "SUBJECT", &self.subject),
            ("text", "TEXT", &self.text),
        ];
        for (param, key, value) in texts {
            if let Some(value) = value {
                keys.push(format!("{key} {}", string(param, value, literals)?));
            }
        }
        if let Some(since) = &self.since {
            keys.push(format!("SINCE {}", date("since", since)?));
        }
        if let Some(before) = &self.before {
            keys.push(format!("BEFORE {}", date("before", before)?));
        }
        if let Some(seen) = self.seen {
            keys.push(if seen { "SEEN" } else { "UNSEEN" }.to_owned());
        }
        if let Some(flagged) = self.flagged {
            keys.push(if flagged { "FLAGGED" } else { "UNFLAGGED" }.to_owned());
        }
        let mut out = String::new();
        if keys.iter().any(|k| k.contains('{')) {
            out.push_str("CHARSET UTF-8 ");
        }
        if keys.is_empty() {
            out.push_str("ALL");
        }
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{key}");
        }
        Ok(out)
    }
}

/// A message flag as the API names it (`\Seen`, `$Label`), checked to be a
/// flag IMAP can carry: `\` and an atom, or an atom.
pub fn flag(text: &str) -> Result<&str, QueryError> {
    let atom = text.strip_prefix('\\').unwrap_or(text);
    let valid = !atom.is_empty()
        && atom.len() <= 64
        && atom
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b));
    if valid {
        Ok(text)
    } else {
        Err(invalid("flags", format!("{text:?} is not an IMAP flag")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLUS: Literals = Literals::NonSynchronizing { max: usize::MAX };

    #[test]
    fn ascii_text_is_quoted_with_escapes() {
        assert_eq!(
            string("from", r#"a "b" \c"#, Literals::None),
            Ok(r#""a \"b\" \\c""#.to_owned())
        );
    }

    #[test]
    fn injection_attempts_stay_inside_one_argument() {
        let err = string("subject", "x\r\nA1 DELETE INBOX", PLUS).unwrap_err();
        assert!(err.to_string().contains("subject"));
        let quoted = string("subject", "x\" OR ALL \"", Literals::None).expect("quotes");
        assert_eq!(quoted, r#""x\" OR ALL \"""#);
    }

    #[test]
    fn non_ascii_text_goes_as_a_literal_or_is_refused() {
        assert_eq!(
            string("from", "Jürgen", PLUS),
            Ok("{7+}\r\nJürgen".to_owned())
        );
        assert_eq!(
            string("from", "Jürgen", Literals::None),
            Err(QueryError::NeedsLiteral { param: "from" })
        );
        let small = Literals::NonSynchronizing { max: 4 };
        assert!(string("from", "Jürgen", small).is_err());
    }

    #[test]
    fn search_keys_follow_the_parameters() {
        let c = Criteria {
            from: Some("alice".into()),
            subject: Some("Grüße".into()),
            since: Some("2024-03-01".into()),
            before: Some("2024-12-31".into()),
            seen: Some(false),
            flagged: Some(true),
            ..Criteria::default()
        };
        assert_eq!(
            c.to_imap(PLUS).expect("builds"),
            "CHARSET UTF-8 FROM \"alice\" SUBJECT {7+}\r\nGrüße SINCE 1-Mar-2024 BEFORE 31-Dec-2024 UNSEEN FLAGGED"
        );
        assert_eq!(Criteria::default().to_imap(PLUS).expect("builds"), "ALL");
    }

    #[test]
    fn bad_dates_name_their_parameter() {
        for bad in [
            "2024-3-1",
            "01-03-2024",
            "2024-13-01",
            "yesterday",
            "2024-03-01-x",
        ] {
            let err = date("since", bad).unwrap_err();
            assert!(err.to_string().contains("`since`"), "{bad}: {err}");
        }
    }

    #[test]
    fn flags_are_atoms() {
        assert_eq!(flag("\\Seen"), Ok("\\Seen"));
        assert_eq!(flag("$Label1"), Ok("$Label1"));
        for bad in ["", "\\", "a b", "x)", "\\Seen\r\n", "\"q\""] {
            assert!(flag(bad).is_err(), "{bad:?}");
        }
    }
}
