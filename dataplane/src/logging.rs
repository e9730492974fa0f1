//! Logs: one JSON object a line on standard output, filtered by `RUST_LOG`
//! (default `info`).
//!
//! Depends on no other module of this crate.

use tracing_subscriber::EnvFilter;

/// Installs the JSON log subscriber for the whole process.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_target(true)
        .init();
}
