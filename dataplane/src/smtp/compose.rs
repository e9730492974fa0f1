//! Building the message a send submits: addresses parsed, bodies and
//! attachments put into MIME parts, the reply's threading headers. Pure: no
//! I/O, so every rule here is tested without a server.

use std::time::SystemTime;

use lettre::{
    Message,
    message::{
        Attachment, Mailbox, MessageBuilder, MultiPart, SinglePart,
        header::{ContentType, Header, HeaderName, HeaderValue},
    },
};

/// One attachment of a message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The file name shown to the recipient.
    pub filename: String,
    /// Its media type, e.g. `application/pdf`.
    pub content_type: String,
    /// Its bytes.
    pub content: Vec<u8>,
}

/// What the message replied to says about its thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parent {
    /// Its `Message-ID`, with angle brackets.
    pub message_id: Option<String>,
    /// Its `References`.
    pub references: Option<String>,
    /// Its `In-Reply-To`, used when it has no `References` (RFC 5322 3.6.4).
    pub in_reply_to: Option<String>,
    /// Its subject.
    pub subject: Option<String>,
}

/// The threading headers of a reply to `parent`: `In-Reply-To` is its
/// Message-ID; `References` is its References (or else its In-Reply-To)
/// followed by its Message-ID. `None` when the parent has no Message-ID.
pub fn threading(parent: &Parent) -> Option<(String, String)> {
    let id = parent.message_id.as_deref()?.trim();
    if id.is_empty() {
        return None;
    }
    let earlier = parent
        .references
        .as_deref()
        .or(parent.in_reply_to.as_deref())
        .map(str::split_whitespace)
        .into_iter()
        .flatten()
        .filter(|r| *r != id);
    let references: Vec<&str> = earlier.chain([id]).collect();
    Some((id.to_owned(), references.join(" ")))
}

/// The subject of a reply: the given one, else `Re: ` and the parent's
/// (once: a subject already starting with `Re:` keeps it).
pub fn reply_subject(given: Option<&str>, parent: &Parent) -> String {
    if let Some(given) = given {
        return given.to_owned();
    }
    let subject = parent.subject.as_deref().unwrap_or("").trim();
    let has_re = subject
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("re:"));
    if has_re {
        subject.to_owned()
    } else {
        format!("Re: {subject}")
    }
}

/// A message ready to submit.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The sender.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Copied recipients.
    pub cc: Vec<String>,
    /// Blind-copied recipients: in the envelope, not in the submitted headers.
    pub bcc: Vec<String>,
    /// The subject.
    pub subject: String,
    /// The plain-text body.
    pub text: Option<String>,
    /// The HTML body.
    pub html: Option<String>,
    /// Attachments.
    pub attachments: Vec<Part>,
    /// `In-Reply-To` and `References`, for a reply.
    pub thread: Option<(String, String)>,
    /// The `Message-ID`, with angle brackets.
    pub message_id: String,
    /// The `Date`.
    pub date: SystemTime,
}

/// The message of a draft, twice: as submitted (no `Bcc` header) and as
/// filed in the Sent folder (with it), with the same Message-ID and Date.
pub struct Composed {
    /// The message as submitted over SMTP.
    pub submitted: Message,
    /// The RFC 822 bytes of the copy filed in the Sent folder.
    pub filed: Vec<u8>,
}

/// `address` parsed as a mailbox (`alice@example.com` or
/// `Alice <alice@example.com>`); `field` names it in the error.
pub fn mailbox(field: &str, address: &str) -> Result<Mailbox, String> {
    address
        .parse::<Mailbox>()
        .map_err(|e| format!("field `{field}`: {address:?} is not a mail address ({e})"))
}

/// The `Message-ID` header, set as given (lettre would make its own).
#[derive(Clone)]
struct MessageId(String);

impl Header for MessageId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Message-ID")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// Builds the message of `draft`; an unparsable address or media type is
/// named in the error.
pub fn compose(draft: &Draft) -> Result<Composed, String> {
    let mut builder = Message::builder()
        .from(mailbox("from", &draft.from)?)
        .subject(draft.subject.clone())
        .date(draft.date)
        .header(MessageId(draft.message_id.clone()));
    for (field, list) in [("to", &draft.to), ("cc", &draft.cc), ("bcc", &draft.bcc)] {
        for (i, address) in list.iter().enumerate() {
            let mbox = mailbox(&format!("{field}[{i}]"), address)?;
            builder = match field {
                "to" => builder.to(mbox),
                "cc" => builder.cc(mbox),
                _ => builder.bcc(mbox),
            };
        }
    }
    if let Some((in_reply_to, references)) = &draft.thread {
        builder = builder
            .in_reply_to(in_reply_to.clone())
            .references(references.clone());
    }
    let body = body(draft)?;
    let build = |builder: MessageBuilder| {
        match body.clone() {
            Body::Single(part) => builder.singlepart(part),
            Body::Multi(parts) => builder.multipart(parts),
        }
        .map_err(|e| format!("the message cannot be built: {e}"))
    };
    let submitted = build(builder.clone())?;
    let filed = build(builder.keep_bcc())?.formatted();
    Ok(Composed { submitted, filed })
}

/// A message's body: one text part, or several.
#[derive(Clone)]
enum Body {
    Single(SinglePart),
    Multi(MultiPart),
}

/// The MIME body: the text alone; or text and HTML as alternatives, with
/// attachments beside them.
fn body(draft: &Draft) -> Result<Body, String> {
    let text = SinglePart::plain(draft.text.clone().unwrap_or_default());
    let readable = match (&draft.html, draft.attachments.is_empty()) {
        (None, true) => return Ok(Body::Single(text)),
        (Some(html), _) => MultiPart::alternative()
            .singlepart(text)
            .singlepart(SinglePart::html(html.clone())),
        (None, false) => MultiPart::mixed().singlepart(text),
    };
    if draft.attachments.is_empty() {
        return Ok(Body::Multi(readable));
    }
    let mut mixed = MultiPart::mixed().multipart(readable);
    for (i, part) in draft.attachments.iter().enumerate() {
        let kind = ContentType::parse(&part.content_type).map_err(|_| {
            format!(
                "field `attachments[{i}].contentType`: {:?} is not a media type",
                part.content_type
            )
        })?;
        mixed = mixed
            .singlepart(Attachment::new(part.filename.clone()).body(part.content.clone(), kind));
    }
    Ok(Body::Multi(mixed))
}

#[cfg(test)]
mod tests;
