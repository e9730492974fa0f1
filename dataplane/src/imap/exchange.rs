//! Running a command to its tagged completion and collecting what it
//! answered.
//!
//! async-imap's streaming commands (FETCH, STORE, EXPUNGE) end their stream
//! at the tagged answer without checking it, and end it the same way when
//! the connection drops: a cut connection would look like an empty,
//! successful answer. Here the tagged status is checked, and a connection
//! that ends first is an error. What async-imap does not expose is kept
//! too: VANISHED (QRESYNC), the state an EXAMINE with QRESYNC reports, and
//! the APPENDUID and COPYUID codes (UIDPLUS).

use std::ops::RangeInclusive;

use async_imap::error::Error;
use imap_proto::{
    AttributeValue, MailboxDatum, Response, ResponseCode, Status, rfc4315::UidSetMember,
};

use super::connect::Connection;
use crate::mail::model::Envelope;

/// One message's data from a FETCH (or STORE) answer, owned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// Its sequence number.
    pub seq: u32,
    /// Its UID, if asked for.
    pub uid: Option<u32>,
    /// Its flags, if asked for (`\Recent` left out).
    pub flags: Option<Vec<String>>,
    /// RFC822.SIZE.
    pub size: Option<u32>,
    /// BODY[].
    pub body: Option<Vec<u8>>,
    /// ENVELOPE, decoded.
    pub envelope: Option<Envelope>,
    /// MODSEQ (CONDSTORE).
    pub modseq: Option<u64>,
}

/// What a tagged OK of APPEND or COPY said about the new messages (UIDPLUS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// `APPENDUID uidvalidity uid`.
    Append {
        /// The destination's UIDVALIDITY.
        uid_validity: u32,
        /// The new messages' UIDs.
        uids: Vec<u32>,
    },
    /// `COPYUID uidvalidity source-uids destination-uids`.
    Copy {
        /// The destination's UIDVALIDITY.
        uid_validity: u32,
        /// The copied messages' UIDs in the source folder.
        from: Vec<u32>,
        /// Their UIDs in the destination, in the same order.
        to: Vec<u32>,
    },
}

/// The mailbox state a SELECT or EXAMINE reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Opened {
    /// `EXISTS`.
    pub exists: Option<u32>,
    /// `UIDVALIDITY`.
    pub uid_validity: Option<u32>,
    /// `UIDNEXT`.
    pub uid_next: Option<u32>,
    /// `HIGHESTMODSEQ`.
    pub highest_modseq: Option<u64>,
}

/// What a command answered before its tagged OK.
#[derive(Debug, Default)]
pub struct Answer {
    /// FETCH responses.
    pub fetched: Vec<Fetched>,
    /// EXPUNGE responses.
    pub expunged: u32,
    /// UIDs a VANISHED response reported (QRESYNC).
    pub vanished: Vec<RangeInclusive<u32>>,
    /// The mailbox state, when the command opened one.
    pub opened: Opened,
    /// The UIDs of appended or copied messages, when the server has UIDPLUS.
    pub placed: Option<Placed>,
}

/// The UIDs of a UID set, in its order; none when it names more than
/// `u16::MAX` (a range a server would not send for one message).
fn uids(set: &[UidSetMember]) -> Vec<u32> {
    let mut out = Vec::new();
    for member in set {
        match member {
            UidSetMember::Uid(u) => out.push(*u),
            UidSetMember::UidRange(r) => {
                if r.end().saturating_sub(*r.start()) > u32::from(u16::MAX) {
                    return Vec::new();
                }
                out.extend(r.clone());
            }
        }
    }
    out
}

fn placed(code: &ResponseCode<'_>) -> Option<Placed> {
    match code {
        ResponseCode::AppendUid(uid_validity, set) => Some(Placed::Append {
            uid_validity: *uid_validity,
            uids: uids(set),
        }),
        ResponseCode::CopyUid(uid_validity, from, to) => Some(Placed::Copy {
            uid_validity: *uid_validity,
            from: uids(from),
            to: uids(to),
        }),
        _ => None,
    }
}

