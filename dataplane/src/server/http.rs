//! The hardened HTTP stack around the API routes: security headers, request
//! limits, JSON errors, metrics, panic safety.
//!
//! ```text
//! request ─▶ harden (metrics, JSON errors, security headers, head/type limits)
//!         ─▶ body size limit ─▶ body deadline ─▶ catch panic ─▶ routes
//! ```

use std::sync::Arc;

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, timeout::RequestBodyDeadlineLayer,
};

use super::{
    error::{ApiError, panic_response},
    harden::HardenLayer,
    limits::RequestLimits,
};
use crate::{
    config::{Config, Headers},
    metrics::Metrics,
};

/// The security headers every HTTPS response carries.
#[derive(Debug, Clone)]
pub struct SecurityHeaders(Arc<HeaderMap>);

impl SecurityHeaders {
    /// The headers `headers` configures; a value that is not a valid header
    /// value is named in the error.
    pub fn from_config(headers: &Headers) -> Result<Self, String> {
        let mut map = HeaderMap::new();
        let pairs = [
            (
                header::STRICT_TRANSPORT_SECURITY,
                &headers.strict_transport_security,
                "headers.strictTransportSecurity",
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                &headers.content_security_policy,
                "headers.contentSecurityPolicy",
            ),
            (
                header::X_FRAME_OPTIONS,
                &headers.frame_options,
                "headers.frameOptions",
            ),
            (
                header::REFERRER_POLICY,
                &headers.referrer_policy,
                "headers.referrerPolicy",
            ),
        ];
        for (name, value, key) in pairs {
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("{key}: {value:?} is not a valid header value"))?;
            map.insert(name, value);
        }
        map.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        map.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(Self(Arc::new(map)))
    }

    /// Sets every security header on `headers` and removes banners.
    pub(super) fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in self.0.iter() {
            headers.insert(name.clone(), value.clone());
        }
        headers.remove(header::SERVER);
        headers.remove(HeaderName::from_static("x-powered-by"));
    }
}

async fn not_found() -> Response {
    ApiError::from_status(StatusCode::NOT_FOUND).into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED).into_response()
}

/// Wraps `routes` in the hardened stack `config` describes.
pub fn app(routes: Router, config: &Config, metrics: Metrics) -> Result<Router, String> {
    let headers = SecurityHeaders::from_config(&config.headers)?;
    let l = &config.limits;
    let max_body = usize::try_from(l.max_body_size.0).unwrap_or(usize::MAX);
    let stack = ServiceBuilder::new()
        .layer(HardenLayer::new(
            headers,
            RequestLimits::from_config(l),
            metrics,
        ))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(RequestBodyDeadlineLayer::new(l.body_read_timeout.0))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(DefaultBodyLimit::max(max_body));
    Ok(routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(stack))
}
