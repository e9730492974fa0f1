//! Running a command to its tagged completion and collecting what it
//! answered.
//!
//! async-imap's streaming commands (FETCH, STORE, EXPUNGE) end their stream
//! at the tagged answer without checking it, and end it the same way when
//! the connection drops: a cut connection would look like an empty,
//! successful answer. Here the tagged status is checked, and a connection
//! that ends first is an error.

use async_imap::error::Error;
use imap_proto::{AttributeValue, MessageSection, Response, SectionPath, Status};

use super::connect::Connection;

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
    /// BODY[HEADER].
    pub header: Option<Vec<u8>>,
    /// BODY[].
    pub body: Option<Vec<u8>>,
}

/// What a command answered before its tagged OK.
#[derive(Debug, Default)]
pub struct Answer {
    /// FETCH responses.
    pub fetched: Vec<Fetched>,
    /// EXPUNGE responses.
    pub expunged: u32,
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
                section: Some(SectionPath::Full(MessageSection::Header)),
                data,
                ..
            }
            | AttributeValue::Rfc822Header(data) => {
                out.header = Some(data.as_deref().unwrap_or_default().to_vec());
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
            } if *done == tag => {
                let text = outcome
                    .information
                    .as_deref()
                    .unwrap_or_default()
                    .to_owned();
                return match status {
                    Status::Ok => Ok(answer),
                    Status::No => Err(Error::No(text)),
                    _ => Err(Error::Bad(text)),
                };
            }
            Response::Fetch(seq, attributes) => answer.fetched.push(fetched(*seq, attributes)),
            Response::Expunge(_) => answer.expunged += 1,
            _ => {}
        }
    }
}
