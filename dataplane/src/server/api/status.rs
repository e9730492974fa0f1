//! `GET /api/v1/status`: the service's name and version.

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of `GET /api/v1/status`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// Always `rustymail`.
    pub service: String,
    /// The data plane's version.
    pub version: String,
}

/// The body of `GET /api/v1/status`, fixed when the binary is built.
const STATUS_BODY: &str = concat!(
    r#"{"service":"rustymail","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}"#
);

/// The status answer: a constant body, served without serialising anything.
fn answer() -> Response {
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], STATUS_BODY).into_response()
}

/// The service's name and version.
#[utoipa::path(get, path = "/api/v1/status", tag = "service",
    responses((status = 200, description = "The service's name and version", body = Status)))]
pub async fn status() -> Response {
    answer()
}

/// The same as `/api/v1/status`.
#[utoipa::path(get, path = "/api/v1", tag = "service",
    responses((status = 200, description = "The service's name and version", body = Status)))]
pub async fn root() -> Response {
    answer()
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
