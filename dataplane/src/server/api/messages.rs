//! Messages: list, append, get, flags, delete, move, expunge, attachments
//! and search, each a thin adapter over the mail service's operation.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{
    ApiState,
    call::RestCall,
    errors::{Body, Params, PathParams},
};
use crate::{
    mail::model::{
        AccountQuery, AttachmentList, Expunged, FlagUpdate, Flags, ListQuery, Message, MessageList,
        MoveRequest, Placed, SearchResult,
    },
    service::{
        AppendMessage, DeleteMessage, Expunge, GetAttachment, GetMessage, ListAttachments,
        ListMessages, MailError, MessageRef, MoveMessage, SearchMessages, SetFlags, check_name,
    },
};

/// A page of a folder, newest first.
#[utoipa::path(get, operation_id = <ListMessages as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}/emails", tag = "emails",
    params(("name" = String, Path, description = "The folder"), ListQuery),
    responses((status = 200, body = MessageList), (status = 404, description = "No such folder"),
        (status = 400, description = "A bad parameter, named"), (status = 503, description = "IMAP unreachable")))]
pub async fn list(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams(name): PathParams<String>,
    Params(q): Params<ListQuery>,
) -> Result<Json<MessageList>, MailError> {
    let op = ListMessages {
        account: q.account,
        name,
        limit: q.limit,
        offset: q.offset,
    };
    Ok(Json(s.mail.call(&call, op).await?))
}

/// Appends a raw RFC 822 message (`Content-Type: message/rfc822`).
#[utoipa::path(post, operation_id = <AppendMessage as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}/emails", tag = "emails",
    params(("name" = String, Path, description = "The folder"), AccountQuery),
    request_body(content = Vec<u8>, content_type = "message/rfc822", description = "The message"),
    responses((status = 201, body = Placed), (status = 404, description = "No such folder"),
        (status = 415, description = "Not message/rfc822")))]
pub async fn append(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams(name): PathParams<String>,
    Params(q): Params<AccountQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, MailError> {
    let op = AppendMessage {
        account: q.account,
        name,
        message: body.into(),
    };
    // The folder name is checked before the media type, the body after it.
    check_name("name", &op.name)?;
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
    Ok((StatusCode::CREATED, Json(s.mail.call(&call, op).await?)).into_response())
}

/// The message `uid` of folder `name`.
fn message(account: Option<String>, name: String, uid: u32) -> MessageRef {
    MessageRef { account, name, uid }
}

/// One message: flags, parsed headers, text and HTML bodies, attachments.
#[utoipa::path(get, operation_id = <GetMessage as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}/emails/{uid}", tag = "emails",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"), AccountQuery),
    responses((status = 200, body = Message), (status = 404, description = "No such folder or message")))]
pub async fn get(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams((name, uid)): PathParams<(String, u32)>,
    Params(q): Params<AccountQuery>,
) -> Result<Json<Message>, MailError> {
    let op = GetMessage(message(q.account, name, uid));
    Ok(Json(s.mail.call(&call, op).await?))
}

/// Sets, adds or removes flags.
#[utoipa::path(put, operation_id = <SetFlags as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}/emails/{uid}", tag = "emails",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"), AccountQuery),
    request_body = FlagUpdate,
    responses((status = 200, body = Flags), (status = 404, description = "No such folder or message")))]
pub async fn flags(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams((name, uid)): PathParams<(String, u32)>,
    Params(q): Params<AccountQuery>,
    Body(update): Body<FlagUpdate>,
) -> Result<Json<Flags>, MailError> {
    let op = SetFlags {
        account: q.account,
        name,
        uid,
        action: update.action,
        flags: update.flags,
    };
    Ok(Json(s.mail.call(&call, op).await?))
}

/// Deletes a message for good (\Deleted, then UID EXPUNGE of it alone).
#[utoipa::path(delete, operation_id = <DeleteMessage as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}/emails/{uid}", tag = "emails",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"), AccountQuery),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such folder or message")))]
pub async fn delete(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams((name, uid)): PathParams<(String, u32)>,
    Params(q): Params<AccountQuery>,
) -> Result<StatusCode, MailError> {
    let op = DeleteMessage(message(q.account, name, uid));
    s.mail.call(&call, op).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Moves a message to another folder.
#[utoipa::path(post, operation_id = <MoveMessage as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}/emails/{uid}/move", tag = "emails",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"), AccountQuery),
    request_body = MoveRequest,
    responses((status = 200, body = Placed), (status = 404, description = "No such folder, destination or message")))]
pub async fn move_to(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams((name, uid)): PathParams<(String, u32)>,
    Params(q): Params<AccountQuery>,
    Body(req): Body<MoveRequest>,
) -> Result<Json<Placed>, MailError> {
    let op = MoveMessage {
        account: q.account,
        name,
        uid,
        destination: req.destination,
    };
    Ok(Json(s.mail.call(&call, op).await?))
}

/// Removes every message marked \Deleted from a folder.
#[utoipa::path(post, operation_id = <Expunge as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}/expunge", tag = "emails",
    params(("name" = String, Path, description = "The folder"), AccountQuery),
    responses((status = 200, body = Expunged), (status = 404, description = "No such folder")))]
pub async fn expunge(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams(name): PathParams<String>,
    Params(q): Params<AccountQuery>,
) -> Result<Json<Expunged>, MailError> {
    let op = Expunge {
        account: q.account,
        name,
    };
    Ok(Json(s.mail.call(&call, op).await?))
}

/// The attachments of a message.
#[utoipa::path(get, operation_id = <ListAttachments as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}/emails/{uid}/attachments", tag = "attachments",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"), AccountQuery),
    responses((status = 200, body = AttachmentList), (status = 404, description = "No such folder or message")))]
pub async fn attachments(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams((name, uid)): PathParams<(String, u32)>,
    Params(q): Params<AccountQuery>,
) -> Result<Json<AttachmentList>, MailError> {
    let op = ListAttachments(message(q.account, name, uid));
    Ok(Json(s.mail.call(&call, op).await?))
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
#[utoipa::path(get, operation_id = <GetAttachment as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}/emails/{uid}/attachments/{index}", tag = "attachments",
    params(("name" = String, Path, description = "The folder"), ("uid" = u32, Path, description = "The message's UID"),
        ("index" = u32, Path, description = "The attachment's index"), AccountQuery),
    responses((status = 200, description = "The attachment's bytes", content_type = "application/octet-stream"),
        (status = 404, description = "No such folder, message or attachment")))]
pub async fn attachment(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams((name, uid, index)): PathParams<(String, u32, u32)>,
    Params(q): Params<AccountQuery>,
) -> Result<Response, MailError> {
    let op = GetAttachment {
        account: q.account,
        name,
        uid,
        index,
    };
    let data = s.mail.call(&call, op).await?;
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
#[utoipa::path(get, operation_id = <SearchMessages as crate::service::Operation>::SPEC.name,
    path = "/api/v1/emails/search", tag = "emails", params(SearchMessages),
    responses((status = 200, body = SearchResult), (status = 400, description = "A bad parameter, named")))]
pub async fn search(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    Params(op): Params<SearchMessages>,
) -> Result<Json<SearchResult>, MailError> {
    Ok(Json(s.mail.call(&call, op).await?))
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
}
