//! The API's error body, `{"error": {"code", "message"}}`, and the layer that
//! gives every error response that body, whoever produced it (a handler, the
//! router, a limit layer, hyper's own 4xx are the only exception).

use axum::{
    Json,
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// An error answered to an API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code, e.g. `not_found`.
    pub code: &'static str,
    /// What went wrong and, where it helps, what to do.
    pub message: String,
}

impl ApiError {
    /// An error with its own message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// The standard error for `status`.
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status.as_u16() {
            400 => ("bad_request", "the request is malformed"),
            401 => ("unauthorized", "authentication is required"),
            403 => ("forbidden", "not allowed"),
            404 => ("not_found", "no such resource"),
            405 => ("method_not_allowed", "method not allowed on this resource"),
            408 => ("request_timeout", "the request was not received in time"),
            409 => ("conflict", "the resource is in a conflicting state"),
            413 => (
                "payload_too_large",
                "the request body is larger than allowed",
            ),
            415 => (
                "unsupported_media_type",
                "this content type is not accepted",
            ),
            429 => ("too_many_requests", "rate limit exceeded"),
            431 => (
                "request_header_fields_too_large",
                "the request headers are larger than allowed",
            ),
            500 => ("internal_error", "internal server error"),
            502 => ("bad_gateway", "the upstream server failed"),
            503 => (
                "service_unavailable",
                "temporarily unavailable, retry later",
            ),
            504 => (
                "gateway_timeout",
                "the upstream server did not answer in time",
            ),
            _ if status.is_client_error() => ("client_error", "the request cannot be served"),
            _ => ("server_error", "the request failed"),
        };
        Self::new(status, code, message)
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({ "error": { "code": self.code, "message": self.message } })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

/// Whether `headers` say the body is JSON.
fn is_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Replaces the body of any non-JSON error response with the standard JSON
/// error, keeping status and headers (`Allow`, `Retry-After`); any other
/// response is returned as it is.
pub fn with_json_error_body(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&res) {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let body = ApiError::from_status(status).body().to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// Middleware: [`with_json_error_body`] on every response.
pub async fn json_errors(res: Response) -> Response {
    with_json_error_body(res)
}

/// Answers a panicked handler with a JSON 500 instead of dropping the connection.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    ApiError::from_status(StatusCode::INTERNAL_SERVER_ERROR).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn plain_error_bodies_become_json_and_keep_their_headers() {
        let res = Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET")
            .body(Body::from("plain"))
            .expect("response");
        let res = json_errors(res).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[header::ALLOW], "GET");
        let bytes = axum::body::to_bytes(res.into_body(), 1024)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(v["error"]["code"], "method_not_allowed");
    }

    #[test]
    fn every_error_status_has_a_code() {
        for code in 400..600 {
            let status = StatusCode::from_u16(code).expect("status");
            assert!(!ApiError::from_status(status).code.is_empty());
        }
    }
}
