//! Messages: list, append, get, flags, delete, move, expunge, attachments
//! and search.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{
    ApiState,
    errors::{Body, MailError, Params, PathParams},
    folders::check_name,
};
use crate::{
    imap::query::Criteria,
    mail::model::{
        AccountQuery, AttachmentList, Expunged, FlagAction, FlagUpdate, Flags, ListQuery, Message,
        MessageList, MoveRequest, Placed, SearchQuery, SearchResult,
    },
};

/// Page size when none is asked for.
const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
const MAX_LIMIT: u32 = 100;

pub(crate) fn limit(param: &str, limit: Option<u32>) -> Result<u32, MailError> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n),
        n => Err(MailError::BadRequest(format!(
            "parameter `{param}`: {n} is not between 1 and {MAX_LIMIT}"
        ))),
    }
}

/// A page of a folder, newest first.
#[utoipa::path(get, path = "/api/v1/folders/{name}/emails", tag = "emails",
    params(("name" = String, Path, description = "The folder"), ListQuery),
    responses((status = 200, body = MessageList), (status = 404, description = "No such folder"),
        (status = 400, description = "A bad parameter, named"), (status = 503, description = "IMAP unreachable")))]
pub async fn list(
    State(s): State<ApiState>,
    PathParams(name): PathParams<String>,
    Params(q): Params<ListQuery>,
) -> Result<Json<MessageList>, MailError> {
    check_name("name", &name)?;
    let limit = limit("limit", q.limit)?;
    let offset = q.offset.unwrap_or(0);
    let account = s.accounts.get(q.account.as_deref())?;
    let page = account.list(&name, offset, limit).await?;
    Ok(Json(MessageList {
        folder: name,
        total: page.total,
        offset,
        limit,
        messages: page.messages,
    }))
}

/// Appends a raw RFC 822 message (`Content-Type: message/rfc822`).
#[utoipa::path(post, path = "/api/v1/folders/{name}/emails", tag = "emails",
    params(("name" = String, Path, description = "The folder"), AccountQuery),
    request_body(content = Vec<u8>, content_type = "message/rfc822", description = "The message"),
    responses((status = 201, body = Placed), (status = 404, description = "No such folder"),
        (status = 415, description = "Not message/rfc822")))]
pub async fn append(
    State(s): State<ApiState>,
    PathParams(name): PathParams<String>,
    Params(q): Params<AccountQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, MailError> {
    check_name("name", &name)?;
    let is_rfc822 = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("message/rfc822"));
    if !is_rfc822 {
        return Ok(crate::server::error::ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "append takes the message as message/rfc822",
        )
        .into_response());
    }
    if body.is_empty() {
        return Err(MailError::BadRequest(
            "the body: an empty message".to_owned(),
        ));
    }
    let account = s.accounts.get(q.account.as_deref())?;
    let uid = account.append(&name, &body).await?;
    let placed = Placed::new(name, uid.map(|n| (n.uid_validity, n.uid)));
    Ok((StatusCode::CREATED, Json(placed)).into_response())
}

/// One message: flags, parsed headers, text and HTML bodies, attachments.
#[utoipa::path(get, path = "/api/v1/folders/{name}/emails/{uid}", tag = "emails",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"), AccountQuery),
    responses((status = 200, body = Message), (status = 404, description = "No such folder or message")))]
pub async fn get(
    State(s): State<ApiState>,
    PathParams((name, uid)): PathParams<(String, u32)>,
    Params(q): Params<AccountQuery>,
) -> Result<Json<Message>, MailError> {
    check_name("name", &name)?;
    let account = s.accounts.get(q.account.as_deref())?;
    Ok(Json(account.message(&name, uid).await?))
}

/// Sets, adds or removes flags.
#[utoipa::path(put, path = "/api/v1/folders/{name}/emails/{uid}", tag = "emails",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"), AccountQuery),
    request_body = FlagUpdate,
    responses((status = 200, body = Flags), (status = 404, description = "No such folder or message")))]
pub async fn flags(
    State(s): State<ApiState>,
    PathParams((name, uid)): PathParams<(String, u32)>,
    Params(q): Params<AccountQuery>,
    Body(update): Body<FlagUpdate>,
) -> Result<Json<Flags>, MailError> {
    check_name("name", &name)?;
    let item = match update.action {
        FlagAction::Set => "FLAGS",
        FlagAction::Add => "+FLAGS",
        FlagAction::Remove => "-FLAGS",
    };
    let account = s.accounts.get(q.account.as_deref())?;
    let flags = account.store(&name, uid, item, &update.flags).await?;
    Ok(Json(Flags { uid, flags }))
}

/// Deletes a message for good (\Deleted, then UID EXPUNGE of it alone).
#[utoipa::path(delete, path = "/api/v1/folders/{name}/emails/{uid}", tag = "emails",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"), AccountQuery),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such folder or message")))]
pub async fn delete(
    State(s): State<ApiState>,
    PathParams((name, uid)): PathParams<(String, u32)>,
    Params(q): Params<AccountQuery>,
) -> Result<StatusCode, MailError> {
    check_name("name", &name)?;
    let account = s.accounts.get(q.account.as_deref())?;
    account.delete_message(&name, uid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves a message to another folder.
#[utoipa::path(post, path = "/api/v1/folders/{name}/emails/{uid}/move", tag = "emails",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"), AccountQuery),
    request_body = MoveRequest,
    responses((status = 200, body = Placed), (status = 404, description = "No such folder, destination or message")))]
