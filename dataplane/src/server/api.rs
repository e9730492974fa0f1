//! The REST API routes under `/api/v1`. For now the service's own status;
//! the IMAP routes of later issues are merged in here.

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

/// The API routes, before the hardening layers of [`super::http::app`].
pub fn routes() -> Router {
    Router::new()
        .route("/api/v1", get(status))
        .route("/api/v1/status", get(status))
}

/// `GET /api/v1/status`: the service's name and version.
async fn status() -> Json<Value> {
    Json(json!({
        "service": "rustymail",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}
