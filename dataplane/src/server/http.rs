//! The hardened HTTP stack around the API routes: security headers, request
//! limits, JSON errors, metrics, panic safety.
//!
//! ```text
//! request ─▶ harden (metrics, JSON errors, security headers, guard:
//!                    rate limits and authentication, request limits,
//!                    body size and deadline, panic catching) ─▶ routes
//! ```

use std::sync::Arc;

use axum::{
    Router,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use super::{
    error::ApiError, guard::Guard, harden::HardenLayer, headers::SecurityHeaders,
    limits::RequestLimits,
};
use crate::{config::Config, metrics::Metrics};

async fn not_found() -> Response {
    ApiError::from_status(StatusCode::NOT_FOUND).into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED).into_response()
}

/// Wraps `routes` in the hardened stack `config` describes, with `guard`
/// authenticating and rate-limiting every request.
pub fn app(
    routes: Router,
    config: &Config,
    metrics: Metrics,
    guard: Arc<Guard>,
) -> Result<Router, String> {
    let headers = SecurityHeaders::from_config(&config.headers)?;
    let limits = RequestLimits::from_config(&config.limits);
    let harden = HardenLayer::new(headers, limits, metrics, guard);
    // `with_state` turns every handler into a ready route once, here:
    // without it axum rebuilds each handler's route, layers included, for
    // every request.
    Ok(routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(harden)
        .with_state(()))
}
