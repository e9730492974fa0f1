//! Request limits applied before a handler runs: the size of the request
//! head (431) and the media type of a request body (415). Body size (413) and
//! the body deadline are tower-http layers, set up in [`super::http`].

use std::sync::Arc;

use axum::{
    body::{Body, HttpBody},
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::error::ApiError;
use crate::config::Limits;

/// What [`check`] enforces.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// Largest request head in bytes.
    pub max_header_size: usize,
    /// Accepted body media types, lowercase.
    pub allowed_content_types: Arc<[String]>,
}

impl RequestLimits {
    /// The limits `limits` configures.
    pub fn from_config(limits: &Limits) -> Self {
        Self {
            max_header_size: usize::try_from(limits.max_header_size.0).unwrap_or(usize::MAX),
            allowed_content_types: limits
                .allowed_content_types
                .iter()
                .map(|t| t.to_ascii_lowercase())
                .collect(),
        }
    }
}

/// The size of a request head as HTTP/1.1 would send it.
pub fn head_size(req: &Request<Body>) -> usize {
    let line = req.method().as_str().len() + req.uri().to_string().len() + 12;
    let fields: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    line + fields
}

/// Whether a body of type `content_type` may be sent, given the allowed types.
/// Parameters (`; charset=utf-8`) and case are ignored.
pub fn content_type_allowed(content_type: Option<&HeaderValue>, allowed: &[String]) -> bool {
    let Some(media) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = media.split(';').next().unwrap_or_default().trim();
    allowed.iter().any(|a| a.eq_ignore_ascii_case(essence))
}

/// Whether the request carries a body.
fn has_body(req: &Request<Body>) -> bool {
    let body = req.body();
    !body.is_end_stream() && body.size_hint().exact() != Some(0)
}

/// Middleware: 431 for an oversized head, 415 for a body of a type not allowed.
pub async fn check(State(limits): State<RequestLimits>, req: Request, next: Next) -> Response {
    if head_size(&req) > limits.max_header_size {
        return ApiError::from_status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).into_response();
    }
    if has_body(&req)
        && !content_type_allowed(
            req.headers().get(header::CONTENT_TYPE),
            &limits.allowed_content_types,
        )
    {
        let message = format!(
            "request bodies must be one of: {}",
            limits.allowed_content_types.join(", ")
        );
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
        .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec!["application/json".into(), "message/rfc822".into()]
    }

    #[test]
    fn media_type_parameters_and_case_are_ignored() {
        let ok = HeaderValue::from_static("Application/JSON; charset=utf-8");
        assert!(content_type_allowed(Some(&ok), &allowed()));
        let other = HeaderValue::from_static("text/plain");
        assert!(!content_type_allowed(Some(&other), &allowed()));
        assert!(!content_type_allowed(None, &allowed()));
    }

    #[test]
    fn head_size_counts_every_header() {
        let small = Request::builder()
            .uri("/a")
            .body(Body::empty())
            .expect("request");
        let big = Request::builder()
            .uri("/a")
            .header("x-big", "v".repeat(9000))
            .body(Body::empty())
            .expect("request");
        assert!(head_size(&small) < 100);
        assert!(head_size(&big) > 9000);
    }
}
