//! `/api/v1/folders`: list, create, show, rename, delete, each a thin
//! adapter over the mail service's operation.

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};

use super::{
    ApiState,
    call::RestCall,
    errors::{Body, Params, PathParams},
};
use crate::{
    mail::model::{AccountQuery, Folder, FolderList, FolderName, FolderStatus},
    service::{CreateFolder, DeleteFolder, GetFolder, ListFolders, MailError, RenameFolder},
};

/// Every folder of the account.
#[utoipa::path(get, operation_id = <ListFolders as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders", tag = "folders", params(AccountQuery),
    responses((status = 200, body = FolderList), (status = 503, description = "IMAP unreachable")))]
pub async fn list(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    Params(q): Params<AccountQuery>,
) -> Result<Json<FolderList>, MailError> {
    let op = ListFolders { account: q.account };
    Ok(Json(s.mail.call(&call, op).await?))
}

/// Creates a folder.
#[utoipa::path(post, operation_id = <CreateFolder as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders", tag = "folders", params(AccountQuery),
    request_body = FolderName,
    responses((status = 201, body = Folder), (status = 409, description = "The folder exists")))]
pub async fn create(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    Params(q): Params<AccountQuery>,
    Body(body): Body<FolderName>,
) -> Result<impl IntoResponse, MailError> {
    let op = CreateFolder {
        account: q.account,
        name: body.name,
    };
    Ok((StatusCode::CREATED, Json(s.mail.call(&call, op).await?)))
}

/// A folder's message count and UID state.
#[utoipa::path(get, operation_id = <GetFolder as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}", tag = "folders",
    params(("name" = String, Path, description = "The folder, UTF-8, URL-encoded"), AccountQuery),
    responses((status = 200, body = FolderStatus), (status = 404, description = "No such folder")))]
pub async fn show(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams(name): PathParams<String>,
    Params(q): Params<AccountQuery>,
) -> Result<Json<FolderStatus>, MailError> {
    let op = GetFolder {
        account: q.account,
        name,
    };
    Ok(Json(s.mail.call(&call, op).await?))
}

/// Renames a folder.
#[utoipa::path(put, operation_id = <RenameFolder as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}", tag = "folders",
    params(("name" = String, Path, description = "The folder, UTF-8, URL-encoded"), AccountQuery),
    request_body = FolderName,
    responses((status = 200, body = Folder), (status = 404, description = "No such folder")))]
pub async fn rename(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams(name): PathParams<String>,
    Params(q): Params<AccountQuery>,
    Body(body): Body<FolderName>,
) -> Result<Json<Folder>, MailError> {
    let op = RenameFolder {
        account: q.account,
        name,
        new_name: body.name,
    };
    Ok(Json(s.mail.call(&call, op).await?))
}

/// Deletes a folder and the messages in it.
#[utoipa::path(delete, operation_id = <DeleteFolder as crate::service::Operation>::SPEC.name,
    path = "/api/v1/folders/{name}", tag = "folders",
    params(("name" = String, Path, description = "The folder, UTF-8, URL-encoded"), AccountQuery),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such folder")))]
pub async fn delete(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    PathParams(name): PathParams<String>,
    Params(q): Params<AccountQuery>,
) -> Result<StatusCode, MailError> {
    let op = DeleteFolder {
        account: q.account,
        name,
    };
    s.mail.call(&call, op).await?;
    Ok(StatusCode::NO_CONTENT)
}
