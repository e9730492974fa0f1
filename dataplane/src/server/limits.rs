//! Request limits applied before a handler runs: the size of the request
//! head (431), the media type of a request body (415), its declared size
//! (413), and, for a body the handler reads, its size as it arrives (413)
//! and the deadline for receiving it.

use std::{sync::Arc, time::Duration};

use axum::{
    body::{Body, HttpBody},
    extract::{DefaultBodyLimit, Request},
    http::{HeaderValue, StatusCode, Uri, header},
};
use http_body_util::Limited;
use tower_http::timeout::DeadlineBody;

use super::error::ApiError;
use crate::config::Limits;

/// What [`RequestLimits::admit`] enforces.
#[derive(Debug, Clone)]
pub struct RequestLimits {
    /// Largest request head in bytes.
    pub max_header_size: usize,
    /// Accepted body media types, lowercase.
    pub allowed_content_types: Arc<[String]>,
    /// Largest request body in bytes.
    pub max_body_size: usize,
    /// How long a client has to send a request body.
    pub body_read_timeout: Duration,
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
            max_body_size: usize::try_from(limits.max_body_size.0).unwrap_or(usize::MAX),
            body_read_timeout: limits.body_read_timeout.0,
        }
    }
}

/// The length of `uri` as written in a request line, without building it.
fn uri_len(uri: &Uri) -> usize {
    let scheme = uri.scheme_str().map_or(0, |s| s.len() + "://".len());
    let authority = uri.authority().map_or(0, |a| a.as_str().len());
    let query = uri.query().map_or(0, |q| q.len() + 1);
    scheme + authority + uri.path().len() + query
}

/// The size of a request head as HTTP/1.1 would send it.
pub fn head_size(req: &Request<Body>) -> usize {
    let line = req.method().as_str().len() + uri_len(req.uri()) + 12;
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

/// The body length a request declares, if it declares a valid one.
fn declared_length(req: &Request<Body>) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

impl RequestLimits {
    /// Refuses a request with an oversized head (431), a body of a type not
    /// allowed (415) or declared larger than allowed (413), with the error
    /// to answer. An admitted body is bounded in size (reading past the
    /// limit fails with the error axum's extractors answer 413 to) and in
    /// time (the client must send it all within the deadline); a request
    /// without a body is passed on as it is.
    pub fn admit(&self, req: &mut Request) -> Result<(), ApiError> {
        if head_size(req) > self.max_header_size {
            return Err(ApiError::from_status(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ));
        }
        if !has_body(req) {
            return Ok(());
        }
        if !content_type_allowed(
            req.headers().get(header::CONTENT_TYPE),
            &self.allowed_content_types,
        ) {
            let message = format!(
                "request bodies must be one of: {}",
                self.allowed_content_types.join(", ")
            );
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message,
            ));
        }
        if declared_length(req).is_some_and(|n| n > self.max_body_size as u64) {
            return Err(ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        // The limit is enforced here, so axum's extractors must not add
        // their own, smaller default on top.
        DefaultBodyLimit::disable().apply(req);
        let body = std::mem::take(req.body_mut());
        let deadline = DeadlineBody::new(self.body_read_timeout, body);
        *req.body_mut() = Body::new(Limited::new(deadline, self.max_body_size));
        Ok(())
    }
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

    #[test]
    fn uri_length_is_the_length_of_the_written_uri() {
        for uri in [
            "/",
            "/api/v1/folders/INBOX/emails?limit=10&offset=20",
            "/a?",
            "https://mail.example.com:9437/api/v1?x=1",
            "http://example.com",
            "*",
        ] {
            let parsed: Uri = uri.parse().expect("uri");
            assert_eq!(uri_len(&parsed), parsed.to_string().len(), "{uri}");
        }
    }
}
