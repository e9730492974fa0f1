//! Sending mail: the `send_message` operation (`POST /api/v1/send`, the MCP
//! tool `send_message`), its input and output types, and the rules every
//! send obeys before anything reaches the SMTP server.
//!
//! ```text
//!  scope `send` ─ request budgets ─ input checks ─ recipient allowlist
//!   ─ Idempotency-Key (replay the first outcome) ─ send budget per key
//!   ─ replied-to message and \Sent folder over IMAP ─ SMTP submission
//!   ─ APPEND to \Sent ─ audit line (who, account, recipients; no content)
//! ```
//!
//! Nothing is submitted unless every step before it passed, so a refused
//! or failed send leaves no Sent copy behind; the Sent copy is filed only
//! after the server accepted the message.

pub mod replays;

use std::{
    collections::HashMap,
    num::NonZeroU32,
    time::{Duration, Instant, SystemTime},
};

use base64::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use self::replays::{Claim, Replays};
use super::{MailError, Spec, check_name};
use crate::{
    auth::scope::Scope,
    config::Config,
    imap::Account,
    mail::model::Message,
    ratelimit::{self, Budget},
    smtp::{
        SmtpError, Submitter,
        allow::Allowlist,
        compose::{self, Draft, Parent, Part},
    },
};

/// A message to send through an account's SMTP submission server.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendMessage {
    /// The account (default: the first configured). Its `From` address is
    /// the account's own (`smtp.from`, else its user name).
    pub account: Option<String>,
    /// Recipients, e.g. `alice@example.com` or `Alice <alice@example.com>`.
    #[serde(default)]
    pub to: Vec<String>,
    /// Copied recipients.
    #[serde(default)]
    pub cc: Vec<String>,
    /// Blind-copied recipients: they receive the message, the others do not
    /// see them; the Sent copy keeps them.
    #[serde(default)]
    pub bcc: Vec<String>,
    /// The subject. Default for a reply: `Re: ` and the replied-to subject.
    pub subject: Option<String>,
    /// The plain-text body.
    pub text: Option<String>,
    /// The HTML body, sent beside the text as its alternative.
    pub html: Option<String>,
    /// Files attached.
    #[serde(default)]
    pub attachments: Vec<NewAttachment>,
    /// The message this one replies to: its `In-Reply-To` and `References`
    /// are taken from it.
    pub in_reply_to: Option<ReplyTarget>,
}

/// A file to attach.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAttachment {
    /// The file name the recipient sees.
    pub filename: String,
    /// Its media type. Default `application/octet-stream`.
    pub content_type: Option<String>,
    /// Its content, base64.
    pub content: String,
}

/// The message replied to, in one of the account's folders.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplyTarget {
    /// Its folder.
    pub folder: String,
    /// Its UID.
    pub uid: u32,
}

/// A message the SMTP server accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    /// The account it was sent through.
    pub account: String,
    /// Its `Message-ID`, with angle brackets.
    pub message_id: String,
    /// Recipients it was submitted to (to, cc and bcc).
    pub recipients: u32,
    /// The server's answer.
    pub smtp: SmtpReply,
    /// Where the copy was filed; absent when it could not be (see
    /// `sentCopyError`): the message was sent all the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_copy: Option<SentCopy>,
    /// Why no copy was filed, if none was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_copy_error: Option<String>,
}

/// An SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
pub struct SmtpReply {
    /// The reply code, e.g. `250`.
    pub code: u16,
    /// The reply text.
    pub message: String,
}

/// The copy of a sent message in the account's Sent folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, JsonSchema)]
pub struct SentCopy {
    /// The folder with the `\Sent` attribute.
    pub folder: String,
    /// The copy's UID, when the server reports it (UIDPLUS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
}