fn fetched(seq: u32, attributes: &[AttributeValue<'_>]) -> Fetched {
    let mut out = Fetched {
        seq,
        ..Fetched::default()
    };
    for a in attributes {
        match a {
            AttributeValue::Uid(uid) => out.uid = Some(*uid),
            AttributeValue::Rfc822Size(size) => out.size = Some(*size),
            AttributeValue::Envelope(e) => out.envelope = Some(super::envelope::from_imap(e)),
            AttributeValue::ModSeq(m) => out.modseq = Some(*m),
            AttributeValue::Flags(flags) => {
                out.flags = Some(
                    flags
                        .iter()
                        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                        .map(|f| f.to_string())
                        .collect(),
                );
            }
            AttributeValue::BodySection {
                section: None,
                data,
                ..
            }
            | AttributeValue::Rfc822(data) => {
                out.body = Some(data.as_deref().unwrap_or_default().to_vec());
            }
            _ => {}
        }
    }
    out
}

/// Sends `command` and reads until its tagged answer: `Ok` with what came
/// before it, `Error::No`/`Error::Bad` with the server's text, or
/// `Error::ConnectionLost` when the connection ends first.
pub async fn exchange(c: &mut Connection, command: &str) -> Result<Answer, Error> {
    let tag = c.session.run_command(command).await?;
    answer(c, &tag).await
}

/// `APPEND mailbox {n}` and the message (`mailbox` already quoted): as a
/// non-synchronizing literal where the server has LITERAL+, else after the
/// server's go-ahead. Answers as [`exchange`].
pub async fn append(c: &mut Connection, mailbox: &str, raw: &[u8]) -> Result<Answer, Error> {
    use tokio::io::AsyncWriteExt;
    let plus = if c.capabilities.literal_plus { "+" } else { "" };
    let tag = c
        .session
        .run_command(format!("APPEND {mailbox} {{{}{plus}}}", raw.len()))
        .await?;
    if !c.capabilities.literal_plus {
        let Some(response) = c.session.read_response().await? else {
            return Err(Error::ConnectionLost);
        };
        match response.parsed() {
            Response::Continue { .. } => {}
            Response::Done {
                tag: done,
                status,
                outcome,
            } if *done == tag => {
                let text = outcome
                    .information
                    .as_deref()
                    .unwrap_or_default()
                    .to_owned();
                return Err(match status {
                    Status::No => Error::No(text),
                    _ => Error::Bad(text),
                });
            }
            _ => return Err(Error::Append),
        }
    }
    let stream = c.session.as_mut();
    stream.write_all(raw).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await?;
    answer(c, &tag).await
}

/// Reads until the tagged answer to `tag`.
async fn answer(c: &mut Connection, tag: &imap_proto::RequestId) -> Result<Answer, Error> {
    let mut answer = Answer::default();
    loop {
        let Some(response) = c.session.read_response().await? else {
            return Err(Error::ConnectionLost);
        };
        match response.parsed() {
            Response::Done {
                tag: done,
                status,
                outcome,
            } if done == tag => {
                let text = outcome
                    .information
                    .as_deref()
                    .unwrap_or_default()
                    .to_owned();
                return match status {
                    Status::Ok => {
                        if let Some(p) = outcome.code.as_ref().and_then(placed) {
                            answer.placed = Some(p);
                        }
                        Ok(answer)
                    }
                    Status::No => Err(Error::No(text)),
                    _ => Err(Error::Bad(text)),
                };
            }
            Response::Fetch(seq, attributes) => answer.fetched.push(fetched(*seq, attributes)),
            Response::Expunge(_) => answer.expunged += 1,
            Response::Vanished { earlier, uids } => {
                if !*earlier {
                    // With QRESYNC enabled, VANISHED replaces EXPUNGE.
                    let n: u32 = uids.iter().map(|r| r.end() - r.start() + 1).sum();
                    answer.expunged += n;
                }
                answer.vanished.extend(uids.iter().cloned());
            }
            Response::MailboxData(MailboxDatum::Exists(n)) => answer.opened.exists = Some(*n),
            Response::Data {
                status: Status::Ok,
                outcome,
            } => match outcome.code {
                Some(ResponseCode::UidValidity(v)) => answer.opened.uid_validity = Some(v),
                Some(ResponseCode::UidNext(v)) => answer.opened.uid_next = Some(v),
                Some(ResponseCode::HighestModSeq(v)) => answer.opened.highest_modseq = Some(v),
                // UID MOVE reports COPYUID before its tagged OK (RFC 6851).
                Some(ref code) => {
                    if let Some(p) = placed(code) {
                        answer.placed = Some(p);
                    }
                }
                None => {}
            },
            _ => {}
        }
    }
}
