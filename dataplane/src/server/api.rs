//! The REST API routes under `/api/v1`. For now the service's own status;
//! the IMAP routes of later issues are merged in here.

use axum::{
    Router,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
    routing::get,
};

/// The body of `GET /api/v1/status`, fixed when the binary is built.
const STATUS_BODY: &str = concat!(
    r#"{"service":"rustymail","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}"#
);

/// The API routes, before the hardening layers of [`super::http::app`].
pub fn routes() -> Router {
    Router::new()
        .route("/api/v1", get(status))
        .route("/api/v1/status", get(status))
        .merge(crate::auth::routes::routes())
}

/// `GET /api/v1/status`: the service's name and version (a constant body,
/// served without serialising anything).
async fn status() -> Response {
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], STATUS_BODY).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_body_is_the_services_name_and_version_in_json() {
        let v: serde_json::Value = serde_json::from_str(STATUS_BODY).expect("json");
        assert_eq!(v["service"], "rustymail");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    }
}
