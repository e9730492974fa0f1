//! The optional redirect listener: plain HTTP answering every request with a
//! 301 to the same host and path over HTTPS (the guide's port-80 redirect).

use axum::{
    Router,
    extract::{Request, State},
    http::{StatusCode, Uri, header, uri::Authority},
    response::{IntoResponse, Response},
};

use super::error::{ApiError, json_errors};

/// The redirect routes; `https_port` is the API listener's port.
pub fn router(https_port: u16) -> Router {
    Router::new()
        .fallback(redirect)
        .with_state(https_port)
        .layer(axum::middleware::map_response(json_errors))
}

/// The https URL for a request to `host` (the `Host` header or the URI's
/// authority) and `uri`, or `None` when the host is missing or malformed.
pub fn location(host: Option<&str>, uri: &Uri, https_port: u16) -> Option<String> {
    let authority: Authority = host?.parse().ok()?;
    let host = authority.host();
    if host.is_empty() {
        return None;
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Some(if https_port == 443 {
        format!("https://{host}{path}")
    } else {
        format!("https://{host}:{https_port}{path}")
    })
}

async fn redirect(State(https_port): State<u16>, req: Request) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(Authority::as_str));
    match location(host, req.uri(), https_port) {
        Some(to) => (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, to)]).into_response(),
        None => ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a valid Host header is required",
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().expect("uri")
    }

    #[test]
    fn redirect_keeps_host_path_and_query_and_swaps_the_port() {
        let to = location(
            Some("mail.example.com:80"),
            &uri("/api/v1/folders?x=1"),
            443,
        );
        assert_eq!(
            to.as_deref(),
            Some("https://mail.example.com/api/v1/folders?x=1")
        );
        let to = location(Some("[::1]:8080"), &uri("/"), 9437);
        assert_eq!(to.as_deref(), Some("https://[::1]:9437/"));
    }

    #[test]
    fn missing_or_malformed_host_gets_no_redirect() {
        assert_eq!(location(None, &uri("/"), 443), None);
        assert_eq!(location(Some("bad host/"), &uri("/"), 443), None);
    }
}