/// Why a send was refused or failed, beyond the errors of every operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The account has no `smtp` server.
    #[error("account {0:?} has no SMTP server configured (accounts[].smtp): it cannot send")]
    NotConfigured(String),
    /// Recipients outside `send.allowedRecipients`; nothing was sent.
    #[error("recipients not allowed by send.allowedRecipients, nothing was sent: {}", .0.join(", "))]
    NotAllowed(Vec<String>),
    /// The first request with this `Idempotency-Key` is still running.
    #[error("a request with this Idempotency-Key is still running; retry later")]
    InProgress,
    /// The `Idempotency-Key` was used for a different request.
    #[error("this Idempotency-Key was used for a different request")]
    KeyReused,
    /// Too many sends are running with idempotency keys to take one more.
    #[error("too many sends with an Idempotency-Key are running; retry later")]
    Busy,
    /// The SMTP server failed or refused.
    #[error(transparent)]
    Smtp(#[from] SmtpError),
}

impl SendError {
    /// A short label for audit lines.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotConfigured(_) => "smtp_not_configured",
            Self::NotAllowed(_) => "recipient_not_allowed",
            Self::InProgress => "idempotency_in_progress",
            Self::KeyReused => "idempotency_key_reused",
            Self::Busy => "idempotency_busy",
            Self::Smtp(e) => e.kind(),
        }
    }
}

impl SendMessage {
    /// The operation's name, scope, audit category and request cost.
    pub const SPEC: Spec = Spec::data_access("send_message", Scope::Send);

    /// Every recipient, to, cc and bcc.
    fn recipients(&self) -> impl Iterator<Item = &String> {
        self.to.iter().chain(&self.cc).chain(&self.bcc)
    }

    /// A digest of the request, to tell a retry from another request.
    fn digest(&self) -> [u8; 32] {
        Sha256::digest(serde_json::to_vec(self).unwrap_or_default()).into()
    }

    /// Checks the input without I/O: recipients present, at most `max`,
    /// each an address; attachments decodable; the reply's folder a name.
    fn check(&self, max: u32) -> Result<Vec<String>, MailError> {
        let bad = |m: String| MailError::BadRequest(m);
        let count = self.recipients().count();
        if count == 0 {
            return Err(bad(
                "field `to`: a message needs at least one recipient (to, cc or bcc)".to_owned(),
            ));
        }
        if count > max as usize {
            return Err(bad(format!(
                "fields `to`, `cc`, `bcc`: {count} recipients, at most {max} (send.maxRecipients)"
            )));
        }
        let mut addresses = Vec::with_capacity(count);
        for (field, list) in [("to", &self.to), ("cc", &self.cc), ("bcc", &self.bcc)] {
            for (i, r) in list.iter().enumerate() {
                let mbox = compose::mailbox(&format!("{field}[{i}]"), r).map_err(bad)?;
                addresses.push(mbox.email.to_string());
            }
        }
        self.parts()?;
        if let Some(target) = &self.in_reply_to {
            check_name("inReplyTo.folder", &target.folder)?;
        }
        Ok(addresses)
    }

    /// The attachments, decoded.
    fn parts(&self) -> Result<Vec<Part>, MailError> {
        let engine = base64::engine::general_purpose::STANDARD;
        self.attachments
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let content = engine.decode(a.content.trim()).map_err(|e| {
                    MailError::BadRequest(format!(
                        "field `attachments[{i}].content`: not base64 ({e})"
                    ))
                })?;
                if a.filename.is_empty() || a.filename.chars().any(char::is_control) {
                    return Err(MailError::BadRequest(format!(
                        "field `attachments[{i}].filename`: a file name without control characters"
                    )));
                }
                Ok(Part {
                    filename: a.filename.clone(),
                    content_type: a
                        .content_type
                        .clone()
                        .unwrap_or_else(|| "application/octet-stream".to_owned()),
                    content,
                })
            })
            .collect()
    }
}

/// A send's outcome as the caller sees it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The accepted message.
    pub sent: Sent,
    /// Whether this is the first outcome of the request's `Idempotency-Key`,
    /// returned again without sending.
    pub replayed: bool,
}

/// How long a send's outcome answers a retry with its `Idempotency-Key`.
pub const REPLAY_TTL: Duration = Duration::from_secs(24 * 3600);

