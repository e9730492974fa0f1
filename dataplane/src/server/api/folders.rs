//! `/api/v1/folders`: list, create, show, rename, delete.

use axum::{Json, extract::State, http::StatusCode, response::IntoResponse};

use super::{
    ApiState,
    errors::{Body, MailError, Params, PathParams},
};
use crate::mail::model::{AccountQuery, Folder, FolderList, FolderName, FolderStatus};

/// A folder name from a client: not empty, no control characters.
pub(crate) fn check_name(param: &str, name: &str) -> Result<(), MailError> {
    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
        return Err(MailError::BadRequest(format!(
            "parameter `{param}`: a folder name is 1 to 255 bytes without control characters"
        )));
    }
    Ok(())
}

/// Every folder of the account.
#[utoipa::path(get, path = "/api/v1/folders", tag = "folders", params(AccountQuery),
    responses((status = 200, body = FolderList), (status = 503, description = "IMAP unreachable")))]
pub async fn list(
    State(s): State<ApiState>,
    Params(q): Params<AccountQuery>,
) -> Result<Json<FolderList>, MailError> {
    let account = s.accounts.get(q.account.as_deref())?;
    Ok(Json(FolderList {
        folders: account.folders().await?,
    }))
}

/// Creates a folder.
#[utoipa::path(post, path = "/api/v1/folders", tag = "folders", params(AccountQuery),
    request_body = FolderName,
    responses((status = 201, body = Folder), (status = 409, description = "The folder exists")))]
pub async fn create(
    State(s): State<ApiState>,
    Params(q): Params<AccountQuery>,
    Body(body): Body<FolderName>,
) -> Result<impl IntoResponse, MailError> {
    check_name("name", &body.name)?;
    let account = s.accounts.get(q.account.as_deref())?;
    account.create_folder(&body.name).await?;
    let folder = Folder {
        name: body.name,
        delimiter: None,
        attributes: Vec::new(),
    };
    Ok((StatusCode::CREATED, Json(folder)))
}

/// A folder's message count and UID state.
#[utoipa::path(get, path = "/api/v1/folders/{name}", tag = "folders",
    params(("name" = String, Path, description = "The folder, UTF-8, URL-encoded"), AccountQuery),
    responses((status = 200, body = FolderStatus), (status = 404, description = "No such folder")))]
pub async fn show(
    State(s): State<ApiState>,
    PathParams(name): PathParams<String>,
    Params(q): Params<AccountQuery>,
) -> Result<Json<FolderStatus>, MailError> {
    check_name("name", &name)?;
    let account = s.accounts.get(q.account.as_deref())?;
    let state = account.folder_state(&name).await?;
    Ok(Json(FolderStatus {
        name,
        messages: state.messages,
        uid_validity: state.uid_validity,
        uid_next: state.uid_next,
    }))
}

/// Renames a folder.
#[utoipa::path(put, path = "/api/v1/folders/{name}", tag = "folders",
    params(("name" = String, Path, description = "The folder, UTF-8, URL-encoded"), AccountQuery),
    request_body = FolderName,
    responses((status = 200, body = Folder), (status = 404, description = "No such folder")))]
pub async fn rename(
    State(s): State<ApiState>,
    PathParams(name): PathParams<String>,
    Params(q): Params<AccountQuery>,
    Body(body): Body<FolderName>,
) -> Result<Json<Folder>, MailError> {
    check_name("name", &name)?;
    check_name("name", &body.name)?;
    let account = s.accounts.get(q.account.as_deref())?;
    account.rename_folder(&name, &body.name).await?;
    Ok(Json(Folder {
        name: body.name,
        delimiter: None,
        attributes: Vec::new(),
    }))
}

/// Deletes a folder and the messages in it.
#[utoipa::path(delete, path = "/api/v1/folders/{name}", tag = "folders",
    params(("name" = String, Path, description = "The folder, UTF-8, URL-encoded"), AccountQuery),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such folder")))]
pub async fn delete(
    State(s): State<ApiState>,
    PathParams(name): PathParams<String>,
    Params(q): Params<AccountQuery>,
) -> Result<StatusCode, MailError> {
    check_name("name", &name)?;
    let account = s.accounts.get(q.account.as_deref())?;
    account.delete_folder(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
