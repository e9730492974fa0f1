//! `GET /api/v1/openapi.json`: the OpenAPI 3 document of the routes, built
//! once from the router itself (see [`super::documented`]).

use std::sync::LazyLock;

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The document's title, version and description, before any route.
pub(super) fn base() -> OpenApi {
    let info = InfoBuilder::new()
        .title("RustyMail")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "REST API over IMAP mailboxes. Errors are JSON: {\"error\": {\"code\", \"message\"}}.",
        ))
        .build();
    OpenApiBuilder::new().info(info).build()
}

/// The serialised document, made on first use: it depends on the code only.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    // Serialising the generated document (maps of strings) cannot fail.
    serde_json::to_string(&super::openapi()).unwrap_or_default()
});

/// The OpenAPI 3 document of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "service",
    responses((status = 200, description = "The OpenAPI 3 document of this API", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    let json = HeaderValue::from_static("application/json");
    ([(header::CONTENT_TYPE, json)], DOCUMENT.as_str()).into_response()
}