/// Outcomes kept at most for `Idempotency-Key` retries.
pub const REPLAY_CAPACITY: usize = 10_000;

/// API keys whose send budget is held before the refilled ones are dropped.
const BUDGET_SOFT_CAP: usize = 4096;

/// What sending needs beyond the IMAP accounts: each account's submission
/// server, the allowlist, the send budget and the idempotency store.
pub struct Sending {
    submitters: HashMap<String, Submitter>,
    allowlist: Allowlist,
    max_recipients: u32,
    budget: Budget<u64>,
    replays: Replays<Result<Sent, SendError>>,
}

impl Sending {
    /// The sending of `config`; fails when an account's SMTP CA file is unusable.
    pub fn new(config: &Config) -> Result<Self, String> {
        let mut submitters = HashMap::new();
        for account in &config.accounts {
            if let Some(s) = Submitter::new(account)? {
                submitters.insert(account.name.clone(), s);
            }
        }
        Ok(Self {
            submitters,
            allowlist: Allowlist::new(config.send.allowed_recipients.iter().map(String::as_str)),
            max_recipients: config.send.max_recipients,
            budget: Budget::new(
                ratelimit::Scope::Send,
                config.send.per_api_key,
                BUDGET_SOFT_CAP,
            ),
            replays: Replays::new(REPLAY_TTL, REPLAY_CAPACITY),
        })
    }
}

/// Whether `outcome` is a request's final word, kept for its retries: an
/// accepted message, a permanent refusal (5xx) or an unknown outcome. A
/// send that never reached the server, or got a temporary refusal (4xx),
/// sent nothing, so a retry with the same key tries again.
fn is_final(outcome: &Result<Sent, SendError>) -> bool {
    match outcome {
        Ok(_) => true,
        Err(SendError::Smtp(SmtpError::Rejected { code, .. })) => *code >= 500,
        Err(SendError::Smtp(SmtpError::Uncertain { .. })) => true,
        Err(_) => false,
    }
}

/// `key` as an `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub fn check_idempotency_key(key: &str) -> Result<(), MailError> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(MailError::BadRequest(
            "header `Idempotency-Key`: 1 to 255 visible ASCII characters".to_owned(),
        ));
    }
    Ok(())
}

/// A new Message-ID at `domain`: 128 random bits.
fn message_id(domain: &str) -> Result<String, MailError> {
    let mut bytes = [0u8; 16];
    rustls::crypto::aws_lc_rs::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| MailError::BadRequest("no randomness for a Message-ID".to_owned()))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("<{hex}@{domain}>"))
}

/// The header `name` of `message`, if it has one.
fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.trim())
}

/// The threading facts of `message`.
fn parent(message: &Message) -> Parent {
    Parent {
        message_id: header(message, "Message-ID").map(str::to_owned),
        references: header(message, "References").map(str::to_owned),
        in_reply_to: header(message, "In-Reply-To").map(str::to_owned),
        subject: message.envelope.subject.clone(),
    }
}

/// What a checked send carries into its I/O.
pub(super) struct Checked {
    addresses: Vec<String>,
}

impl Sending {
    /// The input checks and the allowlist: everything decided before a
    /// key is claimed or a budget spent.
    pub(super) fn check(&self, op: &SendMessage) -> Result<Checked, MailError> {
        let addresses = op.check(self.max_recipients)?;
        let refused = self.allowlist.refused(addresses.iter().map(String::as_str));
        if !refused.is_empty() {
            return Err(SendError::NotAllowed(refused).into());
        }
        Ok(Checked { addresses })
    }

