//! The admin listener (plain HTTP, for the kubelet and Prometheus):
//! `/healthz` (the process answers), `/readyz` (serving, not shutting
//! down, and every IMAP account reachable), `/metrics` (OpenMetrics text).

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use super::error::json_errors;
use crate::metrics::Metrics;

/// Whether the pod should receive traffic: serving, and every IMAP account
/// reachable at its last check. Shared by cloning.
#[derive(Debug, Clone, Default)]
pub struct Readiness {
    serving: Arc<AtomicBool>,
    accounts: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl Readiness {
    /// Marks the pod serving or not.
    pub fn set(&self, ready: bool) {
        self.serving.store(ready, Ordering::SeqCst);
    }

    /// Records whether `account`'s IMAP server was reachable.
    pub fn set_account(&self, account: &str, reachable: bool) {
        self.lock().insert(account.to_owned(), reachable);
    }

    /// Whether the pod is ready.
    pub fn get(&self) -> bool {
        self.serving.load(Ordering::SeqCst) && self.lock().values().all(|up| *up)
    }

    /// Each checked account and whether it was reachable.
    pub fn accounts(&self) -> BTreeMap<String, bool> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Clone)]
struct AdminState {
    metrics: Metrics,
    ready: Readiness,
}

/// The admin routes.
pub fn router(metrics: Metrics, ready: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(AdminState { metrics, ready })
        .layer(axum::middleware::map_response(json_errors))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(s): State<AdminState>) -> Response {
    let accounts: serde_json::Map<String, serde_json::Value> = s
        .ready
        .accounts()
        .into_iter()
        .map(|(name, up)| (name, json!(if up { "reachable" } else { "unreachable" })))
        .collect();
    if s.ready.get() {
        Json(json!({ "status": "ready", "accounts": accounts })).into_response()
    } else {
        let body = json!({ "status": "not ready", "accounts": accounts });
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    }
}

async fn render_metrics(State(s): State<AdminState>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], s.metrics.encode()).into_response()
}
