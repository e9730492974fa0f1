//! The mail service's errors as the REST API answers them: a JSON error
//! with a stable code, and `Retry-After` when the IMAP server is down; and
//! the extractors that answer a malformed parameter or body the same way.

use axum::{
    extract::{
        FromRequest, FromRequestParts, Json, Path, Query, Request,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;

use crate::{
    imap::{ImapError, RETRY_AFTER},
    server::{error::ApiError, guard::too_many_requests},
    service::{MailError, send::SendError},
    smtp::SmtpError,
};

/// The status and code of `e`.
pub fn classify(e: &ImapError) -> (StatusCode, &'static str) {
    match e {
        ImapError::UnknownAccount(_) => (StatusCode::BAD_REQUEST, "unknown_account"),
        ImapError::Unreachable { .. } | ImapError::Timeout { .. } | ImapError::Busy { .. } => {
            (StatusCode::SERVICE_UNAVAILABLE, "imap_unavailable")
        }
        ImapError::Tls { .. } => (StatusCode::BAD_GATEWAY, "imap_tls_failed"),
        ImapError::Auth { .. } => (StatusCode::BAD_GATEWAY, "imap_auth_failed"),
        ImapError::Credentials { .. } => (StatusCode::BAD_GATEWAY, "imap_credentials_unreadable"),
        ImapError::NoFolder(_) => (StatusCode::NOT_FOUND, "folder_not_found"),
        ImapError::NoMessage { .. } => (StatusCode::NOT_FOUND, "message_not_found"),
        ImapError::NoAttachment { .. } => (StatusCode::NOT_FOUND, "attachment_not_found"),
        ImapError::Query(_) => (StatusCode::BAD_REQUEST, "bad_parameter"),
        ImapError::Refused { .. } => (StatusCode::CONFLICT, "imap_refused"),
        ImapError::Protocol { .. } => (StatusCode::BAD_GATEWAY, "imap_protocol_error"),
    }
}

/// The status and code of a send's own failure `e`.
pub fn classify_send(e: &SendError) -> (StatusCode, &'static str) {
    match e {
        SendError::NotConfigured(_) => (StatusCode::BAD_REQUEST, "smtp_not_configured"),
        SendError::NotAllowed(_) => (StatusCode::FORBIDDEN, "recipient_not_allowed"),
        SendError::InProgress => (StatusCode::CONFLICT, "idempotency_in_progress"),
        SendError::KeyReused => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
        SendError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "idempotency_busy"),
        SendError::Smtp(SmtpError::Unavailable { .. }) => {
            (StatusCode::SERVICE_UNAVAILABLE, "smtp_unavailable")
        }
        SendError::Smtp(SmtpError::Rejected { .. }) => (StatusCode::BAD_GATEWAY, "smtp_rejected"),
        SendError::Smtp(SmtpError::Uncertain { .. }) => {
            (StatusCode::BAD_GATEWAY, "smtp_outcome_unknown")
        }
    }
}

/// `response` with `Retry-After` when its status is 503.
fn retry_later(mut response: Response) -> Response {
    if response.status() == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER.as_secs()),
        );
    }
    response
}

impl IntoResponse for MailError {
    fn into_response(self) -> Response {
        match self {
            Self::BadRequest(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_parameter", message).into_response()
            }
            Self::Forbidden(scope) => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this credential does not carry the scope `{scope}`"),
            )
            .into_response(),
            Self::Limited(limited) => too_many_requests(&limited),
            Self::Send(e) => {
                let (status, code) = classify_send(&e);
                if status.is_server_error() {
                    tracing::warn!(error = %e, "send failed");
                }
                retry_later(ApiError::new(status, code, e.to_string()).into_response())
            }
            Self::Imap(e) => {
                let (status, code) = classify(&e);
                let message = match &e {
                    ImapError::UnknownAccount(name) => {
                        format!("parameter `account`: no account named {name:?}")
                    }
                    other => other.to_string(),
                };
                if status.is_server_error() {
                    tracing::warn!(error = %e, "IMAP operation failed");
                }
                retry_later(ApiError::new(status, code, message).into_response())
            }
        }
    }
}

/// Query parameters, a 400 naming the parameter when they do not parse.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = MailError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, MailError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e: QueryRejection| MailError::BadRequest(e.body_text()))
    }
}

/// Path parameters, a 400 naming the parameter when they do not parse.
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = MailError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, MailError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|e: PathRejection| MailError::BadRequest(e.body_text()))
    }
}

/// A JSON body, a 400 naming the field when it does not parse.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Self(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be application/json",
            )
            .into_response()),
            Err(e) => Err(MailError::BadRequest(e.body_text()).into_response()),
        }
    }
}
