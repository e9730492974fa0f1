//! `POST /api/v1/auth/token`: an API key buys an access token and a refresh
//! token. `POST /api/v1/auth/refresh`: a refresh token buys a new pair.
//! Both answer in the OAuth 2 token response's shape (`access_token`,
//! `token_type`, `expires_in`, `refresh_token`, `refresh_expires_in`).

use std::sync::Arc;

use axum::{
    Extension, Json,
    body::Bytes,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{Method, REFRESH_PATH, TOKEN_PATH};
use crate::{
    audit::Event,
    config::AuditEvent,
    server::{
        error::ApiError,
        guard::{Caller, Guard, user_agent},
    },
};

fn tokens_disabled() -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "tokens_disabled",
        "tokens are not enabled: no JWT secret is configured (auth.jwt.secretFile or JWT_SECRET)",
    )
    .into_response()
}

fn audit(
    guard: &Guard,
    caller: &Caller,
    headers: &HeaderMap,
    action: &str,
    resource: &str,
    result: &str,
) {
    guard.audit().record(&Event {
        category: AuditEvent::Authentication,
        user: caller.identity.as_ref().map(|i| &*i.user),
        client_ip: Some(caller.client_ip),
        user_agent: user_agent(headers),
        action,
        resource,
        result,
    });
}

/// Issues an access token and a refresh token for the API key the request
/// carries (`X-API-Key` or `Authorization: Bearer`).
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth",
    responses(
        (status = 200, description = "A new access token and refresh token", body = super::jwt::TokenPair),
        (status = 401, description = "No valid API key"),
        (status = 403, description = "Called with a token: tokens are issued for an API key"),
        (status = 404, description = "Tokens are not enabled (no JWT secret configured)"),
        (status = 429, description = "A rate limit was reached; see Retry-After"),
    ))]
pub async fn token(
    Extension(guard): Extension<Arc<Guard>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Response {
    let Some(identity) = caller.identity.as_ref() else {
        return guard.refused(
            super::Refusal::Missing,
            caller.client_ip,
            &headers,
            TOKEN_PATH,
        );
    };
    if identity.method != Method::ApiKey {
        if guard.audit().enabled(AuditEvent::Authorization) {
            guard.audit().record(&Event {
                category: AuditEvent::Authorization,
                user: Some(&identity.user),
                client_ip: Some(caller.client_ip),
                user_agent: user_agent(&headers),
                action: "issue_token",
                resource: TOKEN_PATH,
                result: "denied:token_cannot_issue_tokens",
            });
        }
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "tokens are issued for an API key; use POST /api/v1/auth/refresh with a refresh token",
        )
        .into_response();
    }
    let Some(pair) = guard.authenticator().issue(identity) else {
        return tokens_disabled();
    };
    audit(
        &guard,
        &caller,
        &headers,
        "token_issued",
        TOKEN_PATH,
        "success",
    );
    Json(pair).into_response()
}

/// The body of a refresh request, as JSON or as a form.
#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// A refresh token from `/api/v1/auth/token` or an earlier refresh.
    #[schema(required)]
    refresh_token: Option<String>,
}

fn bad_field(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_field",
        format!("refresh_token: {message}"),
    )
}

/// The refresh token of a JSON (`{"refresh_token": "…"}`) or form
/// (`refresh_token=…`) body.
fn refresh_token_of(headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    let parsed: Result<RefreshRequest, String> = if form {
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    };
    match parsed {
        Ok(RefreshRequest {
            refresh_token: Some(token),
        }) if !token.is_empty() => Ok(token),
        Ok(_) => Err(bad_field("is required")),
        Err(_) => Err(bad_field(
            "send {\"refresh_token\": \"…\"} as JSON, or refresh_token=… as a form",
        )),
    }
}

/// Issues a new access token and refresh token for the holder of a
/// refresh token; needs no other credentials.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body(content(
        (RefreshRequest = "application/json"),
        (RefreshRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "A new access token and refresh token", body = super::jwt::TokenPair),
        (status = 400, description = "The body names no refresh_token"),
        (status = 401, description = "The refresh token is not valid"),
        (status = 404, description = "Tokens are not enabled (no JWT secret configured)"),
        (status = 429, description = "A rate limit was reached; see Retry-After"),
    ))]
pub async fn refresh(
    Extension(guard): Extension<Arc<Guard>>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !guard.authenticator().tokens_enabled() {
        return tokens_disabled();
    }
    let token = match refresh_token_of(&headers, &body) {
        Ok(token) => token,
        Err(error) => return error.into_response(),
    };
    match guard.authenticator().refresh(&token) {
        Ok((identity, pair)) => {
            let caller = Caller {
                identity: Some(identity),
                ..caller
            };
            audit(
                &guard,
                &caller,
                &headers,
                "token_refreshed",
                REFRESH_PATH,
                "success",
            );
            Json(pair).into_response()
        }
        Err(refusal) => guard.refused(refusal, caller.client_ip, &headers, REFRESH_PATH),
    }
}