    /// Sends `op` on `account` for the caller `caller` (its API key's id
    /// keys the budget; `caller_name` keys its idempotency entries).
    pub(super) async fn send(
        &self,
        account: &Account,
        op: SendMessage,
        checked: Checked,
        caller: Option<(&str, u64)>,
        idempotency_key: Option<&str>,
    ) -> Result<Delivery, MailError> {
        let submitter = self
            .submitters
            .get(account.name())
            .ok_or_else(|| SendError::NotConfigured(account.name().to_owned()))?;
        let ticket = match idempotency_key {
            None => None,
            Some(key) => {
                let name = caller.map_or("", |(n, _)| n);
                match self.replays.claim(name, key, op.digest(), Instant::now()) {
                    Claim::New(ticket) => Some(ticket),
                    Claim::Replay(outcome) => {
                        return outcome
                            .map(|sent| Delivery {
                                sent,
                                replayed: true,
                            })
                            .map_err(MailError::from);
                    }
                    Claim::Running => return Err(SendError::InProgress.into()),
                    Claim::Mismatch => return Err(SendError::KeyReused.into()),
                    Claim::Full => return Err(SendError::Busy.into()),
                }
            }
        };
        if let Some((_, key)) = caller {
            self.budget
                .check_n(&key, NonZeroU32::MIN)
                .map_err(MailError::Limited)?;
        }
        let outcome = self.submit(account, submitter, op, checked).await;
        let outcome = match outcome {
            Ok(sent) => Ok(sent),
            Err(MailError::Send(e)) => Err(e),
            Err(other) => return Err(other),
        };
        if let Some(ticket) = ticket
            && is_final(&outcome)
        {
            ticket.settle(outcome.clone(), Instant::now());
        }
        outcome
            .map(|sent| Delivery {
                sent,
                replayed: false,
            })
            .map_err(MailError::from)
    }

    /// The IMAP reads, the submission and the Sent copy.
    async fn submit(
        &self,
        account: &Account,
        submitter: &Submitter,
        op: SendMessage,
        checked: Checked,
    ) -> Result<Sent, MailError> {
        let parent = match &op.in_reply_to {
            Some(t) => Some(parent(&account.message(&t.folder, t.uid).await?)),
            None => None,
        };
        let sent_folder = account
            .folders()
            .await?
            .into_iter()
            .find(|f| {
                f.attributes
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case("\\Sent"))
            })
            .map(|f| f.name);
        let from = submitter.from_address().map_err(SendError::from)?;
        let from_mbox = compose::mailbox("from", &from).map_err(|e| {
            MailError::BadRequest(format!(
                "account {:?}: {e}; set accounts[].smtp.from",
                account.name()
            ))
        })?;
        let parts = op.parts()?;
        let subject = match &parent {
            Some(p) => compose::reply_subject(op.subject.as_deref(), p),
            None => op.subject.clone().unwrap_or_default(),
        };
        let draft = Draft {
            from,
            to: op.to,
            cc: op.cc,
            bcc: op.bcc,
            subject,
            text: op.text,
            html: op.html,
            attachments: parts,
            thread: parent.as_ref().and_then(compose::threading),
            message_id: message_id(from_mbox.email.domain())?,
            date: SystemTime::now(),
        };
        let composed = compose::compose(&draft).map_err(MailError::BadRequest)?;
        let accepted = submitter
            .submit(&composed.submitted)
            .await
            .map_err(SendError::from)?;
        let (sent_copy, sent_copy_error) = match sent_folder {
            None => (None, Some("no folder has the \\Sent attribute".to_owned())),
            Some(folder) => match account.append(&folder, &composed.filed).await {
                Ok(uid) => (
                    Some(SentCopy {
                        folder,
                        uid: uid.map(|n| n.uid),
                    }),
                    None,
                ),
                Err(e) => {
                    tracing::warn!(account = account.name(), error = %e, "the sent message could not be filed");
                    (None, Some(e.to_string()))
                }
            },
        };
        Ok(Sent {
            account: account.name().to_owned(),
            message_id: draft.message_id,
            recipients: u32::try_from(checked.addresses.len()).unwrap_or(u32::MAX),
            smtp: SmtpReply {
                code: accepted.code,
                message: accepted.message,
            },
            sent_copy,
            sent_copy_error,
        })
    }
}

impl From<SendError> for MailError {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

#[cfg(test)]
mod tests;
