//! The hardened HTTP stack around the API routes: security headers, request
//! limits, JSON errors, metrics, panic safety.
//!
//! ```text
//! request ─▶ metrics ─▶ JSON errors ─▶ security headers ─▶ head/type limits
//!         ─▶ body size limit ─▶ body deadline ─▶ catch panic ─▶ routes
//! ```

use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, timeout::RequestBodyDeadlineLayer,
};

use super::{
    error::{ApiError, json_errors, panic_response},
    limits::{self, RequestLimits},
};
use crate::{
    config::{Config, Headers},
    metrics::{Metrics, RequestLabels, RouteLabels},
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

    fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in self.0.iter() {
            headers.insert(name.clone(), value.clone());
        }
        headers.remove(header::SERVER);
        headers.remove(HeaderName::from_static("x-powered-by"));
    }
}

async fn security_headers(State(h): State<SecurityHeaders>, mut res: Response) -> Response {
    h.apply(res.headers_mut());
    res
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

async fn record(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    metrics
        .request_duration
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method: method.to_owned(),
            status: res.status().as_u16(),
        })
        .inc();
    res
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
        .layer(middleware::from_fn_with_state(metrics, record))
        .layer(middleware::map_response(json_errors))
        .layer(middleware::map_response_with_state(
            headers,
            security_headers,
        ))
        .layer(middleware::from_fn_with_state(
            RequestLimits::from_config(l),
            limits::check,
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
