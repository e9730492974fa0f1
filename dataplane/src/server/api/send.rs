//! `POST /api/v1/send`: a thin adapter over the mail service's send, with
//! the `Idempotency-Key` header.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use super::{ApiState, call::RestCall, errors::Body};
use crate::service::{
    MailError, SendMessage,
    send::{Delivery, Sent},
};

/// The request header that makes a retried send return its first outcome.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The response header marking an outcome returned again for a retry.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Sends a message through the account's SMTP submission server and files
/// a copy in its `\Sent` folder. Needs the scope `send`.
#[utoipa::path(post, operation_id = SendMessage::SPEC.name,
    path = "/api/v1/send", tag = "send",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Makes a retry with the same key return the first outcome (for 24 h, in this data plane process) instead of sending again")),
    request_body = SendMessage,
    responses((status = 201, body = Sent, description = "Accepted by the SMTP server; `Idempotent-Replayed: true` when returned again for a retry"),
        (status = 400, description = "A bad field, named; or the account has no SMTP server"),
        (status = 403, description = "No `send` scope, or a recipient outside `send.allowedRecipients` (nothing sent)"),
        (status = 409, description = "The first request with this Idempotency-Key is still running"),
        (status = 422, description = "The Idempotency-Key was used for another request"),
        (status = 429, description = "A request budget or the send budget (`send.perApiKey`) is spent"),
        (status = 502, description = "The SMTP server refused the message (its code in the message), or the connection broke mid-submission"),
        (status = 503, description = "The SMTP or IMAP server is unreachable: nothing was sent")))]
pub async fn send(
    State(s): State<ApiState>,
    RestCall(call): RestCall,
    headers: HeaderMap,
    Body(op): Body<SendMessage>,
) -> Result<Response, MailError> {
    let key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| {
            MailError::BadRequest(
                "header `Idempotency-Key`: 1 to 255 visible ASCII characters".to_owned(),
            )
        })?),
    };
    let Delivery { sent, replayed } = s.mail.send(&call, op, key).await?;
    let mut response = (StatusCode::CREATED, Json(sent)).into_response();
    if replayed {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}