pub async fn move_to(
    State(s): State<ApiState>,
    PathParams((name, uid)): PathParams<(String, u32)>,
    Params(q): Params<AccountQuery>,
    Body(req): Body<MoveRequest>,
) -> Result<Json<Placed>, MailError> {
    check_name("name", &name)?;
    check_name("destination", &req.destination)?;
    let account = s.accounts.get(q.account.as_deref())?;
    let moved = account.move_message(&name, uid, &req.destination).await?;
    Ok(Json(Placed::new(
        req.destination,
        moved.map(|n| (n.uid_validity, n.uid)),
    )))
}

/// Removes every message marked \Deleted from a folder.
#[utoipa::path(post, path = "/api/v1/folders/{name}/expunge", tag = "emails",
    params(("name" = String, Path, description = "The folder"), AccountQuery),
    responses((status = 200, body = Expunged), (status = 404, description = "No such folder")))]
pub async fn expunge(
    State(s): State<ApiState>,
    PathParams(name): PathParams<String>,
    Params(q): Params<AccountQuery>,
) -> Result<Json<Expunged>, MailError> {
    check_name("name", &name)?;
    let account = s.accounts.get(q.account.as_deref())?;
    Ok(Json(Expunged {
        expunged: account.expunge(&name).await?,
    }))
}

/// The attachments of a message.
#[utoipa::path(get, path = "/api/v1/folders/{name}/emails/{uid}/attachments", tag = "attachments",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"), AccountQuery),
    responses((status = 200, body = AttachmentList), (status = 404, description = "No such folder or message")))]
pub async fn attachments(
    State(s): State<ApiState>,
    PathParams((name, uid)): PathParams<(String, u32)>,
    Params(q): Params<AccountQuery>,
) -> Result<Json<AttachmentList>, MailError> {
    check_name("name", &name)?;
    let account = s.accounts.get(q.account.as_deref())?;
    Ok(Json(AttachmentList {
        attachments: account.attachments(&name, uid).await?,
    }))
}

/// `Content-Disposition` for `filename`: an ASCII fallback and the UTF-8
/// name percent-encoded (RFC 6266).
fn disposition(filename: &str) -> HeaderValue {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Downloads an attachment, with its content type and a safe file name.
#[utoipa::path(get, path = "/api/v1/folders/{name}/emails/{uid}/attachments/{index}", tag = "attachments",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"),
        ("index" = u32, Path, description = "The attachment's index"), AccountQuery),
    responses((status = 200, description = "The attachment's bytes", content_type = "application/octet-stream"),
        (status = 404, description = "No such folder, message or attachment")))]
pub async fn attachment(
    State(s): State<ApiState>,
    PathParams((name, uid, index)): PathParams<(String, u32, u32)>,
    Params(q): Params<AccountQuery>,
) -> Result<Response, MailError> {
    check_name("name", &name)?;
    let account = s.accounts.get(q.account.as_deref())?;
    let data = account.attachment(&name, uid, index).await?;
    let content_type = HeaderValue::from_str(&data.info.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                disposition(&data.info.filename),
            ),
        ],
        data.content,
    )
        .into_response())
}

/// Searches a folder by sender, recipient, subject, text, date and flags.
#[utoipa::path(get, path = "/api/v1/emails/search", tag = "emails", params(SearchQuery),
    responses((status = 200, body = SearchResult), (status = 400, description = "A bad parameter, named")))]
pub async fn search(
    State(s): State<ApiState>,
    Params(q): Params<SearchQuery>,
) -> Result<Json<SearchResult>, MailError> {
    let folder = q.folder.clone().unwrap_or_else(|| "INBOX".to_owned());
    check_name("folder", &folder)?;
    let limit = limit("limit", q.limit)?;
    let criteria = Criteria {
        from: q.from,
        to: q.to,
        subject: q.subject,
        text: q.text,
        since: q.since,
        before: q.before,
        seen: q.seen,
        flagged: q.flagged,
    };
    let account = s.accounts.get(q.account.as_deref())?;
    let (total, messages) = account.search(&folder, &criteria, limit).await?;
    Ok(Json(SearchResult {
        folder,
        total,
        messages,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_quoted_safely() {
        assert_eq!(
            disposition("Grüße \"x\".pdf"),
            "attachment; filename=\"Gr__e _x_.pdf\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%22x%22.pdf"
        );
    }

    #[test]
    fn page_sizes_outside_1_to_100_name_the_parameter() {
        assert_eq!(limit("limit", None).ok(), Some(50));
        assert_eq!(limit("limit", Some(100)).ok(), Some(100));
        for bad in [0, 101] {
            let Err(MailError::BadRequest(m)) = limit("limit", Some(bad)) else {
                panic!("{bad} accepted");
            };
            assert!(m.contains("`limit`"), "{m}");
        }
    }
}
